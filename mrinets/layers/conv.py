"""Complex N-D convolutions: one base for every rank, thin Conv1D/2D/3D (+ transpose).

A complex conv runs as ONE real conv over the stacked form with the block
kernel ``[[Wr, Wi], [-Wi, Wr]]`` per channel pair (rows: input re, im;
columns: output re, im), which costs the same as a real conv of that size.
"""

import keras
import tensorflow as tf

from mrinets.arguments import check_positive_int, check_rank
from mrinets.layers import _args
from mrinets.layers._base import ComplexLayer, complex_value, invalid_argument, merge_stacked


def block_kernel(real, imag):
    """Real kernel of a complex conv (or dense layer) over the stacked form.

    Args:
        real, imag: float tensors ``(..., C_in, C_out)``.

    Returns:
        float tensor ``(..., 2 C_in, 2 C_out)``: for input channel c and output
        channel f the 2x2 block ``[[Wr, Wi], [-Wi, Wr]]`` (rows: input re, im;
        columns: output re, im). Interleaving keeps channel groups contiguous,
        so grouped convolutions need no reordering.
    """
    from_real = tf.stack([real, imag], axis=-1)  # (..., C_in, C_out, 2)
    from_imag = tf.stack([-imag, real], axis=-1)
    block = tf.stack([from_real, from_imag], axis=-3)  # (..., C_in, 2, C_out, 2)
    shape = tf.shape(real)
    return tf.reshape(block, tf.concat([shape[:-2], [2 * shape[-2], 2 * shape[-1]]], axis=0))


