"""hibari TTS: a tiny Kokoro-distilled English voice (af_heart), 24 kHz, Apache-2.0.

:class:`HibariTTS` is a :class:`~engines.tts.streaming.SentenceKernel` (hibari's G2P splits
and phonemizes sentences; its ONNX model renders one) composed with
:func:`~engines.tts.streaming.stream_speech`, which handles streaming, tags and
cancellation.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from engines.audio import float_to_int16
from engines.base import PCM, EngineInfo, Voice
from engines.errors import ModelNotFound
from engines.tts.streaming import check_request, stream_speech


class HibariTTS:
    """A loaded hibari voice.

    Only the bundled ``heart`` voice is used: hibari downloads its other voices, which
    voxgate never does. Output is deterministic: each sentence's noise is seeded from
    ``seed`` and the sentence's phonemes, so a sentence sounds the same wherever it occurs.
    Thread-safe: the G2P (built lazily, not thread-safe) runs under a lock; rendering runs
    concurrently.

    Args:
        model_path: hibari acoustic ONNX (``hibari/assets/hibari.onnx`` from the pack).
        threads: onnxruntime intra-op threads.
        seed: Noise seed; fixed so repeated calls give identical audio.

    Raises:
        ModelNotFound: the model cannot be loaded.
    """

    voice_id = "heart"
    voiced_tags: frozenset[str] = frozenset()
    """hibari renders no inline tags; see :mod:`engines.tts.tags` for what they become."""

    def __init__(self, model_path: Path, *, threads: int = 1, seed: int = 0) -> None:
        from hibari import SAMPLE_RATE, Hibari
        from hibari.voices import VOICES

        try:
            self._tts = Hibari(voice=self.voice_id, model=str(model_path), threads=threads)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelNotFound(f"cannot load hibari model {model_path}: {exc}") from exc
        self._g2p_lock = threading.Lock()  # hibari's G2P builds lazily and is not thread-safe
        self._seed = seed
        self.language: str = VOICES[self.voice_id].get("language") or "en-US"
        self.sample_rate = int(SAMPLE_RATE)
        self.info = EngineInfo("hibari", self.voice_id)

    def voices(self) -> Sequence[Voice]:
        """The bundled voice, with its language and sample rate."""
        return (Voice(self.voice_id, self.language, self.sample_rate),)

    def synthesize(
        self, text: str, *, voice: str | None = None, speed: float = 1.0
    ) -> Iterator[PCM]:
        """Yield one int16 chunk per sentence (and per tag gap), lazily.

        Inline tags are never read aloud: they become silences or nothing
        (:mod:`engines.tts.tags`). Closing the iterator between chunks stops synthesis; see
        :func:`~engines.tts.streaming.stream_speech`.

        Args:
            text: What to say.
            voice: Ignored unless it names another voice, which is an error.
            speed: Speaking rate multiplier (> 1 is faster), 0.25–4.

        Returns:
            A lazy iterator of mono int16 PCM at :attr:`sample_rate`.

        Raises:
            EngineError: unknown voice or speed out of range (before any audio).
        """
        check_request(voice, speed, voice_id=self.voice_id)
        return stream_speech(self, text, speed=speed)

    # --- kernel -------------------------------------------------------------------------

    def split_sentences(self, text: str) -> Sequence[str]:
        """Phoneme strings, one per sentence (long ones split at clauses), from hibari's G2P."""
        with self._g2p_lock:
            return list(self._tts.phonemize(text))

    def render_sentence(self, unit: str, speed: float) -> PCM:
        """Render one sentence's phonemes with noise seeded from ``seed`` and the phonemes."""
        rng = np.random.default_rng([self._seed, zlib.crc32(unit.encode("utf-8"))])
        audio = self._tts.from_ids(self._tts.ids(unit), speed, rng)
        return float_to_int16(np.clip(audio, -1.0, 1.0))
