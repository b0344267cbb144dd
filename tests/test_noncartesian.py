"""Non-Cartesian SENSE operators and baselines against NumPy NUDFT data of a smooth phantom."""

import numpy as np
import pytest
import tensorflow as tf

from mrinets import ops
from tests.conftest import random_complex
from tests.test_nufft import nudft, relative_error

N = 16


def phantom(n):
    """A smooth real phantom: an ellipse with a soft edge and an inner blob, `(n, n)` float64."""
    y, x = np.meshgrid(np.linspace(-1, 1, n), np.linspace(-1, 1, n), indexing="ij")
    ellipse = 1 / (1 + np.exp(((x / 0.7) ** 2 + (y / 0.55) ** 2 - 1) * 12))
    return ellipse + 0.5 * np.exp(-((x - 0.2) ** 2 + (y + 0.1) ** 2) / 0.05)


def coil_maps(n, coils=4):
    """Smooth coil sensitivities around the field of view with a linear phase, unit RSS."""
    y, x = np.meshgrid(np.linspace(-1, 1, n), np.linspace(-1, 1, n), indexing="ij")
    maps = []
    for c in range(coils):
        angle = 2 * np.pi * c / coils
        cy, cx = 1.5 * np.sin(angle), 1.5 * np.cos(angle)
        maps.append(np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 2.0) * np.exp(1j * (0.5 * x + angle)))
    maps = np.stack(maps)
    return maps / np.sqrt(np.sum(np.abs(maps) ** 2, axis=0))


@pytest.fixture(scope="module")
def case():
    image = phantom(N)
    maps = coil_maps(N)
    full = ops.radial_trajectory(N, 32, angle_range="half").reshape(-1, 2).astype(np.float64)
    sparse = ops.radial_trajectory(N, 8, ordering="golden", angle_range="half").reshape(-1, 2).astype(np.float64)
    data = {}
    for name, points in (("full", full), ("sparse", sparse)):
        kspace = np.stack([nudft(m * image, points, (N, N), "type_2", "forward") for m in maps])[None]
        operator = ops.NUFFTOperator(points, (N, N), tol=1e-6, dtype=tf.complex128)
        data[name] = (points, kspace, operator, ops.estimate_density(points, (N, N)).numpy())
    return image, maps[None], data


def test_forward_adjoint_and_normal(rng, case):
    _, maps, data = case
    points, _, operator, density = data["sparse"]
    x = random_complex(rng, (1, N, N), np.complex128)
    y = random_complex(rng, (1, 4, len(points)), np.complex128)
    ax = ops.nc_sense_forward(x, maps, operator).numpy()
    expected = np.stack([nudft(m * x[0], points, (N, N), "type_2", "forward") for m in maps[0]])
    assert relative_error(ax[0], expected) < 1e-5
    ahy = ops.nc_sense_adjoint(y, maps, operator).numpy()
    np.testing.assert_allclose(np.vdot(ax, y), np.vdot(x, ahy), rtol=1e-10)
    normal = ops.nc_sense_normal(x, maps, operator.toeplitz(), regularization=0.5).numpy()
    explicit = ops.nc_sense_adjoint(ops.nc_sense_forward(x, maps, operator), maps, operator).numpy() + 0.5 * x
    assert relative_error(normal, explicit) < 1e-6


def test_per_example_trajectories_broadcast_over_coils(rng, case):
    _, maps, data = case
    points = np.stack([data["sparse"][0], data["full"][0][: len(data["sparse"][0])]])[:, None]  # (2, 1, M, 2)
    operator = ops.NUFFTOperator(points, (N, N), tol=1e-6, dtype=tf.complex128)
    x = random_complex(rng, (2, N, N), np.complex128)
    both = np.concatenate([maps, maps])
    y = ops.nc_sense_forward(x, both, operator).numpy()
    assert y.shape == (2, 4, points.shape[2])
    single = ops.NUFFTOperator(points[1, 0], (N, N), tol=1e-6, dtype=tf.complex128)
    np.testing.assert_allclose(y[1:], ops.nc_sense_forward(x[1:], maps, single).numpy(), atol=1e-9)


def test_coil_maps_from_the_gridded_centre(case):
    image, maps, data = case
    _, kspace, operator, density = data["full"]
    estimated = ops.estimate_coil_maps_nc(kspace, operator, density, calibration_size=12).numpy()
    assert estimated.shape == maps.shape
    support = image > 0.3 * image.max()
    np.testing.assert_allclose(np.sqrt(np.sum(np.abs(estimated) ** 2, axis=1))[0][support], 1, atol=1e-3)
    # The image is real and positive, so the maps carry no extra phase: compare them directly.
    assert relative_error(estimated[0][:, support], maps[0][:, support]) < 0.1


def test_gridding_reconstructs_fully_sampled_radial(case):
    image, maps, data = case
    _, kspace, operator, density = data["full"]
    magnitude = ops.gridding_reconstruction(kspace, operator, density).numpy()[0]
    assert relative_error(magnitude, image) < 0.1
    combined = ops.gridding_reconstruction(kspace, operator, density, maps=maps, return_complex=True).numpy()[0]
    assert relative_error(np.abs(combined), image) < 0.15


def test_cg_sense_beats_gridding_when_undersampled(case):
    image, maps, data = case
    _, kspace, operator, density = data["sparse"]
    gridding = ops.gridding_reconstruction(kspace, operator, density).numpy()[0]
    cg = ops.cg_sense_nc(kspace, operator, maps=maps, regularization=1e-3, max_iterations=30).numpy()[0]
    assert relative_error(cg, image) < 0.5 * relative_error(gridding, image)
    estimated = ops.cg_sense_nc(kspace, operator, density=density, calibration_size=8, max_iterations=20).numpy()[0]
    assert estimated.shape == (N, N) and relative_error(estimated, image) < relative_error(gridding, image)


def test_errors(case):
    _, maps, data = case
    _, kspace, operator, _ = data["sparse"]
    with pytest.raises(ValueError, match="argument `operator`"):
        ops.nc_sense_forward(tf.zeros((1, N, N), tf.complex128), maps, "nufft")
    with pytest.raises(ValueError, match="argument `normal`"):
        ops.nc_sense_normal(tf.zeros((1, N, N), tf.complex128), maps, operator)
    with pytest.raises(ValueError, match="argument `density`"):
        ops.cg_sense_nc(kspace, operator)
    with pytest.raises(ValueError, match="argument `calibration_size`"):
        ops.calibration_window(operator, 0)
