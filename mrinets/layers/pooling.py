"""Complex pooling (max by magnitude, average) and nearest up-sampling, one base each for every rank."""

import keras
import numpy as np
import tensorflow as tf

from mrinets.layers import _args
from mrinets.layers._base import ComplexLayer, invalid_argument, merge_stacked, split_stacked


def extract_patches(x, pool_size, strides, padding):
    """Pooling windows of a channels_last tensor: ``(N, *S, C)`` -> ``(N, *S', C, prod(pool_size))``.

    Works for any rank through one conv with a one-hot kernel per window position.
    """
    rank = len(pool_size)
    window = int(np.prod(pool_size))
    kernel = np.eye(window, dtype=x.dtype.as_numpy_dtype).reshape(tuple(pool_size) + (1, window))
    channels = tf.shape(x)[-1]
    per_channel = tf.transpose(x, [0, rank + 1] + list(range(1, rank + 1)))  # (N, C, *S)
    per_channel = tf.reshape(per_channel, tf.concat([[-1], tf.shape(per_channel)[2:], [1]], 0))
    patches = keras.ops.conv(per_channel, kernel, strides=strides, padding=padding)  # (N*C, *S', P)
    shape = tf.shape(patches)
    patches = tf.reshape(patches, tf.concat([[-1, channels], shape[1:]], 0))  # (N, C, *S', P)
    return tf.transpose(patches, [0] + list(range(2, rank + 2)) + [1, rank + 2])


def _padding_penalty(ones_shape_source, layer):
    """-inf where a window entry is padding, 0 elsewhere: ``(N, *S', 1, P)``."""
    ones = tf.ones_like(ones_shape_source)
    valid = extract_patches(ones, layer.pool_size, layer.strides, layer.padding)
    return tf.where(valid > 0, tf.zeros_like(valid), tf.fill(tf.shape(valid), tf.constant(-float("inf"), valid.dtype)))


@keras.saving.register_keras_serializable(package="mrinets")
class ComplexPooling(ComplexLayer):
    """N-D pooling, real or complex.

    Args:
        rank: 1, 2 or 3.
        pool_mode: ``"max"`` (complex: the entry of largest magnitude) or ``"average"``.
        pool_size, strides (default: pool_size), padding, data_format: as in Keras.

    Input ``(batch, *spatial, C)`` (channels_last); output ``(batch, *pooled, C)``.
    """


    def __init__(self, rank, pool_mode, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        if rank not in (1, 2, 3):
            raise invalid_argument("rank", "1, 2 or 3", rank)
        if pool_mode not in ("max", "average"):
            raise invalid_argument("pool_mode", "'max' or 'average'", pool_mode)
        self.rank, self.pool_mode = rank, pool_mode
        self.pool_size = _args.standardize_tuple(pool_size, rank, "pool_size")
        self.strides = _args.standardize_tuple(self.pool_size if strides is None else strides, rank, "strides")
        self.padding = _args.standardize_padding(padding)
        self.data_format = _args.standardize_data_format(data_format)
        self.channel_axis = _args.channel_axis(self.data_format, rank)

    def forward(self, x, training=None):
        # Channels-last inside on every device: TF's CPU kernels without oneDNN are NHWC only.
        x, batch_shape = _args.flatten_batch(x, self.rank + 2)
        x = _args.to_channels_last(x, self.data_format, self.rank)
        if self.is_complex and self.pool_mode == "max":
            y = self.max_by_magnitude(x)
        elif x.dtype in (tf.float16, tf.float64) and self.rank == 3:
            y = self.pool_by_patches(x)  # TF's CPU 3D pooling kernels have no float16 (mixed precision) or float64
        else:
            pool = keras.ops.max_pool if self.pool_mode == "max" else keras.ops.average_pool
            y = pool(x, self.pool_size, self.strides, self.padding, "channels_last")
        y = _args.from_channels_last(y, self.data_format, self.rank)
        return _args.unflatten_batch(y, batch_shape)

    def pool_by_patches(self, x):
        """Pooling of a channels_last tensor through ``extract_patches``."""
        if self.pool_mode == "max":
            y = tf.reduce_max(extract_patches(x, self.pool_size, self.strides, self.padding)
                              + _padding_penalty(x[..., :1], self), axis=-1)
        else:
            window_sums = tf.reduce_sum(extract_patches(x, self.pool_size, self.strides, self.padding), -1)
            counts = tf.reduce_sum(extract_patches(tf.ones_like(x[..., :1]), self.pool_size, self.strides,
                                                   self.padding), -1)
            y = window_sums / counts
        return y

    def max_by_magnitude(self, x):
        """Complex max pooling of a channels_last stacked tensor: the entry of largest magnitude."""
        real, imag = split_stacked(x)
        patches = extract_patches(tf.concat([real, imag], 0), self.pool_size, self.strides, self.padding)
        real_patches, imag_patches = tf.split(patches, 2, axis=0)
        winner = tf.one_hot(tf.argmax(real_patches**2 + imag_patches**2, axis=-1), tf.shape(patches)[-1],
                            dtype=x.dtype)
        return merge_stacked(tf.reduce_sum(real_patches * winner, -1), tf.reduce_sum(imag_patches * winner, -1))

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        _args.check_input_rank(self, input_shape, self.rank)
        output_shape = list(input_shape)
        for i, axis in enumerate(_args.spatial_axes(self.data_format, self.rank)):
            axis += len(input_shape)
            output_shape[axis] = _args.conv_output_length(input_shape[axis], self.pool_size[i], self.strides[i], 1,
                                                          self.padding)
        return tuple(output_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"rank": self.rank, "pool_mode": self.pool_mode, "pool_size": self.pool_size,
                       "strides": self.strides, "padding": self.padding, "data_format": self.data_format})
        return self._without_fixed_arguments(config)


