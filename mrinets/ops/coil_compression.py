"""Coil compression: SVD (Buehrer et al. 2007, Huang et al. 2008) and geometric (GCC, Zhang et al. 2013).

Both map `(batch, coils, *spatial)` k-space to `(batch, num_virtual, *spatial)` virtual coils
by unitary projections, so the energy (and the noise) of the kept virtual coils is the part
of the data's energy in their span. SVD uses one `(coils, num_virtual)` matrix per example;
GCC one per readout position (in the hybrid x-ky space, where the coil geometry varies
slowly), aligned along the readout so that each virtual coil stays smooth in space.
"""

import tensorflow as tf

from mrinets.arguments import check_positive_int, invalid_argument, is_int
from mrinets.ops.fft import _as_complex, check_rank, fftn, ifftn

METHODS = ("svd", "gcc")


def _check_num_virtual(num_virtual, kspace):
    coils = kspace.shape[1]
    if not is_int(num_virtual) or num_virtual < 1 or (coils is not None and num_virtual > coils):
        limit = f" at most the {coils} coils of `kspace`" if coils is not None else ""
        raise invalid_argument("num_virtual", f"a strictly positive integer{limit}", num_virtual)
    return int(num_virtual)


def _top_eigenvectors(covariance, num_virtual):
    """Eigenvectors of the ``num_virtual`` largest eigenvalues, largest first: `(..., C, num_virtual)`."""
    _, vectors = tf.linalg.eigh(covariance)
    return tf.reverse(vectors[..., -num_virtual:], [-1])


def svd_matrix(kspace, num_virtual, rank=2):
    """The SVD compression matrix `(batch, coils, num_virtual)`: the dominant left singular vectors
    of the `(coils, points)` data of each example."""
    rank = check_rank(rank)
    kspace = _as_complex(kspace, "kspace")
    num_virtual = _check_num_virtual(num_virtual, kspace)
    flat = tf.reshape(kspace, tf.concat([tf.shape(kspace)[:2], [-1]], 0))
    return _top_eigenvectors(tf.linalg.matmul(flat, flat, adjoint_b=True), num_virtual)


def _box_sum_along(x, axis, window):
    """Mean over a centered ``window`` along ``axis`` of a complex tensor (edges: over the part inside)."""
    moved = tf.experimental.numpy.moveaxis(x, axis, -1)
    shape = tf.shape(moved)
    flat = tf.reshape(moved, [-1, shape[-1], 1])
    stacked = tf.concat([tf.math.real(flat), tf.math.imag(flat)], 0)
    smooth = tf.nn.avg_pool1d(stacked, window, 1, "SAME")
    half = tf.shape(flat)[0]
    result = tf.reshape(tf.complex(smooth[:half], smooth[half:]), shape)
    return tf.experimental.numpy.moveaxis(result, -1, axis)


def _align(matrices):
    """Align `(positions, batch, C, N)` compression matrices along positions (orthogonal Procrustes)."""

    def step(previous, current):
        # The unitary P minimizing ||current P - previous||: P = U W^H for current^H previous = U S W^H.
        _, u, w = tf.linalg.svd(tf.linalg.matmul(current, previous, adjoint_a=True))
        return tf.linalg.matmul(current, tf.linalg.matmul(u, w, adjoint_b=True))

    return tf.scan(step, matrices[1:], initializer=matrices[0]), matrices[0]


def gcc_matrices(kspace, num_virtual, rank=2, readout_axis=-2, window=5):
    """GCC compression matrices `(batch, readout, coils, num_virtual)`, one per readout position.

    Args:
        kspace: `(batch, coils, *spatial)` complex k-space, fully sampled along ``readout_axis``.
        num_virtual: virtual coils.
        rank: spatial axes.
        readout_axis: the fully sampled axis (fastMRI layout: -2).
        window: readout positions whose data (in the hybrid space) estimate each matrix.
    """
    rank = check_rank(rank)
    kspace = _as_complex(kspace, "kspace")
    num_virtual = _check_num_virtual(num_virtual, kspace)
    axis = _readout_axis(readout_axis, kspace, rank)
    window = check_positive_int(window, "window")
    hybrid = tf.experimental.numpy.moveaxis(ifftn(kspace, axes=[axis]), axis, 2)  # (B, C, X, ...)
    shape = tf.shape(hybrid)
    flat = tf.transpose(tf.reshape(hybrid, tf.concat([shape[:3], [-1]], 0)), [0, 2, 1, 3])  # (B, X, C, P)
    covariance = _box_sum_along(tf.linalg.matmul(flat, flat, adjoint_b=True), 1, int(window))
    matrices = _top_eigenvectors(covariance, num_virtual)  # (B, X, C, N)
    aligned, first = _align(tf.transpose(matrices, [1, 0, 2, 3]))
    return tf.transpose(tf.concat([first[None], aligned], 0), [1, 0, 2, 3])


def _readout_axis(readout_axis, kspace, rank):
    ndim = kspace.shape.rank
    if not is_int(readout_axis) or not (ndim - rank <= readout_axis % ndim < ndim if -ndim <= readout_axis < ndim
                                          else False):
        raise invalid_argument("readout_axis", f"one of the {rank} spatial axes of `kspace` {tuple(kspace.shape)}",
                               readout_axis)
    return int(readout_axis) % ndim


def compress_coils(kspace, num_virtual, method="svd", rank=2, readout_axis=-2, window=5):
    """Compress `(batch, coils, *spatial)` k-space to `(batch, num_virtual, *spatial)` virtual coils.

    Args:
        kspace: complex k-space (undersampled or full; zeros add no energy).
        num_virtual: virtual coils (<= coils).
        method: "svd" (one matrix per example) or "gcc" (one per readout position, aligned).
        rank: spatial axes.
        readout_axis, window: GCC's fully sampled axis and its estimation window.

    Returns:
        Compressed k-space, ``kspace``'s dtype. SVD's virtual coils come in decreasing energy.
    """
    if method not in METHODS:
        raise invalid_argument("method", f"one of {METHODS}", method)
    kspace = _as_complex(kspace, "kspace")
    if method == "svd":
        matrix = svd_matrix(kspace, num_virtual, rank)
        flat = tf.reshape(kspace, tf.concat([tf.shape(kspace)[:2], [-1]], 0))
        compressed = tf.linalg.matmul(matrix, flat, adjoint_a=True)
        return tf.reshape(compressed, tf.concat([tf.shape(kspace)[:1], [num_virtual], tf.shape(kspace)[2:]], 0))
    matrices = gcc_matrices(kspace, num_virtual, rank, readout_axis, window)  # (B, X, C, N)
    axis = _readout_axis(readout_axis, kspace, check_rank(rank))
    hybrid = tf.experimental.numpy.moveaxis(ifftn(kspace, axes=[axis]), [1, axis], [-1, 1])  # (B, X, ..., C)
    shape = tf.shape(hybrid)
    flat = tf.reshape(hybrid, tf.stack([shape[0], shape[1], -1, shape[-1]]))  # (B, X, P, C)
    compressed = tf.linalg.matmul(flat, tf.math.conj(matrices))  # (B, X, P, N): sum_c y_c conj(A_cn)
    compressed = tf.reshape(compressed, tf.concat([shape[:-1], [num_virtual]], 0))
    return fftn(tf.experimental.numpy.moveaxis(compressed, [-1, 1], [1, axis]), axes=[axis])
