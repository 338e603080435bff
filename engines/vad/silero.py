"""Silero VAD v6 over onnxruntime: a frame scorer plus the engine that shares one model.

The model is the ONNX asset that ships inside faster-whisper (registry name
``silero-vad-v6``). Its graph takes ``input[N, 576]`` (64 context samples followed by 512 new
samples, float32 in [-1, 1) at 16 kHz) and LSTM state ``h``, ``c`` of shape ``[1, 1, 128]``,
and returns ``speech_probs[N]``, ``hn`` and ``cn``. The N rows are consecutive frames in
time: a batch of N rows gives the same probabilities as N single-row calls that carry the
state, which :meth:`SileroVAD.speech_probabilities` uses for whole signals.

One :class:`onnxruntime.InferenceSession` serves every stream (``run`` is thread-safe);
each :class:`SileroScorer` keeps its own state and context.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from engines.base import PCM, EngineInfo, VADOptions
from engines.errors import ModelNotFound
from engines.models import Kind, default_cache_dir, resolve
from engines.vad.hysteresis import HysteresisVAD

if TYPE_CHECKING:
    import onnxruntime

FRAME_SAMPLES = 512
"""New samples per frame at 16 kHz (32 ms)."""

CONTEXT_SAMPLES = 64
"""Samples of the previous frame prepended to each model input."""

STATE_SHAPE = (1, 1, 128)
"""Shape of each LSTM state tensor, ``h`` and ``c``."""

_SCALE = np.float32(1 / 32768)
_OUTPUTS = ["speech_probs", "hn", "cn"]
_BATCH_FRAMES = 10_000  # rows per session.run in speech_probabilities (as faster-whisper)


class SileroScorer:
    """A :class:`~engines.base.FrameScorer` over a shared Silero session.

    Carries the LSTM state and the 64-sample context from frame to frame; the first frame
    sees zero context and zero state. Thread-confined (one per stream).

    Args:
        session: A loaded Silero v6 session, usually :attr:`SileroVAD.session`.
    """

    frame_samples: int = FRAME_SAMPLES
    _h: npt.NDArray[np.float32]
    _c: npt.NDArray[np.float32]

    def __init__(self, session: onnxruntime.InferenceSession) -> None:
        self._session = session
        # One reused input row: [:CONTEXT_SAMPLES] context, [CONTEXT_SAMPLES:] the new frame.
        self._input = np.zeros((1, CONTEXT_SAMPLES + FRAME_SAMPLES), dtype=np.float32)
        self.reset()

    def score(self, frame: PCM) -> float:
        """Return the speech probability of 512 int16 samples.

        Raises:
            ValueError: the frame is not exactly 512 samples.
        """
        if len(frame) != FRAME_SAMPLES:
            raise ValueError(f"Silero scores {FRAME_SAMPLES}-sample frames, got {len(frame)}")
        row = self._input
        np.multiply(frame, _SCALE, out=row[0, CONTEXT_SAMPLES:], casting="unsafe")
        probs, self._h, self._c = self._session.run(
            _OUTPUTS, {"input": row, "h": self._h, "c": self._c}
        )
        row[0, :CONTEXT_SAMPLES] = row[0, -CONTEXT_SAMPLES:]
        return float(np.asarray(probs).reshape(-1)[0])

    def reset(self) -> None:
        """Zero the state and the context."""
        self._h = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._c = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._input.fill(0.0)


class SileroVAD:
    """A :class:`~engines.base.VADEngine`: Silero v6 loaded once, cheap streams per session.

    Args:
        model_path: The ``silero_vad_v6.onnx`` file (see :meth:`load` for registry names).
        intra_op_threads: onnxruntime intra-op threads; 1 suits 32 ms frames best.
        inter_op_threads: onnxruntime inter-op threads.

    Raises:
        ModelNotFound: the file is missing, not ONNX, or not a Silero v6 graph.
    """

    info: EngineInfo = EngineInfo("silero", "v6")

    def __init__(
        self,
        model_path: str | os.PathLike[str],
        *,
        intra_op_threads: int = 1,
        inter_op_threads: int = 1,
    ) -> None:
        import onnxruntime  # heavy: import when a model is actually loaded

        path = Path(model_path)
        opts = onnxruntime.SessionOptions()
        opts.intra_op_num_threads = intra_op_threads
        opts.inter_op_num_threads = inter_op_threads
        opts.log_severity_level = 3
        try:
            self.session = onnxruntime.InferenceSession(
                str(path), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelNotFound(f"Silero VAD model {path} cannot be loaded: {exc}") from exc
        _check_graph(self.session, path)
        self.path = path

    @classmethod
    def load(
        cls,
        model: str | os.PathLike[str] = "silero-vad-v6",
        cache_dir: Path | None = None,
        **threads: int,
    ) -> SileroVAD:
        """Load a registry model or a path (as settings give it).

        Args:
            model: Registry name or path to a Silero v6 ONNX file.
            cache_dir: Model cache; defaults to :func:`~engines.models.default_cache_dir`.
            **threads: ``intra_op_threads`` / ``inter_op_threads`` for the constructor.

        Returns:
            The loaded engine.
        """
        path = resolve(model, Kind.VAD, cache_dir or default_cache_dir())
        return cls(path, **threads)

    def new_scorer(self) -> SileroScorer:
        """A fresh per-stream scorer sharing this engine's session."""
        return SileroScorer(self.session)

    def open_stream(self, options: VADOptions | None = None) -> HysteresisVAD:
        """Open a per-session stream with ``server_vad`` hysteresis."""
        return HysteresisVAD(self.new_scorer(), options)

    def speech_probabilities(self, audio: PCM) -> npt.NDArray[np.float32]:
        """Score a whole signal in batches, from zero state.

        Args:
            audio: Mono int16 at 16 kHz.

        Returns:
            One probability per complete 512-sample frame: element ``i`` covers samples
            ``[512·i, 512·(i+1))``. A trailing partial frame is not scored, as in streaming.
        """
        n = len(audio) // FRAME_SAMPLES
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        frames = np.asarray(audio[: n * FRAME_SAMPLES]).reshape(n, FRAME_SAMPLES)
        rows = np.zeros((n, CONTEXT_SAMPLES + FRAME_SAMPLES), dtype=np.float32)
        np.multiply(frames, _SCALE, out=rows[:, CONTEXT_SAMPLES:], casting="unsafe")
        rows[1:, :CONTEXT_SAMPLES] = rows[:-1, -CONTEXT_SAMPLES:]
        h = np.zeros(STATE_SHAPE, dtype=np.float32)
        c = np.zeros(STATE_SHAPE, dtype=np.float32)
        out: list[npt.NDArray[np.float32]] = []
        for i in range(0, n, _BATCH_FRAMES):
            probs, h, c = self.session.run(
                _OUTPUTS, {"input": rows[i : i + _BATCH_FRAMES], "h": h, "c": c}
            )
            out.append(np.asarray(probs, dtype=np.float32).reshape(-1))
        return np.concatenate(out)


def _check_graph(session: onnxruntime.InferenceSession, path: Path) -> None:
    """Raise ModelNotFound unless the session has the Silero v6 inputs and outputs."""
    inputs = {i.name: i.shape for i in session.get_inputs()}
    outputs = {o.name for o in session.get_outputs()}
    width = inputs.get("input", [None, None])[-1]
    if set(inputs) != {"input", "h", "c"} or width != CONTEXT_SAMPLES + FRAME_SAMPLES:
        raise ModelNotFound(
            f"{path} is not a Silero VAD v6 model (inputs {sorted(inputs)}): "
            "use the silero-vad-v6 registry model"
        )
    if not set(_OUTPUTS) <= outputs:
        raise ModelNotFound(f"{path} is not a Silero VAD v6 model (outputs {sorted(outputs)})")
