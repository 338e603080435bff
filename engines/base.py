"""Engine interfaces: plain dataclasses and Protocols, no heavy imports.

Conventions shared by every engine:

* Audio is mono int16 PCM at :data:`SAMPLE_RATE` unless stated otherwise.
* Time on a stream is a sample index (``AudioChunk.start``); seconds are derived from it.
* Engines are synchronous and thread-confined: a stream is never called from two threads at
  once, and the caller (the realtime runner) runs every call off the event loop.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16_000
"""The canonical internal sample rate; transports resample once on the way in."""

PCM = npt.NDArray[np.int16]
"""Mono int16 samples, at SAMPLE_RATE unless stated."""


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """Mono int16 PCM positioned on the session timeline.

    Attributes:
        samples: The audio, at SAMPLE_RATE.
        start: Index of ``samples[0]`` since the input stream began.
    """

    samples: PCM
    start: int

    @property
    def end(self) -> int:
        """Index one past the last sample."""
        return self.start + len(self.samples)


@dataclass(frozen=True, slots=True)
class EngineInfo:
    """What an engine is, for logs, /health and ``voxgate models``.

    Attributes:
        name: The implementation, e.g. ``"faster-whisper"``.
        model: The model it runs, e.g. ``"base"`` or a path.
    """

    name: str
    model: str


# --- VAD ----------------------------------------------------------------------------------


class SpeechEdge(enum.Enum):
    """A speech boundary.

    ``PAUSE`` and ``RESUME`` are hints, reported only when :attr:`VADOptions.pause_ms` asks
    for them: inside speech, silence began at ``sample`` and has lasted ``pause_ms`` (an END
    may follow, at the same sample), or the speech went on after such a pause.
    """

    START = "start"
    END = "end"
    PAUSE = "pause"
    RESUME = "resume"


@dataclass(frozen=True, slots=True)
class VADEvent:
    """A speech boundary on the stream timeline.

    Attributes:
        edge: START or END.
        sample: Boundary sample index, prefix padding already applied.
        probability: The frame score that triggered the edge.
    """

    edge: SpeechEdge
    sample: int
    probability: float


@dataclass(frozen=True, slots=True)
class VADOptions:
    """The OpenAI ``server_vad`` turn-detection parameters.

    Attributes:
        threshold: Speech probability above which a frame counts as speech.
        prefix_padding_ms: Audio kept before the detected start.
        silence_duration_ms: Silence needed to end speech.
        pause_ms: Also report PAUSE after this much silence inside speech, and RESUME when
            speech goes on after it (None: only START and END). Used for speculative
            finals; no effect unless shorter than ``silence_duration_ms``.
    """

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    pause_ms: int | None = None


class FrameScorer(Protocol):
    """The kernel a VAD plugin implements: speech probability of one fixed-size frame.

    Stateful per stream (Silero keeps recurrent state); thread-confined; may block briefly.
    """

    frame_samples: int

    def score(self, frame: PCM) -> float:
        """Return the speech probability of exactly ``frame_samples`` samples."""
        ...

    def reset(self) -> None:
        """Forget all state, as if the stream had just begun."""
        ...


class VADStream(Protocol):
    """A per-session VAD over a continuous stream."""

    def feed(self, chunk: AudioChunk) -> list[VADEvent]:
        """Consume audio (any length, contiguous with the previous chunk); return new edges."""
        ...

    def reset(self) -> None:
        """Forget all state."""
        ...


class VADEngine(Protocol):
    """A loaded VAD model that opens cheap per-session streams."""

    info: EngineInfo

    def open_stream(self, options: VADOptions) -> VADStream:
        """Open a stream with the given hysteresis options."""
        ...


# --- ASR ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ASROptions:
    """Per-request recognition options.

    Attributes:
        language: Force a language (ISO 639-1); None detects it.
        prompt: Text that conditions the decoder (vocabulary, style).
        word_timestamps: Time each word.
        verbatim: Transcribe what was said, not a cleaned-up version: keep fillers ("um",
            "uh", "hmm") and let the decoder write its own non-speech annotations
            ("[Laughter]", "(coughing)"); engines that cannot, ignore it. Annotations are
            not speech: gate them on acoustic evidence (:mod:`engines.tagging.events`).
        translate: Write the speech in English, whatever language it is in (Whisper's
            ``translate`` task; ``language`` is then the spoken one). Batch transcription
            only; an engine says it can with a true ``translates`` attribute.
    """

    language: str | None = None
    prompt: str | None = None
    word_timestamps: bool = False
    verbatim: bool = False
    translate: bool = False


@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word.

    Attributes:
        text: The word as decoded, with its leading space if any.
        start: Start in seconds on the stream timeline.
        end: End in seconds.
        probability: Decoder confidence, if known.
    """

    text: str
    start: float
    end: float
    probability: float | None = None


