"""Pipe-Menon density weights against the analytic radial ramp, and their scale in the dense-sampling limit."""

import numpy as np
import pytest

from mrinets.ops import estimate_density, radial_trajectory

N, VIEWS = 32, 101


@pytest.fixture(scope="module")
def radial():
    """Weights `(views, samples)` of a half-range radial trajectory, and the analytic ramp."""
    spokes = radial_trajectory(N, VIEWS, angle_range="half")
    samples = spokes.shape[1]
    density = estimate_density(spokes.reshape(-1, 2).astype(np.float64), (N, N)).numpy().reshape(VIEWS, samples)
    # Each sample owns |k| dk dtheta of k-space: dk = 2 pi / samples along the spoke, and the
    # 2 * VIEWS half-spokes split the full circle, dtheta = pi / VIEWS; the NUFFT scale divides by (2 pi)^2.
    index = np.arange(samples) - samples // 2
    radius = np.abs(index) * 2 * np.pi / samples
    ramp = radius * (2 * np.pi / samples) * (np.pi / VIEWS) / (2 * np.pi) ** 2
    return density, ramp, index


def test_radial_weights_match_the_ramp_inside_the_rim(radial):
    density, ramp, index = radial
    # From the third ring out to the fifth sample before the rim (the rim is index -samples/2 on
    # one half-plane, samples/2 - 1 on the other): within 2% each, 0.2% on average.
    inside = (np.abs(index) >= 3) & (index >= index[0] + 4) & (index <= index[-1] - 4)
    ratio = density[:, inside] / ramp[inside]
    assert np.abs(ratio - 1).max() < 0.02
    assert abs(ratio.mean() - 1) < 0.002
    # The centre and the first two rings ring around the ramp but keep the area of their disk,
    # radius 2.5 samples, over (2 pi)^2.
    step = 2 * np.pi / density.shape[1]
    centre = density[:, np.abs(index) <= 2].sum()
    np.testing.assert_allclose(centre, np.pi * (2.5 * step) ** 2 / (2 * np.pi) ** 2, rtol=0.02)


def test_radial_weights_sum_to_the_disk_area(radial):
    density, _, _ = radial
    # The area of the disk |k| < pi over (2 pi)^2 is pi / 4; the rim samples add the area their
    # kernel reaches past the last sample (a few percent at this size).
    assert 1.0 <= density.sum() / (np.pi / 4) < 1.05


@pytest.mark.parametrize("grid", [(16, 12), (8, 8, 6)])
def test_twice_nyquist_cartesian_sampling_gets_a_quarter_cell(grid):
    """Cartesian points at half the Nyquist spacing: each owns 1 / (2^rank N_1 ... N_rank)."""
    axes = np.meshgrid(*[(np.arange(2 * n) - n) * np.pi / n for n in grid], indexing="ij")
    points = np.stack([a.ravel() for a in axes], -1)
    for method in ("pipe", "jackson"):
        density = estimate_density(points, grid, method=method).numpy()
        np.testing.assert_allclose(density, 1 / (2 ** len(grid) * np.prod(grid)), rtol=1e-3)
