"""The batch pipeline: decode → VAD chunks → ASR with word timestamps → assembled transcript.

Shared by the job worker and ``voxgate transcribe``, so both produce the same text for the
same file. Everything here is synchronous and blocking (run it on a worker thread). The pure
steps live beside it: chunk planning in :mod:`realtime.batch.chunking`, the transcript's
assembly in :mod:`realtime.batch.assembly`, the text and segment records in
:mod:`realtime.batch.render`.

Language: detected on the first chunk (the first ~30 s of speech) and then forced for the
others, so one recording gets one language.

Listening (after the words): with a tagger and ``non_speech``, :func:`engines.listening.listen`
runs once over the whole recording: Whisper annotations and words invented over non-speech
leave the words, fillers stay, non-speech events and prosody marks are found; segment texts
are rebuilt from the words that remain (so ``segments[].text`` never holds a tag). With an
embedder and ``diarize``, :func:`engines.diarization.batch.diarize` finds the speaker turns
from the word timings and every word takes its turn's speaker; a Whisper segment that two
speakers share is split where the speaker changes.

Scheduling: every heavy step (decoding the file, the VAD pass, each chunk's Whisper decode,
listening, diarization) is called through the ``run_step`` hook. ``voxgate transcribe``
leaves it out (the step runs on the calling thread); the job worker passes one that runs
the step on the process's :class:`~realtime.inference.scheduler.InferenceScheduler` at batch
priority, so a live session's final never queues behind a whole recording, only behind
at most one chunk. The pipeline itself stays engine- and scheduler-agnostic.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

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
)
from engines.diarization.batch import diarize
from engines.errors import AudioDecodeError, AudioTooLong
from engines.listening import listen
from engines.vad.hysteresis import speech_segments
from realtime.batch.assembly import (
    BatchSegment,
    BatchTranscript,
    map_transcript,
    regroup_words,
    split_by_speaker,
)
from realtime.batch.chunking import BATCH_VAD, Chunk, pad_and_filter, plan_chunks

StepRunner = Callable[[Callable[[], Any]], Any]
"""Runs one pipeline step (a zero-argument call) and returns its result, or raises."""

ChunkCallback = Callable[[Sequence[BatchSegment], Transcript], None]
"""``on_chunk(segments, transcript)``: a chunk was decoded; its segments on the recording's
timeline (speaker ``"0"``, before listening and diarization) and the engine's transcript of
it (``logprobs``…)."""


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
        translate: Write the speech in English (Whisper's ``translate`` task; the ASR engine
            must be able to: its ``translates`` attribute).
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
    translate: bool = False
    word_timestamps: bool = True
    beam_size: int = 5
    max_chunk_s: float = 30.0
    max_audio_s: float | None = None


@dataclass(frozen=True, slots=True)
class _Progress:
    """A run's progress reports and stop checks.

    Attributes:
        report: Takes the fraction done, in [0, 1].
        should_stop: Polled at each checkpoint.
        total: Samples of speech over all chunks.
        asr_share: The share of the progress bar the Whisper decodes fill (the rest is
            listening and diarization).
    """

    report: Callable[[float], None]
    should_stop: Callable[[], bool]
    total: int
    asr_share: float

    def checkpoint(self) -> None:
        """Raise :class:`Cancelled` when the run was asked to stop."""
        if self.should_stop():
            raise Cancelled

    def decoded(self, samples: int) -> None:
        """Report ``samples`` of speech decoded so far."""
        self.report(min(1.0, samples / self.total) * self.asr_share)

    def within_chunk(self, done: int, size: int) -> Callable[[float], None]:
        """The ``on_progress`` of a chunk of ``size`` samples that starts ``done`` samples in.

        It takes seconds decoded within the chunk, stops the run when asked, and reports.
        """

        def on_progress(seconds: float) -> None:
            self.checkpoint()
            self.decoded(done + min(size, round(seconds * SAMPLE_RATE)))

        return on_progress


def _never() -> bool:
    return False


def _ignore(_fraction: float) -> None:
    return None


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
    on_chunk: ChunkCallback | None = None,
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
        on_chunk: Called after each chunk's decode, in order, on the calling thread
            (:data:`ChunkCallback`).

    Returns:
        The transcript.

    Raises:
        NoSpeech: the VAD found no speech.
        Cancelled: ``should_stop`` asked to stop.
        EngineError: the decoder failed.
    """
    options = options or PipelineOptions()
    chunks = _find_speech_chunks(audio, vad, options, label=label, run_step=run_step)
    listening = options.non_speech and tagger is not None and options.word_timestamps
    diarizing = options.diarize and embedder is not None
    progress = _Progress(
        report=on_progress or _ignore,
        should_stop=should_stop or _never,
        total=sum(c.samples for c in chunks),
        asr_share=0.9 if listening or diarizing else 1.0,
    )
    segments, language = _decode_chunks(
        audio.samples,
        chunks,
        asr,
        options,
        progress,
        run_step,
        verbatim=listening,
        on_chunk=on_chunk,
    )
    if listening or diarizing:
        progress.checkpoint()
    segments, tags, turns = _listen_and_diarize(
        audio.samples,
        segments,
        options,
        run_step,
        tagger=tagger if listening else None,
        embedder=embedder if diarizing else None,
    )
    segments = split_by_speaker(segments, turns or [])  # no turns: all speaker "0"
    progress.report(1.0)
    return BatchTranscript(
        audio.duration, audio.codec, audio.container, language, len(chunks), tuple(segments), tags
    )


