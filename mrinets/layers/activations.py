"""Complex activations, usable as functions, layers and ``activation="name"``.

Each is defined once on (real, imag) float pairs, so the same code serves
complex tensors and the stacked form networks use inside.

- ``complex_relu`` (CReLU): ``relu(re) + i relu(im)``.
- ``mod_relu`` (modReLU, Arjovsky et al. 2016): ``relu(|z| + b) * z / |z|`` with a
  per-channel bias ``b`` that layers learn (``MOD_RELU_BIAS`` at initialization).
- ``zrelu``: ``z`` where ``0 <= arg(z) <= pi/2``, else 0.
- ``cardioid``: ``0.5 (1 + cos(arg z)) z``.

A Keras activation (``"relu"``, ``"tanh"``, ...) on a complex layer is applied
to the real and imaginary parts separately: ``"relu"`` equals ``complex_relu``.
"""

import functools

import keras
import tensorflow as tf

from mrinets.layers import lookup
from mrinets.layers._base import (ComplexLayer, _bitcast_from_stacked, _bitcast_to_stacked, _in_xla, _is_last,
                                  from_pair_view, invalid_argument, pair_view)

_EPSILON = 1e-12

#: Initial modReLU bias. Any ``b != 0`` makes modReLU nonlinear everywhere (it adds
#: ``b z / |z|``; ``b = 0`` is the identity); -0.1 zeroes about 1% of a unit-variance complex
#: Gaussian input (``P(|z| < 0.1) = 1 - exp(-0.01)``), so signals pass at initialization and
#: the learned bias sets how sparse each channel becomes.
MOD_RELU_BIAS = -0.1


# Each activation is written once on "pairs": a float tensor whose axis ``axis``
# holds (re, im). Complex tensors and the stacked form are both viewed that way.
def _magnitude(pairs, axis):
    # Gradient-safe |z|: finite at z = 0.
    return tf.sqrt(tf.reduce_sum(pairs * pairs, axis=axis, keepdims=True) + _EPSILON)


def _pairs_complex_relu(pairs, axis):
    return tf.nn.relu(pairs)


def _pairs_mod_relu(pairs, axis, bias=MOD_RELU_BIAS):
    # ``bias``: a float or a tensor broadcasting against the (re, im)-reduced magnitude.
    magnitude = _magnitude(pairs, axis)
    return pairs * (tf.nn.relu(magnitude + tf.cast(bias, pairs.dtype)) / magnitude)


def _pairs_zrelu(pairs, axis):
    return pairs * tf.cast(tf.reduce_all(pairs >= 0, axis=axis, keepdims=True), pairs.dtype)


def _pairs_cardioid(pairs, axis):
    real = tf.gather(pairs, [0], axis=axis)  # cos(arg z) = re / |z|
    return pairs * (0.5 * (1.0 + real / _magnitude(pairs, axis)))


@tf.custom_gradient
def _complex_cardioid(z):
    """Cardioid on a complex tensor with complex elementwise ops (no (re, im) split), analytic gradient.

    With ``r = |z|`` and ``s = (1 + Re z / r) / 2``, ``f(z) = s z`` and, for a real loss with
    upstream ``g``, ``dL/dz = s g - i q z`` where ``q = Im(z) Re(conj(g) z) / (2 r^3)``.
    """
    real, imag = tf.math.real(z), tf.math.imag(z)
    magnitude = tf.sqrt(real * real + imag * imag + _EPSILON)
    scale = 0.5 * (1.0 + real / magnitude)
    zero = tf.zeros_like(scale)

    def gradient(upstream):
        q = 0.5 * imag * tf.math.real(tf.math.conj(upstream) * z) / (magnitude * magnitude * magnitude)
        return upstream * tf.complex(scale, zero) - z * tf.complex(zero, q)

    return z * tf.complex(scale, zero), gradient


#: Activations with a complex-dtype form, used on the channels-last stacked form (a free bitcast):
#: about 3x faster than the pairs form, whose (re, im) gathers and reductions run on a size-2 axis.
_COMPLEX_FUNCTIONS = {"cardioid": _complex_cardioid}

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


def mod_relu(z, bias=MOD_RELU_BIAS):
    """modReLU: ``relu(|z| + bias) * z / |z|``; a negative ``bias`` zeroes small magnitudes.

    ``bias``: a float or an array broadcasting against ``z`` (e.g. per channel ``(C,)``).
    Layers (``activation="mod_relu"``, ``ModReLU``) learn a per-channel bias instead.
    """
    z = tf.convert_to_tensor(z)
    bias = tf.expand_dims(tf.convert_to_tensor(bias, z.dtype.real_dtype), -1)  # broadcast over (re, im)
    return _on_complex(_pairs_mod_relu, z, bias=bias)


def zrelu(z):
    """zReLU: keeps ``z`` in the first quadrant, zero elsewhere."""
    return _on_complex(_pairs_zrelu, z)


def cardioid(z):
    """Cardioid: ``0.5 (1 + cos(arg z)) z``."""
    z = tf.convert_to_tensor(z)
    if not z.dtype.is_complex:
        raise TypeError(f"Expected a complex tensor, got dtype {z.dtype.name}.")
    return _complex_cardioid(z)


