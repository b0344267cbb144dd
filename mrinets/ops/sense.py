"""Multi-coil SENSE operators, root-sum-of-squares and ACS coil-map estimation.

Shapes, with ``rank`` spatial axes (2 or 3 in practice):
    image: `(batch, *spatial)` complex
    maps:  `(batch, coils, *spatial)` complex coil sensitivities
    kspace: `(batch, coils, *spatial)` complex, centered (see ``mrinets.ops.fftn``)
    mask: real or bool, broadcastable to kspace, e.g. `(batch, 1, 1, W)` or `(batch, 1, H, W)`
"""

import numpy as np
import tensorflow as tf

from mrinets.ops.fft import _as_complex, check_rank, fftn, ifftn


def _mask_like(mask, x):
    mask = tf.convert_to_tensor(mask)
    if mask.dtype == tf.bool:
        mask = tf.cast(mask, x.dtype.real_dtype)
    if mask.dtype.is_complex:
        return tf.cast(mask, x.dtype)
    return tf.complex(tf.cast(mask, x.dtype.real_dtype), tf.zeros([], x.dtype.real_dtype))


def apply_mask(kspace, mask):
    """Multiply ``kspace`` by a real/bool ``mask`` broadcastable to it; keeps the dtype."""
    kspace = _as_complex(kspace, "kspace")
    return kspace * _mask_like(mask, kspace)


def sense_forward(image, maps, mask=None, rank=2):
    """SENSE forward operator ``A x = M F (S x)``.

    Args:
        image: `(batch, *spatial)` complex image.
        maps: `(batch, coils, *spatial)` coil maps (same dtype).
        mask: optional sampling mask broadcastable to `(batch, coils, *spatial)`.
        rank: number of spatial axes.

    Returns:
        `(batch, coils, *spatial)` k-space.
    """
    rank = check_rank(rank)
    image = _as_complex(image, "image")
    maps = _as_complex(maps, "maps")
    kspace = fftn(maps * tf.expand_dims(image, -(rank + 1)), rank=rank)
    return kspace if mask is None else apply_mask(kspace, mask)


def sense_adjoint(kspace, maps, mask=None, rank=2):
    """Adjoint SENSE operator ``A^H y = sum_c conj(S_c) F^H (M y)``; returns `(batch, *spatial)`."""
    rank = check_rank(rank)
    kspace = _as_complex(kspace, "kspace")
    maps = _as_complex(maps, "maps")
    if mask is not None:
        kspace = apply_mask(kspace, mask)
    return tf.reduce_sum(tf.math.conj(maps) * ifftn(kspace, rank=rank), axis=-(rank + 1))


def sense_normal(image, maps, mask=None, rank=2, regularization=0.0):
    """Normal operator ``(A^H A + regularization * I) x``; `(batch, *spatial)` in and out.

    The mask is binary, so ``M^H M = M`` and it is applied once.
    """
    out = sense_adjoint(sense_forward(image, maps, mask, rank=rank), maps, None, rank=rank)
    if isinstance(regularization, (int, float)) and regularization == 0:
        return out
    return out + tf.cast(regularization, out.dtype) * image


def rss(x, axis=1, keepdims=False):
    """Root-sum-of-squares over the coil ``axis``; real tensor of ``x``'s real dtype."""
    x = tf.convert_to_tensor(x)
    power = tf.math.real(x * tf.math.conj(x)) if x.dtype.is_complex else tf.square(x)
    return tf.sqrt(tf.reduce_sum(power, axis=axis, keepdims=keepdims))


def _center_run(profile, axis):
    """1 on the contiguous run of nonzeros through index ``n // 2`` along ``axis``, else 0."""
    profile = tf.experimental.numpy.moveaxis(profile, axis, -1)
    center = tf.shape(profile)[-1] // 2
    right = tf.math.cumprod(profile[..., center:], axis=-1)
    left = tf.reverse(tf.math.cumprod(tf.reverse(profile[..., :center], [-1]), axis=-1), [-1])
    run = tf.concat([left * right[..., :1], right], axis=-1)
    return tf.experimental.numpy.moveaxis(run, -1, axis)


