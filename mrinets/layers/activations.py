"""Complex activations, usable as functions, layers and ``activation="name"``.

Each is defined once on (real, imag) float pairs, so the same code serves
complex tensors and the stacked form networks use inside.

- ``complex_relu`` (CReLU): ``relu(re) + i relu(im)``.
- ``mod_relu``: ``relu(|z| + threshold) * z / |z|``.
- ``zrelu``: ``z`` where ``0 <= arg(z) <= pi/2``, else 0.
- ``cardioid``: ``0.5 (1 + cos(arg z)) z``.

A Keras activation (``"relu"``, ``"tanh"``, ...) on a complex layer is applied
to the real and imaginary parts separately: ``"relu"`` equals ``complex_relu``.
"""

import functools

import keras
import tensorflow as tf

from mrinets.layers import lookup
from mrinets.layers._base import ComplexLayer, from_pair_view, invalid_argument, pair_view

_EPSILON = 1e-12


# Each activation is written once on "pairs": a float tensor whose axis ``axis``
# holds (re, im). Complex tensors and the stacked form are both viewed that way.
def _magnitude(pairs, axis):
    # Gradient-safe |z|: finite at z = 0.
    return tf.sqrt(tf.reduce_sum(pairs * pairs, axis=axis, keepdims=True) + _EPSILON)


def _pairs_complex_relu(pairs, axis):
    return tf.nn.relu(pairs)


def _pairs_mod_relu(pairs, axis, threshold=0.0):
    magnitude = _magnitude(pairs, axis)
    return pairs * (tf.nn.relu(magnitude + threshold) / magnitude)


def _pairs_zrelu(pairs, axis):
    return pairs * tf.cast(tf.reduce_all(pairs >= 0, axis=axis, keepdims=True), pairs.dtype)


def _pairs_cardioid(pairs, axis):
    real = tf.gather(pairs, [0], axis=axis)  # cos(arg z) = re / |z|
    return pairs * (0.5 * (1.0 + real / _magnitude(pairs, axis)))


_PAIR_FUNCTIONS = {
    "complex_relu": _pairs_complex_relu,
    "mod_relu": _pairs_mod_relu,
    "zrelu": _pairs_zrelu,
    "cardioid": _pairs_cardioid,
}


def _on_complex(pair_function, z, **kwargs):
    z = tf.convert_to_tensor(z)
    if not z.dtype.is_complex:
        raise TypeError(f"Expected a complex tensor, got dtype {z.dtype.name}.")
    pairs = pair_function(tf.stack([tf.math.real(z), tf.math.imag(z)], axis=-1), axis=-1, **kwargs)
    return tf.complex(pairs[..., 0], pairs[..., 1])


def complex_relu(z):
    """CReLU of a complex tensor (any shape)."""
    return _on_complex(_pairs_complex_relu, z)


def mod_relu(z, threshold=0.0):
    """modReLU: ``relu(|z| + threshold) * z / |z|``; ``threshold`` <= 0 zeroes small magnitudes."""
    return _on_complex(_pairs_mod_relu, z, threshold=threshold)


def zrelu(z):
    """zReLU: keeps ``z`` in the first quadrant, zero elsewhere."""
    return _on_complex(_pairs_zrelu, z)


def cardioid(z):
    """Cardioid: ``0.5 (1 + cos(arg z)) z``."""
    return _on_complex(_pairs_cardioid, z)


#: registry name -> function on complex tensors, registered by the built-in plugin.
COMPLEX_ACTIVATIONS = {"complex_relu": complex_relu, "mod_relu": mod_relu, "zrelu": zrelu, "cardioid": cardioid}


def _plugin_pairs(function, **kwargs):
    """Pairs version of a plugin's activation on complex tensors."""

    def on_pairs(pairs, axis):
        real, imag = tf.unstack(pairs, 2, axis=axis)
        z = function(tf.complex(real, imag), **kwargs)
        return tf.stack([tf.math.real(z), tf.math.imag(z)], axis=axis)

    return on_pairs


