"""The batch pipeline: decode → VAD chunks → ASR with word timestamps → assembled transcript.

Shared by the job worker and ``voxgate transcribe``, so both produce the same text for the
same file. Everything here is synchronous and blocking (run it on a worker thread); the
planning and assembly steps are pure functions over sample ranges and segments.

Chunking: Silero VAD finds speech ranges on the whole recording; consecutive ranges are
packed into chunks of at most :attr:`PipelineOptions.max_chunk_s` seconds of *speech* (the
silence between them is left out, as faster-whisper's own VAD filter does), and each chunk
is one Whisper decode. A single range longer than the limit is a chunk of its own, which
Whisper's long-form loop windows itself, so no word is ever cut in two. Times are mapped
back from the chunk's concatenated speech to the recording.

Language: detected on the first chunk (the first ~30 s of speech) and then forced for the
others, so one recording gets one language.

Listening (after the words): with a tagger and ``non_speech``, :func:`engines.listening.listen`
runs once over the whole recording: Whisper annotations and words invented over non-speech
leave the words, fillers stay, non-speech events and prosody marks are found; segment texts
are rebuilt from the words that remain (so ``segments[].text`` never holds a tag). With an
embedder and ``diarize``, :func:`engines.diarization.batch.diarize` finds the speaker turns
from the word timings and every word takes its turn's speaker; a Whisper segment that two
speakers share is split where the speaker changes. Speakers are ``"0"``, ``"1"``… in order
of first appearance; without an embedder every segment is speaker ``"0"``.

Scheduling: every heavy step (decoding the file, the VAD pass, each chunk's Whisper decode,
listening, diarization) is called through the ``run_step`` hook. ``voxgate transcribe``
leaves it out (the step runs on the calling thread); the job worker passes one that runs
the step on the process's :class:`~realtime.inference.scheduler.InferenceScheduler` at batch
priority, so a live session's final never queues behind a whole recording, only behind
at most one chunk. The pipeline itself stays engine- and scheduler-agnostic.

Text (:func:`render_text`): one ``SPEAKER_N:`` line per speaker turn; with ``non_speech`` the
events go inline between the words at their time and the words carry their marks.
"""

from __future__ import annotations

import os
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from engines.audio import DecodedAudio, decode_file
from engines.base import (
    PCM,
    SAMPLE_RATE,
    ASROptions,
    AudioTag,
    AudioTagger,
    BatchASR,
    DecodeOptions,
    SpeakerEmbedder,
    SpeakerTurn,
    Transcript,
    VADEngine,
    VADOptions,
    Word,
)
from engines.diarization.batch import assign_speakers as speakers_of_words
from engines.diarization.batch import diarize
from engines.errors import AudioDecodeError, AudioTooLong
from engines.listening import listen
from engines.tagging.inline import inline_text
from engines.tagging.prosody import Mark
from engines.vad.hysteresis import speech_segments

BATCH_VAD = VADOptions(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=1000)
"""Speech detection for recordings: a pause of 1 s splits ranges (finer than a turn gap)."""

SUFFIX_PADDING_S = 0.3
"""Audio kept after each detected speech end (the release of the last word)."""

MIN_SPEECH_S = 0.25
"""Speech ranges shorter than this (padding excluded) are clicks, not words: dropped."""


StepRunner = Callable[[Callable[[], Any]], Any]
"""Runs one pipeline step (a zero-argument call) and returns its result, or raises."""


def run_here(step: Callable[[], Any]) -> Any:
    """The default :data:`StepRunner`: run the step on the calling thread."""
    return step()


class NoSpeech(AudioDecodeError):
    """The recording decoded but holds no speech (silence, noise, or garbage samples)."""


class Cancelled(Exception):
    """Raised inside the pipeline when its ``should_stop`` callback returns True."""


@dataclass(frozen=True, slots=True)
class PipelineOptions:
    """Options of one batch transcription.

    Attributes:
        non_speech: Transcribe verbatim (fillers kept) and put non-speech tags
            (``[laugh]``…) and prosody marks inline in the text (needs a tagger).
        diarize: Find the speakers (needs an embedder); otherwise all is speaker ``"0"``.
        num_speakers: The number of speakers when the caller knows it; None chooses it.
        language: Force a language (ISO 639-1); None detects it on the first chunk.
        prompt: Text that conditions the decoder on every chunk.
        word_timestamps: Time each word (always on for jobs; the CLI's text mode skips it).
        beam_size: Whisper beam width.
        max_chunk_s: Most seconds of speech per Whisper decode.
        max_audio_s: Longest recording accepted (decoded seconds; :func:`transcribe_file`
            stops decoding past it and raises :class:`AudioTooLong`); None: no limit.
    """

    non_speech: bool = False
    diarize: bool = True
    num_speakers: int | None = None
    language: str | None = None
    prompt: str | None = None
    word_timestamps: bool = True
    beam_size: int = 5
    max_chunk_s: float = 30.0
    max_audio_s: float | None = None