@dataclass(frozen=True, slots=True)
class TranscriptDelta:
    """Append-only partial text: never revised once emitted."""

    text: str


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    """One decoded token and the model's log-probability of it.

    Attributes:
        token: The token's text (may be part of a word, with its leading space).
        logprob: Natural log of the probability the model gave this token.
        bytes: The token's UTF-8 bytes (a token may hold part of a character).
    """

    token: str
    logprob: float
    bytes: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Segment:
    """A decoder segment of a transcript.

    Attributes:
        text: Segment text, stripped.
        start: Start in seconds.
        end: End in seconds.
        words: Word timings when requested.
    """

    text: str
    start: float
    end: float
    words: tuple[Word, ...] = ()


@dataclass(frozen=True, slots=True)
class Transcript:
    """A final transcript.

    For streams, ``text`` is the engine's best transcript of the whole utterance: it may
    differ from what the utterance's deltas said (deltas are interim text it replaces).

    Attributes:
        text: Full text, stripped.
        language: Detected or forced language.
        start: Start in seconds.
        end: End in seconds.
        words: Word timings when requested.
        segments: Decoder segments (batch transcription).
        logprobs: The decoded tokens of ``text`` with their log-probabilities, in order;
            None when the engine cannot give them.
    """

    text: str
    language: str | None
    start: float
    end: float
    words: tuple[Word, ...] = ()
    segments: tuple[Segment, ...] = ()
    logprobs: tuple[TokenLogprob, ...] | None = None


class ASRStream(Protocol):
    """One utterance at a time. Thread-confined; every method may block."""

    def feed(self, chunk: AudioChunk) -> None:
        """Append audio to the current utterance."""
        ...

    def partial(self) -> list[TranscriptDelta]:
        """Decode buffered audio; return only newly stable text."""
        ...

    def finalize(self) -> Transcript:
        """End the utterance and return its transcript; the stream resets for the next one."""
        ...

    def reset(self) -> None:
        """Drop the current utterance."""
        ...


@runtime_checkable
class SpeculativeASRStream(ASRStream, Protocol):
    """An ASR stream that can decode its final ahead of time, during a pause."""

    def speculate(self, token: int) -> str | None:
        """Decode the utterance so far as its final would; keep it under ``token``.

        Returns the text that final would have (None when there is nothing to say).
        """
        ...

    def guess(self) -> str | None:
        """A quick, rougher guess at the utterance so far (stores nothing; None: silence)."""
        ...

    def finalize(self, speculation: int | None = None) -> Transcript:
        """End the utterance, reusing the decode kept under ``speculation`` if stored."""
        ...


@dataclass(frozen=True, slots=True)
class DecodeOptions:
    """Decoder settings of a batch transcription; an engine applies those it has.

    Attributes:
        beam_size: Beam width (1 = greedy).
        vad_filter: Let the engine skip non-speech itself before decoding.
        condition_on_previous_text: Prompt each window with the previous one's text (lets
            one hallucination loop through a long file, so off by default).
    """

    beam_size: int = 5
    vad_filter: bool = True
    condition_on_previous_text: bool = False


ProgressCallback = Callable[[float], None]
"""``on_progress(seconds_done)``: how far into the audio a batch transcription is.

It is also how a batch transcription is cancelled: the callback raises (the batch pipeline
raises its ``Cancelled``), and the engine lets the exception propagate.
"""


