"""Piper TTS (VITS ONNX voices, espeak-ng phonemes). Default engine; runtime is GPL-3.0."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from engines.audio import float_to_int16
from engines.base import PCM, EngineInfo, Voice
from engines.errors import EngineError, ModelNotFound
from engines.tts.tags import strip_tags

# espeak-ng keeps global state in C: phonemize from one thread at a time, process-wide.
_ESPEAK = threading.Lock()


class PiperTTS:
    """A loaded Piper voice.

    Args:
        model_path: The voice ``.onnx``; its config must sit beside it as ``.onnx.json``.
        use_cuda: Run the ONNX model with the CUDA execution provider.

    Raises:
        ModelNotFound: the voice or its config cannot be loaded.
    """

    def __init__(self, model_path: Path, *, use_cuda: bool = False) -> None:
        from piper import PiperVoice, SynthesisConfig

        try:
            self._voice = PiperVoice.load(model_path, f"{model_path}.json", use_cuda=use_cuda)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise ModelNotFound(f"cannot load Piper voice {model_path}: {exc}") from exc
        self._config_cls = SynthesisConfig
        self.voice_id = Path(model_path).name.removesuffix(".onnx")
        self.sample_rate = int(self._voice.config.sample_rate)
        self.info = EngineInfo("piper", self.voice_id)

    def voices(self) -> Sequence[Voice]:
        """The single voice this model speaks."""
        return (Voice(self.voice_id, self._voice.config.espeak_voice),)

    def synthesize(
        self, text: str, *, voice: str | None = None, speed: float = 1.0
    ) -> Iterator[PCM]:
        """Yield one int16 chunk per sentence, lazily.

        Inline tags (``[laugh]``…) are dropped: Piper voices cannot render them.

        Args:
            text: What to say.
            voice: Ignored unless it names another voice, which is an error.
            speed: Speaking rate multiplier (> 1 is faster), 0.25–4.

        Raises:
            EngineError: unknown voice or speed out of range (before any audio).
        """
        if voice not in (None, self.voice_id):
            raise EngineError(f"unknown voice {voice!r}; this engine has {self.voice_id!r}")
        if not 0.25 <= speed <= 4.0:
            raise EngineError(f"speed {speed} is out of range 0.25–4")
        return self._generate(strip_tags(text), speed)

    def _generate(self, text: str, speed: float) -> Iterator[PCM]:
        length_scale = (self._voice.config.length_scale or 1.0) / speed
        config = self._config_cls(length_scale=length_scale)
        with _ESPEAK:
            sentences = self._voice.phonemize(text)
        for phonemes in sentences:
            if not phonemes:
                continue
            ids = self._voice.phonemes_to_ids(phonemes)
            audio = np.asarray(self._voice.phoneme_ids_to_audio(ids, config), dtype=np.float32)
            peak = float(np.max(np.abs(audio))) if audio.size else 0.0
            if peak > 1e-8:
                audio = audio / peak  # Piper's own per-sentence normalisation
            yield float_to_int16(np.clip(audio, -1.0, 1.0) * 0.95)