@dataclass(frozen=True, slots=True)
class Chunk:
    """Speech ranges decoded together, as one concatenated signal.

    Attributes:
        spans: Half-open sample ranges ``(start, end)`` of the recording, in order.
    """

    spans: tuple[tuple[int, int], ...]

    @property
    def samples(self) -> int:
        """Samples of speech in the chunk (silence between spans excluded)."""
        return sum(end - start for start, end in self.spans)

    def extract(self, audio: PCM) -> PCM:
        """The chunk's audio: its spans of ``audio`` concatenated."""
        return np.concatenate([audio[start:end] for start, end in self.spans])

    def to_source(self, seconds: float, *, is_end: bool = False) -> float:
        """Map a time in the concatenated chunk to seconds in the recording.

        Args:
            seconds: Time from the start of :meth:`extract`'s signal.
            is_end: The time ends an interval: a time exactly on a joint maps to the end of
                the earlier span rather than the start of the later one.

        Returns:
            Seconds from the start of the recording.
        """
        t = max(0, round(seconds * SAMPLE_RATE))
        offset = 0
        for i, (start, end) in enumerate(self.spans):
            length = end - start
            last = i == len(self.spans) - 1
            if t < offset + length or (is_end and t == offset + length) or last:
                return (start + min(t - offset, length)) / SAMPLE_RATE
            offset += length
        return 0.0  # pragma: no cover - spans are never empty


@dataclass(frozen=True, slots=True)
class BatchSegment:
    """One transcribed segment on the recording's timeline.

    Attributes:
        speaker: Speaker label (``"0"``, ``"1"``… in order of first appearance).
        text: The words, stripped, without non-speech tags.
        start: Start in seconds.
        end: End in seconds.
        words: Word timings (empty when not requested).
        marks: Prosody mark of each word (empty unless non-speech output was asked for).
    """

    speaker: str
    text: str
    start: float
    end: float
    words: tuple[Word, ...] = ()
    marks: tuple[Mark, ...] = ()


@dataclass(frozen=True, slots=True)
class BatchTranscript:
    """The pipeline's result for one recording.

    Attributes:
        duration: Length of the recording in seconds.
        codec: Detected codec (FFmpeg's name: ``"mp3"``, ``"opus"``, ``"pcm_s16le"``…).
        container: Detected container.
        language: Detected or forced language.
        num_chunks: Whisper decodes (VAD chunks).
        segments: Segments in time order.
        tags: Non-speech events found (empty without a tagger).
    """

    duration: float
    codec: str
    container: str
    language: str | None
    num_chunks: int
    segments: tuple[BatchSegment, ...]
    tags: tuple[AudioTag, ...] = field(default=())

    @property
    def plain_text(self) -> str:
        """The words alone: segment texts joined by spaces (what ``voxgate transcribe`` prints)."""
        return " ".join(s.text for s in self.segments)

    @property
    def num_speakers(self) -> int:
        """Distinct speakers among the segments."""
        return len({s.speaker for s in self.segments})


# --- pure steps ---------------------------------------------------------------------------


def pad_and_filter(
    ranges: Sequence[tuple[int, int]],
    total: int,
    *,
    suffix: int = round(SUFFIX_PADDING_S * SAMPLE_RATE),
    min_samples: int = round(MIN_SPEECH_S * SAMPLE_RATE),
    prefix: int = BATCH_VAD.prefix_padding_ms * SAMPLE_RATE // 1000,
) -> list[tuple[int, int]]:
    """Drop click-length ranges and extend each end by ``suffix`` samples.

    Args:
        ranges: VAD speech ranges (prefix padding included), ordered, non-overlapping.
        total: Length of the recording in samples (ends are clamped to it).
        suffix: Samples to add after each end, never past the next range's start.
        min_samples: Ranges with less speech than this (after removing the prefix padding)
            are dropped.
        prefix: The prefix padding the VAD included in each range.

    Returns:
        Ordered, non-overlapping ranges.
    """
    kept = []
    previous_end = 0
    for start, end in ranges:
        padding = min(prefix, start - previous_end)  # the VAD clamps padding at the last end
        if end - start - padding >= min_samples:
            kept.append((start, end))
        previous_end = end
    out: list[tuple[int, int]] = []
    for i, (start, end) in enumerate(kept):
        limit = kept[i + 1][0] if i + 1 < len(kept) else total
        out.append((start, min(end + suffix, limit, total)))
    return out


