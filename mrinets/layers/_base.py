"""The base every mrinets layer derives from: real or complex by ``dtype``.

Complex layers keep their weights as float real/imaginary pairs (every Keras
optimizer and ``tf.distribute`` strategy handles those) and compute on the
*stacked* real form: each channel's real and imaginary parts side by side along
the channel axis, ``[re_0, im_0, re_1, im_1, ...]``. A complex tensor of shape
``(..., C)`` is stacked as a float tensor of shape ``(..., 2C)``; with channels
last that is the complex tensor's own memory, so converting is a free bitcast.

At the public boundary a complex layer takes and returns complex tensors. With
``stacked=True`` it takes and returns the stacked form instead, so networks can
chain layers and convert only at their edges.
"""

import keras
import tensorflow as tf

from mrinets.arguments import invalid_argument

#: complex dtype -> dtype of its real/imaginary parts.
COMPLEX_DTYPES = {"complex64": "float32", "complex128": "float64"}


def is_complex_dtype(dtype):
    """True for complex64/complex128 (names, tf or numpy dtypes)."""
    return tf.as_dtype(dtype).is_complex if dtype is not None else False


def _positive_axis(axis, rank):
    return axis % rank


def _halve(size):
    return None if size is None else size // 2


def _double(size):
    return None if size is None else size * 2


def pair_view(x, axis=-1):
    """Stacked ``(..., 2C, ...)`` -> pairs ``(..., C, 2, ...)``: the (re, im) axis right after ``axis``.

    A reshape, no copy. Returns the view and the index of its (re, im) axis.
    """
    axis = _positive_axis(axis, x.shape.rank)
    shape = tf.shape(x)
    pairs = tf.reshape(x, tf.concat([shape[:axis], [-1, 2], shape[axis + 1 :]], 0))
    static = x.shape.as_list()
    pairs.set_shape(static[:axis] + [_halve(static[axis]), 2] + static[axis + 1 :])
    return pairs, axis + 1


def from_pair_view(pairs, pair_axis):
    """Inverse of ``pair_view``."""
    shape = tf.shape(pairs)
    x = tf.reshape(pairs, tf.concat([shape[: pair_axis - 1], [-1], shape[pair_axis + 1 :]], 0))
    static = pairs.shape.as_list()
    x.set_shape(static[: pair_axis - 1] + [_double(static[pair_axis - 1])] + static[pair_axis + 1 :])
    return x


def split_stacked(x, axis=-1):
    """Stacked float tensor -> (real, imag) float tensors."""
    pairs, pair_axis = pair_view(x, axis)
    return tf.unstack(pairs, 2, axis=pair_axis)


def merge_stacked(real, imag, axis=-1):
    """(real, imag) float tensors -> stacked float tensor."""
    axis = _positive_axis(axis, real.shape.rank)
    return from_pair_view(tf.stack([real, imag], axis=axis + 1), axis + 1)


def _in_xla():
    """True while tracing for XLA (``jit_compile=True``), where complex bitcasts do not compile."""
    try:
        from tensorflow.python.framework import ops
        from tensorflow.python.ops import control_flow_util

        return control_flow_util.GraphOrParentsInXlaContext(ops.get_default_graph())
    except Exception:  # private API moved: take the path that always compiles
        return True


_PART_DTYPES = {tf.complex64: tf.float32, tf.complex128: tf.float64}


@tf.custom_gradient
def _bitcast_to_stacked(z):
    shape = tf.shape(z)
    x = tf.reshape(tf.bitcast(z, _PART_DTYPES[z.dtype]), tf.concat([shape[:-1], [-1]], 0))
    x.set_shape(z.shape[:-1].concatenate([_double(z.shape[-1])]))

    def grad(upstream):
        return _bitcast_from_stacked_value(upstream)

    return x, grad


def _bitcast_from_stacked_value(x):
    complex_dtype = tf.complex64 if x.dtype == tf.float32 else tf.complex128
    z = tf.bitcast(tf.reshape(x, tf.concat([tf.shape(x)[:-1], [-1, 2]], 0)), complex_dtype)
    z.set_shape(x.shape[:-1].concatenate([_halve(x.shape[-1])]))
    return z


