"""Short encoder windows: Whisper's encoder cost for a short utterance, not for 30 s.

faster-whisper pads every window's features to 30 s (3,000 frames) before the encoder.
Inside :meth:`WindowedWhisperModel.encoder_window`, a decode whose whole audio fits in a
shortened window (shorter than 30 s − margin) is encoded padded only to ``audio + margin``
(at least ``min_s``); faster-whisper decodes, aligns words and applies its guards on that
encoder output as usual. Longer audio, and decodes outside ``encoder_window``, keep the
standard 30 s windows. Relies on faster-whisper's ``WhisperModel.encode`` receiving
zero-padded (``pad_or_trim``) features (version pinned in ``pyproject.toml``).

Why these values, and measurements: docs/decisions/asr-windowing.md
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
"""The window realtime partials and non-verbatim finals decode with (batch keeps 30 s)."""


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
def windowed_model_class() -> type:
    """``faster_whisper.WhisperModel`` with :meth:`~WindowedWhisperModel.encoder_window`.

    Built on first use so that importing this module does not import faster-whisper.
    """
    from faster_whisper import WhisperModel

    class WindowedWhisperModel(WhisperModel):
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
