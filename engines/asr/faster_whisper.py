"""Whisper ASR over faster-whisper (CTranslate2): int8 on CPU, CUDA when asked and present.

The model directory comes from the registry (:func:`engines.models.resolve`); nothing is
ever fetched from a hub: ``HF_HUB_OFFLINE=1`` is set before faster-whisper is imported.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engines.audio import FloatAudio, int16_to_float32
from engines.base import (
    PCM,
    SAMPLE_RATE,
    ASRCapabilities,
    ASROptions,
    EngineInfo,
    Segment,
    Transcript,
    Word,
)
from engines.errors import EngineError, ModelNotFound

log = logging.getLogger(__name__)


DEFAULT_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
"""faster-whisper's fallback schedule: retry hotter when a decode looks degenerate."""


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


@dataclass(frozen=True, slots=True)
class DecodeOptions:
    """Decoder settings for batch transcription.

    Attributes:
        beam_size: Beam width (1 = greedy; 5 is faster-whisper's accurate default).
        vad_filter: Skip non-speech with faster-whisper's Silero VAD before decoding.
        condition_on_previous_text: Prompt each window with the previous one's text.
            Off by default: it is what lets one hallucination loop through a long file.
    """

    beam_size: int = 5
    vad_filter: bool = True
    condition_on_previous_text: bool = False


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

    capabilities = ASRCapabilities(incremental=False, word_timestamps=True)

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
        fw = _import_faster_whisper()
        try:
            self._model = fw.WhisperModel(
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
    ) -> tuple[list[Any], str, float]:
        """One low-level decode with word timestamps, for the streaming adapter.

        Args:
            audio: Float32 mono at 16 kHz (at most ~30 s for one window's cost).
            language: Forced language, or None to detect.
            prompt: Conditioning text (the already committed transcript).
            beam_size: Beam width.
            greedy_only: Temperature 0 only: deterministic, no sampling fallback.
            max_new_tokens: Cap on tokens per 30 s window (bounds the cost of a loop).

        Returns:
            faster-whisper ``Segment`` objects (with ``words``, ``no_speech_prob``,
            ``avg_logprob``, ``compression_ratio``), the language used, and the detection
            probability of that language (1.0 when it was forced).

        Raises:
            EngineError: the decoder failed.
        """
        if language is None and not self.multilingual:
            language = "en"
        try:
            pieces, info = self._model.transcribe(
                audio,
                language=language,
                initial_prompt=prompt or None,
                word_timestamps=True,
                beam_size=beam_size,
                vad_filter=False,
                condition_on_previous_text=False,
                temperature=0.0 if greedy_only else DEFAULT_TEMPERATURES,
                max_new_tokens=max_new_tokens,
            )
            return list(pieces), info.language, float(info.language_probability)
        except (RuntimeError, ValueError) as exc:
            raise EngineError(f"Whisper decoding failed: {exc}") from exc

    def transcribe(
        self,
        audio: PCM,
        options: ASROptions,
        *,
        decode: DecodeOptions | None = None,
        on_progress: Callable[[float], None] | None = None,
    ) -> Transcript:
        """Transcribe a whole recording.

        Args:
            audio: Mono int16 at 16 kHz.
            options: Language (None detects it), prompt, word timestamps.
            decode: Decoder settings; the defaults favour accuracy.
            on_progress: Called with the seconds of audio done after each segment.

        Returns:
            The transcript with segments, and words when asked. Times are seconds from the
            start of ``audio``.

        Raises:
            EngineError: the decoder failed.
        """
        decode = decode or DecodeOptions()
        language = options.language
        if language is not None and not self.multilingual and language != "en":
            raise EngineError(f"model {self.info.model} is English-only; language {language!r}")
        try:
            pieces, info = self._model.transcribe(
                int16_to_float32(audio),
                language=language,
                initial_prompt=options.prompt,
                word_timestamps=options.word_timestamps,
                beam_size=decode.beam_size,
                vad_filter=decode.vad_filter,
                condition_on_previous_text=decode.condition_on_previous_text,
            )
            segments: list[Segment] = []
            for piece in pieces:  # lazy: decoding happens while iterating
                text = piece.text.strip()
                if text:
                    words = tuple(
                        Word(w.word, float(w.start), float(w.end), float(w.probability))
                        for w in (piece.words or ())
                    )
                    segments.append(Segment(text, float(piece.start), float(piece.end), words))
                if on_progress is not None:
                    on_progress(float(piece.end))
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
        )
