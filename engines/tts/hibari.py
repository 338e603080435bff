"""hibari TTS: a tiny Kokoro-distilled English voice (af_heart), 24 kHz, Apache-2.0."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from engines.audio import float_to_int16
from engines.base import PCM, EngineInfo, Voice
from engines.errors import EngineError, ModelNotFound
from engines.tts.tags import strip_tags


class HibariTTS:
    """A loaded hibari voice.

    Only the bundled ``heart`` voice is used: hibari downloads its other voices, which
    voxgate never does. Output is deterministic for a given ``seed``.

    Args:
        model_path: hibari acoustic ONNX (``hibari/assets/hibari.onnx`` from the pack).
        threads: onnxruntime intra-op threads.
        seed: Noise seed; fixed so repeated calls give identical audio.

    Raises:
        ModelNotFound: the model cannot be loaded.
    """

    voice_id = "heart"

    def __init__(self, model_path: Path, *, threads: int = 1, seed: int = 0) -> None:
        from hibari import SAMPLE_RATE, Hibari

        try:
            self._tts = Hibari(voice=self.voice_id, model=str(model_path), threads=threads)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelNotFound(f"cannot load hibari model {model_path}: {exc}") from exc
        self._g2p_lock = threading.Lock()  # hibari's G2P builds lazily and is not thread-safe
        self._seed = seed
        self.sample_rate = int(SAMPLE_RATE)
        self.info = EngineInfo("hibari", self.voice_id)

    def voices(self) -> Sequence[Voice]:
        """The bundled voice."""
        return (Voice(self.voice_id, "en-US"),)

    def synthesize(
        self, text: str, *, voice: str | None = None, speed: float = 1.0
    ) -> Iterator[PCM]:
        """Yield one int16 chunk per sentence, lazily. Inline tags are dropped.

        Raises:
            EngineError: unknown voice or speed out of range (before any audio).
        """
        if voice not in (None, self.voice_id):
            raise EngineError(f"unknown voice {voice!r}; this engine has {self.voice_id!r}")
        if not 0.25 <= speed <= 4.0:
            raise EngineError(f"speed {speed} is out of range 0.25–4")
        return self._generate(strip_tags(text), speed)

    def _generate(self, text: str, speed: float) -> Iterator[PCM]:
        with self._g2p_lock:
            sentences = self._tts.phonemize(text)
        rng = np.random.default_rng(self._seed)
        for phonemes in sentences:
            audio = self._tts.from_ids(self._tts.ids(phonemes), speed, rng)
            if len(audio):
                yield float_to_int16(np.clip(audio, -1.0, 1.0))
