"""The numpy front-end: framing, windows, STFT and mel filterbanks.

Pure numpy, no model: these tests are not marked ``model``. Expected values are derived
analytically in the comments (there is no librosa here to compare against).
"""

from __future__ import annotations

import numpy as np
import pytest

from engines import features as F

SR = 16_000


# --- framing and windows ----------------------------------------------------------------------


def test_frame_has_no_centre_padding_and_drops_the_partial_tail() -> None:
    frames = F.frame(np.arange(10), frame_length=4, hop=3)
    assert frames.shape == (3, 4)
    assert frames.dtype == np.float32
    np.testing.assert_array_equal(frames, [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]])
    assert F.num_frames(10, 4, 3) == 3
    assert F.num_frames(11, 4, 3) == 3  # sample 10 alone is not a frame
    assert F.frame(np.arange(3), frame_length=4, hop=1).shape == (0, 4)


def test_frame_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        F.frame(np.zeros((2, 8)), 4, 2)
    with pytest.raises(ValueError):
        F.frame(np.zeros(8), 4, 0)


def test_windows_match_numpy_and_the_periodic_definition() -> None:
    # Symmetric windows are numpy's; a periodic window of n is the symmetric one of n + 1
    # without its last sample.
    np.testing.assert_allclose(F.hamming(400), np.hamming(400), atol=1e-7)
    np.testing.assert_allclose(F.hann(400, periodic=False), np.hanning(400), atol=1e-7)
    np.testing.assert_allclose(F.hamming(400, periodic=True), np.hamming(401)[:-1], atol=1e-7)
    np.testing.assert_allclose(F.hann(400), np.hanning(401)[:-1], atol=1e-7)
    # Periodic Hann: 0 at k = 0, exactly 1 at k = n / 2.
    assert F.hann(400)[0] == 0.0
    assert F.hann(400)[200] == pytest.approx(1.0)
    assert F.hann(400).dtype == np.float32