@keras.saving.register_keras_serializable(package="mrinets")
class ComplexConv(ComplexLayer):
    """N-D convolution, real or complex, a drop-in for ``keras.layers.ConvND``.

    Args:
        rank: 1, 2 or 3, the number of spatial dimensions.
        filters, kernel_size, strides, padding ("valid"/"same"), data_format,
        dilation_rate, groups, activation, use_bias, kernel/bias
        initializer/regularizer/constraint, activity_regularizer: as in
        ``keras.layers.Conv2D``. ``activation`` also takes complex names
        (``"mod_relu"``, ``"cardioid"``, ...).
        dtype: ``"complex64"``/``"complex128"`` makes the layer complex; the
            default float32 layer computes exactly what Keras' does.
        stacked: complex only; take and return the stacked form.

    Input: ``batch_shape + spatial + (C,)`` (or ``batch_shape + (C,) + spatial``
    with channels_first), complex for a complex layer; ``batch_shape`` may have
    several dimensions. Output: ``batch_shape + new_spatial + (filters,)``.

    Raises:
        ValueError: for padding="causal", strides > 1 with dilation_rate > 1,
            kernel_size 0, filters not divisible by groups, or a wrong input rank
            or channel count; each message names the argument and the value.

    Weights: ``kernel`` ``(*kernel_size, C // groups, filters)`` and ``bias``
    ``(filters,)``; a complex layer stores each as ``*_real``/``*_imag`` float
    variables and exposes the complex values as read-only ``kernel``/``bias``.
    """

    transpose = False

    def __init__(
        self,
        rank,
        filters,
        kernel_size,
        strides=1,
        padding="valid",
        data_format=None,
        dilation_rate=1,
        groups=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        rank, filters, groups = check_rank(rank), check_positive_int(filters, "filters"), check_positive_int(groups, "groups")
        if filters % groups:
            raise ValueError(
                f"Invalid value for argument `filters`. Expected a multiple of groups={groups}. "
                f"Received: filters={filters}"
            )
        if self.transpose and groups != 1:
            raise invalid_argument("groups", "1 for a transposed convolution", groups)
        self.rank = rank
        self.filters = filters
        self.groups = groups
        self.kernel_size = _args.standardize_tuple(kernel_size, rank, "kernel_size")
        self.strides = _args.standardize_tuple(strides, rank, "strides")
        self.dilation_rate = _args.standardize_tuple(dilation_rate, rank, "dilation_rate")
        self.padding = _args.standardize_padding(padding)
        self.data_format = _args.standardize_data_format(data_format)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                "Invalid values for arguments `strides` and `dilation_rate`: strides > 1 cannot be combined with "
                f"dilation_rate > 1. Received: strides={self.strides}, dilation_rate={self.dilation_rate}"
            )
        self.channel_axis = _args.channel_axis(self.data_format, rank)
        self.set_weight_arguments(activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                                  bias_regularizer, kernel_constraint, bias_constraint)

    # -- weights -----------------------------------------------------------
    def kernel_shape(self, channels):
        if self.transpose:
            return self.kernel_size + (self.filters, channels)
        return self.kernel_size + (channels // self.groups, self.filters)

    def build(self, input_shape):
        _args.check_input_rank(self, input_shape, self.rank)
        channels = self.channels(input_shape)
        if channels is None:
            raise ValueError(
                f"Layer '{self.name}' needs a known number of input channels (axis {self.channel_axis}); "
                f"received input_shape={tuple(input_shape)}."
            )
        if channels % self.groups:
            raise ValueError(
                f"Invalid value for argument `groups`. The number of input channels must be divisible by groups. "
                f"Received: groups={self.groups}, input_shape={tuple(input_shape)} ({channels} channels)"
            )
        self.compute_output_shape(input_shape)  # validates sizes
        self._kernel = self.add_complex_weight(
            "kernel", self.kernel_shape(channels), self.kernel_initializer, self.kernel_regularizer,
            self.kernel_constraint,
        )
        self._bias = (
            self.add_complex_weight("bias", (self.filters,), self.bias_initializer, self.bias_regularizer,
                                    self.bias_constraint)
            if self.use_bias else []
        )
        self.build_activation(self.filters)
        self.input_spec = keras.InputSpec(min_ndim=self.rank + 2, axes={self.channel_axis: input_shape[self.channel_axis]})

    @property
    def kernel(self):
        """The kernel: a variable (real layer) or a complex tensor (complex layer)."""
        if not self.built:
            raise AttributeError(f"Layer '{self.name}' has no kernel until it is built.")
        return self._kernel[0] if not self.is_complex else complex_value(self._kernel)

    @property
    def bias(self):
        """The bias (None without ``use_bias``), complex for a complex layer."""
        if not self.built:
            raise AttributeError(f"Layer '{self.name}' has no bias until it is built.")
        if not self._bias:
            return None
        return self._bias[0] if not self.is_complex else complex_value(self._bias)

    def real_kernel(self):
        """Float kernel the real conv applies: the kernel itself, or the stacked block kernel."""
        if not self.is_complex:
            return self._kernel[0]
        real, imag = self._kernel
        if self.transpose:  # layout (k..., out, in): the block of the adjoint pairing
            return block_kernel(real, -imag)
        return block_kernel(real, imag)

    def real_bias(self):
        return self._bias[0] if not self.is_complex else merge_stacked(*self._bias)

    # -- computation ---------------------------------------------------------
    def convolve(self, x, kernel):
        """The real convolution of a channels_last tensor ``x`` with ``kernel``."""
        return keras.ops.conv(x, kernel, strides=self.strides, padding=self.padding,
                              data_format="channels_last", dilation_rate=self.dilation_rate)

    def forward(self, x, training=None):
        # Channels-last inside on every device (TF's CPU conv kernels without oneDNN are NHWC only);
        # channels_first transposes at the layer's boundary, which is exact.
        x, batch_shape = _args.flatten_batch(x, self.rank + 2)
        x = _args.to_channels_last(x, self.data_format, self.rank)
        y = self.convolve(x, tf.cast(self.real_kernel(), x.dtype))
        if self.use_bias:
            y = y + tf.cast(self.real_bias(), y.dtype)
        y = _args.from_channels_last(self.apply_activation(y), self.data_format, self.rank)
        return _args.unflatten_batch(y, batch_shape)

    def output_length(self, axis, length):
        return _args.conv_output_length(length, self.kernel_size[axis], self.strides[axis],
                                        self.dilation_rate[axis], self.padding)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        _args.check_input_rank(self, input_shape, self.rank)
        axes = [len(input_shape) + a for a in _args.spatial_axes(self.data_format, self.rank)]
        output_shape = list(input_shape)
        for i, axis in enumerate(axes):
            output_shape[axis] = self.output_length(i, input_shape[axis])
            if output_shape[axis] is not None and output_shape[axis] <= 0:
                raise ValueError(
                    f"Layer '{self.name}': the input is too small for kernel_size={self.kernel_size}, "
                    f"dilation_rate={self.dilation_rate} with padding='{self.padding}'. "
                    f"Received input_shape={input_shape}."
                )
        filters = self.filters * (2 if self.stacked else 1)
        output_shape[len(input_shape) + self.channel_axis] = filters
        return tuple(output_shape)

    def get_config(self):
        config = super().get_config()
        config.update({
            "rank": self.rank,
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "groups": self.groups,
            **self.weight_arguments_config(),
        })
        if self.transpose:
            config.pop("groups")
        return self._without_fixed_arguments(config)


@keras.saving.register_keras_serializable(package="mrinets")
class ComplexConvTranspose(ComplexConv):
    """N-D transposed convolution, real or complex, a drop-in for ``keras.layers.ConvNDTranspose``.

    Args: those of ``ComplexConv`` without ``groups``, plus ``output_padding``
    (int, tuple of ``rank`` ints, or None). Kernel shape: ``(*kernel_size, filters, C)``.
    """

    transpose = True

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid", output_padding=None, **kwargs):
        super().__init__(rank, filters, kernel_size, strides=strides, padding=padding, **kwargs)
        if output_padding is not None:
            output_padding = _args.standardize_tuple(output_padding, rank, "output_padding", allow_zero=True)
            for pad, stride, name in zip(output_padding, self.strides, "xyz"):
                if pad >= stride:
                    raise ValueError(
                        "Invalid value for argument `output_padding`. Expected values smaller than strides. "
                        f"Received: output_padding={output_padding}, strides={self.strides}"
                    )
        self.output_padding = output_padding

    def convolve(self, x, kernel):
        return keras.ops.conv_transpose(x, kernel, strides=self.strides, padding=self.padding,
                                        output_padding=self.output_padding, data_format="channels_last",
                                        dilation_rate=self.dilation_rate)

    def output_length(self, axis, length):
        pad = None if self.output_padding is None else self.output_padding[axis]
        return _args.conv_transpose_output_length(length, self.kernel_size[axis], self.strides[axis],
                                                  self.dilation_rate[axis], self.padding, pad)

    def get_config(self):
        config = super().get_config()
        config["output_padding"] = self.output_padding
        return config




@keras.saving.register_keras_serializable(package="mrinets")
class Conv1D(ComplexConv):
    """1D convolution, real or complex (``dtype="complex64"``); see ``ComplexConv``.

    Input: ``batch_shape + (steps,) + (channels,)`` (channels_last).
    Output: ``batch_shape + new (steps,) + (filters,)``.

    >>> x = tf.complex(tf.random.normal((4, 10, 3)), tf.random.normal((4, 10, 3)))
    >>> Conv1D(2, 3, dtype="complex64")(x).shape
    TensorShape([4, 8, 2])
    """

    fixed_arguments = {"rank": 1}

    def __init__(self, filters, kernel_size, **kwargs):
        super().__init__(1, filters, kernel_size, **kwargs)


@keras.saving.register_keras_serializable(package="mrinets")
class Conv2D(ComplexConv):
    """2D convolution, real or complex (``dtype="complex64"``); see ``ComplexConv``.

    Input: ``batch_shape + (rows, cols) + (channels,)`` (channels_last).
    Output: ``batch_shape + new (rows, cols) + (filters,)``.

    >>> x = tf.complex(tf.random.normal((4, 28, 28, 3)), tf.random.normal((4, 28, 28, 3)))
    >>> Conv2D(2, 3, dtype="complex64")(x).shape
    TensorShape([4, 26, 26, 2])
    """

    fixed_arguments = {"rank": 2}

    def __init__(self, filters, kernel_size, **kwargs):
        super().__init__(2, filters, kernel_size, **kwargs)


@keras.saving.register_keras_serializable(package="mrinets")
class Conv3D(ComplexConv):
    """3D convolution, real or complex (``dtype="complex64"``); see ``ComplexConv``.

    Input: ``batch_shape + (dim1, dim2, dim3) + (channels,)`` (channels_last).
    Output: ``batch_shape + new (dim1, dim2, dim3) + (filters,)``.

    >>> x = tf.complex(tf.random.normal((4, 7, 28, 28, 28, 1)), tf.random.normal((4, 7, 28, 28, 28, 1)))
    >>> Conv3D(2, 3, dtype="complex64")(x).shape
    TensorShape([4, 7, 26, 26, 26, 2])
    """

    fixed_arguments = {"rank": 3}

    def __init__(self, filters, kernel_size, **kwargs):
        super().__init__(3, filters, kernel_size, **kwargs)


@keras.saving.register_keras_serializable(package="mrinets")
class Conv1DTranspose(ComplexConvTranspose):
    """1D transposed convolution, real or complex (``dtype="complex64"``); see ``ComplexConvTranspose``.

    Input: ``batch_shape + (steps,) + (channels,)`` (channels_last).
    Output: ``batch_shape + new (steps,) + (filters,)``.

    >>> x = tf.complex(tf.random.normal((4, 10, 3)), tf.random.normal((4, 10, 3)))
    >>> Conv1DTranspose(2, 3, dtype="complex64")(x).shape
    TensorShape([4, 12, 2])
    """

    fixed_arguments = {"rank": 1}

    def __init__(self, filters, kernel_size, **kwargs):
        super().__init__(1, filters, kernel_size, **kwargs)


@keras.saving.register_keras_serializable(package="mrinets")
class Conv2DTranspose(ComplexConvTranspose):
    """2D transposed convolution, real or complex (``dtype="complex64"``); see ``ComplexConvTranspose``.

    Input: ``batch_shape + (rows, cols) + (channels,)`` (channels_last).
    Output: ``batch_shape + new (rows, cols) + (filters,)``.

    >>> x = tf.complex(tf.random.normal((4, 28, 28, 3)), tf.random.normal((4, 28, 28, 3)))
    >>> Conv2DTranspose(2, 3, dtype="complex64")(x).shape
    TensorShape([4, 30, 30, 2])
    """

    fixed_arguments = {"rank": 2}

    def __init__(self, filters, kernel_size, **kwargs):
        super().__init__(2, filters, kernel_size, **kwargs)


@keras.saving.register_keras_serializable(package="mrinets")
class Conv3DTranspose(ComplexConvTranspose):
    """3D transposed convolution, real or complex (``dtype="complex64"``); see ``ComplexConvTranspose``.

    Input: ``batch_shape + (dim1, dim2, dim3) + (channels,)`` (channels_last).
    Output: ``batch_shape + new (dim1, dim2, dim3) + (filters,)``.

    >>> x = tf.complex(tf.random.normal((4, 7, 28, 28, 28, 1)), tf.random.normal((4, 7, 28, 28, 28, 1)))
    >>> Conv3DTranspose(2, 3, dtype="complex64")(x).shape
    TensorShape([4, 7, 30, 30, 30, 2])
    """

    fixed_arguments = {"rank": 3}

    def __init__(self, filters, kernel_size, **kwargs):
        super().__init__(3, filters, kernel_size, **kwargs)