_WINDOWS = (None, "hann", "hamming")


def _check_window(window):
    if window not in _WINDOWS:
        raise ValueError(
            f"Invalid value for argument `window`. Expected one of {_WINDOWS}. Received: window={window!r}"
        )


def _taper(run, axis, window):
    """Multiply a 0/1 contiguous ``run`` along ``axis`` by a Hann/Hamming window over its length."""
    if window is None:
        return run
    position = tf.math.cumsum(run, axis=axis) - 0.5  # i + 0.5 inside the run
    length = tf.maximum(tf.reduce_sum(run, axis=axis, keepdims=True), 1.0)
    cosine = tf.cos(2 * np.pi * position / length)
    taper = 0.5 - 0.5 * cosine if window == "hann" else 0.54 - 0.46 * cosine
    return run * taper


def calibration_region(mask, axes=(-1,), window=None):
    """The fully sampled auto-calibration (ACS) region of a mask.

    Args:
        mask: real/bool mask, e.g. `(batch, 1, 1, W)` for line masks or `(batch, 1, H, W)`
            for 2D (ky-kz) masks.
        axes: the undersampled axes: `(-1,)` for line masks, `(-2, -1)` for 2D masks.
        window: None (1 inside the block), "hann" or "hamming" (tapered over the block).

    Returns:
        float32 tensor broadcastable to ``mask``: 1 (or the window) inside the central contiguous
        block of sampled points (found along each axis through the center of the others), 0 elsewhere.
    """
    _check_window(window)
    mask = tf.convert_to_tensor(mask)
    mask = tf.cast(tf.not_equal(mask, tf.zeros([], mask.dtype)), tf.float32)
    ndim = mask.shape.rank
    axes = tuple(a % ndim for a in axes)
    region = None
    for axis in axes:
        profile = mask
        for other in axes:
            if other != axis:
                size = tf.shape(profile)[other]
                profile = tf.gather(profile, [size // 2], axis=other)
        run = _taper(_center_run(profile, axis), axis, window)
        region = run if region is None else region * run
    return region


def center_region(shape_last, num_low_frequencies, ndim, window=None):
    """fastMRI's center lines: 1 on `[pad, pad + n)` with `pad = (W - n + 1) // 2` along the last axis.

    ``num_low_frequencies`` is a scalar or a `(batch,)` integer tensor; the result has ``ndim``
    dimensions and broadcasts against `(batch, ..., W)`.
    """
    n = tf.reshape(tf.cast(num_low_frequencies, tf.int32), [-1] + [1] * (ndim - 1))
    idx = tf.reshape(tf.range(shape_last), [1] * (ndim - 1) + [-1])
    pad = (shape_last - n + 1) // 2
    _check_window(window)
    return _taper(tf.cast((idx >= pad) & (idx < pad + n), tf.float32), ndim - 1, window)


def calibration_block(mask, window=None):
    """The calibration block of a 2D mask: its largest fully sampled rectangle, centred as fastMRI centres.

    A block of ``c`` rows starts at row ``(H - c + 1) // 2`` (columns alike), as the 2D masks
    place their calibration region; of the fully sampled such blocks the largest wins. Unlike a
    run through the centre (``calibration_region``), random points next to the block cannot
    extend it with unsampled entries.

    Args:
        mask: `(batch, 1, ..., H, W)` real/bool mask (axes between batch and H of size 1).
        window: None, "hann" or "hamming": taper over the block along each axis.

    Returns:
        float32 tensor of ``mask``'s shape: 1 (or the window) inside the block, 0 elsewhere.
    """
    _check_window(window)
    mask = tf.convert_to_tensor(mask)
    shape = tf.shape(mask)
    h, w = shape[-2], shape[-1]
    sampled = tf.reshape(tf.cast(tf.not_equal(mask, tf.zeros([], mask.dtype)), tf.float32), [-1, h, w])
    integral = tf.pad(tf.cumsum(tf.cumsum(sampled, axis=1), axis=2), [[0, 0], [1, 0], [1, 0]])  # (N, H+1, W+1)
    rows, cols = tf.range(1, h + 1), tf.range(1, w + 1)  # candidate block sizes
    top, left = (h - rows + 1) // 2, (w - cols + 1) // 2

    def corner(row_index, col_index):  # integral image at (row_index[i], col_index[j]): (N, H, W)
        return tf.gather(tf.gather(integral, row_index, axis=1), col_index, axis=2)

    total = corner(top + rows, left + cols) - corner(top, left + cols) - corner(top + rows, left) + corner(top, left)
    area = tf.cast(rows[:, None] * cols[None, :], tf.float32)
    full = tf.where(total > area - 0.5, area, tf.zeros_like(total))  # area of each fully sampled block
    best = tf.argmax(tf.reshape(full, [tf.shape(full)[0], -1]), axis=1, output_type=tf.int32)
    found = tf.cast(tf.reduce_max(full, axis=[1, 2]) > 0, tf.float32)[:, None, None]
    size_h, size_w = best // w + 1, best % w + 1

    def run(size, n):  # (N, n): 1 on [(n - size + 1) // 2, ... + size)
        start = ((n - size + 1) // 2)[:, None]
        index = tf.range(n)[None, :]
        return tf.cast((index >= start) & (index < start + size[:, None]), tf.float32)

    region = _taper(run(size_h, h), 1, window)[:, :, None] * _taper(run(size_w, w), 1, window)[:, None, :]
    return tf.reshape(region * found, shape)


def acs_region(mask, num_low_frequencies, ndim, window=None):
    """The auto-calibration region of a line mask or of a 2D mask, chosen at run time.

    A line mask (``mask.shape[-2] == 1``, e.g. `(batch, 1, 1, W)`): fastMRI's
    ``num_low_frequencies`` center lines (``center_region``). A 2D mask (`(batch, 1, H, W)`
    with H > 1, e.g. ``poisson_disc``, ``gaussian``): its calibration block over the last two
    axes (``calibration_block``); ``num_low_frequencies`` is then unused.

    Returns a float32 tensor broadcastable to `(batch, ..., H, W)` k-space of ``ndim`` dimensions.
    """
    mask = tf.convert_to_tensor(mask)
    lines = center_region(tf.shape(mask)[-1], num_low_frequencies, ndim, window=window)
    block = calibration_block(mask, window=window)
    return tf.where(tf.shape(mask)[-2] > 1, block, lines)


def estimate_coil_maps(
    kspace, mask=None, num_low_frequencies=None, rank=2, axes=(-1,), eps=1e-8, threshold=0.0, window="hamming",
    method="acs", **options
):
    """Coil maps from the auto-calibration region, normalized by their RSS.

    ``method="acs"`` (default): the k-space outside the ACS region is zeroed, transformed to
    low-resolution coil images, and each is divided by the RSS over coils, so ``rss(maps) == 1``
    wherever there is signal. ``"walsh"`` and ``"inati"`` start from the same low-resolution
    images; ``"espirit"`` from the (unwindowed) ACS block. See ``mrinets.ops.coil_maps``.

    Args:
        kspace: `(batch, coils, *spatial)` complex k-space (undersampled or full).
        mask: sampling mask broadcastable to ``kspace``; its central fully sampled block
            along ``axes`` is the ACS region (see ``calibration_region``).
        num_low_frequencies: alternatively, the number of fastMRI center lines along the last
            axis, a scalar or `(batch,)` tensor. Given with a 2D mask (``mask.shape[-2] > 1``),
            the mask's 2D calibration block is used instead (``acs_region``).
        rank: number of spatial axes.
        axes: the undersampled axes of ``mask``.
        eps: added under the square root of the RSS.
        window: taper of the ACS data before the transform ("hamming", "hann" or None for a plain
            rectangle); a taper reduces Gibbs ringing in the maps.
        threshold: maps are set to zero where the low-resolution RSS is below ``threshold`` times
            its per-example maximum (background without signal; like ESPIRiT's cropping); 0 keeps all.
            Not with ``"espirit"``, whose ``crop`` option does this.
        method: "acs", "espirit", "walsh" or "inati".
        **options: the method's own arguments: ``espirit``: ``calib_width``, ``kernel_width=6``,
            ``thresh=0.02``, ``crop=0.95``
            (sigpy ``EspiritCalib``'s names); ``walsh``:
            ``kernel_size=7``; ``inati``: ``kernel_size=7``, ``iterations=5``.

    Returns:
        `(batch, coils, *spatial)` complex maps, ``kspace``'s dtype.
    """
    from mrinets.ops import coil_maps

    rank = check_rank(rank)
    kspace = _as_complex(kspace, "kspace")
    function = coil_maps.method_function(method, options)
    if method == "espirit" and threshold:
        raise ValueError("Invalid value for argument `threshold`. Expected 0 with method='espirit' (its `crop` "
                         f"option removes the background). Received: threshold={threshold!r}")

    def region(window):
        if num_low_frequencies is not None and mask is not None:
            return acs_region(mask, num_low_frequencies, kspace.shape.rank, window=window)
        if num_low_frequencies is not None:
            return center_region(tf.shape(kspace)[-1], num_low_frequencies, kspace.shape.rank, window=window)
        if mask is not None:
            return calibration_region(mask, axes=axes, window=window)
        raise ValueError(
            "Invalid value for argument `mask`. Expected a mask or `num_low_frequencies` to locate the "
            "calibration region. Received: mask=None, num_low_frequencies=None"
        )

    if method == "espirit":
        return function(kspace, region(None), rank=rank, **options)
    images = ifftn(apply_mask(kspace, region(window)), rank=rank)
    magnitude = rss(images, axis=-(rank + 1), keepdims=True)
    if function is None:
        maps = images / tf.cast(tf.sqrt(tf.square(magnitude) + eps), images.dtype)
    else:
        maps = function(images, rank=rank, **options)
    if threshold:
        peak = tf.reduce_max(magnitude, axis=list(range(1, magnitude.shape.rank)), keepdims=True)
        support = tf.cast(magnitude >= tf.cast(threshold, magnitude.dtype) * peak, maps.dtype)
        maps = maps * support
    return maps


def center_crop(x, shape):
    """Crop the trailing ``len(shape)`` axes of ``x`` to ``shape`` around their centers.

    Uses fastMRI's convention: start at `(n - m) // 2`. Works for NumPy arrays and tensors;
    sizes unknown until run time (``None`` axes, ``shape`` a tensor such as ``tf.shape(y)[-2:]``)
    are read from the running tensor.

    Raises:
        ValueError: a crop larger than the input, where both sizes are known.
    """
    if isinstance(shape, tf.Tensor):
        shape = tf.unstack(shape, num=shape.shape[0])
    else:
        shape = tuple(int(s) for s in shape)
    rank = len(shape)
    dynamic = None
    slices = [slice(None)] * (len(x.shape) - rank)
    for axis, (n, m) in enumerate(zip(x.shape[-rank:], shape)):
        if n is None or isinstance(m, tf.Tensor):
            dynamic = tf.shape(x)[-rank:] if dynamic is None else dynamic
            n = dynamic[axis] if n is None else n
        elif m > n:
            raise ValueError(
                f"Invalid value for argument `shape`. Expected a crop no larger than the input {tuple(x.shape)}. "
                f"Received: shape={shape}"
            )
        start = (n - m) // 2
        slices.append(slice(start, start + m))
    return x[tuple(slices)]
