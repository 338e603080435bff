"""Whisper ASR over faster-whisper (CTranslate2): int8 on CPU, CUDA when asked and present.

The model directory comes from the registry (:func:`engines.models.resolve`); nothing is
ever fetched from a hub: ``HF_HUB_OFFLINE=1`` is set before faster-whisper is imported.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, NamedTuple

from engines.asr.fallback import deterministic_model_class
from engines.asr.token_probs import (
    TokenProbs,
    decode_logprobs,
    recording_model_class,
    word_tokens,
)
from engines.asr.windowing import EncoderWindow, windowed_model_class
from engines.audio import FloatAudio, int16_to_float32
from engines.base import (
    PCM,
    SAMPLE_RATE,
    ASROptions,
    DecodeOptions,
    EngineInfo,
    ProgressCallback,
    Segment,
    TokenLogprob,
    Transcript,
    Word,
)
from engines.errors import EngineError, ModelNotFound

log = logging.getLogger(__name__)


DEFAULT_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
"""faster-whisper's fallback schedule. Its first step (0) decides; the hotter ones are never
sampled: a looping window is decoded again greedily instead (:mod:`engines.asr.fallback`)."""

VERBATIM_PROMPT = "Umm, let me think like, hmm... Okay, here's what I'm, like, thinking."
"""Initial prompt of verbatim decoding (:attr:`~engines.base.ASROptions.verbatim`).

Whisper imitates the style of its prompt, so a disfluent prompt makes it keep the fillers it
otherwise drops; together with ``suppress_tokens=[]`` it may also write annotations such as
``[Laughter]`` or ``(coughing)`` (``reference/models.md`` §3). It comes before any user
prompt, so the user's vocabulary stays closest to the audio."""


def decoder_prompt(prompt: str | None, *, verbatim: bool) -> str | None:
    """The initial prompt to decode with.

    Args:
        prompt: The caller's prompt, if any.
        verbatim: Prepend :data:`VERBATIM_PROMPT`.

    Returns:
        ``prompt`` as is (None when empty) unless ``verbatim``; else the verbatim prompt,
        followed by ``prompt`` after a space when there is one.
    """
    if not verbatim:
        return prompt or None
    return f"{VERBATIM_PROMPT} {prompt}" if prompt else VERBATIM_PROMPT


def suppressed_tokens(*, verbatim: bool) -> list[int]:
    """faster-whisper's ``suppress_tokens``: none when verbatim, else its default ``[-1]``.

    ``[-1]`` suppresses Whisper's non-speech symbol tokens (brackets, music notes…), which
    verbatim decoding needs to write annotations.
    """
    return [] if verbatim else [-1]


class Decoding(NamedTuple):
    """What :meth:`FasterWhisperASR.decode` returns.

    Attributes:
        segments: faster-whisper ``Segment`` objects (with ``words``, ``tokens``,
            ``no_speech_prob``, ``avg_logprob``, ``compression_ratio``).
        language: The language used.
        language_probability: Detection probability of that language (1.0 when forced).
        token_probs: The probability of each segment's text tokens
            (:meth:`FasterWhisperASR.word_tokens` reads it).
    """

    segments: list[Any]
    language: str
    language_probability: float
    token_probs: TokenProbs


def _import_faster_whisper() -> Any:
    os.environ["HF_HUB_OFFLINE"] = "1"  # never reach for the Hub, whatever a path looks like
    import faster_whisper

    return faster_whisper


def cuda_device_count() -> int:
    """Number of CUDA devices CTranslate2 can use (0 without a GPU or CUDA runtime)."""
    import ctranslate2

    try:
        return int(ctranslate2.get_cuda_device_count())
    except RuntimeError:  # CUDA driver present but unusable
        return 0


