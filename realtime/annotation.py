"""What a realtime session learns about an utterance beyond its words.

When a session opts in (``audio.input.transcription.voxgate``: ``non_speech_tags``,
``speaker_segments``, ``audio_tag_events``), the runner calls :func:`annotate_utterance` on a
worker thread with the utterance's audio and its final transcript. It uses the same engine
code as the batch pipeline: :func:`engines.listening.listen` for non-speech events, fillers
and prosody marks, and the session's
:class:`~engines.diarization.online.OnlineSpeakerTracker` (the d-vector embedder the batch
diarizer uses) for the speaker. The sans-I/O session turns the :class:`Annotation` into
events (``…transcription.segment``, ``voxgate.input_audio_buffer.audio_tag``, the inline
transcript of ``…transcription.completed``).
"""

from __future__ import annotations

from dataclasses import dataclass

from engines.base import PCM, SAMPLE_RATE, AudioTag, SpeakerTurn, Transcript, Word
from engines.diarization.batch import assign_speakers, diarize
from engines.diarization.online import OnlineSpeakerTracker
from engines.listening import listen
from engines.tagging.inline import inline_text
from engines.tagging.yamnet import YamnetTagger


@dataclass(frozen=True, slots=True)
class SpeakerSegment:
    """A stretch of an utterance spoken by one speaker.

    Attributes:
        speaker: The session's label for the speaker (``"0"``, ``"1"``, …).
        start: Start of its first word, in seconds on the session timeline.
        end: End of its last word, in seconds on the session timeline.
        text: Its words (no tags or marks).
    """

    speaker: str
    start: float
    end: float
    text: str


@dataclass(frozen=True, slots=True)
class Annotation:
    """The extras of one utterance.

    Attributes:
        text: The transcript with non-speech tags and prosody marks inline; None when tags
            were not asked for.
        plain_text: The words alone (Whisper annotations and invented words removed); None
            when tags were not asked for.
        speaker: The utterance's main speaker (the one with the most speech in it: ``"0"``,
            ``"1"``, … in the session); None when speakers were not asked for.
        segments: The utterance cut where the speaker changes (one segment when one
            speaker spoke it); empty when speakers were not asked for.
        events: Non-speech events, in seconds on the session's audio timeline.
        speech_start: Start of the first word, in seconds on the session timeline (the
            utterance start when there are no words).
        speech_end: End of the last word (the utterance end when there are no words).
    """

    text: str | None
    plain_text: str | None
    speaker: str | None
    segments: tuple[SpeakerSegment, ...]
    events: tuple[AudioTag, ...]
    speech_start: float
    speech_end: float


def annotate_utterance(
    audio: PCM,
    transcript: Transcript,
    *,
    tagger: YamnetTagger | None,
    tracker: OnlineSpeakerTracker | None,
) -> Annotation:
    """Find the non-speech events, prosody marks and speaker of one utterance.

    Blocking; call it from a worker thread. The tracker is the session's own (thread-
    confined: call this for one session's utterances one at a time, in order).

    Args:
        audio: The utterance, mono int16 16 kHz; sample 0 is at ``transcript.start``.
        transcript: Its final transcript (words timed on the session timeline).
        tagger: The YAMNet tagger, or None to skip non-speech events.
        tracker: The session's speaker tracker, or None to skip speakers.

    Returns:
        The annotation.
    """
    words = transcript.words
    text = plain = None
    events: tuple[AudioTag, ...] = ()
    if tagger is not None:
        heard = listen(audio, words, tagger=tagger, offset=transcript.start)
        text, plain, events, words = heard.text(), heard.plain_text(), heard.events, heard.words
    segments: tuple[SpeakerSegment, ...] = ()
    if tracker is not None and len(audio):
        segments = speaker_segments(audio, words, transcript, tracker)
    speaker = None
    if segments:
        spoken: dict[str, float] = {}
        for seg in segments:
            spoken[seg.speaker] = spoken.get(seg.speaker, 0.0) + seg.end - seg.start
        speaker = max(spoken, key=spoken.__getitem__)
    return Annotation(
        text=text,
        plain_text=plain,
        speaker=speaker,
        segments=segments,
        events=events,
        speech_start=words[0].start if words else transcript.start,
        speech_end=words[-1].end if words else transcript.end,
    )


def speaker_segments(
    audio: PCM, words: tuple[Word, ...], transcript: Transcript, tracker: OnlineSpeakerTracker
) -> tuple[SpeakerSegment, ...]:
    """Cut an utterance where the speaker changes and name each piece's speaker.

    The utterance is diarized on its own with the batch diarizer
    (:func:`engines.diarization.batch.diarize`, over its words); the session's tracker
    then maps each local speaker (all their pieces together) to a session speaker, never
    two local speakers to the same one
    (:meth:`~engines.diarization.online.OnlineSpeakerTracker.observe_speakers`).
    Consecutive pieces that land on the same session speaker are joined. An utterance
    without words is one segment.
    """
    start = transcript.start
    if not words:
        label = tracker.observe(audio)
        return (SpeakerSegment(label, transcript.start, transcript.end, ""),)
    local = [Word(w.text, w.start - start, w.end - start, w.probability) for w in words]
    turns = diarize(audio, embedder=tracker.embedder, words_or_segments=local)
    turns = turns or [SpeakerTurn("0", local[0].start, local[-1].end)]
    owner = [label or "0" for label in assign_speakers(local, turns)]
    runs: list[list[int]] = []  # word indices, one list per run of one local speaker
    for i, label in enumerate(owner):
        if not runs or owner[runs[-1][0]] != label:
            runs.append([])
        runs[-1].append(i)
    pieces: dict[str, list[PCM]] = {}
    for run in runs:
        first, last = local[run[0]], local[run[-1]]
        piece = audio[round(first.start * SAMPLE_RATE) : round(last.end * SAMPLE_RATE)]
        pieces.setdefault(owner[run[0]], []).append(piece)
    names = tracker.observe_speakers(pieces)
    out: list[SpeakerSegment] = []
    for run in runs:
        label = names.get(owner[run[0]]) or next(iter(names.values()), "0")
        text = inline_text([words[i] for i in run])
        begin, end = words[run[0]].start, words[run[-1]].end
        if out and out[-1].speaker == label:
            previous = out.pop()
            text, begin = f"{previous.text} {text}", previous.start
        out.append(SpeakerSegment(label, begin, end, text))
    return tuple(out)
