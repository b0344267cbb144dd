"""Coil sensitivity maps by ESPIRiT, Walsh and Inati (``estimate_coil_maps(..., method=...)``).

Shapes, with ``rank`` spatial axes:
    kspace: `(batch, coils, *spatial)` complex, centered (see ``mrinets.ops.fftn``)
    images: `(batch, coils, *spatial)` complex low-resolution coil images
    maps:   `(batch, coils, *spatial)` complex, unit norm over coils where kept, zero elsewhere

References: Uecker et al., ESPIRiT, MRM 71:990 (2014); Walsh et al., MRM 43:682 (2000);
Inati et al., ISMRM 2014 p. 4407 (the iterative power method on locally smoothed coil images).
"""

import numpy as np
import tensorflow as tf

from mrinets.arguments import check_int, check_number, invalid_argument
from mrinets.ops.fft import ifftn

#: ``estimate_coil_maps`` methods.
METHODS = ("acs", "espirit", "walsh", "inati")


def method_function(method, options):
    """The function of ``method`` (None for "acs"), after checking ``options`` against its arguments."""
    import inspect

    if method not in METHODS:
        raise invalid_argument("method", f"one of {METHODS}", method)
    function = {"acs": None, "espirit": espirit, "walsh": walsh, "inati": inati}[method]
    accepted = [] if function is None else [
        name for name in inspect.signature(function).parameters if name not in ("kspace", "images", "region", "rank")
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"Invalid value for argument `{unknown[0]}`. Expected an option of method={method!r}: "
                         f"{accepted or 'none'}. Received: {', '.join(f'{k}={options[k]!r}' for k in unknown)}")
    return function


def parse_spec(spec, name="coil_maps"):
    """``(method, options)`` of a config value: a method name or ``{"method": name, **options}``."""
    mapping = {"method": spec} if isinstance(spec, str) else spec
    if not isinstance(mapping, dict) or mapping.get("method") not in METHODS:
        raise invalid_argument(name, f"one of {METHODS} or a mapping {{method: name, **options}}", spec)
    options = {k: v for k, v in mapping.items() if k != "method"}
    method_function(mapping["method"], options)
    return mapping["method"], options


def _run_bounds(region, axis):
    """Start and length of the calibration run along spatial ``axis`` common to every example."""
    ndim = region.shape.rank
    others = [a for a in range(1, ndim) if a != axis]
    profile = tf.reduce_max(region, axis=others) if others else region  # (batch, n)
    profile = tf.reduce_min(profile, axis=0)  # sampled in every example of the batch
    start = tf.argmax(profile, output_type=tf.int32)
    return start, tf.cast(tf.reduce_sum(profile), tf.int32)


def calibration_block(kspace, region, rank=2, calib_width=None):
    """The fully sampled centre block of ``kspace``: `(batch, coils, *calib)`.

    Along an axis where ``region`` (the 0/1 ACS region, broadcastable to ``kspace``) varies, the
    block is the ACS run shared by every example of the batch; along a fully sampled axis it is
    ``calib_width`` (default 24, sigpy's) points around the centre. An integer ``calib_width``
    caps every axis.
    """
    region = tf.cast(tf.not_equal(tf.convert_to_tensor(region), 0), tf.float32)
    ndim = kspace.shape.rank
    region = tf.broadcast_to(region, tf.concat([tf.shape(kspace)[:1], tf.shape(region)[1:]], 0))
    begin, size = [0, 0], [-1, -1]
    for axis in range(ndim - rank, ndim):
        n = tf.shape(kspace)[axis]
        if region.shape[axis] == 1:
            width = tf.minimum(n, 24 if calib_width is None else calib_width)
            start = n // 2 - width // 2
        else:
            start, width = _run_bounds(region, axis)
            if calib_width is not None:
                capped = tf.minimum(width, calib_width)
                start, width = start + (width - capped + 1) // 2, capped
        begin.append(start)
        size.append(width)
    return tf.slice(kspace, tf.stack(begin), tf.stack(size))


def calibration_matrix(block, kernel_width, rank=2):
    """Rows: every ``kernel_width``-wide patch of ``block``; columns: (coil, kernel position).

    `(batch, coils, *calib)` -> `(batch, patches, coils * kernel_width**rank)`.
    """
    x = block
    for i in range(rank):
        x = tf.signal.frame(x, kernel_width, 1, axis=2 + 2 * i)  # axis n -> (n - k + 1, k)
    # (batch, coils, p1, k1, ..., pr, kr) -> (batch, p1..pr, coils, k1..kr)
    perm = [0] + [2 + 2 * i for i in range(rank)] + [1] + [3 + 2 * i for i in range(rank)]
    x = tf.transpose(x, perm)
    batch, coils = tf.shape(block)[0], tf.shape(block)[1]
    return tf.reshape(x, [batch, -1, coils * kernel_width**rank])