# --- STFT ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("freq", "expected_bin"), [(1000.0, 32), (440.0, 14), (3217.0, 103)])
def test_stft_of_a_pure_tone_peaks_at_its_bin(freq: float, expected_bin: int) -> None:
    # Bin k of a 512-point FFT at 16 kHz is k * 31.25 Hz: 1000 Hz is bin 32 exactly,
    # 440 Hz is bin 14.08 and 3217 Hz is bin 102.94.
    t = np.arange(SR) / SR
    tone = np.sin(2 * np.pi * freq * t).astype(np.float32)
    spec = F.stft(tone, F.hann(400), hop=160, n_fft=512)
    assert spec.shape == (1 + (SR - 400) // 160, 257)
    assert spec.dtype == np.float32
    assert set(np.argmax(spec, axis=1)) == {expected_bin}


def test_stft_magnitude_of_a_constant_is_the_window_sum() -> None:
    # DC bin of a windowed constant 1 is sum(window); a Hann window sums to n / 2 = 200.
    spec = F.stft(np.ones(1600), F.hann(400), hop=160, n_fft=512)
    np.testing.assert_allclose(spec[:, 0], 200.0, rtol=1e-5)
    power = F.stft(np.ones(1600), F.hann(400), hop=160, n_fft=512, power=2.0)
    np.testing.assert_allclose(power, spec.astype(np.float64) ** 2, rtol=1e-4, atol=1e-6)


def test_librosa_framing_is_tensorflow_framing_shifted_by_the_pad() -> None:
    # frame_length=512 centres the 400-sample window in 512-sample frames: frame t covers the
    # samples TF framing sees at offset 56 + 160 t, and the signal yields fewer frames.
    rng = np.random.default_rng(0)
    x = rng.standard_normal(8000).astype(np.float32)
    window = F.hamming(400, periodic=True)
    centred = F.stft(x, window, hop=160, n_fft=512, frame_length=512)
    shifted = F.stft(x[56:], window, hop=160, n_fft=512)
    assert len(centred) == 1 + (8000 - 512) // 160
    np.testing.assert_allclose(centred, shifted[: len(centred)], rtol=1e-4, atol=1e-4)


def test_stft_rejects_a_window_longer_than_the_fft() -> None:
    with pytest.raises(ValueError):
        F.stft(np.zeros(2000), F.hann(600), hop=160, n_fft=512)


# --- mel scale ---------------------------------------------------------------------------------


def test_mel_scales_at_known_points() -> None:
    # Slaney: linear 200/3 Hz per mel up to 1 kHz (= 15 mel), then 27 mel per factor 6.4.
    assert F.hz_to_mel(1000.0) == pytest.approx(15.0)
    assert F.hz_to_mel(6400.0) == pytest.approx(42.0)
    assert F.hz_to_mel(500.0) == pytest.approx(7.5)
    # HTK: 2595 log10(1 + f / 700), so 700 Hz → 2595 log10(2).
    assert F.hz_to_mel(700.0, htk=True) == pytest.approx(2595 * np.log10(2))
    f = np.array([0.0, 125.0, 999.0, 1000.0, 1001.0, 7500.0, 8000.0])
    for htk in (False, True):
        np.testing.assert_allclose(F.mel_to_hz(F.hz_to_mel(f, htk=htk), htk=htk), f, atol=1e-9)


# --- mel filterbanks ---------------------------------------------------------------------------


def _centres_hz(n_mels: int, fmin: float, fmax: float, htk: bool) -> np.ndarray:
    edges = np.linspace(F.hz_to_mel(fmin, htk=htk), F.hz_to_mel(fmax, htk=htk), n_mels + 2)
    return F.mel_to_hz(edges, htk=htk)


@pytest.mark.parametrize(
    ("bank", "n_mels", "fmin", "fmax", "htk"),
    [
        (F.slaney_mel_filterbank(SR, 512, 40), 40, 0.0, 8000.0, False),  # d-vector
        (F.htk_mel_filterbank(SR, 512, 64, fmin=125, fmax=7500), 64, 125.0, 7500.0, True),  # YAMNet
    ],
    ids=["slaney40", "htk64"],
)
def test_filterbank_shape_support_and_peaks(
    bank: np.ndarray, n_mels: int, fmin: float, fmax: float, htk: bool
) -> None:
    assert bank.shape == (n_mels, 257)
    assert bank.dtype == np.float32
    assert (bank >= 0).all()
    assert (bank.max(axis=1) > 0).all()  # no empty filter
    edges = _centres_hz(n_mels, fmin, fmax, htk)
    bins = np.arange(257) * SR / 512
    for i, row in enumerate(bank):
        # Zero outside the triangle (edge i, edge i + 2) ...
        outside = (bins <= edges[i]) | (bins >= edges[i + 2])
        assert not row[outside].any(), f"filter {i} leaks outside its band"
        # ... and the peak is at one of the two bins around the centre frequency.
        centre_bin = edges[i + 1] / (SR / 512)
        assert np.argmax(row) in (np.floor(centre_bin), np.ceil(centre_bin))
    # Centres rise monotonically, so argmaxes never go backwards.
    assert (np.diff(np.argmax(bank, axis=1)) >= 0).all()


def test_htk_filterbank_is_unnormalised() -> None:
    # norm=None: each triangle peaks at 1 at its centre, so sampled peaks are ≤ 1, and the
    # widest (highest) filters, sampled every 31.25 Hz across ~200 Hz slopes, get close to 1.
    bank = F.htk_mel_filterbank(SR, 512, 64, fmin=125, fmax=7500)
    assert bank.max() <= 1.0
    assert bank[-8:].max(axis=1).min() > 0.85


def test_slaney_filters_have_unit_area() -> None:
    # Slaney norm scales each triangle by 2 / (f[i+2] - f[i]): its area in Hz is exactly 1.
    # Sampled every 31.25 Hz the Riemann sum is within a few percent (measured 0.975–1.037).
    bank = F.slaney_mel_filterbank(SR, 512, 40)
    area = bank.sum(axis=1) * (SR / 512)
    np.testing.assert_allclose(area, 1.0, atol=0.05)
    # The wide filters (above ~2 kHz) are sampled finely enough for 1 %.
    np.testing.assert_allclose(area[20:], 1.0, atol=0.01)


def test_slaney_filterbank_on_a_grid_matching_the_bins_is_a_scaled_diagonal() -> None:
    # Below 1 kHz the Slaney scale is linear, so 31 filters over 0–1000 Hz have edges every
    # 1000 / 32 = 31.25 Hz: exactly the FFT bin spacing. Filter i then peaks at bin i + 1,
    # is 0 on every other bin, and its Slaney weight is 2 / (2 · 31.25) = 0.032.
    bank = F.slaney_mel_filterbank(SR, 512, 31, fmax=1000.0)
    expected = np.zeros((31, 257), np.float32)
    expected[np.arange(31), np.arange(1, 32)] = 0.032
    np.testing.assert_allclose(bank, expected, atol=1e-6)
    unnormalised = F.mel_filterbank(SR, 512, 31, fmax=1000.0, norm=None)
    np.testing.assert_allclose(unnormalised, expected / 0.032, atol=1e-5)


def test_filterbank_rejects_an_unknown_norm() -> None:
    with pytest.raises(ValueError):
        F.mel_filterbank(SR, 512, 40, norm="area")  # type: ignore[arg-type]
