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

Speakers: until a diarizer is configured, every segment is speaker ``"0"``;
:func:`assign_speakers` attributes segments to diarization turns when there are some.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from engines.asr.faster_whisper import DecodeOptions
from engines.audio import DecodedAudio, decode_file
from engines.base import (
    PCM,
    SAMPLE_RATE,
    ASREngine,
    ASROptions,
    AudioTag,
    SpeakerTurn,
    Transcript,
    VADEngine,
    VADOptions,
    Word,
)
from engines.errors import AudioDecodeError
from engines.vad.hysteresis import speech_segments

BATCH_VAD = VADOptions(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=1000)
"""Speech detection for recordings: a pause of 1 s splits ranges (finer than a turn gap)."""

SUFFIX_PADDING_S = 0.3
"""Audio kept after each detected speech end (the release of the last word)."""

MIN_SPEECH_S = 0.25
"""Speech ranges shorter than this (padding excluded) are clicks, not words: dropped."""


class NoSpeech(AudioDecodeError):
    """The recording decoded but holds no speech (silence, noise, or garbage samples)."""


class Cancelled(Exception):
    """Raised inside the pipeline when its ``should_stop`` callback returns True."""


@dataclass(frozen=True, slots=True)
class PipelineOptions:
    """Options of one batch transcription.

    Attributes:
        non_speech: Put non-speech tags (``[laugh]``…) inline in the text, when a tagger
            found any.
        language: Force a language (ISO 639-1); None detects it on the first chunk.
        prompt: Text that conditions the decoder on every chunk.
        word_timestamps: Time each word (always on for jobs; the CLI's text mode skips it).
        beam_size: Whisper beam width.
        max_chunk_s: Most seconds of speech per Whisper decode.
    """

    non_speech: bool = False
    language: str | None = None
    prompt: str | None = None
    word_timestamps: bool = True
    beam_size: int = 5
    max_chunk_s: float = 30.0


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
    """

    speaker: str
    text: str
    start: float
    end: float
    words: tuple[Word, ...] = ()


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


class BatchASR(Protocol):
    """What the pipeline needs of an ASR model: whole-signal transcription."""

    def transcribe(
        self,
        audio: PCM,
        options: ASROptions,
        *,
        decode: DecodeOptions | None = None,
        on_progress: Callable[[float], None] | None = None,
    ) -> Transcript:
        """Transcribe ``audio``; call ``on_progress(seconds_done)`` as it goes."""
        ...


class _PlainASR:
    """Adapts an :class:`~engines.base.ASREngine` without decode options or progress."""

    def __init__(self, engine: ASREngine) -> None:
        self._engine = engine

    def transcribe(
        self,
        audio: PCM,
        options: ASROptions,
        *,
        decode: DecodeOptions | None = None,
        on_progress: Callable[[float], None] | None = None,
    ) -> Transcript:
        return self._engine.transcribe(audio, options)


def batch_asr(engine: ASREngine | Any) -> BatchASR:
    """The model to use for batch work: a streaming engine's final (accurate) model.

    Args:
        engine: ``Engines.asr`` (a :class:`~engines.asr.incremental.StreamingWhisper` has a
            ``final_model``), a :class:`~engines.asr.faster_whisper.FasterWhisperASR`, or
            any :class:`~engines.base.ASREngine` (decoded without options or progress).
    """
    model = getattr(engine, "final_model", engine)
    if hasattr(model, "model") and hasattr(model, "decode"):  # FasterWhisperASR
        return model  # type: ignore[no-any-return]
    return _PlainASR(model)


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
    """Attribute each segment to the diarization speaker that overlaps it most.

    Labels are renumbered ``"0"``, ``"1"``… in order of first appearance. Without turns (no
    diarizer), or for a segment no turn overlaps, the speaker is the previous segment's
    (``"0"`` at the start).

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
        best, overlap = None, 0.0
        for turn in turns or ():
            o = min(seg.end, turn.end) - max(seg.start, turn.start)
            if o > overlap:
                best, overlap = turn.speaker, o
        if best is not None:
            previous = names.setdefault(best, str(len(names)))
        out.append(BatchSegment(previous, seg.text, seg.start, seg.end, seg.words))
    return out


def tag_text(label: str) -> str:
    """The inline form of a non-speech tag: ``[laugh]``."""
    return f"[{label}]"


