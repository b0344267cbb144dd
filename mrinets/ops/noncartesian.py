"""Non-Cartesian SENSE: forward/adjoint/normal operators, coil maps, gridding and CG-SENSE baselines.

Shapes, with ``rank`` spatial axes and ``M`` samples per coil:
    image: `(batch, *spatial)` complex
    maps: `(batch, coils, *spatial)` complex coil sensitivities
    kspace: `(batch, coils, M)` complex samples
    operator: a ``NUFFTOperator`` on ``spatial`` whose points are `(M, rank)` (one trajectory for
        the batch) or `(batch, 1, M, rank)` (one per example; the 1 broadcasts over coils)
    density: optional real weights broadcastable to `(batch, coils, M)`, e.g. `(M,)` or `(batch, 1, M)`

The NUFFT is not normalized (``A^H A`` has ``M`` on its diagonal), so ``kspace = A x`` for the
image ``x`` itself, the gridding reconstruction ``A^H (density * kspace)`` estimates ``x`` with the
density of ``estimate_density``, and CG-SENSE returns ``x`` on the same scale.
"""

import numpy as np
import tensorflow as tf

from mrinets.arguments import invalid_argument
from mrinets.ops.cg import conjugate_gradient
from mrinets.ops.fft import _as_complex
from mrinets.ops.nufft import NUFFTOperator, ToeplitzOperator
from mrinets.ops.sense import center_crop, rss


def _check_operator(operator):
    if not isinstance(operator, NUFFTOperator):
        raise invalid_argument("operator", "a mrinets.ops.NUFFTOperator", operator)
    return operator


def _weighted(kspace, density):
    if density is None:
        return kspace
    density = tf.convert_to_tensor(density)
    return kspace * tf.cast(density, kspace.dtype)


def nc_sense_forward(image, maps, operator):
    """``A x = F_nu (S x)``: `(batch, *spatial)` -> `(batch, coils, M)`."""
    operator = _check_operator(operator)
    image, maps = _as_complex(image, "image"), _as_complex(maps, "maps")
    return operator.forward(maps * tf.expand_dims(image, -(operator.rank + 1)))


def nc_sense_adjoint(kspace, maps, operator, density=None):
    """``A^H D y = sum_c conj(S_c) F_nu^H (D y_c)``: `(batch, coils, M)` -> `(batch, *spatial)`."""
    operator = _check_operator(operator)
    kspace, maps = _as_complex(kspace, "kspace"), _as_complex(maps, "maps")
    coil_images = operator.adjoint(_weighted(kspace, density))
    return tf.reduce_sum(tf.math.conj(maps) * coil_images, axis=-(operator.rank + 1))


def nc_sense_normal(image, maps, normal, regularization=0.0):
    """``(A^H A + regularization I) x`` with ``A^H A`` by Toeplitz embedding; `(batch, *spatial)` in and out.

    Args:
        normal: ``operator.toeplitz()`` (a ``ToeplitzOperator``), computed once per trajectory.
    """
    if not isinstance(normal, ToeplitzOperator):
        raise invalid_argument("normal", "a ToeplitzOperator (`operator.toeplitz()`)", normal)
    image, maps = _as_complex(image, "image"), _as_complex(maps, "maps")
    coil_images = normal(maps * tf.expand_dims(image, -(normal.rank + 1)))
    out = tf.reduce_sum(tf.math.conj(maps) * coil_images, axis=-(normal.rank + 1))
    if isinstance(regularization, (int, float)) and regularization == 0:
        return out
    return out + tf.cast(regularization, out.dtype) * image


def calibration_window(operator, calibration_size=24):
    """Hamming taper over the central k-space disk of diameter ``calibration_size`` pixels.

    Returns:
        real `(..., M)` weights of ``operator``'s points: ``0.54 + 0.46 cos(pi r / r_c)`` inside
        ``r < r_c = calibration_size / 2`` (``r`` in grid pixels), 0 outside.
    """
    operator = _check_operator(operator)
    if isinstance(calibration_size, bool) or not isinstance(calibration_size, (int, float)) or calibration_size <= 0:
        raise invalid_argument("calibration_size", "a strictly positive number of pixels", calibration_size)
    scale = tf.constant([n / (2 * np.pi) for n in operator.grid_shape], operator.points.dtype)
    radius = tf.norm(operator.points * scale, axis=-1) / (calibration_size / 2)
    return tf.where(radius < 1, 0.54 + 0.46 * tf.cos(np.pi * radius), tf.zeros_like(radius))


