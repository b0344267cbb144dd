"""GRAPPA on a realistic noisy simulation: better than zero-filled with 10 ACS lines at 3x and 4x.

The simulation is the built-in data set's (``simulate_multicoil``: the 8-coil birdcage ring, a
smooth random phase, k-space from a finer grid, coil-correlated noise at image SNR 40) on an
ellipse phantom; the masks are fastMRI's regular equispaced masks with a grid offset that is
not 0, so the ACS block holds lines off the sampling grid.
"""

import numpy as np
import pytest

from mrinets import metrics, ops
from mrinets.data import masks
from mrinets.data.simulate import simulate_multicoil

MATRIX, FINE = 96, 192


def ellipse_phantom(size):
    """A head-like magnitude image `(size, size)`: an ellipse with a few inner ellipses."""
    y, x = np.meshgrid(np.linspace(-1, 1, size), np.linspace(-1, 1, size), indexing="ij")
    image = np.zeros((size, size))
    for cy, cx, ry, rx, value in [(0, 0, 0.85, 0.7, 1.0), (0, 0, 0.78, 0.63, -0.6), (0.2, -0.25, 0.25, 0.12, 0.5),
                                  (0.15, 0.28, 0.3, 0.15, 0.4), (-0.45, 0.0, 0.12, 0.3, 0.7), (-0.1, 0.05, 0.08, 0.08, 0.8)]:
        image[((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1] += value
    return image


@pytest.fixture(scope="module")
def acquisition():
    sim = simulate_multicoil(ellipse_phantom(FINE)[None], (MATRIX, MATRIX), snr=40.0, rng=np.random.default_rng(3))
    return sim["kspace"], sim["target"]


@pytest.mark.parametrize("acceleration", [3, 4])
def test_grappa_beats_zero_filled(acquisition, acceleration):
    kspace, target = acquisition
    mask, num_low = masks.EquispacedMask([10 / MATRIX], [acceleration])(kspace.shape[1:], seed=1)
    mask = mask.reshape(1, 1, 1, MATRIX).astype(np.float32)
    lines = np.flatnonzero(mask)
    assert num_low == 10 and lines[0] != 0  # the grid does not start at line 0
    undersampled = kspace * mask
    zero_filled = ops.zero_filled(undersampled, mask).numpy()
    grappa = ops.grappa(undersampled, mask, num_low_frequencies=num_low).numpy()
    gain = metrics.psnr(target, grappa) - metrics.psnr(target, zero_filled)
    assert gain > 1.0, gain
    assert metrics.ssim(target, grappa) > metrics.ssim(target, zero_filled)