def render_text(
    segments: Sequence[BatchSegment], tags: Sequence[AudioTag] = (), *, non_speech: bool = False
) -> str:
    """The Fluxions ``text`` field: one ``SPEAKER_N: …`` line per speaker turn.

    Consecutive segments of one speaker form a turn. With ``non_speech``, each tag is put
    inline before the first word (or segment) that starts at or after the tag's start;
    tags after the last word close the last line.

    Args:
        segments: Segments in time order.
        tags: Non-speech events.
        non_speech: Whether to include the tags.

    Returns:
        The text; empty when there are no segments.
    """
    pending = sorted(tags, key=lambda t: t.start) if non_speech else []
    lines: list[tuple[str, list[str]]] = []
    for seg in segments:
        if not lines or lines[-1][0] != seg.speaker:
            lines.append((seg.speaker, []))
        parts = lines[-1][1]
        units = [(w.start, w.text.strip()) for w in seg.words] or [(seg.start, seg.text)]
        if seg.words and " ".join(u for _, u in units) != seg.text:
            units = [(seg.start, seg.text)]  # words do not spell the segment: keep it whole
        for start, unit in units:
            while pending and pending[0].start <= start:
                parts.append(tag_text(pending.pop(0).label))
            parts.append(unit)
    if lines:
        lines[-1][1].extend(tag_text(t.label) for t in pending)
    return "\n".join(f"SPEAKER_{speaker}: {' '.join(parts)}" for speaker, parts in lines)


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
    asr: ASREngine | BatchASR,
    options: PipelineOptions | None = None,
    *,
    label: str = "audio",
    on_progress: Callable[[float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> BatchTranscript:
    """Run VAD, chunking and ASR over a decoded recording.

    Blocking; call it from a worker thread. Thread-safe as far as the engines are (Silero
    and faster-whisper models are).

    Args:
        audio: The decoded recording.
        vad: A VAD engine (a fresh stream is opened).
        asr: ``Engines.asr`` or a batch model (see :func:`batch_asr`).
        options: Pipeline options.
        label: Names the recording in error messages.
        on_progress: Called with the fraction done, in [0, 1], non-decreasing.
        should_stop: Polled between chunks and Whisper segments; when it returns True the
            run stops by raising :class:`Cancelled`.

    Returns:
        The transcript.

    Raises:
        NoSpeech: the VAD found no speech.
        Cancelled: ``should_stop`` asked to stop.
        EngineError: the decoder failed.
    """
    options = options or PipelineOptions()
    model = batch_asr(asr)
    report = on_progress or (lambda _fraction: None)
    stop = should_stop or (lambda: False)
    samples = audio.samples
    ranges = pad_and_filter(speech_segments(vad, samples, BATCH_VAD), len(samples))
    if not ranges:
        raise NoSpeech(f"{label}: no speech found in {audio.duration:.1f} s of audio")
    chunks = plan_chunks(ranges, round(options.max_chunk_s * SAMPLE_RATE))
    total = sum(c.samples for c in chunks)
    decode = DecodeOptions(beam_size=options.beam_size, vad_filter=False)
    language = options.language
    languages: Counter[str] = Counter()
    segments: list[BatchSegment] = []
    done = 0
    report(0.0)
    for chunk in chunks:
        if stop():
            raise Cancelled
        pcm = chunk.extract(samples)

        def progress(seconds: float, base: int = done, size: int = len(pcm)) -> None:
            if stop():
                raise Cancelled
            report(min(1.0, (base + min(size, round(seconds * SAMPLE_RATE))) / total))

        transcript = model.transcribe(
            pcm,
            ASROptions(language, options.prompt, options.word_timestamps),
            decode=decode,
            on_progress=progress,
        )
        if transcript.language:
            languages[transcript.language] += chunk.samples
            language = language or transcript.language
        segments.extend(map_transcript(chunk, transcript))
        done += chunk.samples
        report(done / total)
    return BatchTranscript(
        duration=audio.duration,
        codec=audio.codec,
        container=audio.container,
        language=options.language or (languages.most_common(1)[0][0] if languages else None),
        num_chunks=len(chunks),
        segments=tuple(assign_speakers(segments, None)),
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
    asr: ASREngine | BatchASR,
    options: PipelineOptions | None = None,
    *,
    label: str | None = None,
    on_progress: Callable[[float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> BatchTranscript:
    """Decode a file (or its bytes) and run :func:`transcribe_audio` on it.

    Raises:
        AudioDecodeError: not decodable, holds no samples, truncated (see
            :func:`check_complete`), or (:class:`NoSpeech`) holds no speech.
        Cancelled: ``should_stop`` asked to stop.
        EngineError: the decoder failed.
    """
    if label is None:
        label = "upload" if isinstance(source, bytes) else Path(os.fspath(source)).name
    try:
        audio = decode_file(source)
    except AudioDecodeError as exc:  # name the file as the caller knows it
        message = str(exc).split(": ", 1)[-1]
        raise AudioDecodeError(f"{label}: {message}") from exc
    check_complete(audio, declared_duration(source), label=label)
    return transcribe_audio(
        audio,
        vad,
        asr,
        options,
        label=label,
        on_progress=on_progress,
        should_stop=should_stop,
    )
