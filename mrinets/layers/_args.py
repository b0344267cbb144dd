"""Argument normalization shared by the spatial layers (conv, pooling, up-sampling)."""

import keras
import tensorflow as tf

from mrinets.layers._base import invalid_argument


def standardize_tuple(value, rank, name, allow_zero=False):
    """An int or a sequence of ``rank`` ints -> tuple of ``rank`` ints, checked."""
    values = (value,) * rank if isinstance(value, int) else tuple(value) if value is not None else None
    minimum = 0 if allow_zero else 1
    if (
        values is None
        or len(values) != rank
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in values)
    ):
        kind = "non-negative" if allow_zero else "strictly positive"
        raise invalid_argument(name, f"a {kind} integer or a tuple of {rank} {kind} integers", value)
    return values


def standardize_padding(padding, allowed=("valid", "same")):
    if not isinstance(padding, str) or padding.lower() not in allowed:
        raise invalid_argument("padding", f"one of {', '.join(map(repr, allowed))}", padding)
    return padding.lower()


def standardize_data_format(data_format):
    data_format = keras.config.image_data_format() if data_format is None else data_format
    if data_format not in ("channels_last", "channels_first"):
        raise invalid_argument("data_format", "'channels_last' or 'channels_first'", data_format)
    return data_format


def channel_axis(data_format, rank):
    """Channel axis of a ``(batch, ...spatial, C)`` or ``(batch, C, ...spatial)`` tensor, counted from the end."""
    return -1 if data_format == "channels_last" else -(rank + 1)


def spatial_axes(data_format, rank):
    """Spatial axes counted from the end."""
    return tuple(range(-rank - 1, -1)) if data_format == "channels_last" else tuple(range(-rank, 0))


def to_channels_last(x, data_format, rank):
    """``(N, C, *spatial)`` -> ``(N, *spatial, C)`` for channels_first; channels_last passes through."""
    if data_format == "channels_last":
        return x
    return tf.transpose(x, [0] + list(range(2, rank + 2)) + [1])


def from_channels_last(x, data_format, rank):
    """The inverse of ``to_channels_last``."""
    if data_format == "channels_last":
        return x
    return tf.transpose(x, [0, rank + 1] + list(range(1, rank + 1)))


def check_input_rank(layer, input_shape, rank):
    if len(input_shape) < rank + 2:
        raise ValueError(
            f"Invalid input shape for layer '{layer.name}' ({type(layer).__name__}): expected a tensor of rank >= "
            f"{rank + 2} (batch, {rank} spatial dimensions and channels), received input_shape={tuple(input_shape)}."
        )


def flatten_batch(x, inner_rank):
    """Fold extra leading batch dimensions: ``(b1, b2, ..., *inner)`` -> ``(b1*b2*..., *inner)``.

    Returns the folded tensor and the leading shape to restore (None when nothing was folded).
    """
    if x.shape.rank == inner_rank:
        return x, None
    shape = tf.shape(x)
    batch_shape = shape[: x.shape.rank - inner_rank + 1]
    folded = tf.reshape(x, tf.concat([[-1], shape[x.shape.rank - inner_rank + 1 :]], axis=0))
    return folded, batch_shape


def unflatten_batch(y, batch_shape):
    if batch_shape is None:
        return y
    return tf.reshape(y, tf.concat([batch_shape, tf.shape(y)[1:]], axis=0))


def conv_output_length(length, kernel, stride, dilation, padding):
    if length is None:
        return None
    effective = (kernel - 1) * dilation + 1
    if padding == "same":
        return -(-length // stride)
    return max(0, (length - effective) // stride + 1)


def conv_transpose_output_length(length, kernel, stride, dilation, padding, output_padding):
    if length is None:
        return None
    effective = (kernel - 1) * dilation + 1
    if output_padding is None:
        return length * stride + (max(effective - stride, 0) if padding == "valid" else 0)
    pad = effective // 2 if padding == "same" else 0
    return (length - 1) * stride + effective - 2 * pad + output_padding