class ActivationFunction:
    """An activation resolved for a layer: applies to real, complex or stacked tensors."""

    def __init__(self, identifier, **kwargs):
        self.identifier = identifier
        self.kwargs = kwargs
        if identifier is None:
            self.pair = None
            self.real = None
        elif isinstance(identifier, str) and identifier in _PAIR_FUNCTIONS:
            self.pair = functools.partial(_PAIR_FUNCTIONS[identifier], **kwargs)
            self.real = None
        elif isinstance(identifier, str) and _registered_complex(identifier) is not None:
            self.pair = _plugin_pairs(_registered_complex(identifier), **kwargs)
            self.real = None
        else:
            if kwargs:
                raise invalid_argument("activation", "no extra arguments for a Keras activation", kwargs)
            self.real = keras.activations.get(identifier)
            self.pair = None

    @property
    def is_identity(self):
        return self.identifier is None or self.identifier == "linear"

    def on_real(self, x):
        if self.is_identity:
            return x
        if self.real is None:
            raise ValueError(
                f"Activation {self.identifier!r} is complex-valued; use it on a complex layer "
                "(dtype='complex64') or choose a real activation."
            )
        return self.real(x)

    def on_stacked(self, x, axis=-1):
        if self.is_identity:
            return x
        if self.real is not None:
            return self.real(x)  # a split activation acts elementwise on the stacked form
        pairs, pair_axis = pair_view(x, axis)
        return from_pair_view(self.pair(pairs, pair_axis), pair_axis)

    def serialize(self):
        if self.identifier is None:
            return None
        if isinstance(self.identifier, str):
            return self.identifier if not self.kwargs else {"type": self.identifier, **self.kwargs}
        return keras.activations.serialize(self.real)


def _registered_complex(name):
    """A plugin's complex activation called ``name``, or None; a name Keras does not know loads the plugins."""
    found = lookup.find("activation", name)
    if found is None and not _keras_knows(name):
        lookup.load("activation")
        found = lookup.find("activation", name)
    return found


def _keras_knows(name):
    try:
        keras.activations.get(name)
    except ValueError:
        return False
    return True


def get(identifier):
    """Resolve ``activation=`` (None, a name, ``{"type": name, **kwargs}``, or a callable)."""
    if isinstance(identifier, ActivationFunction):
        return identifier
    if isinstance(identifier, dict) and "type" in identifier:
        kwargs = dict(identifier)
        return ActivationFunction(kwargs.pop("type"), **kwargs)
    return ActivationFunction(identifier)


@keras.saving.register_keras_serializable(package="mrinets")
class Activation(ComplexLayer):
    """Applies an activation; complex-aware.

    Args:
        activation: a name (``"mod_relu"``, ``"relu"``, a plugin's), a
            ``{"type": name, **arguments}`` mapping (e.g. ``{"type": "mod_relu",
            "threshold": -0.1}``), or a callable.
        axis: channel axis of the stacked form (only used with ``stacked=True``).
        **kwargs: base layer arguments (``dtype``, ``stacked``, ``name``, ...).

    Input/output: any shape; complex in, complex out (real for a real layer).
    """

    def __init__(self, activation, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.activation = get(activation)
        self.channel_axis = axis

    def forward(self, x, training=None):
        if not self.is_complex:
            return self.activation.on_real(x)
        return self.activation.on_stacked(x, self.channel_axis)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"activation": self.activation.serialize(), "axis": self.channel_axis})
        return config


def _activation_layer(class_name, activation):
    def __init__(self, axis=-1, dtype="complex64", **kwargs):
        Activation.__init__(self, activation, axis=axis, dtype=dtype, **kwargs)

    def get_config(self):
        config = Activation.get_config(self)
        config.pop("activation")
        return config

    doc = f"{activation} activation layer (complex64 by default); see ``Activation``."
    cls = type(class_name, (Activation,), {"__init__": __init__, "get_config": get_config, "__doc__": doc,
                                            "__module__": __name__})
    return keras.saving.register_keras_serializable(package="mrinets")(cls)


ComplexReLU = _activation_layer("ComplexReLU", "complex_relu")
ZReLU = _activation_layer("ZReLU", "zrelu")
Cardioid = _activation_layer("Cardioid", "cardioid")


@keras.saving.register_keras_serializable(package="mrinets")
class ModReLU(Activation):
    """modReLU layer (complex64 by default): ``relu(|z| + threshold) * z / |z|``.

    Args:
        threshold: float added to the magnitude; negative values zero small entries.
        axis, **kwargs: see ``Activation``.
    """

    def __init__(self, threshold=0.0, axis=-1, dtype="complex64", **kwargs):
        super().__init__({"type": "mod_relu", "threshold": float(threshold)}, axis=axis, dtype=dtype, **kwargs)
        self.threshold = float(threshold)

    def get_config(self):
        config = super().get_config()
        config.pop("activation")
        config["threshold"] = self.threshold
        return config
