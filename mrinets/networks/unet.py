"""U-Net for any rank, real or complex, built from registered layers."""

from typing import Optional

import keras
import tensorflow as tf

from mrinets.arguments import check_positive_int, check_rank, invalid_argument
from mrinets.config import LayerRef, PositiveInt, Rank
from mrinets.networks._blocks import LayerFactory, plain


@keras.saving.register_keras_serializable(package="mrinets")
class UNet(keras.layers.Layer):
    """U-Net (Ronneberger et al. 2015) for 1D, 2D or 3D images, real or complex.

    Args:
        rank: number of spatial dimensions (1, 2 or 3).
        filters: channels per level, encoder to bottleneck (e.g. ``[32, 64, 128]``);
            default ``base_filters * 2**level`` for ``depth + 1`` levels.
        base_filters, depth: used when ``filters`` is not given.
        in_channels: input channels (used to declare model inputs and checked in ``build``).
        out_channels: output channels (default: ``in_channels``).
        convs_per_block: convolutions per level.
        kernel_size: conv kernel size.
        conv: registered layer for the convolutions (default ``Conv{rank}D``); any
            layer taking ``filters``, ``kernel_size`` and ``padding``, a plugin's included.
        use_bias: bias in the block convolutions (the final 1x1 conv always has one).
        kernel_initializer: initializer of every conv kernel (a name or a Keras config such as
            ``{class_name: VarianceScaling, config: {scale: 0.333, mode: fan_in, distribution: uniform}}``,
            PyTorch's default); None: the conv layers' own default.
        norm: registered normalization layer (e.g. ``InstanceNormalization``) or None.
        activation: activation name (complex ones too) or an activation layer ``{type: ModReLU, ...}``.
        down: ``"max"`` / ``"average"`` pooling or ``"conv"`` (strided conv).
        up: ``"transpose"`` (2x transposed conv, norm, activation) or ``"upsample"`` (nearest).
        dropout: dropout rate after each block activation (whole complex entries are dropped).
        residual: add the input to the output (needs ``out_channels == in_channels``).
        normalize: standardize each example (per channel mean and std over space) and undo it at
            the output, as fastMRI's NormUnet does.
        dtype: ``"complex64"``/``"complex128"`` for a complex U-Net, else real.

    Input ``(batch, *spatial, in_channels)``; any spatial size (padded internally to a
    multiple of ``2**depth``); output ``(batch, *spatial, out_channels)``.
    """

    def __init__(self, rank: Rank = 2, filters: Optional[list[PositiveInt]] = None, base_filters: PositiveInt = 32,
                 depth: PositiveInt = 4, in_channels: PositiveInt = 1, out_channels: Optional[PositiveInt] = None,
                 convs_per_block: PositiveInt = 2, kernel_size=3, conv: Optional[LayerRef] = None,
                 use_bias: bool = True, kernel_initializer=None, norm: Optional[LayerRef] = None, activation="relu", down: str = "max",
                 up: str = "transpose", dropout: float = 0.0, residual: bool = False, normalize: bool = False,
                 dtype="complex64", **kwargs):
        self.factory = LayerFactory(dtype)
        super().__init__(dtype=self.factory.policy_dtype, **kwargs)
        self.rank = check_rank(rank)
        if filters is None:
            check_positive_int(base_filters, "base_filters")
            check_positive_int(depth, "depth")
            filters = [base_filters * 2**level for level in range(depth + 1)]
        if not isinstance(filters, (list, tuple)) or len(filters) < 2 or not all(
                isinstance(f, int) and not isinstance(f, bool) and f > 0 for f in filters):
            raise invalid_argument("filters", "a list of at least 2 strictly positive integers", filters)
        self.filters = list(filters)
        self.base_filters, self.depth = base_filters, len(self.filters) - 1
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.out_channels = check_positive_int(out_channels or in_channels, "out_channels")
        self.convs_per_block = check_positive_int(convs_per_block, "convs_per_block")
        self.kernel_size = kernel_size
        if down not in ("max", "average", "conv"):
            raise invalid_argument("down", "'max', 'average' or 'conv'", down)
        if up not in ("transpose", "upsample"):
            raise invalid_argument("up", "'transpose' or 'upsample'", up)
        if not 0.0 <= dropout < 1.0:
            raise invalid_argument("dropout", "a float in [0, 1)", dropout)
        if residual and self.out_channels != self.in_channels:
            raise ValueError(
                "Invalid value for argument `residual`. A residual U-Net needs out_channels == in_channels. "
                f"Received: residual=True, in_channels={self.in_channels}, out_channels={self.out_channels}"
            )
        self.conv, self.norm, self.activation = conv or f"Conv{rank}D", norm, activation
        self.use_bias, self.down, self.up = bool(use_bias), down, up
        self.dropout, self.residual, self.normalize = float(dropout), bool(residual), bool(normalize)
        self.network_dtype = dtype

        make = self.factory
        self.kernel_initializer = kernel_initializer
        init = {"kernel_initializer": kernel_initializer} if kernel_initializer is not None else {}
        conv_args = {"padding": "same", **init, **({} if self.use_bias else {"use_bias": False})}

        def block(channels):
            layers = []
            for _ in range(self.convs_per_block):
                layers.append(make(self.conv, filters=channels, kernel_size=kernel_size, **conv_args))
                if norm:
                    layers.append(make(norm))
                layers.append(make.activation(activation))
            return [layer for layer in layers if layer is not None]

        self.encoder = [block(channels) for channels in self.filters]
        self.downsample = []
        for channels in self.filters[:-1]:
            if down == "conv":
                self.downsample.append(make(f"Conv{rank}D", filters=channels, kernel_size=2, strides=2, **conv_args))
            else:
                self.downsample.append(make(f"{'Max' if down == 'max' else 'Average'}Pooling{rank}D"))
        self.upsample, self.decoder = [], []
        for channels in reversed(self.filters[:-1]):
            if up == "transpose":
                steps = [make(f"Conv{rank}DTranspose", filters=channels, kernel_size=2, strides=2, **init,
                              **({} if self.use_bias else {"use_bias": False}))]
                steps += [make(norm)] if norm else []
                steps += [make.activation(activation)]
            else:
                steps = [make(f"UpSampling{rank}D")]
            self.upsample.append([s for s in steps if s is not None])
            self.decoder.append(block(channels))
        self.output_conv = make(f"Conv{rank}D", filters=self.out_channels, kernel_size=1, **init)
        self.seed = keras.random.SeedGenerator(0) if self.dropout else None

    @property
    def is_complex(self):
        return self.factory.is_complex

    def build(self, input_shape):
        if len(input_shape) != self.rank + 2:
            raise ValueError(f"{self.name}: expected input of rank {self.rank + 2} (batch, {self.rank} spatial, "
                             f"channels); received input_shape={tuple(input_shape)}.")
        if input_shape[-1] is not None and input_shape[-1] != self.in_channels:
            raise ValueError(f"{self.name}: expected {self.in_channels} input channels (in_channels); "
                             f"received input_shape={tuple(input_shape)}.")
        self.built = True

    def _dropout(self, x, training):
        if not (training and self.dropout):
            return x
        if not self.factory.is_complex:
            return keras.random.dropout(x, self.dropout, seed=self.seed)
        shape = tf.shape(x)  # drop whole complex entries: the (re, im) pair together
        pairs = tf.reshape(x, tf.concat([shape[:-1], [-1, 2]], 0))
        noise = tf.concat([tf.shape(pairs)[:-1], [1]], 0)
        return tf.reshape(keras.random.dropout(pairs, self.dropout, noise_shape=noise, seed=self.seed), shape)

    def _run(self, layers, x, training):
        for layer in layers:
            x = layer(x, training=training)
        return self._dropout(x, training)

    def call(self, inputs, training=None):
        x = self.factory.to_inner(inputs)
        if self.normalize:
            axes = list(range(1, self.rank + 1))
            mean = tf.reduce_mean(x, axes, keepdims=True)
            std = tf.math.reduce_std(x, axes, keepdims=True) + 1e-6
            x = (x - mean) / std
        x, crop = _pad_to_multiple(x, 2**self.depth, self.rank)
        skips = []
        for level, layers in enumerate(self.encoder):
            x = self._run(layers, x, training)
            if level < self.depth:
                skips.append(x)
                x = self.downsample[level](x, training=training)
        for up_layers, layers, skip in zip(self.upsample, self.decoder, reversed(skips)):
            for layer in up_layers:
                x = layer(x, training=training)
            x = self._run(layers, tf.concat([x, skip], axis=-1), training)
        x = _crop(self.output_conv(x), crop)
        if self.normalize:
            x = tf.cast(x, std.dtype) * std + mean if self.out_channels == self.in_channels else x
        outputs = self.factory.to_outer(x)
        return outputs + tf.cast(inputs, outputs.dtype) if self.residual else outputs

    def get_config(self):
        config = super().get_config()
        config.update({
            "rank": self.rank, "filters": self.filters, "in_channels": self.in_channels,
            "out_channels": self.out_channels, "convs_per_block": self.convs_per_block,
            "kernel_size": plain(self.kernel_size), "conv": plain(self.conv), "use_bias": self.use_bias,
            "kernel_initializer": plain(self.kernel_initializer),
            "norm": plain(self.norm), "activation": plain(self.activation), "down": self.down, "up": self.up,
            "dropout": self.dropout, "residual": self.residual, "normalize": self.normalize,
            "dtype": self.network_dtype,
        })
        return config


def _pad_to_multiple(x, multiple, rank):
    """Zero-pad the spatial axes of ``(batch, *spatial, C)`` to a multiple; returns (padded, crop info)."""
    shape = tf.shape(x)
    paddings, crop = [[0, 0]], []
    for axis in range(1, rank + 1):
        size = shape[axis]
        total = (multiple - size % multiple) % multiple
        paddings.append([total // 2, total - total // 2])
        crop.append((total // 2, size))
    paddings.append([0, 0])
    return tf.pad(x, paddings), crop


def _crop(x, crop):
    begin = [0] + [start for start, _ in crop] + [0]
    size = [-1] + [length for _, length in crop] + [-1]
    return tf.slice(x, begin, size)
