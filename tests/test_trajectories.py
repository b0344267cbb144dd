"""Trajectories (geometry against closed forms) and density compensation (Cartesian limit, radial PSF)."""

import numpy as np
import pytest

from mrinets.ops import (
    estimate_density,
    kooshball_trajectory,
    nufft,
    radial_angles,
    radial_trajectory,
    spiral_trajectory,
    stack_of_stars_trajectory,
)


def test_radial_trajectory_geometry():
    points = radial_trajectory(16, 10, angle_range="half")
    assert points.shape == (10, 32, 2) and points.dtype == np.float32
    radii = np.linalg.norm(points, axis=-1)
    np.testing.assert_allclose(radii[:, 0], np.pi, rtol=1e-6)  # the readout starts at -pi
    np.testing.assert_allclose(np.abs(np.diff(radii[0, 16:])), 2 * np.pi / 32, rtol=1e-5)
    angles = np.arctan2(points[:, -1, 1], points[:, -1, 0])
    np.testing.assert_allclose(np.mod(angles, np.pi), np.arange(10) * np.pi / 10, atol=1e-6)
    assert radial_trajectory(16, 4, readout_os=1.0).shape == (4, 16, 2)


@pytest.mark.parametrize(
    "ordering,angle_range,step",
    [
        ("linear", "full", 2 * np.pi / 8),
        ("golden", "half", np.deg2rad(111.246117975)),
        ("golden", "full", np.deg2rad(222.49223595)),
        ("tiny", "half", np.deg2rad(23.6281)),
    ],
)
def test_radial_orderings(ordering, angle_range, step):
    angles = radial_angles(8, ordering, angle_range)
    extent = np.pi if angle_range == "half" else 2 * np.pi
    np.testing.assert_allclose(angles, np.mod(np.arange(8) * step, extent), atol=1e-5)
    np.testing.assert_allclose(radial_angles(8, "sorted_" + ordering if ordering != "linear" else ordering,
                                             angle_range), np.sort(angles), atol=1e-5)


def test_spiral_covers_the_disk_with_variable_density():
    points = spiral_trajectory(32, 4, density_exponent=2.0)
    assert points.shape[0] == 4 and points.shape[-1] == 2
    radii = np.linalg.norm(points, axis=-1)
    assert radii.max() <= np.pi and radii.max() > 0.95 * np.pi
    # Denser centre: more samples inside half the radius than its area share (1/4).
    assert np.mean(radii < np.pi / 2) > 0.5
    # Archimedean interleaves: edge ring spacing of the 4 interleaves is the Nyquist distance 2 pi / 32.
    uniform = spiral_trajectory(32, 4, density_exponent=1.0)
    turns = 32 / (2 * 4)
    np.testing.assert_allclose(np.pi / turns / 4, 2 * np.pi / 32)
    assert uniform.shape[1] > turns * 2 * np.pi  # at least a sample per radian of the last turn


def test_stack_of_stars_and_kooshball():
    stars = stack_of_stars_trajectory(16, 6, 4)
    assert stars.shape == (4, 6, 32, 3)
    np.testing.assert_allclose(stars[:, 0, 0, 2], np.array([-2, -1, 0, 1]) * 2 * np.pi / 4, rtol=1e-6)
    np.testing.assert_allclose(stars[1, ..., :2], radial_trajectory(16, 6))
    koosh = kooshball_trajectory(8, 50)
    assert koosh.shape == (50, 16, 3)
    directions = koosh[:, -1] / np.linalg.norm(koosh[:, -1], axis=-1, keepdims=True)
    np.testing.assert_allclose(np.linalg.norm(koosh[:, -1], axis=-1), 7 * 2 * np.pi / 16, rtol=1e-5)
    # Chan et al.'s golden means: z_v = frac(0.46557 v), azimuth_v = 2 pi frac(0.68233 v).
    np.testing.assert_allclose(directions[:, 2], np.mod(np.arange(50) * 0.465571231876768, 1), atol=1e-5)
    azimuth = np.mod(np.arctan2(directions[:, 1], directions[:, 0]), 2 * np.pi)
    expected = 2 * np.pi * np.mod(np.arange(50) * 0.682327803828019, 1)
    np.testing.assert_allclose(np.cos(azimuth - expected), 1, atol=1e-5)


