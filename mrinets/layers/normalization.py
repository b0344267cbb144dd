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

from mrinets.layers._base import ComplexLayer, invalid_argument


def _pairs(flat):
    """``(L, 1, 2C)`` statistics of the stacked form -> ``(L, C, 2)`` (re, im) pairs."""
    return tf.reshape(flat, [tf.shape(flat)[0], -1, 2])


def _unpairs(pairs):
    """Inverse of ``_pairs``."""
    return tf.reshape(pairs, [tf.shape(pairs)[0], 1, -1])


def _diagonal_blocks(gram):
    """``(L, 2C, 2C)`` -> its ``(L, C, 2, 2)`` diagonal 2x2 blocks (channel c's rows and columns 2c, 2c+1)."""
    shape = tf.shape(gram)
    channels = shape[1] // 2
    grid = tf.reshape(gram, [shape[0], channels, 2, channels, 2])
    return tf.transpose(tf.linalg.diag_part(tf.transpose(grid, [0, 2, 4, 1, 3])), [0, 3, 1, 2])


def _block_diagonal(blocks):
    """``(L, C, 2, 2)`` per-channel maps ``T`` (column form) -> ``(L, 2C, 2C)`` block-diagonal ``M``.

    Right-multiplying the stacked ``(..., 2C)`` form by ``M`` applies ``T_c`` to every channel c's
    (re, im) pair: one matmul instead of a split, four products and an interleave.
    """
    shape = tf.shape(blocks)
    eye = tf.eye(shape[1], dtype=blocks.dtype)
    grid = tf.einsum("lcji,cd->lcidj", blocks, eye)
    return tf.reshape(grid, [shape[0], 2 * shape[1], 2 * shape[1]])


def inverse_sqrt(covariance):
    """``V^(-1/2)`` of symmetric positive 2x2 matrices ``(..., 2, 2)``, in closed form.

    With ``s = sqrt(det V)`` and ``t = sqrt(trace V + 2 s)``: ``V^(-1/2) = (V + s I)^(-1) t``
    ``= (adj(V) + s I) / (s t)``.
    """
    vrr, vri, vii = covariance[..., 0, 0], covariance[..., 0, 1], covariance[..., 1, 1]
    s = tf.sqrt(vrr * vii - vri * vri)
    inverse = 1.0 / (s * tf.sqrt(vrr + vii + 2.0 * s))
    wrr, wri, wii = (vii + s) * inverse, -vri * inverse, (vrr + s) * inverse
    return tf.stack([tf.stack([wrr, wri], -1), tf.stack([wri, wii], -1)], -2)


