"""Batch, instance and layer normalization; complex ones whiten the 2x2 covariance.

For a complex layer each channel's (re, im) pair is centred and whitened with
the inverse square root of its 2x2 covariance ``[[Vrr, Vri], [Vri, Vii]]``
(Trabelsi et al. 2018), then scaled by a learned symmetric 2x2 ``gamma`` and
shifted by a complex ``beta``. All statistics are closed-form reductions on the
stacked form: no per-channel loops or matrix functions.
"""

import math

import keras
import tensorflow as tf

from mrinets.layers._base import ComplexLayer, invalid_argument, merge_stacked, split_stacked


def whiten(real, imag, vrr, vri, vii):
    """Apply ``V^(-1/2)`` for the 2x2 covariance ``V`` (broadcasting) to centred (real, imag)."""
    s = tf.sqrt(vrr * vii - vri * vri)
    t = tf.sqrt(vrr + vii + 2.0 * s)
    inverse = 1.0 / (s * t)
    wrr, wii, wri = (vii + s) * inverse, (vrr + s) * inverse, -vri * inverse
    return wrr * real + wri * imag, wri * real + wii * imag


def standardize(x, axes, epsilon):
    """Real ``(x - mean) / sqrt(var + epsilon)`` over ``axes``, with a hand-written gradient.

    Autodiff would keep the centred input for the backward pass on top of the output (which
    the next layer keeps anyway): one more activation-sized tensor per normalization.
    """

    @tf.custom_gradient
    def forward(x):
        centred = x - tf.reduce_mean(x, axes, keepdims=True)
        inverse = tf.math.rsqrt(tf.reduce_mean(tf.square(centred), axes, keepdims=True) + epsilon)
        y = centred * inverse

        def gradient(dy):
            mean = lambda t: tf.reduce_mean(t, axes, keepdims=True)  # noqa: E731
            return inverse * (dy - mean(dy) - y * mean(dy * y))

        return y, gradient

    return forward(x)


