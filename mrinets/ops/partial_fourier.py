"""Partial Fourier reconstruction by POCS (Haacke et al., JMR 92:126, 1991) for asymmetric acquisitions.

An asymmetric acquisition samples a contiguous part `[start, stop)` of one k-space axis that
contains the centre but not its mirror image. The phase of each coil image is estimated from
the symmetric centre `[c - m, c + m)` (Hann-windowed); POCS then alternates between imposing
that phase on the magnitude and restoring the measured samples. Shapes: kspace
`(batch, coils, *spatial)` complex (zeros where not acquired).
"""

import numpy as np
import tensorflow as tf

from mrinets.arguments import check_positive_int, invalid_argument, is_int
from mrinets.ops.fft import _as_complex, check_rank, fftn, ifftn


def acquired_extent(kspace, axis):
    """`(start, stop)` of the acquired (not all-zero) samples along ``axis``, common to the batch."""
    others = [a for a in range(kspace.shape.rank) if a != axis]
    profile = tf.reduce_max(tf.abs(kspace), axis=others) > 0
    index = tf.range(tf.shape(profile)[0])
    start = tf.reduce_min(tf.where(profile, index, tf.shape(profile)[0]))
    stop = tf.reduce_max(tf.where(profile, index, -1)) + 1
    return start, stop


def pocs(kspace, axis=-1, rank=2, iterations=10, extent=None):
    """POCS partial Fourier reconstruction of each coil.

    Args:
        kspace: `(batch, coils, *spatial)` k-space, acquired on a contiguous asymmetric part
            of ``axis`` (one of the spatial axes), zero elsewhere; other axes fully sampled.
        axis: the partially acquired axis.
        rank: spatial axes.
        iterations: POCS iterations.
        extent: `(start, stop)` of the acquired part; default: found from the nonzero samples.

    Returns:
        `(batch, coils, *spatial)` completed k-space, ``kspace``'s dtype (measured samples kept).
    """
    rank = check_rank(rank)
    kspace = _as_complex(kspace, "kspace")
    ndim = kspace.shape.rank
    if not is_int(axis) or not (
        -ndim <= axis < ndim and axis % ndim >= ndim - rank
    ):
        raise invalid_argument("axis", f"one of the {rank} spatial axes of `kspace` {tuple(kspace.shape)}", axis)
    iterations = check_positive_int(iterations, "iterations")
    axis = int(axis) % ndim
    n = tf.shape(kspace)[axis]
    start, stop = acquired_extent(kspace, axis) if extent is None else (tf.constant(extent[0]), tf.constant(extent[1]))
    center = n // 2
    half = tf.minimum(center - start, stop - center)
    with tf.control_dependencies([tf.debugging.assert_positive(
        half, message="POCS: the acquired samples do not contain the centre of k-space along `axis`")]):
        index = tf.range(n)
    shape = [1] * ndim
    shape[axis] = -1
    position = tf.cast(index - (center - half), kspace.dtype.real_dtype) + 0.5
    width = tf.cast(2 * half, kspace.dtype.real_dtype)
    hann = tf.where((index >= center - half) & (index < center + half), 0.5 - 0.5 * tf.cos(2 * np.pi * position / width), 0)
    window = tf.cast(tf.reshape(hann, shape), kspace.dtype)
    acquired = tf.cast(tf.reshape((index >= start) & (index < stop), shape), kspace.dtype)
    low = ifftn(kspace * window, rank=rank)
    phase = low / tf.cast(tf.maximum(tf.abs(low), 1e-30), low.dtype)
    image = ifftn(kspace, rank=rank)
    estimate = kspace
    for _ in range(iterations):
        estimate = fftn(tf.cast(tf.abs(image), image.dtype) * phase, rank=rank)
        estimate = acquired * kspace + (1 - acquired) * estimate
        image = ifftn(estimate, rank=rank)
    return estimate
