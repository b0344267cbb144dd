"""Shared pieces of the networks: resolving layer references and making stacked-form layers."""

import keras
import tensorflow as tf

from mrinets import config
from mrinets.layers import Activation, ComplexLayer, from_stacked, to_stacked
from mrinets.layers._base import COMPLEX_DTYPES, _split_dtype, follow_policy


def plain(value):
    """A constructor argument as plain data for ``get_config`` (specs back to ``{type: ...}``)."""
    if isinstance(value, config.Spec):
        return value.to_config()
    return config.to_plain(value)


class LayerFactory:
    """Builds the layers of one network in one numeric form.

    Complex networks build every mrinets layer with ``stacked=True`` so the
    network converts complex <-> stacked only at its edges; a plugin layer that
    is not a ``ComplexLayer`` is wrapped so it still sees complex tensors.
    Under a global mixed policy the layers compute in half precision (``follow_policy``)
    and the network returns float32 (complex64) outputs.
    """

    def __init__(self, dtype):
        self.policy_dtype, self.complex_dtype = _split_dtype(dtype)
        self.dtype = self.complex_dtype or follow_policy(self.policy_dtype)
        self.outer_dtype = (COMPLEX_DTYPES[self.complex_dtype] if self.complex_dtype
                            else keras.dtype_policies.get(self.dtype).variable_dtype)

    @property
    def is_complex(self):
        return self.complex_dtype is not None

    def __call__(self, reference, **kwargs):
        spec = config.factory(reference, "layer")
        if self.is_complex:
            if isinstance(spec.obj, type) and issubclass(spec.obj, ComplexLayer):
                return spec(dtype=self.complex_dtype, stacked=True, **kwargs)
            return ComplexBoundary(spec(dtype=self.complex_dtype, **kwargs))
        return spec(**({"dtype": self.dtype} if self.dtype else {}), **kwargs)

    def activation(self, activation):
        if activation is None:
            return None
        if self.is_complex:
            return Activation(activation, dtype=self.complex_dtype, stacked=True)
        return Activation(activation, dtype=self.dtype)

    def to_inner(self, x):
        """Network input -> the form its layers compute on (stacked for complex networks)."""
        return to_stacked(tf.cast(x, self.complex_dtype)) if self.is_complex else x

    def to_outer(self, x):
        """The last layer's output -> the network's output (float32 / complex64 under a mixed policy)."""
        x = tf.cast(x, self.outer_dtype)
        return from_stacked(x) if self.is_complex else x


@keras.saving.register_keras_serializable(package="mrinets")
class ComplexBoundary(keras.layers.Layer):
    """Runs a layer that takes complex tensors inside a network that computes on the stacked form."""

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        self.layer = layer if isinstance(layer, keras.layers.Layer) else keras.saving.deserialize_keras_object(layer)

    def call(self, x, training=None):
        stacked = tf.cast(x, tf.float32) if x.dtype in (tf.float16, tf.bfloat16) else x  # complex64 under mixed
        return tf.cast(to_stacked(self.layer(from_stacked(stacked))), x.dtype)

    def compute_output_shape(self, input_shape):
        inner = self.layer.compute_output_shape(tuple(input_shape[:-1]) + (input_shape[-1] // 2,))
        return tuple(inner[:-1]) + (inner[-1] * 2,)

    def get_config(self):
        return {**super().get_config(), "layer": keras.saving.serialize_keras_object(self.layer)}


def image_network_is_complex(network):
    """Whether an image network takes complex images (else the stacked (re, im) channels)."""
    return bool(getattr(network, "is_complex", True))


def apply_image_network(network, image):
    """Run an image network on ``(batch, *spatial)`` complex images; returns the same shape and dtype.

    A complex network gets ``(batch, *spatial, 1)`` complex; a real one the two stacked
    (re, im) channels, as fastMRI's VarNet feeds its real U-Nets.
    """
    x = image[..., None]
    if image_network_is_complex(network):
        return tf.cast(network(x), image.dtype)[..., 0]
    return from_stacked(tf.cast(network(to_stacked(x)), image.dtype.real_dtype))[..., 0]