@pytest.mark.parametrize("method", ["pipe", "jackson"])
@pytest.mark.parametrize("grid", [(16, 12), (8, 8, 6)])
def test_density_of_full_cartesian_sampling(method, grid):
    axes = np.meshgrid(*[(np.arange(n) - n // 2) * 2 * np.pi / n for n in grid], indexing="ij")
    points = np.stack([a.ravel() for a in axes], -1)
    density = estimate_density(points, grid, method=method).numpy()
    np.testing.assert_allclose(density, density.mean(), rtol=1e-6)
    # Nyquist-spaced samples: the kernel's self-convolution aliases, a 2% deficit per axis at tol
    # 1e-4 (the dense limit is exact: tests/test_density_rim.py).
    assert 0.97 ** len(grid) < density.mean() * np.prod(grid) < 0.99 ** len(grid)


@pytest.fixture(scope="module")
def radial_case():
    scipy_special = pytest.importorskip("scipy.special")
    n = 16
    points = radial_trajectory(n, 32, angle_range="half").reshape(-1, 2)
    # The PSF of ideal sampling of the disk |k| < pi (continuous, normalized like the NUFFT):
    # (pi / 4) * 2 J1(pi r) / (pi r), a jinc.
    offsets = np.stack(np.meshgrid(*[np.arange(n) - n // 2] * 2, indexing="ij"), -1)
    r = np.maximum(np.linalg.norm(offsets, axis=-1), 1e-12)
    jinc = np.where(r > 1e-6, 2 * scipy_special.j1(np.pi * r) / (np.pi * r), 1.0) * np.pi / 4
    return n, points, jinc, r


def _psf(density, points, n):
    return nufft(density.astype(np.complex64), points, (n, n), "type_1", tol=1e-4).numpy().real


@pytest.mark.parametrize("method", ["pipe", "jackson"])
def test_density_compensation_flattens_the_radial_psf(radial_case, method):
    n, points, jinc, r = radial_case
    density = estimate_density(points, (n, n), method=method, max_iter=30).numpy()
    assert density.shape == (len(points),)
    # Without compensation (equal weights) the PSF is far from the disk's jinc ...
    uniform = _psf(np.full(len(points), np.pi / 4 / len(points)), points, n)
    centre = r < 4
    assert np.abs(uniform / uniform.max() - jinc / jinc.max())[centre].max() > 0.25
    # ... with it, the PSF is the jinc in the centre, its peak the disk's area within 15 percent.
    psf = _psf(density, points, n)
    assert np.abs(psf / psf.max() - jinc / jinc.max())[centre].max() < 0.1
    np.testing.assert_allclose(psf.max(), np.pi / 4, rtol=0.15)
    # Radial density grows like |k| along the spoke (away from the centre and rim).
    radii = np.linalg.norm(points, axis=-1)
    middle = (radii > 0.3 * np.pi) & (radii < 0.8 * np.pi)
    ratio = density[middle] / radii[middle]
    assert ratio.std() / ratio.mean() < 0.05


def test_density_batches_and_errors():
    points = np.stack([radial_trajectory(8, 6).reshape(-1, 2), radial_trajectory(8, 6, "golden").reshape(-1, 2)])
    batched = estimate_density(points, (8, 8)).numpy()
    assert batched.shape == (2, 96)
    np.testing.assert_allclose(batched[1], estimate_density(points[1], (8, 8)).numpy(), rtol=1e-5)
    with pytest.raises(ValueError, match="argument `method`"):
        estimate_density(points, (8, 8), method="voronoi")
    with pytest.raises(ValueError, match="argument `max_iter`"):
        estimate_density(points, (8, 8), max_iter=0)


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: radial_trajectory(16, 0), "argument `views`"),
        (lambda: radial_trajectory(16, 8, ordering="random"), "argument `ordering`"),
        (lambda: radial_trajectory(16, 8, angle_range="quarter"), "argument `angle_range`"),
        (lambda: radial_trajectory(16, 8, readout_os=0), "argument `readout_os`"),
        (lambda: spiral_trajectory(16, 2, density_exponent=-1), "argument `density_exponent`"),
        (lambda: stack_of_stars_trajectory(16, 8, 0), "argument `partitions`"),
    ],
)
def test_trajectory_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
