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

from engines.base import PCM, AudioTag, AudioTagger, Transcript, Word
from engines.diarization.batch import assign_speakers
from engines.diarization.online import OnlineSpeakerTracker
from engines.diarization.utterance import diarize_utterance
from engines.listening import listen
from engines.tagging.inline import inline_text


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
    tagger: AudioTagger | None,
    tracker: OnlineSpeakerTracker | None,
) -> Annotation:
    """Find the non-speech events, prosody marks and speaker of one utterance.

    Blocking; call it from a worker thread. The tracker is the session's own (thread-
    confined: call this for one session's utterances one at a time, in order).

    Args:
        audio: The utterance, mono int16 16 kHz; sample 0 is at ``transcript.start``.
        transcript: Its final transcript (words timed on the session timeline).
        tagger: The sound-event tagger, or None to skip non-speech events.
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

    The turns come from :func:`engines.diarization.utterance.diarize_utterance` (the batch
    diarizer on the utterance's words, then the session's tracker); each word takes the
    speaker of the turn that overlaps it most, and consecutive words of one speaker form a
    segment. An utterance without words is one segment.
    """
    turns = diarize_utterance(audio, words, tracker, offset=transcript.start)
    if not words:
        return (SpeakerSegment(turns[0].speaker, transcript.start, transcript.end, ""),)
    owner = [label or turns[0].speaker for label in assign_speakers(words, turns)]
    out: list[SpeakerSegment] = []
    first = 0
    for i in range(1, len(words) + 1):
        if i == len(words) or owner[i] != owner[first]:
            run = words[first:i]
            out.append(SpeakerSegment(owner[first], run[0].start, run[-1].end, inline_text(run)))
            first = i
    return tuple(out)