def _find_speech_chunks(
    audio: DecodedAudio,
    vad: VADEngine,
    options: PipelineOptions,
    *,
    label: str,
    run_step: StepRunner = run_here,
) -> list[Chunk]:
    """The recording's speech, found by the VAD and packed into Whisper decodes.

    Raises:
        NoSpeech: the VAD found no speech.
    """
    found = run_step(partial(speech_segments, vad, audio.samples, BATCH_VAD))
    ranges = pad_and_filter(found, len(audio.samples))
    if not ranges:
        raise NoSpeech(f"{label}: no speech found in {audio.duration:.1f} s of audio")
    return plan_chunks(ranges, round(options.max_chunk_s * SAMPLE_RATE))


def _decode_chunks(
    samples: PCM,
    chunks: Sequence[Chunk],
    asr: BatchASR,
    options: PipelineOptions,
    progress: _Progress,
    run_step: StepRunner,
    *,
    verbatim: bool,
    on_chunk: ChunkCallback | None = None,
) -> tuple[list[BatchSegment], str | None]:
    """Decode every chunk with Whisper, one step each, in order.

    The language the first chunk detects is forced on the later ones (unless the options
    force one already).

    Returns:
        The segments on the recording's timeline (speaker ``"0"``), and the language: the
        forced one, else the one detected on the most speech.
    """
    decode = DecodeOptions(beam_size=options.beam_size, vad_filter=False)
    language = options.language
    languages: Counter[str] = Counter()
    segments: list[BatchSegment] = []
    done = 0
    progress.report(0.0)
    for chunk in chunks:
        progress.checkpoint()
        asked = ASROptions(
            language,
            options.prompt,
            options.word_timestamps,
            verbatim=verbatim,
            translate=options.translate,
        )
        transcript: Transcript = run_step(
            partial(
                asr.transcribe,
                chunk.extract(samples),
                asked,
                decode=decode,
                on_progress=progress.within_chunk(done, chunk.samples),
            )
        )
        if transcript.language:
            languages[transcript.language] += chunk.samples
            language = language or transcript.language
        mapped = map_transcript(chunk, transcript)
        segments.extend(mapped)
        if on_chunk is not None:
            on_chunk(mapped, transcript)
        done += chunk.samples
        progress.decoded(done)
    detected = languages.most_common(1)[0][0] if languages else None
    return segments, options.language or detected


def _listen_and_diarize(
    samples: PCM,
    segments: list[BatchSegment],
    options: PipelineOptions,
    run_step: StepRunner,
    *,
    tagger: AudioTagger | None,
    embedder: SpeakerEmbedder | None,
) -> tuple[list[BatchSegment], tuple[AudioTag, ...], list[SpeakerTurn] | None]:
    """Listen (with a tagger) and diarize (with an embedder), the two steps side by side.

    Diarization runs beside the listening step (each is one ONNX thread; together they use
    both cores of a small machine). It works on Whisper's raw words, so the speakers do not
    depend on whether non-speech output was asked for.

    Returns:
        The segments (regrouped around the words listening kept, when it ran), the
        non-speech events found, and the speaker turns (None without diarization).
    """
    tags: tuple[AudioTag, ...] = ()
    turns: list[SpeakerTurn] | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="diarize") as beside:
        diarized = None
        if embedder is not None and segments:
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
        if tagger is not None:
            words = [w for seg in segments for w in seg.words]
            heard = run_step(partial(listen, samples, words, tagger=tagger))
            segments = regroup_words(segments, heard.words, heard.marks)
            tags = heard.events
        if diarized is not None:
            turns = diarized.result()
    return segments, tags, turns


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
    on_chunk: ChunkCallback | None = None,
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
        on_chunk=on_chunk,
    )
