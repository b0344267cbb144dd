"""Classical reconstructions: zero-filled RSS and CG-SENSE, and the table of registered baselines.

Every entry of ``BASELINES`` (registry kind ``baseline``) is called as
``f(kspace, mask, num_low_frequencies=None, rank=2, **options)`` and returns the
`(batch, *spatial)` magnitude image.
"""

import tensorflow as tf

from mrinets.ops.cg import conjugate_gradient
from mrinets.ops.coil_maps import parse_spec
from mrinets.ops.cs import l1_wavelet_recon, tv_recon
from mrinets.ops.fft import _as_complex, check_rank, ifftn
from mrinets.ops.grappa import grappa
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
    coil_maps="acs",
):
    """CG-SENSE: solve ``(A^H A + regularization * I) x = A^H y`` with conjugate gradients.

    Args:
        kspace: `(batch, coils, *spatial)` undersampled complex k-space.
        mask: sampling mask broadcastable to ``kspace``.
        maps: optional coil maps; by default estimated from the ACS region
            (``estimate_coil_maps`` with ``mask``/``num_low_frequencies``/``axes``/``window``).
        coil_maps: the estimation method when ``maps`` is None: "acs", "espirit", "walsh", "inati"
            or ``{"method": name, **options}`` (see ``estimate_coil_maps``).
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
        method, options = parse_spec(coil_maps)
        maps = estimate_coil_maps(kspace, mask=mask, num_low_frequencies=num_low_frequencies, rank=rank, axes=axes,
                                  window=window, method=method, **options)
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


def zero_filled_baseline(kspace, mask, num_low_frequencies=None, rank=2, crop=None):
    """Zero-filled RSS (``zero_filled``) in the baseline calling convention."""
    return zero_filled(kspace, mask, rank=rank, crop=crop)


#: name -> baseline function (registered under kind ``baseline`` by the built-in plugin).
BASELINES = {"zero_filled": zero_filled_baseline, "cg_sense": cg_sense, "grappa": grappa,
             "l1_wavelet": l1_wavelet_recon, "tv": tv_recon}