@tf.custom_gradient
def _bitcast_from_stacked(x):
    def grad(upstream):
        shape = tf.shape(upstream)
        return tf.reshape(tf.bitcast(upstream, _PART_DTYPES[upstream.dtype]), tf.concat([shape[:-1], [-1]], 0))

    return _bitcast_from_stacked_value(x), grad


def _is_last(axis, rank):
    return axis == -1 or axis == rank - 1


def to_stacked(z, axis=-1):
    """Complex ``(..., C, ...)`` -> float ``(..., 2C, ...)`` with (re, im) interleaved along ``axis``.

    Along the last axis this is a free bitcast (outside XLA), else one copy.
    """
    z = tf.convert_to_tensor(z)
    if _is_last(axis, z.shape.rank) and not _in_xla():
        return _bitcast_to_stacked(z)
    return merge_stacked(tf.math.real(z), tf.math.imag(z), axis)


def from_stacked(x, axis=-1):
    """Float ``(..., 2C, ...)`` stacked along ``axis`` -> complex ``(..., C, ...)``."""
    x = tf.convert_to_tensor(x)
    if _is_last(axis, x.shape.rank) and not _in_xla():
        return _bitcast_from_stacked(x)
    return tf.complex(*split_stacked(x, axis))


def follow_policy(dtype):
    """``dtype``, or the global mixed policy (e.g. ``"mixed_float16"``) when its variables have that dtype.

    Networks and complex layers compute in the global policy's half precision under
    ``train.precision: mixed_*`` while keeping ``dtype`` variables.
    """
    policy = keras.mixed_precision.global_policy()
    if isinstance(dtype, str) and policy.compute_dtype != policy.variable_dtype and policy.variable_dtype == dtype:
        return policy.name
    return dtype


def _split_dtype(dtype):
    """Layer ``dtype`` argument -> (Keras dtype policy for the weights, complex dtype or None).

    A complex layer's policy follows a global mixed policy (``follow_policy``): float32
    variables, the stacked form computed in float16/bfloat16.
    """
    if isinstance(dtype, dict):  # a serialized DTypePolicy
        dtype = dtype.get("config", {}).get("name", dtype)
    if isinstance(dtype, str) and dtype in COMPLEX_DTYPES:
        return follow_policy(COMPLEX_DTYPES[dtype]), dtype
    if dtype is not None and not isinstance(dtype, (str, keras.DTypePolicy)) and is_complex_dtype(dtype):
        name = tf.as_dtype(dtype).name
        return follow_policy(COMPLEX_DTYPES[name]), name
    return dtype, None