def plan_chunks(ranges: Sequence[tuple[int, int]], max_samples: int) -> list[Chunk]:
    """Pack consecutive speech ranges into chunks of at most ``max_samples`` of speech.

    A range longer than ``max_samples`` becomes a chunk of its own (never split).

    Args:
        ranges: Ordered, non-overlapping sample ranges.
        max_samples: Most speech samples per chunk.

    Returns:
        Chunks in time order covering every range exactly once.
    """
    chunks: list[Chunk] = []
    current: list[tuple[int, int]] = []
    size = 0
    for start, end in ranges:
        length = end - start
        if current and size + length > max_samples:
            chunks.append(Chunk(tuple(current)))
            current, size = [], 0
        current.append((start, end))
        size += length
    if current:
        chunks.append(Chunk(tuple(current)))
    return chunks


def map_transcript(chunk: Chunk, transcript: Transcript) -> list[BatchSegment]:
    """Segments of a chunk's transcript on the recording timeline (speaker ``"0"``)."""
    out = []
    for seg in transcript.segments:
        words = tuple(
            Word(
                w.text,
                chunk.to_source(w.start),
                chunk.to_source(w.end, is_end=True),
                w.probability,
            )
            for w in seg.words
        )
        out.append(
            BatchSegment(
                "0",
                seg.text,
                chunk.to_source(seg.start),
                chunk.to_source(seg.end, is_end=True),
                words,
            )
        )
    return out


def assign_speakers(
    segments: Sequence[BatchSegment], turns: Sequence[SpeakerTurn] | None
) -> list[BatchSegment]:
    """Attribute each whole segment to the diarization speaker that overlaps it most.

    For segments without word timings (word-level attribution is
    :func:`split_by_speaker`). Labels are renumbered ``"0"``, ``"1"``… in order of first
    appearance. Without turns (no diarizer), or for a segment no turn overlaps, the speaker
    is the previous segment's (``"0"`` at the start).

    Args:
        segments: Segments in time order.
        turns: Diarization turns, or None.

    Returns:
        The segments with speakers set.
    """
    names: dict[str, str] = {}
    out: list[BatchSegment] = []
    previous = "0"
    for seg in segments:
        best = _most_overlapping(seg, turns or ())
        if best is not None:
            previous = names.setdefault(best, str(len(names)))
        out.append(replace(seg, speaker=previous))
    return out


def _most_overlapping(seg: BatchSegment, turns: Sequence[SpeakerTurn]) -> str | None:
    """The speaker of the turn that overlaps ``seg`` most; None when none overlaps it."""
    best, overlap = None, 0.0
    for turn in turns:
        o = min(seg.end, turn.end) - max(seg.start, turn.start)
        if o > overlap:
            best, overlap = turn.speaker, o
    return best


def regroup_words(
    segments: Sequence[BatchSegment], words: Sequence[Word], marks: Sequence[Mark]
) -> list[BatchSegment]:
    """Put the words that remain after listening back into their segments.

    Each word joins the segment whose span holds its midpoint (else the nearest one);
    segment texts are rebuilt from their words and segments left without words are
    dropped (they held only annotations or invented words).

    Args:
        segments: Segments in time order, with words.
        words: The words to keep, in time order.
        marks: The prosody mark of each word.

    Returns:
        Segments in time order, each with at least one word.
    """
    if not segments:
        return []
    starts = [seg.start for seg in segments]
    buckets: list[list[tuple[Word, Mark]]] = [[] for _ in segments]
    for word, mark in zip(words, marks, strict=True):
        middle = (word.start + word.end) / 2
        i = max(bisect_right(starts, middle) - 1, 0)
        in_gap = i + 1 < len(segments) and middle > segments[i].end
        if in_gap and segments[i + 1].start - middle < middle - segments[i].end:
            i += 1  # in a gap between segments: the nearer one
        buckets[i].append((word, mark))
    out = []
    for seg, bucket in zip(segments, buckets, strict=True):
        if bucket:
            kept = tuple(w for w, _ in bucket)
            out.append(
                replace(
                    seg,
                    text=inline_text(kept),
                    start=min(seg.start, kept[0].start),
                    end=max(seg.end, kept[-1].end),
                    words=kept,
                    marks=tuple(m for _, m in bucket),
                )
            )
    return out