class FasterWhisperASR:
    """A loaded Whisper model. Thread-safe for concurrent ``transcribe`` calls.

    Args:
        model_dir: A CTranslate2 Whisper directory (model.bin, config.json, tokenizer.json).
        name: Display name for logs and ``info``.
        device: ``"cpu"``, ``"cuda"``, or ``"auto"`` (CUDA when a device is present).
        compute_type: CTranslate2 compute type; ``"default"`` picks int8 on CPU and
            float16 on CUDA.
        cpu_threads: Intra-op threads per call on CPU (0 lets CTranslate2 decide).
        num_workers: Calls that may run in parallel (CTranslate2 replicas of the workers).

    Raises:
        ModelNotFound: the directory does not hold a loadable model.
        EngineError: CUDA was asked for but is not available.
    """

    def __init__(
        self,
        model_dir: Path,
        *,
        name: str | None = None,
        device: str = "auto",
        compute_type: str = "default",
        cpu_threads: int = 0,
        num_workers: int = 1,
    ) -> None:
        if device == "auto":
            device = "cuda" if cuda_device_count() > 0 else "cpu"
        elif device == "cuda" and cuda_device_count() == 0:
            raise EngineError("ASR device 'cuda' was requested but no CUDA device is available")
        if compute_type == "default":
            compute_type = "float16" if device == "cuda" else "int8"
        _import_faster_whisper()  # HF_HUB_OFFLINE before faster-whisper loads
        try:
            model_class = deterministic_model_class(recording_model_class(windowed_model_class()))
            self._model = model_class(
                str(model_dir),
                device=device,
                compute_type=compute_type,
                cpu_threads=cpu_threads,
                num_workers=num_workers,
                local_files_only=True,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelNotFound(f"cannot load Whisper model from {model_dir}: {exc}") from exc
        self.device = device
        self.compute_type = compute_type
        self.multilingual = bool(self._model.model.is_multilingual)
        self.info = EngineInfo("faster-whisper", name or Path(model_dir).name)
        log.info("loaded Whisper %s on %s (%s)", self.info.model, device, compute_type)

    @property
    def model(self) -> Any:
        """The underlying ``faster_whisper.WhisperModel`` (for adapters in this package)."""
        return self._model

    def decode(
        self,
        audio: FloatAudio,
        *,
        language: str | None,
        prompt: str | None,
        beam_size: int,
        greedy_only: bool,
        max_new_tokens: int | None = None,
        verbatim: bool = False,
        window: EncoderWindow | None = None,
    ) -> Decoding:
        """One low-level decode with word timestamps, for the streaming adapter.

        Args:
            audio: Float32 mono at 16 kHz (at most ~30 s for one window's cost).
            language: Forced language, or None to detect.
            prompt: Conditioning text (the already committed transcript).
            beam_size: Beam width.
            greedy_only: Temperature 0 only: deterministic, no sampling fallback.
            max_new_tokens: Cap on tokens per 30 s window (bounds the cost of a loop).
            verbatim: Keep fillers and annotations (:data:`VERBATIM_PROMPT` before
                ``prompt``, nothing suppressed).
            window: Encode audio shorter than 30 s in this shorter window
                (:mod:`engines.asr.windowing`); None: Whisper's standard 30 s.

        Returns:
            The segments, the language and the token probabilities (:class:`Decoding`).

        Raises:
            EngineError: the decoder failed.
        """
        if language is None and not self.multilingual:
            language = "en"
        try:
            with self._model.encoder_window(window), self._model.recording() as token_probs:
                lazy, info = self._model.transcribe(
                    audio,
                    language=language,
                    initial_prompt=decoder_prompt(prompt, verbatim=verbatim),
                    suppress_tokens=suppressed_tokens(verbatim=verbatim),
                    word_timestamps=True,
                    beam_size=beam_size,
                    vad_filter=False,
                    condition_on_previous_text=False,
                    temperature=0.0 if greedy_only else DEFAULT_TEMPERATURES,
                    max_new_tokens=max_new_tokens,
                )
                pieces = list(lazy)
            return Decoding(pieces, info.language, float(info.language_probability), token_probs)
        except (RuntimeError, ValueError) as exc:
            raise EngineError(f"Whisper decoding failed: {exc}") from exc

    def word_tokens(
        self, segment: Any, token_probs: TokenProbs
    ) -> list[tuple[TokenLogprob, ...]] | None:
        """The tokens of each word of a decoded segment, with their log-probabilities.

        Returns:
            One tuple per ``segment.words`` entry; None when the segment's tokens were not
            recorded (a decode without word timestamps) or do not spell its words.
        """
        return word_tokens(self._model.hf_tokenizer, segment, token_probs)

    def transcribe(
        self,
        audio: PCM,
        options: ASROptions,
        *,
        decode: DecodeOptions | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Transcript:
        """Transcribe a whole recording (:class:`~engines.base.BatchASR`).

        Args:
            audio: Mono int16 at 16 kHz.
            options: Language (None detects it), prompt, word timestamps, verbatim
                decoding (:data:`VERBATIM_PROMPT` before the prompt, nothing suppressed),
                translation into English (multilingual models only).
            decode: Decoder settings; the defaults favour accuracy.
            on_progress: Called with the seconds of audio done after each segment; what it
                raises propagates (cancellation).

        Returns:
            The transcript with segments, and words when asked; with word timestamps also
            its tokens' log-probabilities (``logprobs``). Times are seconds from the start
            of ``audio``.

        Raises:
            EngineError: the decoder failed, or the model is English-only and another
                language or a translation was asked for.
        """
        decode = decode or DecodeOptions()
        language = options.language
        if language is not None and not self.multilingual and language != "en":
            raise EngineError(f"model {self.info.model} is English-only; language {language!r}")
        if options.translate and not self.multilingual:
            raise EngineError(f"model {self.info.model} is English-only: it cannot translate")
        verbatim = options.verbatim
        samples = int16_to_float32(audio)

        try:
            # batch decodes keep Whisper's 30 s windows
            with self._model.encoder_window(None), self._model.recording() as token_probs:
                lazy, info = self._model.transcribe(
                    samples,
                    language=language,
                    task="translate" if options.translate else "transcribe",
                    initial_prompt=decoder_prompt(options.prompt, verbatim=verbatim),
                    suppress_tokens=suppressed_tokens(verbatim=verbatim),
                    word_timestamps=options.word_timestamps,
                    beam_size=decode.beam_size,
                    vad_filter=decode.vad_filter,
                    condition_on_previous_text=decode.condition_on_previous_text,
                )
                pieces = []
                for piece in lazy:  # lazy: decoding happens while iterating
                    pieces.append(piece)
                    if on_progress is not None:
                        on_progress(float(piece.end))
            kept = [piece for piece in pieces if piece.text.strip()]
            segments = [
                Segment(
                    piece.text.strip(),
                    float(piece.start),
                    float(piece.end),
                    tuple(
                        Word(w.word, float(w.start), float(w.end), float(w.probability))
                        for w in (piece.words or ())
                    ),
                )
                for piece in kept
            ]
        except (RuntimeError, ValueError) as exc:
            raise EngineError(f"Whisper decoding failed: {exc}") from exc
        duration = len(audio) / SAMPLE_RATE
        return Transcript(
            text=" ".join(s.text for s in segments),
            language=info.language,
            start=0.0,
            end=duration,
            words=tuple(w for s in segments for w in s.words),
            segments=tuple(segments),
            logprobs=self._logprobs(pieces, kept, token_probs),
        )

    def _logprobs(
        self, pieces: list[Any], kept: list[Any], token_probs: TokenProbs
    ) -> tuple[TokenLogprob, ...] | None:
        """The text tokens of the ``kept`` pieces with their log-probabilities, in order.

        None when the tokens were not recorded (decodes without word timestamps are not
        aligned, so nothing is recorded for them).
        """
        per_piece = decode_logprobs(self._model.hf_tokenizer, pieces, token_probs)
        if per_piece is None:
            return None
        keep = {id(piece) for piece in kept}
        chosen = (lp for piece, lp in zip(pieces, per_piece, strict=True) if id(piece) in keep)
        return tuple(token for logprobs in chosen for token in logprobs)