@keras.saving.register_keras_serializable(package="mrinets")
class UpSampling(ComplexLayer):
    """N-D nearest-neighbour up-sampling, real or complex.

    Args:
        rank: 1, 2 or 3.
        size: int or tuple of ``rank`` ints, the repetition factors.
        data_format: as in Keras.
        interpolation: ``"nearest"`` (the only mode; linear modes would mix real and imaginary parts correctly
            but are not implemented yet).

    Input ``(batch, *spatial, C)``; output ``(batch, *(spatial * size), C)``.
    """


    def __init__(self, rank, size=2, data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        if rank not in (1, 2, 3):
            raise invalid_argument("rank", "1, 2 or 3", rank)
        if interpolation != "nearest":
            raise invalid_argument("interpolation", "'nearest'", interpolation)
        self.rank, self.interpolation = rank, interpolation
        self.size = _args.standardize_tuple(size, rank, "size")
        self.data_format = _args.standardize_data_format(data_format)
        self.channel_axis = _args.channel_axis(self.data_format, rank)

    def forward(self, x, training=None):
        for factor, axis in zip(self.size, _args.spatial_axes(self.data_format, self.rank)):
            if factor > 1:
                x = tf.repeat(x, factor, axis=x.shape.rank + axis)
        return x

    def compute_output_shape(self, input_shape):
        output_shape = list(input_shape)
        _args.check_input_rank(self, input_shape, self.rank)
        for factor, axis in zip(self.size, _args.spatial_axes(self.data_format, self.rank)):
            length = output_shape[len(output_shape) + axis]
            output_shape[len(output_shape) + axis] = None if length is None else length * factor
        return tuple(output_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"rank": self.rank, "size": self.size, "data_format": self.data_format,
                       "interpolation": self.interpolation})
        return self._without_fixed_arguments(config)


@keras.saving.register_keras_serializable(package="mrinets")
class MaxPooling1D(ComplexPooling):
    """1D pooling keeping the entry of largest magnitude (complex) or the maximum (real) of each window; see ``ComplexPooling``."""

    fixed_arguments = {"rank": 1, "pool_mode": "max"}

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(1, "max", pool_size, strides, padding, data_format, **kwargs)


@keras.saving.register_keras_serializable(package="mrinets")
class MaxPooling2D(ComplexPooling):
    """2D pooling keeping the entry of largest magnitude (complex) or the maximum (real) of each window; see ``ComplexPooling``."""

    fixed_arguments = {"rank": 2, "pool_mode": "max"}

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(2, "max", pool_size, strides, padding, data_format, **kwargs)


@keras.saving.register_keras_serializable(package="mrinets")
class MaxPooling3D(ComplexPooling):
    """3D pooling keeping the entry of largest magnitude (complex) or the maximum (real) of each window; see ``ComplexPooling``."""

    fixed_arguments = {"rank": 3, "pool_mode": "max"}

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(3, "max", pool_size, strides, padding, data_format, **kwargs)


@keras.saving.register_keras_serializable(package="mrinets")
class AveragePooling1D(ComplexPooling):
    """1D pooling keeping the mean of each window; see ``ComplexPooling``."""

    fixed_arguments = {"rank": 1, "pool_mode": "average"}

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(1, "average", pool_size, strides, padding, data_format, **kwargs)


@keras.saving.register_keras_serializable(package="mrinets")
class AveragePooling2D(ComplexPooling):
    """2D pooling keeping the mean of each window; see ``ComplexPooling``."""

    fixed_arguments = {"rank": 2, "pool_mode": "average"}

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(2, "average", pool_size, strides, padding, data_format, **kwargs)


@keras.saving.register_keras_serializable(package="mrinets")
class AveragePooling3D(ComplexPooling):
    """3D pooling keeping the mean of each window; see ``ComplexPooling``."""

    fixed_arguments = {"rank": 3, "pool_mode": "average"}

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(3, "average", pool_size, strides, padding, data_format, **kwargs)


@keras.saving.register_keras_serializable(package="mrinets")
class UpSampling1D(UpSampling):
    """1D nearest-neighbour up-sampling, real or complex; see ``UpSampling``."""

    fixed_arguments = {"rank": 1}

    def __init__(self, size=2, data_format=None, interpolation="nearest", **kwargs):
        super().__init__(1, size, data_format, interpolation, **kwargs)


@keras.saving.register_keras_serializable(package="mrinets")
class UpSampling2D(UpSampling):
    """2D nearest-neighbour up-sampling, real or complex; see ``UpSampling``."""

    fixed_arguments = {"rank": 2}

    def __init__(self, size=2, data_format=None, interpolation="nearest", **kwargs):
        super().__init__(2, size, data_format, interpolation, **kwargs)


@keras.saving.register_keras_serializable(package="mrinets")
class UpSampling3D(UpSampling):
    """3D nearest-neighbour up-sampling, real or complex; see ``UpSampling``."""

    fixed_arguments = {"rank": 3}

    def __init__(self, size=2, data_format=None, interpolation="nearest", **kwargs):
        super().__init__(3, size, data_format, interpolation, **kwargs)
