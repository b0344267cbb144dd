"""Compressed sensing: orthogonal wavelets, total variation, monotone FISTA, L1-wavelet and TV SENSE.

Both reconstructions solve, per example,

    min_x  0.5 ||M F S x - y||^2 + lam * R(x),   lam = lam_rel * max|A^H y|

with ``R(x) = ||W x||_1`` (an orthogonal periodized wavelet, all coefficients thresholded, as
sigpy's ``L1WaveletRecon``) or the isotropic total variation ``sum |grad x|``. Scaling ``lam``
by the largest zero-filled SENSE magnitude makes the solution scale with the data. The solver
is Beck and Teboulle's monotone FISTA (MFISTA, IEEE TIP 18:2419, 2009): the objective never
increases. The TV proximal step is their fast gradient projection on the dual (inexact, a
fixed number of inner iterations); MFISTA's monotonicity holds regardless.

Shapes: image `(batch, *spatial)` complex; kspace `(batch, coils, *spatial)`.
"""

import numpy as np
import tensorflow as tf

from mrinets.arguments import invalid_argument, is_int
from mrinets.ops.coil_maps import parse_spec
from mrinets.ops.fft import _as_complex, check_rank
from mrinets.ops.sense import apply_mask, estimate_coil_maps, rss, sense_adjoint, sense_forward

#: Decomposition low-pass filters of the orthogonal wavelets (PyWavelets' ``dec_lo``).
WAVELETS = {
    "haar": (0.7071067811865476, 0.7071067811865476),
    "db4": (-0.010597401785069032, 0.0328830116668852, 0.030841381835560764, -0.18703481171909309,
            -0.027983769416859854, 0.6308807679298589, 0.7148465705529157, 0.2303778133088965),
}