def _difference_ids(kernel_width, rank):
    """Flat index of ``q - q'`` (in `[0, 2k - 1)**rank`) for every pair of kernel positions."""
    grid = np.stack(np.meshgrid(*[np.arange(kernel_width)] * rank, indexing="ij"), -1).reshape(-1, rank)
    diff = grid[:, None, :] - grid[None, :, :] + kernel_width - 1  # (K, K, rank)
    return np.ravel_multi_index(tuple(np.moveaxis(diff, -1, 0)), (2 * kernel_width - 1,) * rank).reshape(-1)


def _dominant_eigenvector(matrices):
    """Largest eigenvalue and its unit eigenvector of Hermitian `(..., C, C)`: `(...)`, `(..., C)`."""
    values, vectors = tf.linalg.eigh(matrices)
    return tf.math.real(values[..., -1]), vectors[..., :, -1]


def _relative_to_first_coil(maps):
    """Remove the phase of coil 0 from every coil (`(batch, coils, *spatial)`), as sigpy and BART do."""
    first = maps[:, :1]
    phase = first / tf.cast(tf.maximum(tf.abs(first), 1e-30), maps.dtype)
    return maps * tf.math.conj(phase)


def _coils_last(x):
    """`(batch, coils, *spatial)` -> `(batch, *spatial, coils)`."""
    return tf.experimental.numpy.moveaxis(x, 1, -1)


def espirit(kspace, region, rank=2, calib_width=None, kernel_width=6, thresh=0.02, crop=0.95):
    """ESPIRiT maps (one set), with sigpy ``EspiritCalib``'s defaults.

    The calibration matrix of the ACS block is decomposed; its right singular vectors above
    ``thresh`` times the largest singular value span the signal space. Their projector, moved
    to the image domain, gives a `(coils, coils)` matrix per pixel whose dominant eigenvector is
    the map, kept where its eigenvalue exceeds ``crop``. Phase relative to coil 0.

    Args:
        kspace: `(batch, coils, *spatial)` complex k-space.
        region: 0/1 ACS region broadcastable to ``kspace`` (see ``calibration_region``).
        rank: spatial axes.
        calib_width: cap on the calibration block (see ``calibration_block``).
        kernel_width: kernel size along every axis.
        thresh: relative singular-value threshold.
        crop: eigenvalue threshold in [0, 1); 0 keeps every pixel.

    Returns:
        `(batch, coils, *spatial)` maps, ``kspace``'s dtype.
    """
    kernel_width = check_int(kernel_width, "kernel_width", 1)
    thresh, crop = check_number(thresh, "thresh", 0, 1), check_number(crop, "crop", 0, 1)
    if calib_width is not None:
        calib_width = check_int(calib_width, "calib_width", kernel_width)
    block = calibration_block(kspace, region, rank, calib_width)
    with tf.control_dependencies([
        tf.debugging.assert_greater_equal(
            tf.reduce_min(tf.shape(block)[2:]), kernel_width,
            message=f"ESPIRiT: the calibration region is smaller than kernel_width={kernel_width}",
        )
    ]):
        matrix = calibration_matrix(block, kernel_width, rank)
    gram = tf.linalg.matmul(matrix, matrix, adjoint_a=True)  # (B, CK, CK); eigenvalues = singular values**2
    values, vectors = tf.linalg.eigh(gram)
    values = tf.math.real(values)
    keep = values > (thresh**2) * values[..., -1:]
    vectors = vectors * tf.cast(keep, vectors.dtype)[..., None, :]
    projector = tf.math.conj(tf.linalg.matmul(vectors, vectors, adjoint_b=True))  # sum_n conj(v_n) v_n^T
    batch, coils = tf.shape(kspace)[0], tf.shape(kspace)[1]
    positions = kernel_width**rank
    projector = tf.reshape(projector, [batch, coils, positions, coils, positions])
    pairs = tf.reshape(tf.transpose(projector, [2, 4, 0, 1, 3]), [positions * positions, batch, coils, coils])
    width = 2 * kernel_width - 1
    diffs = tf.math.unsorted_segment_sum(pairs, _difference_ids(kernel_width, rank), width**rank)
    diffs = tf.reshape(tf.transpose(diffs, [1, 2, 3, 0]), tf.concat([[batch, coils, coils], [width] * rank], 0))
    spatial = tf.shape(kspace)[2:]
    before = spatial // 2 - (kernel_width - 1)
    paddings = tf.concat([tf.zeros([3, 2], tf.int32), tf.stack([before, spatial - width - before], 1)], 0)
    padded = tf.pad(diffs, paddings)
    size = tf.cast(tf.reduce_prod(spatial), kspace.dtype.real_dtype)
    scale = tf.cast(tf.sqrt(size) / kernel_width**rank, kspace.dtype)
    gram_images = ifftn(padded, rank=rank) * scale  # (B, C, C, *S): sum over kernels of g g^H per pixel
    perm = [0] + list(range(3, 3 + rank)) + [1, 2]
    value, vector = _dominant_eigenvector(tf.transpose(gram_images, perm))  # (B, *S), (B, *S, C)
    maps = tf.experimental.numpy.moveaxis(vector, -1, 1)
    maps = _relative_to_first_coil(maps)
    return maps * tf.cast(value > crop, maps.dtype)[:, None]