def split_by_speaker(
    segments: Sequence[BatchSegment], turns: Sequence[SpeakerTurn]
) -> list[BatchSegment]:
    """Give every word its diarization speaker; split segments where the speaker changes.

    Segments without words are attributed whole (:func:`assign_speakers`). Speakers are
    renumbered ``"0"``, ``"1"``… in order of first appearance.

    Args:
        segments: Segments in time order.
        turns: Diarization turns (``engines.diarization.batch.diarize``).

    Returns:
        Segments in time order; a piece of a split segment spans its words.
    """
    if not turns:
        return assign_speakers(segments, None)
    pieces: list[BatchSegment] = []
    for seg in segments:
        if not seg.words:
            previous = pieces[-1].speaker if pieces else "0"
            pieces.append(replace(seg, speaker=_most_overlapping(seg, turns) or previous))
            continue
        labels = speakers_of_words(seg.words, turns)
        marks = seg.marks or (Mark.NONE,) * len(seg.words)
        run = 0
        for i in range(1, len(seg.words) + 1):
            if i == len(seg.words) or labels[i] != labels[run]:
                words = seg.words[run:i]
                whole = run == 0 and i == len(seg.words)
                pieces.append(
                    BatchSegment(
                        labels[run] or "0",
                        seg.text if whole else inline_text(words),
                        seg.start if whole else words[0].start,
                        seg.end if whole else words[-1].end,
                        words,
                        marks[run:i] if seg.marks else (),
                    )
                )
                run = i
    names: dict[str, str] = {}
    return [replace(p, speaker=names.setdefault(p.speaker, str(len(names)))) for p in pieces]


def tag_text(label: str) -> str:
    """The inline form of a non-speech tag: ``[laugh]``."""
    return f"[{label}]"


def speaker_turns(segments: Sequence[BatchSegment]) -> list[list[BatchSegment]]:
    """Consecutive segments of one speaker, grouped: the lines of the ``text`` field."""
    turns: list[list[BatchSegment]] = []
    for seg in segments:
        if not turns or turns[-1][0].speaker != seg.speaker:
            turns.append([])
        turns[-1].append(seg)
    return turns


def render_text(
    segments: Sequence[BatchSegment], tags: Sequence[AudioTag] = (), *, non_speech: bool = False
) -> str:
    """The Fluxions ``text`` field: one ``SPEAKER_N: …`` line per speaker turn.

    Without ``non_speech`` a line is its segments' texts. With it, each event belongs to
    the line during which it happens (by its midpoint; before the first line: the first)
    and is placed inline between that line's words at its time
    (:func:`engines.tagging.inline.inline_text`), and words carry their prosody marks.

    Args:
        segments: Segments in time order.
        tags: Non-speech events (bare tag labels: ``"laugh"``).
        non_speech: Whether to include events and marks.

    Returns:
        The text; empty when there are no segments.
    """
    turns = speaker_turns(segments)
    events: list[list[AudioTag]] = [[] for _ in turns]
    if non_speech and turns:
        starts = [turn[0].start for turn in turns]
        for tag in sorted(tags, key=lambda t: t.start):
            i = max(bisect_right(starts, (tag.start + tag.end) / 2) - 1, 0)
            events[i].append(tag)
    lines = []
    for turn, found in zip(turns, events, strict=True):
        if non_speech and all(seg.words for seg in turn):
            words = [w for seg in turn for w in seg.words]
            marks = [m for seg in turn for m in (seg.marks or (Mark.NONE,) * len(seg.words))]
            body = inline_text(words, found, marks)
        else:
            body = " ".join(
                [tag_text(t.label) for t in found if t.start < turn[0].start]
                + [seg.text for seg in turn]
                + [tag_text(t.label) for t in found if t.start >= turn[0].start]
            )
        lines.append(f"SPEAKER_{turn[0].speaker}: {body}")
    return "\n".join(lines)


