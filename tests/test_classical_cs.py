"""Compressed sensing (wavelets, TV, MFISTA) and partial Fourier POCS."""

import numpy as np
import pytest
import tensorflow as tf

from mrinets import metrics, ops
from mrinets.data import masks
from mrinets.data.simulate import simulate_multicoil
from mrinets.ops import cs
from mrinets.ops.fft import fftn_np, ifftn_np
from tests.reference import ellipse_with_spot


def crandn(rng, *shape):
    return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)


@pytest.mark.parametrize("wavelet", ["db4", "haar"])
def test_wavelet_matrix_is_orthogonal(wavelet):
    matrix = cs.wavelet_matrix(24, wavelet)
    np.testing.assert_allclose(matrix @ matrix.T, np.eye(24), atol=1e-12)


@pytest.mark.parametrize("wavelet", ["db4", "haar"])
@pytest.mark.parametrize("shape, levels", [((32, 48), 2), ((16, 16, 32), 1)])
def test_wavelet_matches_pywavelets(rng, wavelet, shape, levels):
    pywt = pytest.importorskip("pywt")
    x = crandn(rng, 2, *shape)
    rank = len(shape)
    coefficients = cs.wavelet_forward(x, rank=rank, wavelet=wavelet, levels=levels).numpy()
    for b in range(2):
        expected = pywt.wavedecn(x[b], wavelet, mode="periodization", level=levels)
        array, _ = pywt.coeffs_to_array(expected)  # pywt's in-place pyramid
        np.testing.assert_allclose(coefficients[b], array, atol=1e-12)
    np.testing.assert_allclose(cs.wavelet_inverse(coefficients, rank=rank, wavelet=wavelet, levels=levels), x,
                               atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(coefficients), np.linalg.norm(x), rtol=1e-12)


def test_gradient_adjoint_and_tv(rng):
    x = crandn(rng, 2, 7, 9)
    p = crandn(rng, 2, 2, 7, 9)
    lhs = np.vdot(p, cs.gradient(x).numpy())
    rhs = np.vdot(cs.gradient_adjoint(p).numpy(), x)
    assert lhs == pytest.approx(rhs, rel=1e-12)
    dy, dx = np.diff(x, axis=1, append=x[:, -1:]), np.diff(x, axis=2, append=x[:, :, -1:])
    np.testing.assert_allclose(cs.total_variation(x).numpy(), np.sqrt(abs(dy) ** 2 + abs(dx) ** 2).sum((1, 2)))


def test_tv_prox_matches_scikit_image(rng):
    restoration = pytest.importorskip("skimage.restoration")
    v = np.zeros((32, 32))
    v[8:24, 8:24] = 1
    v += 0.2 * rng.standard_normal(v.shape)
    weight = 0.1
    expected = restoration.denoise_tv_chambolle(v, weight=weight, eps=1e-8, max_num_iter=3000)
    ours = cs.tv_prox(v[None].astype(np.complex128), weight, iterations=500).numpy()[0]
    np.testing.assert_allclose(ours.real, expected, atol=3e-3)
    assert np.abs(ours.imag).max() < 1e-12


@pytest.fixture(scope="module")
def undersampled():
    phantom = ellipse_with_spot(128)
    sim = simulate_multicoil(phantom[None], (64, 64), num_coils=4, snr=30, rng=np.random.default_rng(0))
    mask, num_low = masks.RandomMask([0.12], [4])((4, 64, 64), seed=3)
    mask = mask.reshape(1, 1, 1, 64)
    return sim["kspace"] * mask, mask, num_low, sim["target"]


@pytest.mark.parametrize("recon", [ops.l1_wavelet_recon, ops.tv_recon], ids=["l1_wavelet", "tv"])
def test_objective_decreases_monotonically_and_beats_zero_filled(undersampled, recon):
    kspace, mask, num_low, target = undersampled
    image, objectives = recon(kspace, mask, num_low_frequencies=num_low, iterations=15, return_objectives=True)
    objectives = objectives.numpy()[:, 0]
    assert np.all(np.diff(objectives) <= 0)
    assert objectives[-1] < 0.9 * objectives[0]
    assert metrics.psnr(target, image.numpy()) > metrics.psnr(target, ops.zero_filled(kspace).numpy()) + 1


def test_fista_reaches_the_closed_form_of_a_lasso():
    """MFISTA on min 0.5 ||x - b||^2 + w ||x||_1 reaches the closed form (soft thresholding of b)."""
    b = tf.constant(np.linspace(-2, 2, 8)[None].astype(np.complex128) * (1 + 1j))
    weight = 0.7

    def soft(v, step):
        magnitude = tf.abs(v)
        return v * tf.cast(tf.maximum(magnitude - weight * step, 0) / tf.maximum(magnitude, 1e-30), v.dtype)

    x, history = cs.fista(lambda x: 0.5 * tf.reduce_sum(tf.abs(x - b) ** 2, 1), lambda x: x - b, soft,
                          lambda x: weight * tf.reduce_sum(tf.abs(x), 1), tf.zeros_like(b), 0.5, 60)
    expected = b.numpy() * np.maximum(np.abs(b.numpy()) - weight, 0) / np.abs(b.numpy())
    np.testing.assert_allclose(x.numpy(), expected, atol=1e-10)
    assert np.all(np.diff(history.numpy()[:, 0]) <= 0)


def test_bad_arguments(undersampled):
    kspace, mask, num_low, _ = undersampled
    with pytest.raises(ValueError, match=r"argument `wavelet`.*wavelet='sym8'"):
        ops.l1_wavelet_recon(kspace, mask, num_low_frequencies=num_low, wavelet="sym8")
    with pytest.raises(ValueError, match=r"argument `levels`"):
        ops.wavelet_forward(np.zeros((1, 12, 12), np.complex64), levels=3)


def test_pocs_restores_an_asymmetric_acquisition():
    rng = np.random.default_rng(0)
    y, x = np.meshgrid(np.linspace(-1, 1, 64), np.linspace(-1, 1, 64), indexing="ij")
    magnitude = ((x / 0.7) ** 2 + (y / 0.8) ** 2 < 1) * (1 + 0.3 * np.cos(4 * y))
    phase = np.exp(1j * (0.8 * x + 0.5 * y**2))  # smooth: inside the symmetric centre's band
    maps = np.stack([np.exp(1j * c) * (1.5 + np.cos(x + c)) for c in range(3)])
    full = fftn_np(maps * magnitude * phase, rank=2)[None] + 1e-4 * crandn(rng, 1, 3, 64, 64)
    acquired = np.zeros(64)
    acquired[: 64 * 5 // 8 + 8] = 1  # 5/8 + a few lines: [0, 48) of 64
    partial = full * acquired
    restored = ops.pocs(tf.constant(partial.astype(np.complex64)), axis=-1, iterations=20).numpy()
    np.testing.assert_array_equal(restored[..., acquired != 0], partial[..., acquired != 0].astype(np.complex64))
    truth = np.sqrt((abs(ifftn_np(full, rank=2)) ** 2).sum(1))
    error_pocs = np.linalg.norm(ops.rss(ops.ifftn(restored)).numpy() - truth)
    error_zero = np.linalg.norm(np.sqrt((abs(ifftn_np(partial, rank=2)) ** 2).sum(1)) - truth)
    assert error_pocs < 0.25 * error_zero
    with pytest.raises(ValueError, match=r"argument `axis`"):
        ops.pocs(partial, axis=1)
