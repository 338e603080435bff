"""Piper TTS (VITS ONNX voices, espeak-ng phonemes). Default engine; runtime is GPL-3.0.

:class:`PiperTTS` is a :class:`~engines.tts.streaming.SentenceKernel` (espeak-ng splits
and phonemizes sentences; the ONNX voice renders one) composed with
:func:`~engines.tts.streaming.stream_speech`, which handles streaming, tags and
cancellation.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from engines.audio import float_to_int16
from engines.base import PCM, EngineInfo, Voice
from engines.errors import ModelNotFound
from engines.tts.streaming import check_request, stream_speech

# espeak-ng keeps global state in C: phonemize from one thread at a time, process-wide.
_ESPEAK = threading.Lock()

_PEAK = 0.95
"""Each sentence is normalised to this peak, as Piper itself does (with headroom)."""


class PiperTTS:
    """A loaded Piper voice: the bundled ``en_US-joe-medium`` or any Piper voice file.

    Thread-safe: phonemization is serialised process-wide (espeak-ng is global C state);
    rendering runs concurrently.

    Args:
        model_path: The voice ``.onnx``; its config must sit beside it as ``.onnx.json``.
        use_cuda: Run the ONNX model with the CUDA execution provider.

    Raises:
        ModelNotFound: the voice or its config cannot be loaded.
    """

    voiced_tags: frozenset[str] = frozenset()
    """Piper voices render no inline tags; see :mod:`engines.tts.tags` for what they become."""

    def __init__(self, model_path: Path, *, use_cuda: bool = False) -> None:
        from piper import PiperVoice, SynthesisConfig

        config_path = Path(f"{model_path}.json")
        try:
            self._voice = PiperVoice.load(model_path, config_path, use_cuda=use_cuda)
            language = _language(json.loads(config_path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise ModelNotFound(f"cannot load Piper voice {model_path}: {exc}") from exc
        self._config_cls = SynthesisConfig
        self.voice_id = Path(model_path).name.removesuffix(".onnx")
        self.language = language or self._voice.config.espeak_voice
        self.sample_rate = int(self._voice.config.sample_rate)
        self.info = EngineInfo("piper", self.voice_id)

    def voices(self) -> Sequence[Voice]:
        """The single voice this model speaks, with its language and sample rate."""
        return (Voice(self.voice_id, self.language, self.sample_rate),)

    def synthesize(
        self, text: str, *, voice: str | None = None, speed: float = 1.0
    ) -> Iterator[PCM]:
        """Yield one int16 chunk per sentence (and per tag gap), lazily.

        Inline tags are never read aloud: Piper voices cannot render them, so they become
        silences or nothing (:mod:`engines.tts.tags`). Closing the iterator between chunks
        stops synthesis; see :func:`~engines.tts.streaming.stream_speech`.

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

    def split_sentences(self, text: str) -> Sequence[list[str]]:
        """Phonemes of each sentence, from espeak-ng (under the process-wide lock)."""
        with _ESPEAK:
            sentences = self._voice.phonemize(text)
        return [phonemes for phonemes in sentences if phonemes]

    def render_sentence(self, unit: list[str], speed: float) -> PCM:
        """Render one sentence's phonemes, peak-normalised as Piper does."""
        length_scale = (self._voice.config.length_scale or 1.0) / speed
        config = self._config_cls(length_scale=length_scale)
        ids = self._voice.phonemes_to_ids(unit)
        audio = np.asarray(self._voice.phoneme_ids_to_audio(ids, config), dtype=np.float32)
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        if peak > 1e-8:
            audio = audio / peak
        return float_to_int16(np.clip(audio, -1.0, 1.0) * _PEAK)


def _language(config: dict[str, object]) -> str | None:
    """The BCP-47 language of a Piper voice config (``en_US`` → ``en-US``), if stated."""
    language = config.get("language")
    code = language.get("code") if isinstance(language, dict) else None
    return code.replace("_", "-") if isinstance(code, str) and code else None