def segment_records(segments: Sequence[BatchSegment], *, words: bool) -> list[dict[str, Any]]:
    """The Fluxions ``segments`` array.

    ``segment_idx`` counts segments within a speaker turn, restarting at 0 when the speaker
    changes (as in the reference example).

    Args:
        segments: Segments in time order.
        words: Add a ``words`` list (``word``, ``start``, ``end``) to each segment.

    Returns:
        JSON-ready dictionaries.
    """
    out: list[dict[str, Any]] = []
    idx = 0
    for i, seg in enumerate(segments):
        idx = 0 if i == 0 or segments[i - 1].speaker != seg.speaker else idx + 1
        record: dict[str, Any] = {
            "speaker": seg.speaker,
            "text": seg.text,
            "start": round(seg.start, 3),
            "end": round(seg.end, 3),
            "segment_idx": idx,
        }
        if words:
            record["words"] = [
                {"word": w.text.strip(), "start": round(w.start, 3), "end": round(w.end, 3)}
                for w in seg.words
            ]
        out.append(record)
    return out


# --- the whole run ------------------------------------------------------------------------


def transcribe_audio(
    audio: DecodedAudio,
    vad: VADEngine,
    asr: BatchASR,
    options: PipelineOptions | None = None,
    *,
    embedder: SpeakerEmbedder | None = None,
    tagger: AudioTagger | None = None,
    label: str = "audio",
    on_progress: Callable[[float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    run_step: StepRunner = run_here,
) -> BatchTranscript:
    """Run VAD, chunking, ASR, then listening and diarization over a decoded recording.

    Blocking; call it from a worker thread. Thread-safe as far as the engines are (Silero
    and faster-whisper models are).

    Args:
        audio: The decoded recording.
        vad: A VAD engine (a fresh stream is opened).
        asr: The batch transcriber: ``Engines.asr`` (its final model decodes) or any
            :class:`~engines.base.BatchASR`.
        options: Pipeline options.
        embedder: Speaker embedder for diarization; None leaves everything speaker ``"0"``.
        tagger: Sound-event tagger for non-speech events; None leaves them out.
        label: Names the recording in error messages.
        on_progress: Called with the fraction done, in [0, 1], non-decreasing.
        should_stop: Polled between chunks and Whisper segments; when it returns True the
            run stops by raising :class:`Cancelled`.
        run_step: Runs each heavy step (VAD pass, chunk decode, listening, diarization);
            it may run it on another thread and must return its result or raise its
            exception. Diarization and listening may be in flight at once.

    Returns:
        The transcript.

    Raises:
        NoSpeech: the VAD found no speech.
        Cancelled: ``should_stop`` asked to stop.
        EngineError: the decoder failed.
    """
    options = options or PipelineOptions()
    report = on_progress or (lambda _fraction: None)
    stop = should_stop or (lambda: False)
    samples = audio.samples
    found = run_step(partial(speech_segments, vad, samples, BATCH_VAD))
    ranges = pad_and_filter(found, len(samples))
    if not ranges:
        raise NoSpeech(f"{label}: no speech found in {audio.duration:.1f} s of audio")
    chunks = plan_chunks(ranges, round(options.max_chunk_s * SAMPLE_RATE))
    total = sum(c.samples for c in chunks)
    decode = DecodeOptions(beam_size=options.beam_size, vad_filter=False)
    language = options.language
    languages: Counter[str] = Counter()
    segments: list[BatchSegment] = []
    done = 0
    listening = options.non_speech and tagger is not None and options.word_timestamps
    diarizing = options.diarize and embedder is not None
    asr_share = 0.9 if listening or diarizing else 1.0  # of the progress bar
    report(0.0)
    for chunk in chunks:
        if stop():
            raise Cancelled
        pcm = chunk.extract(samples)

        def progress(seconds: float, base: int = done, size: int = len(pcm)) -> None:
            if stop():
                raise Cancelled
            heard = base + min(size, round(seconds * SAMPLE_RATE))
            report(min(1.0, heard / total) * asr_share)

        transcript: Transcript = run_step(
            partial(
                asr.transcribe,
                pcm,
                ASROptions(language, options.prompt, options.word_timestamps, verbatim=listening),
                decode=decode,
                on_progress=progress,
            )
        )
        if transcript.language:
            languages[transcript.language] += chunk.samples
            language = language or transcript.language
        segments.extend(map_transcript(chunk, transcript))
        done += chunk.samples
        report(done / total * asr_share)
    if (listening or diarizing) and stop():
        raise Cancelled
    tags: tuple[AudioTag, ...] = ()
    turns: list[SpeakerTurn] | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="diarize") as beside:
        # Diarization runs beside the listening step (each is one ONNX thread; together
        # they use both cores of a small machine). It works on Whisper's raw words, so
        # the speakers do not depend on whether non-speech output was asked for.
        diarized = None
        if diarizing and segments:
            assert embedder is not None
            timed = [w for seg in segments for w in seg.words] or segments
            diarized = beside.submit(
                run_step,
                partial(
                    diarize,
                    samples,
                    embedder=embedder,
                    words_or_segments=timed,
                    num_speakers=options.num_speakers,
                ),
            )
        if listening:
            assert tagger is not None
            words = [w for seg in segments for w in seg.words]
            heard = run_step(partial(listen, samples, words, tagger=tagger))
            segments = regroup_words(segments, heard.words, heard.marks)
            tags = heard.events
        if diarized is not None:
            turns = diarized.result()
    segments = split_by_speaker(segments, turns or [])  # no turns: all speaker "0"
    report(1.0)
    return BatchTranscript(
        duration=audio.duration,
        codec=audio.codec,
        container=audio.container,
        language=options.language or (languages.most_common(1)[0][0] if languages else None),
        num_chunks=len(chunks),
        segments=tuple(segments),
        tags=tags,
    )


TRUNCATED_RATIO = 0.5
"""A file whose decodable audio is under this share of its declared duration is truncated."""


def declared_duration(source: str | os.PathLike[str] | bytes) -> float | None:
    """The duration a file's header declares for its first audio stream, if it declares one.

    MP3s with a Xing/Info header, WAV, FLAC, Ogg and MP4 files carry one; a cut-off file
    keeps its header, so comparing this with what decodes reveals truncation.
    """
    import io

    import av

    opened = io.BytesIO(source) if isinstance(source, bytes | bytearray) else os.fspath(source)
    try:
        with av.open(opened, mode="r") as container:
            stream = next((s for s in container.streams if s.type == "audio"), None)
            if stream is None or stream.duration is None or stream.time_base is None:
                return None
            return float(stream.duration * stream.time_base)
    except (av.FFmpegError, ValueError, OSError):
        return None


def check_complete(audio: DecodedAudio, declared: float | None, *, label: str) -> None:
    """Refuse a recording that decodes to much less than its header declares.

    Raises:
        AudioDecodeError: less than :data:`TRUNCATED_RATIO` of the declared duration (and
            at least 1 s less) decoded.
    """
    if declared is None or declared <= 0:
        return
    if audio.duration < declared * TRUNCATED_RATIO and declared - audio.duration >= 1.0:
        raise AudioDecodeError(
            f"{label}: the file is truncated: its header declares {declared:.1f} s of audio "
            f"but only {audio.duration:.1f} s could be decoded"
        )


def transcribe_file(
    source: str | os.PathLike[str] | bytes,
    vad: VADEngine,
    asr: BatchASR,
    options: PipelineOptions | None = None,
    *,
    embedder: SpeakerEmbedder | None = None,
    tagger: AudioTagger | None = None,
    label: str | None = None,
    on_progress: Callable[[float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    run_step: StepRunner = run_here,
) -> BatchTranscript:
    """Decode a file (or its bytes) and run :func:`transcribe_audio` on it.

    Decoding is a step of its own (``run_step``); the other arguments are
    :func:`transcribe_audio`'s.

    Raises:
        AudioDecodeError: not decodable, holds no samples, truncated (see
            :func:`check_complete`), or (:class:`NoSpeech`) holds no speech.
        Cancelled: ``should_stop`` asked to stop.
        EngineError: the decoder failed.
    """
    if label is None:
        label = "upload" if isinstance(source, bytes) else Path(os.fspath(source)).name
    try:
        max_s = options.max_audio_s if options is not None else None
        audio: DecodedAudio = run_step(partial(decode_file, source, max_seconds=max_s))
    except AudioTooLong as exc:
        message = str(exc).split(": ", 1)[-1]
        raise AudioTooLong(f"{label}: {message}", limit_s=exc.limit_s) from exc
    except AudioDecodeError as exc:  # name the file as the caller knows it
        message = str(exc).split(": ", 1)[-1]
        raise AudioDecodeError(f"{label}: {message}") from exc
    check_complete(audio, declared_duration(source), label=label)
    return transcribe_audio(
        audio,
        vad,
        asr,
        options,
        embedder=embedder,
        tagger=tagger,
        label=label,
        on_progress=on_progress,
        should_stop=should_stop,
        run_step=run_step,
    )
