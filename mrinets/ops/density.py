"""Sampling-density compensation weights for non-Cartesian trajectories."""

import numpy as np
import tensorflow as tf

from mrinets.arguments import check_positive_int, invalid_argument
from mrinets.ops.nufft import _Interpolator, _as_points, _check_grid_shape, kernel_parameters, oversampled_shape

_METHODS = ("pipe", "jackson")


def _cartesian_gain(size, fine_size, width, beta):
    """``C 1`` of the 1D Cartesian grid ``2 pi i / size`` (mean over its points), NumPy float64."""
    u = np.arange(size) * fine_size / size
    grid = np.ceil(u - width / 2)[:, None] + np.arange(width)  # (size, W) neighbours
    s = np.clip(1.0 - (2.0 * (u[:, None] - grid) / width) ** 2, 0.0, None)
    phi = np.where(s > 0, np.exp(beta * (np.sqrt(s) - 1.0)), 0.0)
    fine = np.zeros(fine_size)
    np.add.at(fine, np.mod(grid, fine_size).astype(int), phi)
    return float(np.mean(np.sum(fine[np.mod(grid, fine_size).astype(int)] * phi, axis=-1)))


def estimate_density(points, grid_shape, method="pipe", max_iter=20, tol=1e-4):
    """Density-compensation weights ``d`` so that ``A^H (d * A x)`` approximates ``x``.

    "pipe": Pipe & Menon (MRM 1999): ``w <- w / (C w)``, with ``C`` the convolution with the
    gridding kernel on the 2x grid (spread, then interpolate), ``max_iter`` times from ``w = 1``.
    "jackson": Jackson et al. (1991): one such step, ``w = 1 / (C 1)``.

    The weights are scaled to the NUFFT of ``mrinets.ops.nufft``: full Cartesian sampling of an
    `N_1 x ... x N_rank` grid gives ``1 / (N_1 ... N_rank)``, and ``sum(d)`` is about the sampled
    area divided by ``(2 pi)^rank`` (``pi / 4`` for a 2D radial disk; a few percent more, as the
    samples on the rim get the area beyond it).

    Args:
        points: `(..., M, rank)` float trajectory in radians; batch dimensions are independent.
        grid_shape: `rank` ints, the image shape.
        method: "pipe" or "jackson".
        max_iter: strictly positive int, Pipe-Menon iterations.
        tol: accuracy of the gridding kernel (sets its width).

    Returns:
        `(..., M)` float weights, ``points``' dtype.
    """
    if method not in _METHODS:
        raise invalid_argument("method", "'pipe' or 'jackson'", method)
    max_iter = check_positive_int(max_iter, "max_iter")
    points = tf.stop_gradient(_as_points(points))
    rank = int(points.shape[-1])
    grid_shape = _check_grid_shape(grid_shape, rank)
    width, beta = kernel_parameters(tol)
    fine_shape = oversampled_shape(grid_shape, tol)
    size = int(np.prod(fine_shape))
    kernel = _Interpolator(points, fine_shape, width, beta)
    batch = tf.shape(points)[:-2]
    num_points = points.shape[-2] if points.shape[-2] is not None else tf.shape(points)[-2]
    indices = tf.reshape(kernel.indices, [-1, num_points, width**rank])
    weights = tf.reshape(kernel.weights, [-1, num_points, width**rank])
    count = tf.shape(indices)[0]
    segments = tf.reshape(indices + tf.range(count)[:, None, None] * size, [-1])

    def convolve(w):
        """``C w``: spread ``w`` `(B, M)` onto the fine grid, interpolate back."""
        fine = tf.math.unsorted_segment_sum(tf.reshape(w[..., None] * weights, [-1]), segments, count * size)
        fine = tf.reshape(fine, [-1, size])
        return tf.reduce_sum(tf.gather(fine, indices, axis=1, batch_dims=1) * weights, axis=-1)

    iterations = 1 if method == "jackson" else int(max_iter)
    density = tf.ones([count, num_points], points.dtype)
    for _ in range(iterations):
        density = tf.math.divide_no_nan(density, convolve(density))
    # Calibrate with full Cartesian sampling: there ``C 1`` is the product of the 1D gains below and
    # the weights must be ``1 / (N_1 ... N_rank)``.
    scale = np.prod([_cartesian_gain(n, f, width, beta) / n for n, f in zip(grid_shape, fine_shape)])
    return tf.reshape(density * scale, tf.concat([batch, [num_points]], 0))