class BatchASR(Protocol):
    """Whole-recording transcription: what the batch pipeline calls."""

    def transcribe(
        self,
        audio: PCM,
        options: ASROptions,
        *,
        decode: DecodeOptions | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Transcript:
        """Transcribe a whole recording.

        Args:
            audio: Mono int16 at SAMPLE_RATE.
            options: Language, prompt, word timestamps, verbatim.
            decode: Decoder settings (None: the engine's defaults); unsupported ones are
                ignored.
            on_progress: Called with the seconds of audio done as the decode goes, when the
                engine can tell (it may never be called). Whatever it raises propagates:
                that is how the caller cancels.

        Returns:
            The transcript; the batch pipeline reads its ``segments`` (with their words
            when asked for). Times are seconds from the start of ``audio``.

        Raises:
            EngineError: the decoder failed.
        """
        ...


class ASREngine(BatchASR, Protocol):
    """A loaded ASR model: per-session streams for realtime, and batch transcription."""

    info: EngineInfo

    def open_stream(self, options: ASROptions) -> ASRStream:
        """Open a per-session stream (cheap: the model is shared).

        The runner checks whether the stream is a :class:`SpeculativeASRStream`.
        """
        ...


# --- TTS ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Voice:
    """A voice a TTS engine offers.

    Attributes:
        id: Identifier passed to ``synthesize``.
        language: BCP-47 language, if known.
        sample_rate: Rate in Hz of the PCM the engine yields for this voice, if known.
    """

    id: str
    language: str | None = None
    sample_rate: int | None = None


class TTSEngine(Protocol):
    """A loaded speech synthesiser."""

    info: EngineInfo
    sample_rate: int

    def voices(self) -> Sequence[Voice]:
        """The voices this engine can speak with."""
        ...

    def synthesize(
        self, text: str, *, voice: str | None = None, speed: float = 1.0
    ) -> Iterator[PCM]:
        """Yield int16 PCM at ``sample_rate``, lazily, one chunk per sentence or so.

        The caller pulls one chunk per worker job, so cancellation lands between chunks.
        """
        ...


# --- Diarization and tagging ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpeakerTurn:
    """A stretch of audio attributed to one speaker."""

    speaker: str
    start: float
    end: float


class SpeakerEmbedder(Protocol):
    """Maps speech to a fixed-size, L2-normalised voice embedding."""

    info: EngineInfo
    dim: int

    def embed(self, audio: PCM) -> npt.NDArray[np.float32]:
        """Embed one stretch of speech (at least ~1 s for a stable result)."""
        ...


@dataclass(frozen=True, slots=True)
class AudioTag:
    """A non-speech sound event.

    Attributes:
        label: Class name (e.g. an AudioSet display name, or one of our tags).
        score: Probability in [0, 1].
        start: Start in seconds.
        end: End in seconds.
    """

    label: str
    score: float
    start: float
    end: float


class AudioTagger(Protocol):
    """Scores sound-event classes over fixed-size patches of audio (what listening calls).

    Patch ``i`` of a signal covers samples ``[hop_samples·i, hop_samples·i + window_samples)``;
    the signal is zero-padded at the end so that the patches cover all of it. Stateless and
    thread-safe: one tagger serves every session.
    """

    info: EngineInfo
    window_samples: int
    hop_samples: int

    @property
    def class_names(self) -> Sequence[str]:
        """Display names of the classes, in score-column order."""
        ...

    @property
    def tag_classes(self) -> Mapping[str, Sequence[str]]:
        """Our tags → the class names that evidence each.

        The tags are ``laugh``, ``breath``, ``cough``, ``sigh``, ``sniff``, ``tut`` and
        ``env`` (environmental noise).
        """
        ...

    def patch_scores(self, audio: PCM) -> npt.NDArray[np.float32]:
        """Class probabilities per patch.

        Args:
            audio: Mono int16 at SAMPLE_RATE, any length.

        Returns:
            Shape ``(n_patches, len(class_names))``, probabilities in [0, 1]; at least one
            patch, even for empty audio.
        """
        ...


# --- language model ---------------------------------------------------------------------------


class ChatModel(Protocol):
    """A local language model that answers OpenAI Chat Completions request bodies.

    Attributes:
        name: The model's name (what responses report and request bodies carry).
    """

    name: str

    def complete(self, body: dict[str, Any], on_chunk: Callable[[dict[str, Any]], bool]) -> None:
        """Run one streamed chat completion on the calling (worker) thread.

        Safe to call from several threads at once. ``body`` is a Chat Completions request
        (messages, optional ``temperature``, ``max_tokens``). Each ``chat.completion.chunk``
        (as a dict, the last one with ``usage``) goes to ``on_chunk`` in order; ``on_chunk``
        returning True stops the generation at its next token.

        Raises:
            EngineError: the completion failed (the message is safe to show a client).
        """
        ...


# --- the bundle -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Engines:
    """What the app lifespan loads once per process and every session shares.

    Attributes:
        vad: Voice activity detection.
        asr: Speech recognition: realtime streams and batch transcription.
        tts: Speech synthesis, if configured.
        embedder: Speaker embeddings (diarization), if configured.
        tagger: Non-speech event tagging, if configured.
        llm: The embedded language model, if loaded (the ``llm`` responder's default).
    """

    vad: VADEngine
    asr: ASREngine
    tts: TTSEngine | None = None
    embedder: SpeakerEmbedder | None = None
    tagger: AudioTagger | None = None
    llm: ChatModel | None = None
