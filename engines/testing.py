"""Shipped fakes for pure-logic tests: deterministic stand-ins for real engines.

They implement the Protocols in :mod:`engines.base` with knobs instead of models, so the
logic around engines (hysteresis, the realtime session) can be tested without weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engines.base import PCM


class ScriptedScorer:
    """A :class:`~engines.base.FrameScorer` that returns a scripted probability per frame.

    Frame ``k`` since construction or the last :meth:`reset` scores ``probabilities[k]``;
    frames past the end of the script score ``default``.

    Args:
        probabilities: The per-frame scores, in order.
        frame_samples: Frame size the scorer declares (and checks).
        default: Score for frames past the script.
        record_frames: Keep a copy of every frame scored in :attr:`frames`.

    Attributes:
        calls: Frames scored since the last reset.
        resets: How many times :meth:`reset` was called.
        frames: Copies of the frames scored since the last reset (when recording).
    """

    def __init__(
        self,
        probabilities: Sequence[float],
        frame_samples: int = 512,
        *,
        default: float = 0.0,
        record_frames: bool = False,
    ) -> None:
        self.probabilities = [float(p) for p in probabilities]
        self.frame_samples = frame_samples
        self.default = default
        self.record_frames = record_frames
        self.calls = 0
        self.resets = 0
        self.frames: list[PCM] = []

    def score(self, frame: PCM) -> float:
        """Return the next scripted probability.

        Raises:
            ValueError: the frame is not ``frame_samples`` long.
        """
        if len(frame) != self.frame_samples:
            raise ValueError(f"expected {self.frame_samples} samples, got {len(frame)}")
        if self.record_frames:
            self.frames.append(np.array(frame, dtype=np.int16, copy=True))
        k = self.calls
        self.calls += 1
        return self.probabilities[k] if k < len(self.probabilities) else self.default

    def reset(self) -> None:
        """Restart the script from its first frame."""
        self.calls = 0
        self.resets += 1
        self.frames = []
