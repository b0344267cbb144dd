"""An example mrinets plugin: registers ``ResidualConv2D`` through the ``register_layers`` hook."""

import keras

import mrinets
from mrinets.layers import ComplexLayer, Conv2D


@keras.saving.register_keras_serializable(package="mrinets_example_plugin")
class ResidualConv2D(ComplexLayer):
    """Two 3x3 convs with an activation between, plus a 1x1 projection shortcut.

    Takes the arguments of a conv (``filters``, ``kernel_size``, ``padding``,
    ``activation``) so a U-Net config can use it as its ``conv:`` block. Works
    real, complex and in the stacked form, like every mrinets layer.

    Input ``(batch, H, W, C)``; output ``(batch, H, W, filters)``.
    """

    def __init__(self, filters, kernel_size=3, padding="same", activation="relu", **kwargs):
        super().__init__(**kwargs)
        if padding != "same":
            raise ValueError(f"Invalid value for argument `padding`. Expected 'same'. Received: padding={padding!r}")
        self.filters, self.kernel_size, self.padding, self.activation = filters, kernel_size, padding, activation
        inner = {"dtype": self.complex_dtype or self.dtype_policy, "stacked": self.is_complex}
        self.first = Conv2D(filters, kernel_size, padding="same", activation=activation, **inner)
        self.second = Conv2D(filters, kernel_size, padding="same", **inner)
        self.shortcut = Conv2D(filters, 1, use_bias=False, **inner)

    def build(self, input_shape):
        stacked_shape = tuple(input_shape[:-1]) + (input_shape[-1] * (2 if self.is_complex and not self.stacked else 1),)
        self.first.build(stacked_shape)
        self.second.build(self.first.compute_output_shape(stacked_shape))
        self.shortcut.build(stacked_shape)

    def forward(self, x, training=None):
        return self.second(self.first(x)) + self.shortcut(x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters * (2 if self.stacked else 1),)

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "kernel_size": self.kernel_size, "padding": self.padding,
                       "activation": self.activation})
        return config


@mrinets.hookimpl
def register_layers(register):
    register(ResidualConv2D)
