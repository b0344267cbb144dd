"""Keras metrics (TensorFlow, graph-mode safe) averaging per-example NMSE/PSNR/SSIM."""

import keras
import tensorflow as tf

from mrinets.metrics._numpy import K1, K2, WIN_SIZE


def _magnitude(x):
    x = tf.convert_to_tensor(x)
    return tf.abs(x) if x.dtype.is_complex else tf.cast(x, tf.float32) if x.dtype != tf.float64 else x


def _flat(y_true, y_pred):
    y_true, y_pred = _magnitude(y_true), _magnitude(y_pred)
    y_pred = tf.cast(y_pred, y_true.dtype)
    batch = tf.shape(y_true)[0]
    return tf.reshape(y_true, [batch, -1]), tf.reshape(y_pred, [batch, -1])


def nmse_tf(y_true, y_pred):
    """Per-example NMSE of `(batch, ...)` magnitude (or complex) tensors: `(batch,)`."""
    t, p = _flat(y_true, y_pred)
    return tf.reduce_sum(tf.square(t - p), 1) / tf.reduce_sum(tf.square(t), 1)


def psnr_tf(y_true, y_pred):
    """Per-example PSNR in dB with each example's ``max(y_true)`` as data range: `(batch,)`."""
    t, p = _flat(y_true, y_pred)
    mse = tf.reduce_mean(tf.square(t - p), 1)
    maxval = tf.reduce_max(t, 1)
    return 10.0 * tf.math.log(tf.square(maxval) / mse) / tf.math.log(tf.constant(10.0, t.dtype))


def _images(x):
    x = _magnitude(x)
    if x.shape.rank == 4:
        if x.shape[-1] != 1:
            raise ValueError(
                f"Invalid value for argument `y_true`. Expected (batch, H, W) or (batch, H, W, 1). Received: shape={x.shape}"
            )
        return x
    if x.shape.rank != 3:
        raise ValueError(
            f"Invalid value for argument `y_true`. Expected (batch, H, W) or (batch, H, W, 1). Received: shape={x.shape}"
        )
    return x[..., None]


def ssim_images(y_true, y_pred, win_size=WIN_SIZE, k1=K1, k2=K2):
    """Per-example mean SSIM of real `(batch, H, W, 1)` images of one dtype: `(batch,)`.

    fastMRI's definition: a uniform ``win_size x win_size`` window at valid positions, sample
    covariance (``N / (N - 1)``), ``C1 = (k1 L)**2``, ``C2 = (k2 L)**2`` with the data range
    ``L = max(y_true)`` of each example. ``SSIM`` and ``SSIMLoss`` both compute it here.
    """
    maxval = tf.reduce_max(y_true, axis=[1, 2, 3], keepdims=True)

    def mean(x):
        return tf.nn.avg_pool2d(x, win_size, 1, "VALID")

    n = float(win_size**2)
    cov_norm = n / (n - 1.0)
    ux, uy = mean(y_true), mean(y_pred)
    vx = cov_norm * (mean(y_true * y_true) - ux * ux)
    vy = cov_norm * (mean(y_pred * y_pred) - uy * uy)
    vxy = cov_norm * (mean(y_true * y_pred) - ux * uy)
    c1, c2 = tf.square(k1 * maxval), tf.square(k2 * maxval)
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return tf.reduce_mean(s, axis=[1, 2, 3])


def ssim_tf(y_true, y_pred):
    """Per-example SSIM (7x7 uniform window, each example's max as data range): `(batch,)`."""
    t, p = _images(y_true), _images(y_pred)
    return ssim_images(t, tf.cast(p, t.dtype))


class _MeanOverExamples(keras.metrics.Metric):
    """Average of a per-example function over all examples seen."""

    fn = None

    def __init__(self, name=None, dtype="float32"):
        super().__init__(name=name or type(self).__name__.lower(), dtype=dtype)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total", dtype="float64")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count", dtype="float64")

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = tf.cast(type(self).fn(y_true, y_pred), tf.float64)
        if sample_weight is None:
            weights = tf.ones_like(values)
        else:
            weights = tf.cast(tf.reshape(sample_weight, [-1]), tf.float64) * tf.ones_like(values)
        self.total.assign_add(tf.reduce_sum(values * weights))
        self.count.assign_add(tf.reduce_sum(weights))

    def result(self):
        return tf.cast(tf.math.divide_no_nan(self.total, self.count), self.dtype)

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="mrinets")
class NMSE(_MeanOverExamples):
    """Mean per-example NMSE. Inputs: `(batch, ...)` magnitude or complex tensors."""

    fn = staticmethod(nmse_tf)


@keras.saving.register_keras_serializable(package="mrinets")
class PSNR(_MeanOverExamples):
    """Mean per-example PSNR (dB), data range = each example's target max."""

    fn = staticmethod(psnr_tf)


@keras.saving.register_keras_serializable(package="mrinets")
class SSIM(_MeanOverExamples):
    """Mean per-example SSIM, fastMRI/scikit-image settings. Inputs `(batch, H, W[, 1])`."""

    fn = staticmethod(ssim_tf)
