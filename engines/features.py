"""Numpy audio front-end: framing, windows, STFT and mel filterbanks.

Written once and shared by every engine that needs spectral features (YAMNet, the d-vector
embedder), so that no engine depends on librosa, torchaudio or TensorFlow. Everything is
vectorised and returns float32.

Conventions:

* Time runs along axis 0 and frequency along axis 1: a spectrogram is ``(n_frames, n_bins)``
  with ``n_bins = n_fft // 2 + 1``; a filterbank is ``(n_mels, n_bins)`` so that
  ``spectrogram @ filterbank.T`` gives ``(n_frames, n_mels)``.
* There is never any centre padding: frame ``t`` covers samples
  ``[t * hop, t * hop + frame_length)``, and a trailing partial frame is dropped.
* Two framing styles exist in the wild and both are supported by :func:`stft`:

  - TensorFlow (``tf.signal.stft``, YAMNet): frames are as long as the window and are
    zero-padded on the right to ``n_fft``. Use the default ``frame_length=None``.
  - librosa / torch (``center=False``): frames are ``n_fft`` long and the shorter window is
    centred inside them. Pass ``frame_length=n_fft``.

  For the same samples under the window both give identical magnitudes (a shift only changes
  the phase); they differ in where frame ``t`` sits (by ``(n_fft - win) // 2`` samples) and so
  in how many frames a signal yields.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

Float32Array = npt.NDArray[np.float32]

MelNorm = Literal["slaney"] | None


# --- framing and windows ----------------------------------------------------------------------


def num_frames(n_samples: int, frame_length: int, hop: int) -> int:
    """Count the whole frames in a signal, without centre padding.

    Args:
        n_samples: Signal length in samples.
        frame_length: Samples per frame.
        hop: Samples between the starts of consecutive frames.

    Returns:
        ``1 + (n_samples - frame_length) // hop``, or 0 when the signal is shorter than one
        frame.
    """
    if n_samples < frame_length:
        return 0
    return 1 + (n_samples - frame_length) // hop


def frame(signal: npt.ArrayLike, frame_length: int, hop: int) -> Float32Array:
    """Cut a 1-D signal into overlapping frames, without centre padding.

    Args:
        signal: Samples, shape ``(n_samples,)``.
        frame_length: Samples per frame.
        hop: Samples between the starts of consecutive frames.

    Returns:
        Array of shape ``(n_frames, frame_length)`` with
        ``n_frames = num_frames(n_samples, frame_length, hop)`` (possibly 0). Row ``t`` is
        ``signal[t * hop : t * hop + frame_length]``. It is a read-only strided view when the
        input is already contiguous float32, so do not write to it.

    Raises:
        ValueError: ``signal`` is not 1-D, or ``frame_length``/``hop`` is not positive.
    """
    x = np.ascontiguousarray(signal, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"signal must be 1-D, got shape {x.shape}")
    if frame_length <= 0 or hop <= 0:
        raise ValueError(f"frame_length and hop must be positive, got {frame_length}, {hop}")
    count = num_frames(len(x), frame_length, hop)
    if count == 0:
        return np.zeros((0, frame_length), np.float32)
    windows = np.lib.stride_tricks.sliding_window_view(x, frame_length)
    return windows[: (count - 1) * hop + 1 : hop]


def _cosine_window(n: int, alpha: float, periodic: bool) -> Float32Array:
    """``alpha - (1 - alpha) * cos(2πk / M)``, with ``M = n`` (periodic) or ``n - 1``."""
    if n <= 0:
        return np.zeros(0, np.float32)
    if n == 1:
        return np.ones(1, np.float32)
    denominator = n if periodic else n - 1
    k = np.arange(n, dtype=np.float64)
    return (alpha - (1.0 - alpha) * np.cos(2.0 * np.pi * k / denominator)).astype(np.float32)


def hamming(n: int, *, periodic: bool = False) -> Float32Array:
    """Hamming window ``0.54 - 0.46 cos(2πk / M)``.

    Args:
        n: Window length.
        periodic: ``M = n`` (the DFT-even window: scipy ``get_window(..., fftbins=True)``,
            which is what librosa's STFT uses) instead of the symmetric ``M = n - 1``
            (``numpy.hamming``).

    Returns:
        Array of shape ``(n,)``.
    """
    return _cosine_window(n, 0.54, periodic)


def hann(n: int, *, periodic: bool = True) -> Float32Array:
    """Hann window ``0.5 - 0.5 cos(2πk / M)``.

    Args:
        n: Window length.
        periodic: ``M = n`` (the default, as ``tf.signal.hann_window`` and
            ``torch.hann_window``) instead of the symmetric ``M = n - 1`` (``numpy.hanning``).

    Returns:
        Array of shape ``(n,)``.
    """
    return _cosine_window(n, 0.5, periodic)


# --- spectra ------------------------------------------------------------------------------------


def stft(
    signal: npt.ArrayLike,
    window: npt.ArrayLike,
    *,
    hop: int,
    n_fft: int,
    power: float = 1.0,
    frame_length: int | None = None,
) -> Float32Array:
    """Magnitude (or power) short-time Fourier transform, without centre padding.

    Args:
        signal: Samples, shape ``(n_samples,)``.
        window: Analysis window, shape ``(win_length,)`` with ``win_length <= n_fft``.
        hop: Samples between frame starts.
        n_fft: FFT size; each windowed frame is zero-padded to it.
        power: Exponent applied to the magnitude: 1 for magnitude, 2 for power.
        frame_length: Samples per frame. None (the default) uses ``win_length``, the
            TensorFlow convention. Anything longer (librosa/torch use ``n_fft``) centres the
            window inside each frame, as ``librosa.util.pad_center`` does.

    Returns:
        Array of shape ``(n_frames, n_fft // 2 + 1)``, with
        ``n_frames = num_frames(n_samples, frame_length, hop)``.

    Raises:
        ValueError: unless ``win_length <= frame_length <= n_fft``.
    """
    win = np.asarray(window, dtype=np.float32)
    length = len(win) if frame_length is None else frame_length
    if not len(win) <= length <= n_fft:
        raise ValueError(f"window of {len(win)} does not fit n_fft={n_fft}, frame_length={length}")
    if length > len(win):
        left = (length - len(win)) // 2
        win = np.pad(win, (left, length - len(win) - left))
    frames = frame(signal, length, hop)
    spectrum = np.abs(np.fft.rfft(frames * win, n=n_fft, axis=-1))
    if power != 1.0:
        spectrum = spectrum**power
    return spectrum.astype(np.float32, copy=False)


# --- mel scale and filterbanks --------------------------------------------------------------

_SLANEY_F_SP = 200.0 / 3.0  # Hz per mel in the linear part
_SLANEY_MIN_LOG_HZ = 1000.0
_SLANEY_MIN_LOG_MEL = _SLANEY_MIN_LOG_HZ / _SLANEY_F_SP  # 15 mel
_SLANEY_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(frequencies: npt.ArrayLike, *, htk: bool = False) -> npt.NDArray[np.float64]:
    """Convert Hz to mel.

    Args:
        frequencies: Frequencies in Hz, any shape.
        htk: Use the HTK formula ``2595 log10(1 + f / 700)``. Otherwise use the Slaney
            (Auditory Toolbox) scale: linear below 1 kHz (``f / (200/3)``), logarithmic above
            it; librosa's default.

    Returns:
        Mels, float64, same shape as ``frequencies``.
    """
    f = np.asarray(frequencies, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    linear = f / _SLANEY_F_SP
    log_part = _SLANEY_MIN_LOG_MEL + np.log(np.maximum(f, _SLANEY_MIN_LOG_HZ) / 1000.0) / (
        _SLANEY_LOGSTEP
    )
    return np.where(f >= _SLANEY_MIN_LOG_HZ, log_part, linear)


def mel_to_hz(mels: npt.ArrayLike, *, htk: bool = False) -> npt.NDArray[np.float64]:
    """Convert mel to Hz; the inverse of :func:`hz_to_mel`.

    Args:
        mels: Mel values, any shape.
        htk: Use the HTK formula instead of the Slaney scale.

    Returns:
        Frequencies in Hz, float64, same shape as ``mels``.
    """
    m = np.asarray(mels, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    linear = _SLANEY_F_SP * m
    log_part = _SLANEY_MIN_LOG_HZ * np.exp(
        _SLANEY_LOGSTEP * (np.maximum(m, _SLANEY_MIN_LOG_MEL) - _SLANEY_MIN_LOG_MEL)
    )
    return np.where(m >= _SLANEY_MIN_LOG_MEL, log_part, linear)


def mel_filterbank(
    sample_rate: int,
    n_fft: int,
    n_mels: int,
    *,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: MelNorm = "slaney",
) -> Float32Array:
    """Triangular mel filterbank, as ``librosa.filters.mel`` builds it.

    The ``n_mels + 2`` band edges are spaced evenly in mel between ``fmin`` and ``fmax``;
    filter ``i`` rises linearly (in Hz) from edge ``i`` to a peak of 1 at edge ``i + 1`` and
    falls back to 0 at edge ``i + 2``, evaluated at the FFT bin frequencies
    ``k * sample_rate / n_fft``. This is also ``torchaudio.functional.melscale_fbanks``.

    Args:
        sample_rate: Sampling rate in Hz.
        n_fft: FFT size; the filterbank has ``n_fft // 2 + 1`` columns.
        n_mels: Number of filters.
        fmin: Lowest band edge in Hz.
        fmax: Highest band edge in Hz; None means ``sample_rate / 2``.
        htk: Use the HTK mel formula instead of the Slaney scale.
        norm: ``"slaney"`` divides each triangle by half its width in Hz
            (``2 / (f[i+2] - f[i])``), so every filter has unit area in Hz; None keeps
            peaks of 1.

    Returns:
        Array of shape ``(n_mels, n_fft // 2 + 1)``, non-negative.
    """
    top = sample_rate / 2.0 if fmax is None else float(fmax)
    bin_hz = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)  # (n_bins,)
    edges_mel = np.linspace(hz_to_mel(fmin, htk=htk), hz_to_mel(top, htk=htk), n_mels + 2)
    edges_hz = mel_to_hz(edges_mel, htk=htk)  # (n_mels + 2,)
    widths = np.diff(edges_hz)  # (n_mels + 1,)
    ramps = edges_hz[:, None] - bin_hz[None, :]  # (n_mels + 2, n_bins)
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    if norm == "slaney":
        weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    elif norm is not None:
        raise ValueError(f"norm must be 'slaney' or None, got {norm!r}")
    return weights.astype(np.float32)


def slaney_mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, *, fmin: float = 0.0, fmax: float | None = None
) -> Float32Array:
    """The ``librosa.filters.mel`` default: Slaney mel scale, Slaney (unit-area) norm.

    Args:
        sample_rate: Sampling rate in Hz.
        n_fft: FFT size.
        n_mels: Number of filters.
        fmin: Lowest band edge in Hz.
        fmax: Highest band edge in Hz; None means ``sample_rate / 2``.

    Returns:
        Array of shape ``(n_mels, n_fft // 2 + 1)``.
    """
    return mel_filterbank(sample_rate, n_fft, n_mels, fmin=fmin, fmax=fmax, htk=False)


def htk_mel_filterbank(
    sample_rate: int, n_fft: int, n_mels: int, *, fmin: float = 0.0, fmax: float | None = None
) -> Float32Array:
    """HTK mel scale, unnormalised triangles (peak 1), as ``torchaudio`` ``mel_scale="htk"``.

    Args:
        sample_rate: Sampling rate in Hz.
        n_fft: FFT size.
        n_mels: Number of filters.
        fmin: Lowest band edge in Hz.
        fmax: Highest band edge in Hz; None means ``sample_rate / 2``.

    Returns:
        Array of shape ``(n_mels, n_fft // 2 + 1)``.
    """
    return mel_filterbank(sample_rate, n_fft, n_mels, fmin=fmin, fmax=fmax, htk=True, norm=None)
