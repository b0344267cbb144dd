"""GRAPPA: exact where its linear relation holds exactly, batched, better than zero-filled on a simulation."""

import numpy as np
import pytest
import tensorflow as tf

from mrinets import metrics, ops
from mrinets.data import masks
from mrinets.ops.fft import fftn_np, ifftn_np
from tests.reference import ellipse_with_spot

READOUT, LINES, COILS, BANDWIDTH = 32, 96, 12, 5


@pytest.fixture(scope="module")
def exact_kspace():
    """Noiseless k-space `(1, coils, readout, lines)` in which GRAPPA's relation holds exactly.

    Each coil map is a random trigonometric polynomial of degree ``BANDWIDTH`` along the phase
    encoding (constant along the readout), so coil c's k-space is ``sum_l a[c, l] M(ky - l)``
    (circularly) for the object's spectrum ``M``. With at least ``2 * BANDWIDTH + 1`` coils the
    source lines at ``-a`` and ``+b`` span every combination of ``M`` on the union of their
    supports, which covers the target's support whenever ``a + b <= 2 * BANDWIDTH + 1``: a
    missing line is then exactly a linear combination of its two neighbours' coils, and ACS
    lines determine the weights. The object's spectrum is random on the central lines only, so
    the edges (outside the outermost sampled lines of the masks below) carry no signal.
    """
    rng = np.random.default_rng(0)
    margin = BANDWIDTH + 12
    spectrum = np.zeros((READOUT, LINES), complex)
    spectrum[:, margin:-margin] = rng.standard_normal((READOUT, LINES - 2 * margin)) + 1j * rng.standard_normal(
        (READOUT, LINES - 2 * margin))
    image = ifftn_np(spectrum, rank=2)
    ky = np.arange(LINES) - LINES // 2
    coefficients = rng.standard_normal((COILS, 2 * BANDWIDTH + 1)) + 1j * rng.standard_normal((COILS, 2 * BANDWIDTH + 1))
    waves = np.exp(2j * np.pi * np.arange(-BANDWIDTH, BANDWIDTH + 1)[:, None] * ky[None, :] / LINES)
    maps = (coefficients @ waves)[:, None, :] * np.ones((1, READOUT, 1))
    return fftn_np(maps * image, rank=2)[None]


@pytest.mark.parametrize("mask_function", [masks.EquispacedFractionMask([1 / 6], [4]), masks.EquispacedMask([1 / 6], [3]),
                                           masks.EquispacedMask([1 / 6], [2])], ids=["fraction4x", "equispaced3x", "2x"])
def test_exact_where_the_kernel_is_exact(exact_kspace, mask_function):
    mask, num_low = mask_function((COILS, READOUT, LINES), seed=1)
    mask = mask.reshape(1, 1, 1, LINES)
    gaps = np.diff(np.flatnonzero(mask))
    assert gaps.max() <= 2 * BANDWIDTH + 1 and gaps.max() > 1  # the premise of the fixture holds
    full = ops.grappa_kspace(exact_kspace * mask, mask, num_low_frequencies=num_low, regularization=1e-12).numpy()
    assert np.linalg.norm(full - exact_kspace) / np.linalg.norm(exact_kspace) < 1e-9
    np.testing.assert_array_equal(full[..., mask[0, 0, 0] != 0], (exact_kspace * mask)[..., mask[0, 0, 0] != 0])
    single = ops.grappa_kspace((exact_kspace * mask).astype(np.complex64), mask, regularization=1e-6).numpy()
    assert np.linalg.norm(single - exact_kspace) / np.linalg.norm(exact_kspace) < 1e-3  # ACS found from the mask


def test_batches_with_different_masks(exact_kspace):
    kspace = np.concatenate([exact_kspace, exact_kspace[:, ::-1]]).astype(np.complex64)
    mask = np.stack([masks.EquispacedMask([1 / 6], [3])((COILS, READOUT, LINES), seed=s)[0].reshape(1, 1, LINES)
                     for s in (1, 2)])
    both = ops.grappa_kspace(kspace * mask, mask, num_low_frequencies=tf.constant([16, 16])).numpy()
    for b in range(2):
        alone = ops.grappa_kspace(kspace[b : b + 1] * mask[b : b + 1], mask[b : b + 1], num_low_frequencies=16)
        np.testing.assert_allclose(both[b], alone.numpy()[0], atol=1e-5 * np.abs(kspace).max())


def test_beats_zero_filled_on_a_noisy_simulation():
    from mrinets.data.simulate import simulate_multicoil

    phantom = ellipse_with_spot(160)
    sim = simulate_multicoil(phantom[None], (80, 80), num_coils=8, snr=60, rng=np.random.default_rng(0))
    mask, num_low = masks.EquispacedFractionMask([0.16], [2])((8, 80, 80), seed=0)
    mask = mask.reshape(1, 1, 1, 80)
    kspace = sim["kspace"] * mask
    recon = ops.grappa(kspace, mask, num_low_frequencies=num_low, regularization=0.001).numpy()
    zero_filled = ops.zero_filled(kspace).numpy()
    assert metrics.psnr(sim["target"], recon) > metrics.psnr(sim["target"], zero_filled) + 3


def test_bad_arguments(exact_kspace):
    mask = np.ones((1, 1, 1, LINES), np.float32)
    with pytest.raises(ValueError, match=r"argument `rank`"):
        ops.grappa(exact_kspace, mask, rank=3)
    with pytest.raises(ValueError, match=r"argument `mask`.*line mask"):
        ops.grappa_kspace(exact_kspace, np.ones((1, 1, READOUT, LINES)))
    with pytest.raises(ValueError, match=r"argument `readout_width`"):
        ops.grappa_kspace(exact_kspace, mask, readout_width=0)
    with pytest.raises(ValueError, match=r"argument `kspace`.*GRAPPA is 2D"):
        ops.grappa_kspace(exact_kspace[0], mask)
