"""NUFFT against an exact NumPy non-uniform DFT, FINUFFT, finite differences; planned and Toeplitz operators."""

import numpy as np
import pytest
import tensorflow as tf

from mrinets.ops import NUFFTOperator, nufft
from tests.conftest import random_complex

GRIDS = {2: (12, 9), 3: (8, 6, 7)}
CASES = [(1e-4, np.complex64), (1e-6, np.complex128)]


def modes(grid_shape):
    """`(prod(grid_shape), rank)` integer frequencies ``n - N // 2`` in C order."""
    axes = np.meshgrid(*[np.arange(n) - n // 2 for n in grid_shape], indexing="ij")
    return np.stack([a.ravel() for a in axes], -1)


def nudft(source, points, grid_shape, transform_type, fft_direction):
    """Exact NUDFT; ``points`` `(M, rank)`, ``source`` `(..., *grid)` or `(..., M)`."""
    sign = -1 if fft_direction == "forward" else 1
    matrix = np.exp(sign * 1j * points @ modes(grid_shape).T)  # (M, G)
    if transform_type == "type_2":
        flat = source.reshape(source.shape[: source.ndim - len(grid_shape)] + (-1,))
        return flat @ matrix.T
    return (source @ matrix).reshape(source.shape[:-1] + tuple(grid_shape))


def relative_error(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.mark.parametrize("rank", [2, 3])
@pytest.mark.parametrize("transform_type", ["type_1", "type_2"])
@pytest.mark.parametrize("fft_direction", ["forward", "backward"])
@pytest.mark.parametrize("tol,dtype", CASES)
def test_matches_exact_nudft(rng, rank, transform_type, fft_direction, tol, dtype):
    grid = GRIDS[rank]
    points = rng.uniform(-np.pi, np.pi, (60, rank))
    shape = (2,) + grid if transform_type == "type_2" else (2, 60)
    source = random_complex(rng, shape, dtype)
    result = nufft(source, points, grid, transform_type, fft_direction, tol)
    assert result.dtype == dtype
    expected = nudft(source.astype(np.complex128), points, grid, transform_type, fft_direction)
    assert result.shape == expected.shape
    assert relative_error(result.numpy(), expected) <= 10 * tol


def test_points_outside_the_canonical_range_wrap(rng):
    points = rng.uniform(-np.pi, np.pi, (40, 2))
    source = random_complex(rng, (10, 10), np.complex128)
    shifted = points + 2 * np.pi * rng.integers(-2, 3, points.shape)
    np.testing.assert_allclose(nufft(source, shifted, tol=1e-8), nudft(source, points, (10, 10), "type_2", "forward"),
                               rtol=0, atol=1e-6)


def test_batch_dimensions_broadcast(rng):
    grid = (8, 10)
    points = rng.uniform(-np.pi, np.pi, (3, 25, 2))
    source = random_complex(rng, (2, 1) + grid, np.complex128)
    result = nufft(source, points, tol=1e-8).numpy()
    assert result.shape == (2, 3, 25)
    for i in range(2):
        for j in range(3):
            expected = nudft(source[i, 0], points[j], grid, "type_2", "forward")
            np.testing.assert_allclose(result[i, j], expected, atol=1e-6)
    samples = random_complex(rng, (2, 1, 25), np.complex128)
    grids = nufft(samples, points, grid, "type_1", tol=1e-8).numpy()
    assert grids.shape == (2, 3) + grid
    np.testing.assert_allclose(grids[1, 2], nudft(samples[1, 0], points[2], grid, "type_1", "forward"), atol=1e-6)


def test_tf_function_and_xla(rng):
    points = tf.constant(rng.uniform(-np.pi, np.pi, (30, 2)), tf.float32)
    source = tf.constant(random_complex(rng, (2, 8, 8)))
    eager = nufft(source, points, tol=1e-4)
    graph = tf.function(lambda s, p: nufft(s, p, tol=1e-4))(source, points)
    xla = tf.function(lambda s, p: nufft(s, p, tol=1e-4), jit_compile=True)(source, points)
    np.testing.assert_allclose(graph, eager, atol=1e-5)
    np.testing.assert_allclose(xla, eager, atol=1e-4)


@pytest.mark.parametrize("transform_type", ["type_1", "type_2"])
@pytest.mark.parametrize("fft_direction", ["forward", "backward"])
def test_gradients_match_finite_differences(rng, transform_type, fft_direction):
    grid, m = (6, 8), 20
    points = tf.constant(rng.uniform(-np.pi, np.pi, (2, 1, m, 2)))  # broadcast against the source batch
    source = tf.constant(random_complex(rng, (3,) + grid if transform_type == "type_2" else (3, m), np.complex128))
    weight = tf.constant(random_complex(rng, (2, 3, m) if transform_type == "type_2" else (2, 3) + grid, np.complex128))

    def loss(source, points):
        result = nufft(source, points, grid, transform_type, fft_direction, tol=1e-10)
        return tf.reduce_sum(tf.math.real(tf.math.conj(weight) * result) + 0.1 * tf.abs(result) ** 2)

    with tf.GradientTape() as tape:
        tape.watch([source, points])
        value = loss(source, points)
    grad_source, grad_points = tape.gradient(value, [source, points])
    assert grad_source.shape == source.shape and grad_points.shape == points.shape
    step = 1e-6
    direction = rng.standard_normal(points.shape)
    numeric = (loss(source, points + step * direction) - loss(source, points - step * direction)) / (2 * step)
    np.testing.assert_allclose(np.sum(grad_points * direction), numeric, rtol=1e-6)
    direction = random_complex(rng, source.shape, np.complex128)
    numeric = (loss(source + step * direction, points) - loss(source - step * direction, points)) / (2 * step)
    analytic = np.sum(np.real(np.conj(grad_source) * direction))
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6)


@pytest.mark.parametrize("rank", [2, 3])
def test_planned_operator_is_adjoint_and_matches_nufft(rng, rank):
    grid = GRIDS[rank]
    points = rng.uniform(-np.pi, np.pi, (50, rank))
    operator = NUFFTOperator(points, grid, tol=1e-6, dtype=tf.complex128)
    x = random_complex(rng, (2,) + grid, np.complex128)
    y = random_complex(rng, (2, 50), np.complex128)
    ax, ahy = operator.forward(x).numpy(), operator.adjoint(y).numpy()
    # <A x, y> = <x, A^H y>, exactly (to rounding) for the discretized operator.
    np.testing.assert_allclose(np.vdot(ax, y), np.vdot(x, ahy), rtol=1e-12)
    assert relative_error(ax, nudft(x, points, grid, "type_2", "forward")) < 1e-5
    assert relative_error(ahy, nudft(y, points, grid, "type_1", "backward")) < 1e-5


@pytest.mark.parametrize("rank", [2, 3])
def test_toeplitz_normal_operator(rng, rank):
    grid = GRIDS[rank]
    points = rng.uniform(-np.pi, np.pi, (3, 40, rank))
    density = rng.uniform(0.5, 2.0, (3, 40))
    operator = NUFFTOperator(points, grid, tol=1e-8, dtype=tf.complex128, fft_direction="backward")
    x = random_complex(rng, (3,) + grid, np.complex128)
    expected = operator.adjoint(density * operator.forward(x))
    result = operator.toeplitz(density)(x)
    assert relative_error(result.numpy(), expected.numpy()) < 1e-6
    exact = nudft(density[1] * nudft(x[1], points[1], grid, "type_2", "backward"), points[1], grid, "type_1", "forward")
    assert relative_error(result.numpy()[1], exact) < 1e-6


def test_matches_finufft(rng):
    finufft = pytest.importorskip("finufft")
    points = rng.uniform(-np.pi, np.pi, (200, 2))
    source = random_complex(rng, (16, 14), np.complex128)
    expected = finufft.nufft2d2(*np.ascontiguousarray(points.T), source, isign=1, eps=1e-12)
    assert relative_error(nufft(source, points, fft_direction="backward", tol=1e-6).numpy(), expected) < 1e-5
    samples = random_complex(rng, (200,), np.complex128)
    expected = finufft.nufft2d1(*np.ascontiguousarray(points.T), samples, (16, 14), isign=-1, eps=1e-12)
    assert relative_error(nufft(samples, points, (16, 14), "type_1", tol=1e-6).numpy(), expected) < 1e-5


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"transform_type": "type_3"}, "argument `transform_type`"),
        ({"fft_direction": "up"}, "argument `fft_direction`"),
        ({"tol": 0.0}, "argument `tol`"),
        ({"grid_shape": (4, 4)}, "argument `grid_shape`"),
        ({"transform_type": "type_1"}, "argument `grid_shape`"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        nufft(tf.zeros((8, 8), tf.complex64), tf.zeros((5, 2)), **kwargs)


def test_invalid_source_and_points():
    with pytest.raises(TypeError, match="argument `source`"):
        nufft(tf.zeros((8, 8)), tf.zeros((5, 2)))
    with pytest.raises(ValueError, match="argument `points`"):
        nufft(tf.zeros((8, 8), tf.complex64), tf.zeros((5, 4)))
    with pytest.raises(ValueError, match="argument `grid_shape`"):
        NUFFTOperator(tf.zeros((5, 2)), (8,))
