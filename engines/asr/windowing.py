"""Short encoder windows: Whisper's encoder cost for a short utterance, not for 30 s.

faster-whisper pads every window's features to Whisper's 30 s (3,000 frames) before the
encoder, so a 3 s utterance costs the encoder as much as 30 s of audio. The encoder accepts
fewer frames (its positional embeddings are sliced; whisper.cpp exposes the same idea as
``audio_ctx``). Inside :meth:`WindowedWhisperModel.encoder_window`, a decode whose whole
audio fits in a shortened window (shorter than 30 s − margin) is encoded padded only to
``audio + margin`` (at least ``min_s``); faster-whisper decodes, aligns words and applies
its guards on that encoder output as usual. Longer audio keeps 30 s windows throughout.

Measured on the 2-core CPU of ``bench/`` (int8, 2 threads): Whisper base ``encode`` of
jfk.flac 604 ms at 3,000 frames, 139 ms at 1,500; whole beam-5 decodes with word timestamps
2–4× faster on 15 shared clips (3–14 s), word end times within 10–30 ms of the 30 s decode.
Too short a window costs words: on 8 clips with human transcripts (jfk, pocketsphinx ×3,
deepspeech, CMU ARCTIC ×2, asterisk), beam 5, pooled WER with 30 s 0.059 (0.050 with 0.5 s of
silence after the speech, as realtime utterances have); ``margin_s=1, min_s=5`` 0.069 ("ill
disposed" → "ill-sposed"); ``margin_s=2, min_s=8`` 0.050 (both); ``3, 10`` and ``5, 15``
0.050. tiny.en (greedy) is more fragile: with a 1 s margin two clips looped (WER 0.166 at
30 s, 0.179 with ``min_s=10, margin_s=3``). In the batch pipeline (physicsworks.wav, 7 VAD
chunks, Whisper base) ``2, 8`` made a noisy 6 s chunk loop ("I'm I'm I'm…", WER 0.218 vs
0.197) while ``3, 10``, ``5, 15`` and ``8, 20`` gave the 30 s text exactly (19.7 s vs 21.6 s).
So :data:`SHORT_WINDOW` is ``margin_s=3, min_s=10``, for realtime partials and finals,
except verbatim finals (non-speech tags asked for): on mfa_laughter the short window
dropped "a liner" between the laughs. Batch jobs keep 30 s windows (``DecodeOptions.window``
None): pyannote/sample.wav (23.6 s of speech) decoded in a 26.6 s window heard a few words
differently ("beep" → "deep", word times ±20 ms) and diarization, which works on those
words, went from DER 0.18 to 0.35 (``tests/engines/test_diarization.py``); short files
would decode about 2× faster. Only audio that fits one shortened window is shortened.

Full windows are encoded the standard way. Coupled to faster-whisper's
``WhisperModel.encode`` receiving ``pad_or_trim``-padded (zero) features (pinned in
``pyproject.toml``); ``tests/engines/test_asr.py`` checks that the short window is used.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

FRAMES_PER_SECOND = 100
"""Whisper's mel frames per second of audio (10 ms hop)."""

FULL_WINDOW_FRAMES = 3000
"""Whisper's native window: 30 s."""


@dataclass(frozen=True, slots=True)
class EncoderWindow:
    """How long the encoder's window is for audio shorter than 30 s.

    Attributes:
        margin_s: Silence (padding) kept after the audio.
        min_s: The window is never shorter than this.
    """

    margin_s: float = 3.0
    min_s: float = 10.0

    def frames(self, content_frames: int) -> int | None:
        """The window in frames for ``content_frames`` of audio; None: use the full 30 s."""
        if content_frames > FULL_WINDOW_FRAMES:
            return None
        wanted = max(
            content_frames + self.margin_s * FRAMES_PER_SECOND, self.min_s * FRAMES_PER_SECOND
        )
        return min(FULL_WINDOW_FRAMES, math.ceil(wanted))


SHORT_WINDOW = EncoderWindow(margin_s=3.0, min_s=10.0)
"""The window voxgate decodes with: partials, finals and batch chunks (module docstring)."""


def content_frames(features: Any) -> int:
    """Frames before the padding: faster-whisper pads a window's features with exact zeros.

    A frame of real audio is never all zeros: log-mel values are normalised as
    ``(max(log10 power, peak − 8) + 4) / 4``, and every one of 80 bands landing exactly on
    -4 does not happen (digital silence sits at ``peak − 8``).
    """
    nonzero = np.flatnonzero(np.asarray(features).any(axis=0))
    return int(nonzero[-1]) + 1 if len(nonzero) else 0


def _shortened(window: EncoderWindow, content: int) -> bool:
    """Whether ``content`` frames of audio fit in a window shorter than 30 s."""
    frames = window.frames(content)
    return frames is not None and frames < FULL_WINDOW_FRAMES


@cache
def windowed_model_class() -> type[Any]:
    """``faster_whisper.WhisperModel`` with :meth:`~WindowedWhisperModel.encoder_window`.

    Built on first use so that importing this module does not import faster-whisper.
    """
    from faster_whisper import WhisperModel

    class WindowedWhisperModel(WhisperModel):  # type: ignore[misc]
        """A WhisperModel whose windows may be encoded short (thread-safe).

        The window applies to ``transcribe`` calls made inside :meth:`encoder_window` on the
        same thread; other threads decode the standard way meanwhile.
        """

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._window = threading.local()

        @contextmanager
        def encoder_window(self, window: EncoderWindow | None) -> Iterator[None]:
            """Apply ``window`` (None: the standard 30 s) to this thread's decodes within."""
            previous = getattr(self._window, "value", None), getattr(self._window, "total", None)
            self._window.value, self._window.total = window, None  # None until the decode says
            try:
                yield
            finally:
                self._window.value, self._window.total = previous

        @property
        def last_window_frames(self) -> int | None:
            """Frames of this thread's last shortened window (None before any)."""
            return getattr(self._window, "frames", None)

        def generate_segments(
            self,
            features: Any,
            tokenizer: Any,
            options: Any,
            log_progress: bool = False,
            encoder_output: Any = None,
        ) -> Any:
            """Note how much audio the decode holds, then decode as faster-whisper does."""
            self._window.total = features.shape[-1] - 1  # content frames, as it counts them
            return super().generate_segments(
                features, tokenizer, options, log_progress, encoder_output
            )

        def encode(self, features: Any) -> Any:
            """Encode, cutting faster-whisper's zero padding down to the active window.

            Only when the whole audio of the decode fits in a shortened window: a longer
            recording keeps 30 s windows throughout, its last one included. Language
            detection, which runs before the decode announces its length, keeps 30 s.
            """
            window: EncoderWindow | None = getattr(self._window, "value", None)
            total: int | None = getattr(self._window, "total", None)
            fits = window is not None and total is not None and _shortened(window, total)
            if fits and features.ndim == 2 and features.shape[-1] == FULL_WINDOW_FRAMES:
                assert window is not None
                frames = window.frames(content_frames(features))
                if frames is not None and frames < FULL_WINDOW_FRAMES:
                    self._window.frames = frames
                    features = features[:, :frames]
            return super().encode(features)

    return WindowedWhisperModel