class ComplexLayer(keras.layers.Layer):
    """Base of mrinets layers: real by default, complex with ``dtype="complex64"``.

    Args:
        stacked: complex layers only. When True, inputs and outputs are float
            tensors in stacked form (each channel's real and imaginary parts side by side).
        dtype: ``"complex64"`` or ``"complex128"`` for a complex layer; anything
            Keras accepts (``"float32"``, a policy, ...) for a real one.
        **kwargs: base ``keras.layers.Layer`` arguments (name, trainable, ...).

    Subclasses implement ``forward(x, training)`` on float tensors: real
    inputs for a real layer, stacked ones for a complex layer, and set
    ``channel_axis`` (the axis that is stacked).
    """

    channel_axis = -1
    #: Arguments a specialization fixes (``{"rank": 2}`` in Conv2D, ``{"statistics": "instance", ...}``):
    #: not accepted by its constructor, left out of its ``get_config`` and of the config language.
    fixed_arguments = {}

    def __init__(self, *, stacked=False, dtype=None, **kwargs):
        policy_dtype, complex_dtype = _split_dtype(dtype)
        super().__init__(dtype=policy_dtype, **kwargs)
        self.complex_dtype = complex_dtype
        if stacked and complex_dtype is None:
            raise invalid_argument("stacked", "False for a real layer (set dtype='complex64' to make it complex)", stacked)
        self.stacked = bool(stacked)

    def _without_fixed_arguments(self, config):
        """``config`` (a ``get_config`` dict) less the ``fixed_arguments``."""
        for key in self.fixed_arguments:
            config.pop(key, None)
        return config

    @property
    def is_complex(self):
        return self.complex_dtype is not None

    @property
    def output_dtype(self):
        """Dtype of the layer's outputs (complex unless real or stacked)."""
        if self.is_complex and not self.stacked:
            return self.complex_dtype
        return self.compute_dtype

    def channels(self, input_shape):
        """Number of (complex) channels in ``input_shape``."""
        size = input_shape[self.channel_axis]
        if size is None:
            return None
        return size // 2 if self.stacked else size

    def call(self, inputs, training=None):
        if not self.is_complex:
            return self.forward(inputs, training=training)
        if self.stacked:
            if inputs.dtype.is_complex:
                raise ValueError(
                    f"Layer '{self.name}' has stacked=True and expects float inputs in stacked form; "
                    f"received dtype {inputs.dtype.name}."
                )
            return self.forward(inputs, training=training)
        inputs = tf.cast(inputs, self.complex_dtype)  # real inputs are complex with zero imaginary part
        stacked = tf.cast(to_stacked(inputs, self.channel_axis), self.compute_dtype)  # half under a mixed policy
        outputs = self.forward(stacked, training=training)
        return from_stacked(tf.cast(outputs, COMPLEX_DTYPES[self.complex_dtype]), self.channel_axis)

    def forward(self, x, training=None):
        raise NotImplementedError

    def compute_output_spec(self, inputs, *args, **kwargs):
        shape = self.compute_output_shape(inputs.shape)
        return keras.KerasTensor(shape, dtype=self.output_dtype)

    def add_complex_weight(self, name, shape, initializer, regularizer=None, constraint=None):
        """Create weight ``name``: one variable when real, a ``name_real``/``name_imag`` pair when complex.

        Returns the list of created variables ([w] or [w_real, w_imag]).
        """
        from mrinets.layers import initializers

        if not self.is_complex:
            return [self.add_weight(name=name, shape=shape, initializer=initializer,
                                    regularizer=regularizer, constraint=constraint)]
        real_init, imag_init = initializers.complex_pair(initializer, shape, self.complex_dtype)
        return [
            self.add_weight(name=f"{name}_{part}", shape=shape, initializer=init,
                            regularizer=regularizer, constraint=constraint)
            for part, init in (("real", real_init), ("imag", imag_init))
        ]

    def set_weight_arguments(self, activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                             bias_regularizer, kernel_constraint, bias_constraint):
        """Resolve the Keras-style activation/kernel/bias arguments of a layer with a kernel."""
        from mrinets.layers import activations, initializers

        self.activation = activations.get(activation)
        # A parametric activation (modReLU's per-channel bias) is a sub-layer owning its weight.
        self.activation_layer = (
            activations.Activation(self.activation, axis=-1, dtype=self.complex_dtype, stacked=True)
            if self.activation.parametric and self.is_complex else None
        )
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer, self.is_complex, "kernel_initializer")
        self.bias_initializer = initializers.get(bias_initializer, self.is_complex, "bias_initializer")
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)

    def build_activation(self, channels):
        """Create the activation's weights (if any) for ``channels`` output channels; call in ``build``."""
        if self.activation_layer is not None:
            self.activation_layer.build((None, 2 * channels))

    def apply_activation(self, y):
        """The activation of a layer with a kernel on its channels-last output ``y`` (stacked when complex)."""
        if self.activation_layer is not None:
            return self.activation_layer(y)
        return self.activation.on_stacked(y, -1) if self.is_complex else self.activation.on_real(y)

    def weight_arguments_config(self):
        """The config entries of ``set_weight_arguments`` (plus ``activity_regularizer``)."""
        serialize = keras.saving.serialize_keras_object
        return {
            "activation": self.activation.serialize(),
            "use_bias": self.use_bias,
            **{name: serialize(getattr(self, name)) for name in (
                "kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
                "activity_regularizer", "kernel_constraint", "bias_constraint")},
        }

    def get_config(self):
        config = super().get_config()
        if self.is_complex:
            config["dtype"] = self.complex_dtype
            config["stacked"] = self.stacked
        return config


def complex_value(variables):
    """[w] -> w; [w_real, w_imag] -> complex tensor (read-only view of the weight)."""
    if len(variables) == 1:
        return tf.convert_to_tensor(variables[0])
    return tf.complex(*variables)
