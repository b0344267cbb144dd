"""Classical reconstructions: zero-filled RSS and CG-SENSE with ACS coil maps."""

import tensorflow as tf

from mrinets.ops.cg import conjugate_gradient
from mrinets.ops.fft import _as_complex, check_rank, ifftn
from mrinets.ops.sense import apply_mask, center_crop, estimate_coil_maps, rss, sense_adjoint, sense_normal


def zero_filled(kspace, mask=None, rank=2, crop=None):
    """Zero-filled RSS reconstruction.

    Args:
        kspace: `(batch, coils, *spatial)` complex k-space (zeros where not sampled).
        mask: optional mask applied first (broadcastable to ``kspace``).
        rank: number of spatial axes.
        crop: optional spatial shape for a center crop of the result.

    Returns:
        `(batch, *spatial)` (or cropped) real magnitude image.
    """
    rank = check_rank(rank)
    kspace = _as_complex(kspace, "kspace")
    if mask is not None:
        kspace = apply_mask(kspace, mask)
    image = rss(ifftn(kspace, rank=rank), axis=-(rank + 1))
    return image if crop is None else center_crop(image, crop)


def cg_sense(
    kspace,
    mask,
    maps=None,
    num_low_frequencies=None,
    regularization=0.05,
    max_iterations=10,
    tolerance=1e-6,
    rank=2,
    axes=(-1,),
    window="hamming",
    crop=None,
    return_complex=False,
):
    """CG-SENSE: solve ``(A^H A + regularization * I) x = A^H y`` with conjugate gradients.

    Args:
        kspace: `(batch, coils, *spatial)` undersampled complex k-space.
        mask: sampling mask broadcastable to ``kspace``.
        maps: optional coil maps; by default estimated from the ACS region
            (``estimate_coil_maps`` with ``mask``/``num_low_frequencies``/``axes``/``window``).
        regularization: Tikhonov weight relative to the mean diagonal of ``A^H A`` (which is
            about the sampled fraction, as the maps have unit RSS). The defaults (0.05, 10
            iterations) were chosen on the built-in training split at 4x.
        max_iterations, tolerance: CG settings.
        rank: number of spatial axes.
        crop: optional spatial shape for a center crop.
        return_complex: return the complex image instead of its magnitude.

    Returns:
        `(batch, *spatial)` magnitude (or complex) image.
    """
    rank = check_rank(rank)
    kspace = _as_complex(kspace, "kspace")
    if maps is None:
        maps = estimate_coil_maps(
            kspace, mask=mask, num_low_frequencies=num_low_frequencies, rank=rank, axes=axes, window=window
        )
    # Scale the regularizer with the sampled fraction so its meaning does not depend on acceleration.
    density = tf.reduce_mean(tf.cast(tf.not_equal(tf.cast(mask, tf.float32), 0), tf.float32))
    lam = tf.cast(regularization * density, kspace.dtype.real_dtype)
    rhs = sense_adjoint(kspace, maps, mask, rank=rank)
    image = conjugate_gradient(
        lambda x: sense_normal(x, maps, mask, rank=rank, regularization=lam),
        rhs,
        max_iterations=max_iterations,
        tolerance=tolerance,
    )
    # Zero-filled RSS and SENSE differ in intensity where the maps' RSS < 1 (no signal); use
    # the RSS-weighted image, matching fastMRI's RSS targets: |x| * rss(maps).
    image = image * tf.cast(rss(maps, axis=-(rank + 1)), image.dtype)
    if not return_complex:
        image = tf.abs(image)
    return image if crop is None else center_crop(image, crop)