def wavelet_matrix(n, wavelet="db4"):
    """The one-level periodized DWT of length ``n`` as an orthogonal `(n, n)` float64 matrix.

    Rows `[0, n/2)` are the approximation, `[n/2, n)` the detail coefficients, as
    ``pywt.dwt(x, wavelet, mode="periodization")``: ``a[k] = sum_j h[j] x[(2k + L/2 - j) mod n]``.
    """
    if wavelet not in WAVELETS:
        raise invalid_argument("wavelet", f"one of {sorted(WAVELETS)}", wavelet)
    if n % 2:
        raise invalid_argument("n", "an even length", n)
    low = np.asarray(WAVELETS[wavelet])
    length = len(low)
    high = np.array([(-1) ** (j + 1) * low[length - 1 - j] for j in range(length)])
    matrix = np.zeros((n, n))
    for k in range(n // 2):
        for j in range(length):
            column = (2 * k + length // 2 - j) % n
            matrix[k, column] += low[j]
            matrix[n // 2 + k, column] += high[j]
    return matrix


def max_levels(shape, wavelet="db4"):
    """Most levels for which every axis of ``shape`` halves evenly and stays >= the filter length."""
    length = len(WAVELETS[wavelet])
    levels = 0
    while all(n % 2 ** (levels + 1) == 0 and n // 2 ** (levels + 1) >= length for n in shape):
        levels += 1
    return max(levels, 1) if all(n % 2 == 0 for n in shape) else 0


def _check_levels(shape, wavelet, levels):
    if wavelet not in WAVELETS:
        raise invalid_argument("wavelet", f"one of {sorted(WAVELETS)}", wavelet)
    shape = tuple(int(n) for n in shape)
    if levels is None:
        levels = max_levels(shape, wavelet)
    if not is_int(levels) or levels < 1 or any(
        n % 2**levels for n in shape
    ):
        raise invalid_argument("levels", f"a positive number of levels that halves every axis of {shape} evenly", levels)
    return int(levels)


def _along(x, matrix, axis):
    moved = tf.experimental.numpy.moveaxis(x, axis, -1)
    return tf.experimental.numpy.moveaxis(tf.linalg.matmul(moved, matrix, transpose_b=True), -1, axis)


def _wavelet(x, rank, wavelet, levels, inverse):
    x = _as_complex(x, "x")
    rank = check_rank(rank)
    shape = x.shape[-rank:]
    if not shape.is_fully_defined():
        raise invalid_argument("x", "a tensor with known spatial sizes", f"shape {x.shape}")
    levels = _check_levels(shape, wavelet, levels)
    order = range(levels - 1, -1, -1) if inverse else range(levels)
    for level in order:
        sizes = [n // 2**level for n in shape]
        block = x[(Ellipsis,) + tuple(slice(0, m) for m in sizes)]
        new = block
        for i, m in enumerate(sizes):
            matrix = wavelet_matrix(m, wavelet)
            new = _along(new, tf.constant(matrix.T if inverse else matrix, x.dtype), x.shape.rank - rank + i)
        padding = [[0, 0]] * (x.shape.rank - rank) + [[0, n - m] for n, m in zip(shape, sizes)]
        x = x + tf.pad(new - block, padding)
    return x


def wavelet_forward(x, rank=2, wavelet="db4", levels=None):
    """Multi-level orthogonal DWT of `(batch, *spatial)`, coefficients in place (pywt's ``wavedecn``
    pyramid: the approximation in the low corner, each level's details around it); same shape.

    ``levels``: default ``max_levels``. Spatial sizes must be known and divisible by ``2**levels``.
    """
    return _wavelet(x, rank, wavelet, levels, inverse=False)


def wavelet_inverse(coefficients, rank=2, wavelet="db4", levels=None):
    """Inverse (= adjoint) of ``wavelet_forward``."""
    return _wavelet(coefficients, rank, wavelet, levels, inverse=True)


def gradient(x, rank=2):
    """Forward differences `(rank, batch, *spatial)` (zero across the last sample of each axis)."""
    x = tf.convert_to_tensor(x)
    ndim = x.shape.rank
    parts = []
    for axis in range(ndim - rank, ndim):
        n = x.shape[axis]
        ahead = tf.gather(x, list(range(1, n)) + [n - 1], axis=axis)
        parts.append(ahead - x)
    return tf.stack(parts)


def gradient_adjoint(p, rank=2):
    """Adjoint of ``gradient``: `(rank, batch, *spatial)` -> `(batch, *spatial)` (minus the divergence)."""
    p = tf.convert_to_tensor(p)
    ndim = p.shape.rank - 1
    out = 0
    for i, axis in enumerate(range(ndim - rank, ndim)):
        n = p.shape[axis + 1]
        q = p[i]
        # Zero the last difference (it is 0 in ``gradient``), then -backward difference.
        q = q * tf.cast(tf.reshape(tf.range(n) < n - 1, [n] + [1] * (ndim - 1 - axis)), q.dtype)
        behind = tf.gather(q, [n - 1] + list(range(n - 1)), axis=axis)  # q[i - 1], q[-1] := q[n - 1] = 0
        out = out + behind - q
    return out


def total_variation(x, rank=2):
    """Isotropic total variation ``sum |grad x|`` per example, `(batch,)` real."""
    magnitude = tf.sqrt(tf.reduce_sum(tf.abs(gradient(x, rank)) ** 2, 0))
    return tf.reduce_sum(magnitude, list(range(1, magnitude.shape.rank)))


def tv_prox(v, weight, rank=2, iterations=20):
    """Approximate ``argmin_x 0.5 ||x - v||^2 + weight * TV(x)`` by fast gradient projection on the dual.

    ``weight``: scalar or `(batch,)` tensor.
    """
    v = _as_complex(v, "v")
    weight = tf.reshape(tf.cast(weight, v.dtype.real_dtype), [-1] + [1] * (v.shape.rank - 1))
    step = 1.0 / (4.0 * rank)  # 1 / ||grad||^2
    safe = tf.maximum(weight, 1e-30)
    p = previous = r = tf.zeros((rank,) + tuple(v.shape), v.dtype)
    t = 1.0
    for _ in range(iterations):
        x = v - tf.cast(weight, v.dtype) * gradient_adjoint(r, rank)
        q = r + tf.cast(step / safe, v.dtype) * gradient(x, rank)
        p = q / tf.cast(tf.maximum(1.0, tf.sqrt(tf.reduce_sum(tf.abs(q) ** 2, 0, keepdims=True))), q.dtype)
        t_next = (1 + np.sqrt(1 + 4 * t * t)) / 2
        r = p + ((t - 1) / t_next) * (p - previous)
        previous, t = p, t_next
    return v - tf.cast(weight, v.dtype) * gradient_adjoint(p, rank)


def fista(smooth, smooth_gradient, prox, penalty, x0, step, iterations, monotone=True):
    """(Monotone) FISTA for ``min smooth(x) + penalty(x)``, batched.

    Args:
        smooth, penalty: `x -> (batch,)` objective terms; smooth_gradient: `x -> x`-shaped.
        prox: ``(v, step) -> argmin_x 0.5 ||x - v||^2 + step * penalty(x)``.
        x0: `(batch, ...)` starting point; step: `1 / L` for the Lipschitz constant of the gradient.
        iterations: iterations; monotone: MFISTA (keep the better of the new and the previous point).

    Returns:
        `(x, objectives)`: the solution and the `(iterations + 1, batch)` objective history
        (starting with ``x0``'s) when ``monotone``, else `(x, None)`.
    """
    def objective(x):
        return smooth(x) + penalty(x)

    x, y, t = x0, x0, 1.0
    value = objective(x0) if monotone else None
    history = [value] if monotone else None
    for _ in range(iterations):
        z = prox(y - tf.cast(step, y.dtype) * smooth_gradient(y), step)
        t_next = (1 + np.sqrt(1 + 4 * t * t)) / 2
        if monotone:
            candidate = objective(z)
            better = candidate <= value
            keep = tf.reshape(better, [-1] + [1] * (x.shape.rank - 1))
            x_new = tf.where(keep, z, x)
            value = tf.where(better, candidate, value)
            history.append(value)
            y = x_new + (t / t_next) * (z - x_new) + ((t - 1) / t_next) * (x_new - x)
        else:
            x_new = z
            y = z + ((t - 1) / t_next) * (z - x)
        x, t = x_new, t_next
    return x, (tf.stack(history) if monotone else None)


def _sense_problem(kspace, mask, maps, num_low_frequencies, rank, coil_maps):
    rank = check_rank(rank)
    kspace = _as_complex(kspace, "kspace")
    if maps is None:
        method, options = parse_spec(coil_maps)
        maps = estimate_coil_maps(kspace, mask=mask, num_low_frequencies=num_low_frequencies, rank=rank,
                                  method=method, **options)
    adjoint = sense_adjoint(kspace, maps, mask, rank=rank)
    step = 1.0 / tf.reduce_max(tf.reduce_sum(tf.abs(maps) ** 2, 1))  # ||A||^2 <= max_x sum_c |S_c(x)|^2
    peak = tf.reduce_max(tf.abs(adjoint), list(range(1, rank + 1)))  # (batch,)
    measured = apply_mask(kspace, mask)

    def smooth(x):
        residual = sense_forward(x, maps, mask, rank=rank) - measured
        return 0.5 * tf.reduce_sum(tf.abs(residual) ** 2, list(range(1, rank + 2)))

    def smooth_gradient(x):
        return sense_adjoint(sense_forward(x, maps, mask, rank=rank) - measured, maps, mask, rank=rank)

    return maps, adjoint, step, peak, smooth, smooth_gradient


def _finish(image, maps, rank, return_complex, objectives, return_objectives):
    image = image * tf.cast(rss(maps, axis=1), image.dtype)  # RSS intensity, as cg_sense
    out = image if return_complex else tf.abs(image)
    return (out, objectives) if return_objectives else out


def l1_wavelet_recon(kspace, mask, maps=None, num_low_frequencies=None, lam=0.002, iterations=30, wavelet="db4",
                     levels=None, rank=2, coil_maps="acs", monotone=True, return_complex=False,
                     return_objectives=False):
    """L1-wavelet SENSE: ``min 0.5 ||A x - y||^2 + lam max|A^H y| ||W x||_1`` by (monotone) FISTA.

    Args:
        kspace: `(batch, coils, *spatial)` undersampled k-space; mask broadcastable to it.
        maps: coil maps, or estimated with ``coil_maps`` (see ``estimate_coil_maps``).
        lam: regularization relative to the largest zero-filled SENSE magnitude. The default
            (0.002, 30 iterations) had the best mean PSNR over 4x and 8x on central slices of the
            built-in MNI152 training split among 0.0005...0.008 (benchmarks/classical.py
            ``--choose-lambda``).
        wavelet, levels: "db4" or "haar"; levels (default ``max_levels``).
        monotone: MFISTA (True) or plain FISTA.
        return_complex: the complex image instead of its magnitude.
        return_objectives: also return the `(iterations + 1, batch)` objective history (monotone).

    Returns:
        `(batch, *spatial)` magnitude (RSS intensity, ``|x| * rss(maps)``) or complex image.
    """
    maps, adjoint, step, peak, smooth, smooth_gradient = _sense_problem(kspace, mask, maps, num_low_frequencies,
                                                                         rank, coil_maps)
    weight = tf.cast(lam, peak.dtype) * peak  # (batch,)
    shape = [-1] + [1] * rank

    def penalty(x):
        coefficients = wavelet_forward(x, rank, wavelet, levels)
        return weight * tf.reduce_sum(tf.abs(coefficients), list(range(1, rank + 1)))

    def prox(v, step_size):
        coefficients = wavelet_forward(v, rank, wavelet, levels)
        threshold = tf.reshape(weight * step_size, shape)
        magnitude = tf.abs(coefficients)
        shrink = tf.maximum(magnitude - threshold, 0) / tf.maximum(magnitude, 1e-30)
        return wavelet_inverse(coefficients * tf.cast(shrink, v.dtype), rank, wavelet, levels)

    image, objectives = fista(smooth, smooth_gradient, prox, penalty, adjoint, step, iterations, monotone)
    return _finish(image, maps, rank, return_complex, objectives, return_objectives)


def tv_recon(kspace, mask, maps=None, num_low_frequencies=None, lam=0.008, iterations=30, prox_iterations=10,
             rank=2, coil_maps="acs", monotone=True, return_complex=False, return_objectives=False):
    """Total-variation SENSE: ``min 0.5 ||A x - y||^2 + lam max|A^H y| TV(x)`` by (monotone) FISTA.

    Same arguments as ``l1_wavelet_recon``; ``prox_iterations`` inner dual iterations per TV
    proximal step. The default ``lam`` (0.008, 30 iterations) had the best mean PSNR over 4x and
    8x on central slices of the built-in MNI152 training split among 0.0005...0.032
    (benchmarks/classical.py ``--choose-lambda``, results/classical_lambda.json; 8x favours
    more, 4x less).
    """
    maps, adjoint, step, peak, smooth, smooth_gradient = _sense_problem(kspace, mask, maps, num_low_frequencies,
                                                                         rank, coil_maps)
    weight = tf.cast(lam, peak.dtype) * peak

    def penalty(x):
        return weight * total_variation(x, rank)

    def prox(v, step_size):
        return tv_prox(v, weight * step_size, rank, prox_iterations)

    image, objectives = fista(smooth, smooth_gradient, prox, penalty, adjoint, step, iterations, monotone)
    return _finish(image, maps, rank, return_complex, objectives, return_objectives)