def estimate_coil_maps_nc(kspace, operator, density, calibration_size=24, eps=1e-8, threshold=0.0):
    """Coil maps from the gridded low-resolution centre of non-Cartesian k-space.

    The samples within ``calibration_size`` pixels of the centre (Hamming-tapered, see
    ``calibration_window``) are gridded with the density weights into low-resolution coil images,
    which are divided by their RSS, so ``rss(maps) == 1`` wherever there is signal.

    Args:
        kspace: `(batch, coils, M)` complex.
        operator: ``NUFFTOperator`` of the trajectory.
        density: density-compensation weights (``estimate_density``), broadcastable to ``kspace``.
        calibration_size: diameter of the calibration disk in pixels.
        eps: added under the square root of the RSS.
        threshold: zero the maps where the low-resolution RSS is below ``threshold`` times its
            per-example maximum; 0 keeps all.

    Returns:
        `(batch, coils, *spatial)` complex maps.
    """
    operator = _check_operator(operator)
    kspace = _as_complex(kspace, "kspace")
    window = calibration_window(operator, calibration_size)
    weights = window if density is None else window * tf.cast(density, window.dtype)
    images = operator.adjoint(_weighted(kspace, weights))
    magnitude = rss(images, axis=-(operator.rank + 1), keepdims=True)
    maps = images / tf.cast(tf.sqrt(tf.square(magnitude) + eps), images.dtype)
    if threshold:
        peak = tf.reduce_max(magnitude, axis=list(range(1, magnitude.shape.rank)), keepdims=True)
        maps = maps * tf.cast(magnitude >= tf.cast(threshold, magnitude.dtype) * peak, maps.dtype)
    return maps


def gridding_reconstruction(kspace, operator, density, maps=None, crop=None, return_complex=False):
    """Density-compensated adjoint: RSS of the coil images, or the SENSE combination with ``maps``.

    Args:
        kspace: `(batch, coils, M)` complex.
        operator: ``NUFFTOperator`` of the trajectory.
        density: weights from ``estimate_density``, broadcastable to ``kspace``.
        maps: optional coil maps; then the result is ``sum_c conj(S_c) x_c`` (complex-valued).
        crop: optional spatial shape for a center crop.
        return_complex: return the complex SENSE combination (needs ``maps``).

    Returns:
        `(batch, *spatial)` magnitude (or complex) image.
    """
    operator = _check_operator(operator)
    kspace = _as_complex(kspace, "kspace")
    if maps is None:
        if return_complex:
            raise invalid_argument("maps", "coil maps for return_complex=True", maps)
        image = rss(operator.adjoint(_weighted(kspace, density)), axis=-(operator.rank + 1))
    else:
        image = nc_sense_adjoint(kspace, maps, operator, density)
        image = image if return_complex else tf.abs(image) * rss(maps, axis=-(operator.rank + 1))
    return image if crop is None else center_crop(image, crop)


def cg_sense_nc(
    kspace,
    operator,
    density=None,
    maps=None,
    normal=None,
    regularization=0.05,
    max_iterations=30,
    tolerance=1e-6,
    calibration_size=24,
    crop=None,
    return_complex=False,
):
    """Non-Cartesian CG-SENSE: solve ``(A^H A + lambda I) x = A^H y`` with conjugate gradients.

    ``A^H A`` is applied by Toeplitz embedding; ``lambda = regularization * M``, relative to the
    diagonal of ``A^H A`` (``M`` samples, unit-RSS maps). The defaults (0.05, 30 iterations: CG
    without preconditioning converges in about that many) were chosen on the training split of the
    built-in radial data (``prepare_radial_builtin``, 32 golden-angle spokes, 64 x 64).

    Args:
        kspace: `(batch, coils, M)` complex.
        operator: ``NUFFTOperator`` of the trajectory.
        density: weights for the coil-map estimate (needed when ``maps`` is None).
        maps: optional coil maps; by default ``estimate_coil_maps_nc`` with ``calibration_size``.
        normal: optional precomputed ``operator.toeplitz()``.
        regularization, max_iterations, tolerance: CG settings.
        crop: optional spatial shape for a center crop.
        return_complex: return the complex image instead of ``|x| * rss(maps)``.

    Returns:
        `(batch, *spatial)` magnitude (or complex) image.
    """
    operator = _check_operator(operator)
    kspace = _as_complex(kspace, "kspace")
    if maps is None:
        if density is None:
            raise invalid_argument("density", "weights to estimate coil maps (or pass `maps`)", density)
        maps = estimate_coil_maps_nc(kspace, operator, density, calibration_size)
    normal = operator.toeplitz() if normal is None else normal
    lam = regularization * tf.cast(operator.num_points, kspace.dtype.real_dtype)
    image = conjugate_gradient(
        lambda x: nc_sense_normal(x, maps, normal, regularization=lam),
        nc_sense_adjoint(kspace, maps, operator),
        max_iterations=max_iterations,
        tolerance=tolerance,
    )
    if not return_complex:
        image = tf.abs(image) * rss(maps, axis=-(operator.rank + 1))
    return image if crop is None else center_crop(image, crop)