#: registry name -> function on complex tensors, registered by the built-in plugin.
COMPLEX_ACTIVATIONS = {"complex_relu": complex_relu, "mod_relu": mod_relu, "zrelu": zrelu, "cardioid": cardioid}


def _plugin_pairs(function, **kwargs):
    """Pairs version of a plugin's activation on complex tensors."""

    def on_pairs(pairs, axis):
        real, imag = tf.unstack(pairs, 2, axis=axis)
        z = function(tf.complex(real, imag), **kwargs)
        return tf.stack([tf.math.real(z), tf.math.imag(z)], axis=axis)

    return on_pairs


#: Activations with a learned per-channel parameter -> (argument name, default initial value).
#: A layer given one (``activation="mod_relu"``) owns that parameter as a weight.
PARAMETRIC = {"mod_relu": ("bias", MOD_RELU_BIAS)}

_HALF = (tf.float16, tf.bfloat16)


class ActivationFunction:
    """An activation resolved for a layer: applies to real, complex or stacked tensors."""

    def __init__(self, identifier, **kwargs):
        self.identifier = identifier
        self.kwargs = kwargs
        if identifier is None:
            self.pair = None
            self.real = None
        elif isinstance(identifier, str) and identifier in _PAIR_FUNCTIONS:
            if identifier in PARAMETRIC:
                argument, default = PARAMETRIC[identifier]
                unknown = sorted(set(kwargs) - {argument})
                if unknown:
                    raise invalid_argument("activation", f"only the argument {argument!r} for {identifier}",
                                           {"type": identifier, **kwargs})
                self.initial_value = float(kwargs.get(argument, default))
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

    @property
    def parametric(self):
        """Whether a layer applying this activation learns a per-channel parameter (modReLU's bias)."""
        return isinstance(self.identifier, str) and self.identifier in PARAMETRIC

    def on_real(self, x):
        if self.is_identity:
            return x
        if self.real is None:
            raise ValueError(
                f"Activation {self.identifier!r} is complex-valued; use it on a complex layer "
                "(dtype='complex64') or choose a real activation."
            )
        return self.real(x)

    def on_stacked(self, x, axis=-1, parameter=None):
        """Apply to the stacked form ``x``; ``parameter``: a parametric activation's ``(C,)`` weight.

        Half-precision inputs are computed in float32 (``|z|`` underflows in float16) and cast back.
        """
        if self.is_identity:
            return x
        if self.real is not None:
            return self.real(x)  # a split activation acts elementwise on the stacked form
        if self.identifier in _COMPLEX_FUNCTIONS and _is_last(axis, x.shape.rank) and not _in_xla():
            z = _bitcast_from_stacked(tf.cast(x, tf.float32) if x.dtype in _HALF else x)
            return tf.cast(_bitcast_to_stacked(_COMPLEX_FUNCTIONS[self.identifier](z)), x.dtype)
        pairs, pair_axis = pair_view(tf.cast(x, tf.float32) if x.dtype in _HALF else x, axis)
        kwargs = {}
        if parameter is not None:
            shape = [1] * pairs.shape.rank
            shape[pair_axis - 1] = -1  # the channel axis of the pairs view
            kwargs[PARAMETRIC[self.identifier][0]] = tf.reshape(tf.cast(parameter, pairs.dtype), shape)
        return tf.cast(from_pair_view(self.pair(pairs, pair_axis, **kwargs), pair_axis), x.dtype)

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
            "bias": -0.25}``), or a callable.
        axis: the channel axis (of the stacked form with ``stacked=True``).
        **kwargs: base layer arguments (``dtype``, ``stacked``, ``name``, ...).

    A parametric activation (``mod_relu``) on a complex layer learns one float per
    channel, weight ``bias`` ``(C,)``, initialized to the given (or default) value.

    Input/output: any shape; complex in, complex out (real for a real layer).
    """

    def __init__(self, activation, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.activation = get(activation)
        self.channel_axis = axis
        self.parameter = None

    def build(self, input_shape):
        if self.activation.parametric and self.is_complex:
            channels = self.channels(input_shape)
            if channels is None:
                raise ValueError(f"Layer '{self.name}' ({self.activation.identifier}) learns a per-channel "
                                 f"parameter and needs a known channel axis {self.channel_axis}; received "
                                 f"input_shape={tuple(input_shape)}.")
            self.parameter = self.add_weight(name=PARAMETRIC[self.activation.identifier][0], shape=(channels,),
                                             initializer=keras.initializers.Constant(self.activation.initial_value))
        self.built = True

    def forward(self, x, training=None):
        if not self.is_complex:
            return self.activation.on_real(x)
        return self.activation.on_stacked(x, self.channel_axis, self.parameter)

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
    """modReLU layer (complex64 by default): ``relu(|z| + b) * z / |z|``, ``b`` learned per channel.

    Args:
        bias: initial value of the per-channel bias ``b`` (weight ``bias``, shape ``(C,)``);
            negative values zero small magnitudes. Default ``MOD_RELU_BIAS`` (-0.1).
        axis, **kwargs: see ``Activation``.
    """

    def __init__(self, bias=MOD_RELU_BIAS, axis=-1, dtype="complex64", **kwargs):
        super().__init__({"type": "mod_relu", "bias": float(bias)}, axis=axis, dtype=dtype, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.pop("activation")
        config["bias"] = self.activation.initial_value
        return config
