"""A plain convolutional network: the regularizer of MoDL and DC-CNN cascades."""

from typing import Optional

import keras
import tensorflow as tf

from mrinets.arguments import check_positive_int, check_rank
from mrinets.config import LayerRef, PositiveInt, Rank
from mrinets.networks._blocks import LayerFactory, plain


@keras.saving.register_keras_serializable(package="mrinets")
class CNN(keras.layers.Layer):
    """``depth - 1`` conv + activation (+ norm) layers and a final conv, optionally residual.

    Args:
        rank: 1, 2 or 3 spatial dimensions.
        filters: channels of the hidden layers.
        depth: number of conv layers (>= 2).
        kernel_size: conv kernel size.
        conv: registered conv layer (default ``Conv{rank}D``).
        norm: registered normalization layer or None.
        activation: activation name (complex ones too).
        residual: output = input + network(input) (a denoiser that predicts the residual).
        in_channels, out_channels: channels in and out (out defaults to in).
        dtype: ``"complex64"`` for a complex network, else real.

    Input ``(batch, *spatial, in_channels)``; output ``(batch, *spatial, out_channels)``.
    """

    def __init__(self, rank: Rank = 2, filters: PositiveInt = 32, depth: PositiveInt = 5, kernel_size=3,
                 conv: Optional[LayerRef] = None, norm: Optional[LayerRef] = None, activation="relu",
                 residual: bool = True, in_channels: PositiveInt = 1, out_channels: Optional[PositiveInt] = None,
                 dtype="complex64", **kwargs):
        self.factory = LayerFactory(dtype)
        super().__init__(dtype=self.factory.policy_dtype, **kwargs)
        self.rank = check_rank(rank)
        self.filters = check_positive_int(filters, "filters")
        if not isinstance(depth, int) or depth < 2:
            raise ValueError(f"Invalid value for argument `depth`. Expected an integer >= 2. Received: depth={depth!r}")
        self.depth, self.kernel_size = depth, kernel_size
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.out_channels = check_positive_int(out_channels or in_channels, "out_channels")
        if residual and self.out_channels != self.in_channels:
            raise ValueError("Invalid value for argument `residual`. A residual CNN needs out_channels == "
                             f"in_channels. Received: in_channels={in_channels}, out_channels={out_channels}")
        self.conv, self.norm, self.activation = conv or f"Conv{rank}D", norm, activation
        self.residual, self.network_dtype = bool(residual), dtype
        self.hidden = []
        for _ in range(depth - 1):
            self.hidden.append(self.factory(self.conv, filters=filters, kernel_size=kernel_size, padding="same"))
            if norm:
                self.hidden.append(self.factory(norm))
            self.hidden.append(self.factory.activation(activation))
        self.hidden = [layer for layer in self.hidden if layer is not None]
        self.output_conv = self.factory(self.conv, filters=self.out_channels, kernel_size=kernel_size, padding="same")

    @property
    def is_complex(self):
        return self.factory.is_complex

    def call(self, inputs, training=None):
        x = self.factory.to_inner(inputs)
        for layer in self.hidden:
            x = layer(x, training=training)
        outputs = self.factory.to_outer(self.output_conv(x))
        return outputs + tf.cast(inputs, outputs.dtype) if self.residual else outputs

    def get_config(self):
        config = super().get_config()
        config.update({
            "rank": self.rank, "filters": self.filters, "depth": self.depth, "kernel_size": plain(self.kernel_size),
            "conv": plain(self.conv), "norm": plain(self.norm), "activation": plain(self.activation),
            "residual": self.residual, "in_channels": self.in_channels, "out_channels": self.out_channels,
            "dtype": self.network_dtype,
        })
        return config
