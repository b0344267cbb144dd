"""Centered, orthonormal FFTs over the trailing spatial axes.

``fftn(x, rank=2)`` equals ``numpy.fft.fftshift(numpy.fft.fftn(numpy.fft.ifftshift(x,
axes), axes=axes, norm="ortho"), axes)`` with ``axes`` the last ``rank`` axes. The
transforms are unitary, so ``ifftn`` is both the inverse and the adjoint of ``fftn``.
"""

import numpy as np
import tensorflow as tf

from mrinets.arguments import check_rank

_COMPLEX = (tf.complex64, tf.complex128)
_FORWARD = {1: tf.signal.fft, 2: tf.signal.fft2d, 3: tf.signal.fft3d}
_INVERSE = {1: tf.signal.ifft, 2: tf.signal.ifft2d, 3: tf.signal.ifft3d}


def _as_complex(x, name):
    x = tf.convert_to_tensor(x)
    if x.dtype not in _COMPLEX:
        raise TypeError(
            f"Invalid dtype for argument `{name}`. Expected complex64 or complex128. Received: dtype={x.dtype.name}"
        )
    return x


def _normalize_axes(x, rank, axes):
    ndim = x.shape.rank
    if ndim is None:
        raise ValueError("Invalid value for argument `x`. Expected a tensor of known rank. Received: unknown rank")
    if axes is None:
        rank = check_rank(rank)
        axes = tuple(range(ndim - rank, ndim))
    else:
        axes = tuple(int(a) for a in np.atleast_1d(axes))
        if not 1 <= len(axes) <= 3:
            raise ValueError(f"Invalid value for argument `axes`. Expected 1 to 3 axes. Received: axes={axes}")
        axes = tuple(sorted(a % ndim if -ndim <= a < ndim else _bad_axes(axes, ndim) for a in axes))
        if len(set(axes)) != len(axes):
            raise ValueError(f"Invalid value for argument `axes`. Expected distinct axes. Received: axes={axes}")
    if len(axes) > ndim:
        raise ValueError(
            f"Invalid value for argument `x`. Expected at least {len(axes)} dimensions for a rank-{len(axes)} FFT. "
            f"Received: x.shape={x.shape}"
        )
    return axes


def _bad_axes(axes, ndim):
    raise ValueError(f"Invalid value for argument `axes`. Expected axes in [-{ndim}, {ndim}). Received: axes={axes}")


def _transform(x, rank, axes, table, shift_in, shift_out, name):
    x = _as_complex(x, name)
    axes = _normalize_axes(x, rank, axes)
    ndim = x.shape.rank
    trailing = tuple(range(ndim - len(axes), ndim))
    perm = None
    if axes != trailing:
        rest = [a for a in range(ndim) if a not in axes]
        perm = rest + list(axes)
        x = tf.transpose(x, perm)
    shape = tf.shape(x)
    n = tf.cast(tf.reduce_prod(shape[ndim - len(axes) :]), x.dtype.real_dtype)
    x = shift_in(x, axes=trailing)
    x = table[len(axes)](x)
    x = shift_out(x, axes=trailing)
    # tf.signal's forward transform is unnormalized and its inverse divides by N.
    scale = tf.cast(tf.sqrt(n), x.dtype)
    x = x / scale if table is _FORWARD else x * scale
    if perm is not None:
        x = tf.transpose(x, np.argsort(perm))
    return x


def fftn(x, rank=2, axes=None):
    """Centered orthonormal FFT.

    Args:
        x: complex64/complex128 tensor, e.g. `(batch, coils, H, W)` or `(batch, coils, D, H, W)`.
        rank: number of trailing axes to transform (1, 2 or 3); ignored when `axes` is given.
        axes: optional explicit axes (1 to 3 of them).

    Returns:
        Tensor of the same shape and dtype: `fftshift(fft(ifftshift(x)))` / sqrt(N).
    """
    return _transform(x, rank, axes, _FORWARD, tf.signal.ifftshift, tf.signal.fftshift, "x")


def ifftn(x, rank=2, axes=None):
    """Centered orthonormal inverse FFT (the adjoint of ``fftn``); same arguments."""
    return _transform(x, rank, axes, _INVERSE, tf.signal.ifftshift, tf.signal.fftshift, "x")


def fft2c(x):
    """``fftn(x, rank=2)``: centered orthonormal 2D FFT over the last two axes."""
    return fftn(x, rank=2)


def ifft2c(x):
    """``ifftn(x, rank=2)``: centered orthonormal 2D inverse FFT over the last two axes."""
    return ifftn(x, rank=2)


def fftn_np(x, rank=2):
    """NumPy reference/helper: centered orthonormal FFT over the last ``rank`` axes."""
    axes = tuple(range(-check_rank(rank), 0))
    return np.fft.fftshift(np.fft.fftn(np.fft.ifftshift(x, axes=axes), axes=axes, norm="ortho"), axes=axes)


def ifftn_np(x, rank=2):
    """NumPy helper: centered orthonormal inverse FFT over the last ``rank`` axes."""
    axes = tuple(range(-check_rank(rank), 0))
    return np.fft.fftshift(np.fft.ifftn(np.fft.ifftshift(x, axes=axes), axes=axes, norm="ortho"), axes=axes)