@keras.saving.register_keras_serializable(package="mrinets")
class ComplexNormalization(ComplexLayer):
    """Normalization over ``statistics`` axes, real or complex.

    Args:
        statistics: ``"batch"`` (over batch and spatial axes, with moving
            averages for inference), ``"instance"`` (per example over spatial
            axes) or ``"layer"`` (per example over spatial and channel axes).
        axis: the channel axis (default -1).
        momentum: moving-average momentum (batch statistics only).
        epsilon: added to the variances.
        center, scale: learn ``beta`` and ``gamma``.

    Input: any shape with ``axis`` holding C channels; output: the same shape.
    """


    def __init__(self, statistics="batch", axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, **kwargs):
        super().__init__(**kwargs)
        if statistics not in ("batch", "instance", "layer"):
            raise invalid_argument("statistics", "one of 'batch', 'instance', 'layer'", statistics)
        if not isinstance(axis, int):
            raise invalid_argument("axis", "an integer", axis)
        if not 0.0 <= momentum < 1.0:
            raise invalid_argument("momentum", "a float in [0, 1)", momentum)
        if not epsilon > 0:
            raise invalid_argument("epsilon", "a strictly positive float", epsilon)
        self.statistics, self.axis, self.momentum, self.epsilon = statistics, axis, float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.channel_axis = axis

    def build(self, input_shape):
        rank = len(input_shape)
        self._axis = self.axis % rank
        if self._axis == 0:
            raise invalid_argument("axis", "a non-batch axis", self.axis)
        channels = self.channels(input_shape)
        if channels is None:
            raise ValueError(f"Layer '{self.name}' needs a known channel dimension (axis {self.axis}); "
                             f"received input_shape={tuple(input_shape)}.")
        shape = (channels,)
        weight = lambda name, value: self.add_weight(name=name, shape=shape, initializer=value)  # noqa: E731
        frozen = lambda name, value: self.add_weight(name=name, shape=shape, initializer=value,  # noqa: E731
                                                     trainable=False)
        if self.scale:
            self.gamma = ([weight("gamma_rr", keras.initializers.Constant(1 / math.sqrt(2))),
                           weight("gamma_ri", "zeros"),
                           weight("gamma_ii", keras.initializers.Constant(1 / math.sqrt(2)))]
                          if self.is_complex else [weight("gamma", "ones")])
        if self.center:
            self.beta = self.add_complex_weight("beta", shape, "zeros")
        if self.statistics == "batch":
            self.moving_mean = self.add_complex_weight("moving_mean", shape, "zeros")
            for part in self.moving_mean:
                part.trainable = False
            self.moving_variance = ([frozen("moving_vrr", keras.initializers.Constant(0.5)),
                                     frozen("moving_vri", "zeros"),
                                     frozen("moving_vii", keras.initializers.Constant(0.5))]
                                    if self.is_complex else [frozen("moving_variance", "ones")])
        self.input_spec = keras.InputSpec(ndim=rank, axes={self._axis: input_shape[self._axis]})

    def _broadcast(self, value, rank):
        shape = [1] * rank
        shape[self._axis] = -1
        return tf.reshape(tf.cast(value, self.variable_dtype), shape)

    def forward(self, x, training=None):
        # Statistics in the variables' dtype (float32 under a mixed policy, as Keras' norms); output in x's.
        return tf.cast(self._normalize(tf.cast(x, self.variable_dtype), training), x.dtype)

    def _normalize(self, x, training):
        rank = x.shape.rank
        parts = split_stacked(x, self._axis) if self.is_complex else [x]
        keep = {"batch": (self._axis,), "instance": (0, self._axis), "layer": (0,)}[self.statistics]
        axes = [a for a in range(rank) if a not in keep]
        use_moving = self.statistics == "batch" and not training
        if not self.is_complex and self.statistics != "batch":
            return self._affine([standardize(x, axes, self.epsilon)], rank)
        if use_moving:
            means = [self._broadcast(m, rank) for m in self.moving_mean]
        else:
            means = [tf.reduce_mean(p, axes, keepdims=True) for p in parts]
        centred = [p - m for p, m in zip(parts, means)]
        if use_moving:
            variances = [self._broadcast(v, rank) for v in self.moving_variance]
        elif self.is_complex:
            re, im = centred
            variances = [tf.reduce_mean(a * b, axes, keepdims=True) for a, b in ((re, re), (re, im), (im, im))]
        else:
            variances = [tf.reduce_mean(centred[0] ** 2, axes, keepdims=True)]
        if self.statistics == "batch" and training:
            self._update_moving(means, variances)
        if self.is_complex:
            vrr, vri, vii = variances
            out = list(whiten(*centred, vrr + self.epsilon, vri, vii + self.epsilon))
        else:
            out = [centred[0] * tf.math.rsqrt(variances[0] + self.epsilon)]
        return self._affine(out, rank)

    def _affine(self, out, rank):
        """Scale by ``gamma`` and shift by ``beta`` the standardized parts; merge complex ones."""
        if self.scale:
            gamma = [self._broadcast(g, rank) for g in self.gamma]
            if self.is_complex:
                grr, gri, gii = gamma
                out = [grr * out[0] + gri * out[1], gri * out[0] + gii * out[1]]
            else:
                out = [gamma[0] * out[0]]
        if self.center:
            out = [o + self._broadcast(b, rank) for o, b in zip(out, self.beta)]
        return merge_stacked(*out, axis=self._axis) if self.is_complex else out[0]

    def _update_moving(self, means, variances):
        for variable, value in zip(self.moving_mean + self.moving_variance, means + variances):
            batch_value = tf.reshape(value, [-1])
            variable.assign(self.momentum * variable + (1.0 - self.momentum) * tf.cast(batch_value, variable.dtype))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"statistics": self.statistics, "axis": self.axis, "momentum": self.momentum,
                       "epsilon": self.epsilon, "center": self.center, "scale": self.scale})
        if self.statistics != "batch":
            config.pop("momentum")
        return self._without_fixed_arguments(config)


@keras.saving.register_keras_serializable(package="mrinets")
class BatchNormalization(ComplexNormalization):
    """Batch normalization, real or complex (2x2 whitening); moving statistics at inference."""

    fixed_arguments = {"statistics": "batch"}

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, **kwargs):
        super().__init__("batch", axis, momentum, epsilon, center, scale, **kwargs)


@keras.saving.register_keras_serializable(package="mrinets")
class InstanceNormalization(ComplexNormalization):
    """Instance normalization (per example and channel over spatial axes), real or complex."""

    fixed_arguments = {"statistics": "instance", "momentum": 0.0}

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, **kwargs):
        super().__init__("instance", axis, 0.0, epsilon, center, scale, **kwargs)


@keras.saving.register_keras_serializable(package="mrinets")
class LayerNormalization(ComplexNormalization):
    """Layer normalization (per example over all non-batch axes, per-channel affine), real or complex."""

    fixed_arguments = {"statistics": "layer", "momentum": 0.0}

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, **kwargs):
        super().__init__("layer", axis, 0.0, epsilon, center, scale, **kwargs)