def whiten(x, gamma, epsilon, pooled=False):
    """Complex whitening of the stacked form, ``y = gamma V^(-1/2) (x - mean)`` per channel.

    Args:
        x: ``(L, N, 2C)`` float, C complex channels as interleaved (re, im); statistics over N.
        gamma: ``(C, 2, 2)`` symmetric scale, or None for the identity.
        epsilon: added to the covariance's diagonal.
        pooled: one mean and covariance per example over all C channels (layer statistics).

    Returns ``(y, mean, covariance)``: ``y`` like ``x``; ``mean (L, C or 1, 2)`` and
    ``covariance (L, C or 1, 2, 2)`` (without ``epsilon``), for moving averages only (no gradient).
    Moments, mixing and the hand-written backward pass are matmuls on the stacked form with the
    block-diagonal 2x2 maps: autodiff through a split into (re, im) costs about twice the time.
    """
    pool = (lambda t: tf.reduce_mean(t, 1, keepdims=True)) if pooled else (lambda t: t)
    eye = tf.eye(2, dtype=x.dtype)

    def spread(t):  # pooled statistics -> one copy per channel
        return tf.broadcast_to(t, tf.concat([tf.shape(t)[:1], [tf.shape(x)[-1] // 2], tf.shape(t)[2:]], 0))

    def per_channel_maps(covariance, *scale):  # (L, C, 2, 2): gamma V^(-1/2)
        maps = inverse_sqrt(spread(covariance) + epsilon * eye)
        return tf.matmul(scale[0], maps) if scale else maps

    @tf.custom_gradient
    def forward(x, *scale):
        count = tf.cast(tf.shape(x)[1], x.dtype) * (tf.cast(tf.shape(x)[-1] // 2, x.dtype) if pooled else 1.0)
        mean = pool(_pairs(tf.reduce_mean(x, 1, keepdims=True)))
        centred = x - _unpairs(spread(mean))
        covariance = pool(_diagonal_blocks(tf.matmul(centred, centred, transpose_a=True)
                                           / tf.cast(tf.shape(x)[1], x.dtype)))
        mixing = _block_diagonal(per_channel_maps(covariance, *scale))
        y = tf.matmul(centred, mixing)

        def gradient(dy, *unused):
            d_maps = _diagonal_blocks(tf.matmul(dy, centred, transpose_a=True))
            with tf.GradientTape() as tape:  # through the small 2x2 maps only
                tape.watch([covariance, *scale])
                maps = per_channel_maps(covariance, *scale)
            d_covariance, *d_scale = tape.gradient(maps, [covariance, *scale], output_gradients=d_maps)
            d_covariance = spread((d_covariance + tf.linalg.matrix_transpose(d_covariance)) / count)
            direct = tf.matmul(dy, mixing, transpose_b=True)
            mean_direct = pool(_pairs(tf.matmul(tf.reduce_mean(dy, 1, keepdims=True), mixing, transpose_b=True)))
            dx = direct + tf.matmul(centred, _block_diagonal(d_covariance)) - _unpairs(spread(mean_direct))
            return (dx, *d_scale)

        return (y, mean, covariance), gradient

    y, mean, covariance = forward(x, *([] if gamma is None else [gamma]))
    return y, tf.stop_gradient(mean), tf.stop_gradient(covariance)


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
        if self.is_complex:
            return self._normalize_complex(x, training)
        rank = x.shape.rank
        keep = {"batch": (self._axis,), "instance": (0, self._axis), "layer": (0,)}[self.statistics]
        axes = [a for a in range(rank) if a not in keep]
        if self.statistics != "batch":
            return self._affine(standardize(x, axes, self.epsilon), rank)
        if training:
            mean = tf.reduce_mean(x, axes, keepdims=True)
            centred = x - mean
            variance = tf.reduce_mean(centred**2, axes, keepdims=True)
            self._update_moving([mean], [variance])
        else:
            centred = x - self._broadcast(self.moving_mean[0], rank)
            variance = self._broadcast(self.moving_variance[0], rank)
        return self._affine(centred * tf.math.rsqrt(variance + self.epsilon), rank)

    def _affine(self, out, rank):
        """Real ``gamma * out + beta``."""
        if self.scale:
            out = self._broadcast(self.gamma[0], rank) * out
        if self.center:
            out = out + self._broadcast(self.beta[0], rank)
        return out

    def _normalize_complex(self, x, training):
        """Stacked complex ``x``: whiten on a channels-last ``(L, N, 2C)`` view, then shift by ``beta``."""
        rank = x.shape.rank
        order = [a for a in range(rank) if a != self._axis] + [self._axis]
        channels_last = tf.transpose(x, order) if self._axis != rank - 1 else x
        shape = tf.shape(channels_last)
        flat = tf.reshape(channels_last, [1 if self.statistics == "batch" else shape[0], -1, shape[-1]])
        gamma = None
        if self.scale:
            grr, gri, gii = (tf.cast(g, self.variable_dtype) for g in self.gamma)
            gamma = tf.stack([tf.stack([grr, gri], -1), tf.stack([gri, gii], -1)], -2)
        if self.statistics == "batch" and not training:
            vrr, vri, vii = (tf.cast(v, self.variable_dtype) for v in self.moving_variance)
            covariance = tf.stack([tf.stack([vrr, vri], -1), tf.stack([vri, vii], -1)], -2)
            maps = inverse_sqrt(covariance + self.epsilon * tf.eye(2, dtype=covariance.dtype))
            maps = maps if gamma is None else tf.matmul(gamma, maps)
            mean = tf.reshape(tf.stack([tf.cast(m, self.variable_dtype) for m in self.moving_mean], -1), [-1])
            y = tf.matmul(flat - mean, _block_diagonal(maps[None]))
        else:
            y, mean, covariance = whiten(flat, gamma, self.epsilon, pooled=self.statistics == "layer")
            if self.statistics == "batch":
                self._update_moving([mean[0, :, 0], mean[0, :, 1]],
                                    [covariance[0, :, 0, 0], covariance[0, :, 0, 1], covariance[0, :, 1, 1]])
        if self.center:
            y = y + tf.reshape(tf.stack([tf.cast(b, self.variable_dtype) for b in self.beta], -1), [-1])
        y = tf.reshape(y, shape)
        return tf.transpose(y, [order.index(a) for a in range(rank)]) if self._axis != rank - 1 else y

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
