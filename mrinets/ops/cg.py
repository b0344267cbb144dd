"""Batched conjugate gradient for Hermitian positive-definite operators."""

import tensorflow as tf

from mrinets.arguments import check_positive_int


def conjugate_gradient(operator, rhs, x0=None, max_iterations=10, tolerance=1e-6, batch_dims=1):
    """Solve ``operator(x) = rhs`` per example with conjugate gradients.

    Each example stops updating once its residual norm falls below
    ``tolerance * ||rhs||``; the loop ends when all have converged or after
    ``max_iterations``. Runs eagerly, under ``tf.function`` and inside Keras models;
    gradients flow through the iterations (``tf.while_loop``).

    Args:
        operator: callable mapping a tensor of ``rhs``'s shape to one of the same shape; must be
            Hermitian positive-definite for each example (e.g. ``sense_normal`` with a regularizer).
        rhs: `(batch, ...)` real or complex tensor.
        x0: optional initial guess, shaped like ``rhs`` (default zeros).
        max_iterations: strictly positive int.
        tolerance: non-negative float, relative residual tolerance.
        batch_dims: number of leading batch axes; the others are the unknowns.

    Returns:
        Tensor shaped like ``rhs``.
    """
    check_positive_int(max_iterations, "max_iterations")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or tolerance < 0:
        raise ValueError(
            f"Invalid value for argument `tolerance`. Expected a non-negative float. Received: tolerance={tolerance!r}"
        )
    if isinstance(batch_dims, bool) or not isinstance(batch_dims, int) or batch_dims < 0:
        raise ValueError(
            f"Invalid value for argument `batch_dims`. Expected a non-negative integer. Received: batch_dims={batch_dims!r}"
        )
    rhs = tf.convert_to_tensor(rhs)
    ndim = rhs.shape.rank
    axes = list(range(batch_dims, ndim))
    real_dtype = rhs.dtype.real_dtype

    def dot(a, b):
        prod = tf.math.conj(a) * b if a.dtype.is_complex else a * b
        return tf.math.real(tf.reduce_sum(prod, axis=axes, keepdims=True))

    def cast(v):
        return tf.cast(v, rhs.dtype)

    x = tf.zeros_like(rhs) if x0 is None else tf.convert_to_tensor(x0, dtype=rhs.dtype)
    r = rhs if x0 is None else rhs - operator(x)
    p = r
    rr = dot(r, r)
    threshold = tf.cast(tolerance, real_dtype) ** 2 * dot(rhs, rhs)

    def cond(i, x, r, p, rr):
        return tf.reduce_any(rr > threshold)

    def body(i, x, r, p, rr):
        active = tf.cast(rr > threshold, real_dtype)
        ap = operator(p)
        alpha = active * tf.math.divide_no_nan(rr, dot(p, ap))
        x = x + cast(alpha) * p
        r = r - cast(alpha) * ap
        rr_new = dot(r, r)
        beta = active * tf.math.divide_no_nan(rr_new, rr)
        p = r + cast(beta) * p
        rr = active * rr_new + (1 - active) * rr
        return i + 1, x, r, p, rr

    _, x, _, _, _ = tf.while_loop(
        cond, body, (tf.constant(0), x, r, p, rr), maximum_iterations=max_iterations
    )
    return x