def _box_smooth(x, rank, size):
    """Mean over a ``size``-wide box (edges: the mean over the part inside) of `(batch, *spatial, channels)`."""
    real = tf.concat([tf.math.real(x), tf.math.imag(x)], -1)
    smooth = tf.nn.avg_pool(real, [size] * rank, [1] * rank, "SAME")
    half = tf.shape(x)[-1]
    return tf.complex(smooth[..., :half], smooth[..., half:])


def walsh(images, rank=2, kernel_size=7):
    """Walsh's adaptive maps: the dominant eigenvector of the locally averaged coil covariance.

    Args:
        images: `(batch, coils, *spatial)` complex (low-resolution) coil images.
        rank: spatial axes.
        kernel_size: width of the averaging box.

    Returns:
        `(batch, coils, *spatial)` unit-norm maps, phase relative to coil 0.
    """
    kernel_size = check_int(kernel_size, "kernel_size", 1)
    channels_last = _coils_last(images)  # (B, *S, C)
    outer = channels_last[..., :, None] * tf.math.conj(channels_last[..., None, :])  # (B, *S, C, C)
    coils = tf.shape(images)[1]
    flat = tf.reshape(outer, tf.concat([tf.shape(outer)[:-2], [coils * coils]], 0))
    covariance = tf.reshape(_box_smooth(flat, rank, kernel_size), tf.shape(outer))
    _, vector = _dominant_eigenvector(covariance)
    return _relative_to_first_coil(tf.experimental.numpy.moveaxis(vector, -1, 1))


def inati(images, rank=2, kernel_size=7, iterations=5):
    """Inati's maps: power iterations on the locally averaged coil covariance without forming it.

    Each iteration combines ``rho = sum_c conj(S_c) I_c``, averages ``I conj(rho)`` over a box and
    normalizes it over coils; differentiable. The phase is relative to the coil-combined
    reference ``S0 = sum_x I(x)`` (normalized), so no single coil's null sets a phase singularity.

    Args:
        images: `(batch, coils, *spatial)` complex (low-resolution) coil images.
        rank: spatial axes.
        kernel_size: width of the averaging box.
        iterations: power iterations.

    Returns:
        `(batch, coils, *spatial)` unit-norm maps.
    """
    kernel_size = check_int(kernel_size, "kernel_size", 1)
    iterations = check_int(iterations, "iterations", 1)
    spatial_axes = list(range(2, 2 + rank))
    eps = tf.constant(1e-30, images.dtype.real_dtype)

    def normalized(x):
        return x / tf.cast(tf.maximum(tf.sqrt(tf.reduce_sum(tf.abs(x) ** 2, 1, keepdims=True)), eps), x.dtype)

    reference = normalized(tf.reduce_sum(images, spatial_axes, keepdims=True))  # (B, C, 1...)
    maps = reference * tf.ones_like(images)
    for _ in range(iterations):
        combined = tf.reduce_sum(tf.math.conj(maps) * images, 1, keepdims=True)
        update = _coils_last(images * tf.math.conj(combined))
        maps = normalized(tf.experimental.numpy.moveaxis(_box_smooth(update, rank, kernel_size), -1, 1))
    phase = tf.reduce_sum(tf.math.conj(reference) * maps, 1, keepdims=True)
    return maps * tf.math.conj(phase / tf.cast(tf.maximum(tf.abs(phase), eps), phase.dtype))
