"""Complex-aware training losses.

``keras.losses.Loss.__call__`` casts predictions to a float dtype, which for a
complex tensor silently drops the imaginary part (Keras' ``MeanSquaredError``
gives ``MSE(1j, 0) == 0``). ``ComplexLoss`` keeps complex inputs complex and
does the reduction itself, with Keras' semantics:

* ``call(y_true, y_pred)`` returns one real value per example, shape ``(batch,)``
  (the mean over every non-batch axis);
* ``sample_weight`` (shape ``(batch,)`` or ``(batch, 1)``) multiplies those values;
* ``reduction``: ``"sum_over_batch_size"`` (default, also ``"mean"``) sums and divides
  by the number of values, ``"mean_with_sample_weight"`` divides by the sum of the
  weights, ``"sum"`` sums, ``"none"``/``None`` returns the per-example values.

>>> import numpy as np
>>> float(MSE()(np.array([1j]), np.array([0j])))
1.0

``LOSSES`` maps each config name to its class (the built-in plugin registers it).
Keras serialization names end in ``Loss`` (``mrinets>NMSELoss``) so they never
collide with metrics of the same config name (``mrinets>NMSE`` is the metric).
"""

import keras
import tensorflow as tf

from mrinets.errors import did_you_mean
from mrinets.metrics import ssim_images

_REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


def _complex_dtype(real_dtype):
    return tf.complex128 if tf.as_dtype(real_dtype) == tf.float64 else tf.complex64


def _safe_abs(z):
    """``|z|`` with a zero (not NaN) gradient where ``z == 0`` for complex ``z``."""
    if not z.dtype.is_complex:
        return tf.abs(z)
    nonzero = tf.not_equal(z, tf.zeros_like(z))
    safe = tf.where(nonzero, z, tf.ones_like(z))
    return tf.where(nonzero, tf.abs(safe), tf.zeros_like(tf.math.real(z)))


def _abs2(z):
    """``|z|**2`` without a square root (smooth everywhere)."""
    if z.dtype.is_complex:
        return tf.square(tf.math.real(z)) + tf.square(tf.math.imag(z))
    return tf.square(z)


def _per_example_mean(values):
    """Mean over every axis but the first: ``(batch, ...)`` -> ``(batch,)``; scalars stay scalars."""
    if values.shape.rank is None:
        raise ValueError("Loss inputs need a known rank.")
    if values.shape.rank <= 1:
        return values
    return tf.reduce_mean(values, axis=list(range(1, values.shape.rank)))


def _per_example_sum(values):
    if values.shape.rank <= 1:
        return values
    return tf.reduce_sum(values, axis=list(range(1, values.shape.rank)))


def reduce_losses(values, sample_weight=None, reduction="sum_over_batch_size"):
    """Weight and reduce per-example loss ``values`` the way Keras losses do."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"Invalid value for argument `reduction`. Expected one of {_REDUCTIONS}. Received: reduction={reduction!r}")
    values = tf.convert_to_tensor(values)
    if sample_weight is not None:
        sample_weight = tf.cast(tf.convert_to_tensor(sample_weight), values.dtype)
        rank, weight_rank = values.shape.rank, sample_weight.shape.rank
        if weight_rank == rank + 1 and sample_weight.shape[-1] == 1:
            sample_weight = tf.squeeze(sample_weight, -1)
        elif rank == weight_rank + 1 and values.shape[-1] == 1:
            values = tf.squeeze(values, -1)
        values = values * sample_weight
    if reduction in (None, "none") or values.shape.rank == 0:
        return values
    total = tf.reduce_sum(values)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        divisor = tf.reduce_sum(sample_weight)
    else:
        divisor = tf.cast(tf.size(values), values.dtype)
    loss = tf.math.divide_no_nan(total, divisor)
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if replicas > 1:  # as Keras: the per-replica mean is summed over replicas
        loss = loss / tf.cast(replicas, loss.dtype)
    return loss


class ComplexLoss(keras.losses.Loss):
    """Base of mrinets losses: complex inputs stay complex; per-example values, Keras reductions.

    Subclasses implement ``call(y_true, y_pred) -> (batch,)`` real values. Both inputs
    arrive complex (``complex64``, or ``complex128`` for ``dtype="float64"``) when
    either is complex, else in ``dtype``.

    Args:
        reduction: ``"sum_over_batch_size"`` (default), ``"sum"``, ``"mean"``,
            ``"mean_with_sample_weight"``, ``"none"`` or ``None``.
        name: loss name.
        dtype: real dtype of the computation (default ``keras.config.floatx()``).
    """

    #: Subclasses that need complex inputs set this (real inputs are rejected).
    requires_complex = False

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None):
        if reduction not in _REDUCTIONS:
            raise ValueError(f"Invalid value for argument `reduction`. Expected one of {_REDUCTIONS}. Received: reduction={reduction!r}")
        if dtype is not None and not tf.as_dtype(dtype).is_floating:
            raise ValueError(f"Invalid value for argument `dtype`. Expected a real floating dtype. Received: dtype={dtype!r}")
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _convert(self, y_true, y_pred):
        y_true, y_pred = tf.convert_to_tensor(y_true), tf.convert_to_tensor(y_pred)
        if y_true.dtype.is_complex or y_pred.dtype.is_complex:
            dtype = _complex_dtype(self.dtype)
        elif self.requires_complex:
            raise ValueError(
                f"{type(self).__name__} expects complex inputs. Received: y_true of dtype {y_true.dtype.name} "
                f"and y_pred of dtype {y_pred.dtype.name}; use MSE for real data."
            )
        else:
            dtype = tf.as_dtype(self.dtype)
        return tf.cast(y_true, dtype), tf.cast(y_pred, dtype)

    def __call__(self, y_true, y_pred, sample_weight=None):
        with tf.name_scope(self.name):
            y_true, y_pred = self._convert(y_true, y_pred)
            if y_true.shape.rank is not None and y_pred.shape.rank is not None and y_true.shape.rank != y_pred.shape.rank:
                if y_true.shape.rank == y_pred.shape.rank + 1 and y_true.shape[-1] == 1:
                    y_true = tf.squeeze(y_true, -1)
                elif y_pred.shape.rank == y_true.shape.rank + 1 and y_pred.shape[-1] == 1:
                    y_pred = tf.squeeze(y_pred, -1)
            values = tf.cast(self.call(y_true, y_pred), self.dtype)
            return reduce_losses(values, sample_weight, self.reduction)

    def call(self, y_true, y_pred):
        raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred).")

    def get_config(self):
        return {**super().get_config(), "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="mrinets", name="L1Loss")
class L1(ComplexLoss):
    """Mean absolute error; for complex inputs the mean modulus ``|y - y_hat|`` of the difference."""

    def call(self, y_true, y_pred):
        return _per_example_mean(_safe_abs(y_pred - y_true))


@keras.saving.register_keras_serializable(package="mrinets", name="MSELoss")
class MSE(ComplexLoss):
    """Mean squared error ``mean |y - y_hat|**2``; complex-safe (``MSE(1j, 0) == 1``)."""

    def call(self, y_true, y_pred):
        return _per_example_mean(_abs2(y_pred - y_true))


@keras.saving.register_keras_serializable(package="mrinets", name="ComplexMSELoss")
class ComplexMSE(MSE):
    """``mean |y - y_hat|**2`` that insists on complex inputs (catches real-only outputs).

    Raises:
        ValueError: when neither ``y_true`` nor ``y_pred`` is complex.
    """

    requires_complex = True


@keras.saving.register_keras_serializable(package="mrinets", name="NMSELoss")
class NMSE(ComplexLoss):
    """Normalized MSE per example: ``||y - y_hat||**2 / ||y||**2`` (complex-safe; 0 when ``y == 0``)."""

    def call(self, y_true, y_pred):
        return tf.math.divide_no_nan(_per_example_sum(_abs2(y_pred - y_true)), _per_example_sum(_abs2(y_true)))


@keras.saving.register_keras_serializable(package="mrinets")
class SSIMLoss(ComplexLoss):
    """``1 - SSIM`` of magnitude images, as fastMRI's ``SSIMLoss`` (real inputs are used as given).

    SSIM as ``mrinets.metrics.ssim_images`` computes it (uniform window, valid positions,
    data range ``L = max |y_true|`` of each example). Inputs: ``(batch, H, W)`` or ``(batch, H, W, 1)``,
    real or complex (magnitudes are compared), ``H, W >= win_size``.

    Args:
        win_size: odd window size >= 3 (default 7).
        k1, k2: SSIM constants (defaults 0.01 and 0.03).
    """

    def __init__(self, win_size: int = 7, k1: float = 0.01, k2: float = 0.03, reduction="sum_over_batch_size", name=None, dtype=None):
        if isinstance(win_size, bool) or not isinstance(win_size, int) or win_size < 3 or win_size % 2 == 0:
            raise ValueError(f"Invalid value for argument `win_size`. Expected an odd integer >= 3. Received: win_size={win_size!r}")
        for arg, value in (("k1", k1), ("k2", k2)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"Invalid value for argument `{arg}`. Expected a positive number. Received: {arg}={value!r}")
        super().__init__(reduction=reduction, name=name, dtype=dtype)
        self.win_size = win_size
        self.k1 = float(k1)
        self.k2 = float(k2)

    def _images(self, x, arg):
        x = tf.abs(x) if x.dtype.is_complex else x
        x = tf.cast(x, self.dtype)
        if x.shape.rank == 4 and x.shape[-1] == 1:
            x = x[..., 0]
        if x.shape.rank != 3:
            raise ValueError(
                f"Invalid shape for argument `{arg}`. Expected (batch, H, W) or (batch, H, W, 1). Received: shape={x.shape}"
            )
        for size in x.shape[1:]:
            if size is not None and size < self.win_size:
                raise ValueError(
                    f"Invalid shape for argument `{arg}`. Expected H and W >= win_size={self.win_size}. Received: shape={x.shape}"
                )
        return x[..., None]

    def call(self, y_true, y_pred):
        prediction = self._images(y_pred, "y_pred")
        return 1.0 - ssim_images(self._images(y_true, "y_true"), prediction, self.win_size, self.k1, self.k2)

    def get_config(self):
        return {**super().get_config(), "win_size": self.win_size, "k1": self.k1, "k2": self.k2}


def _loss_class(name):
    """A loss class by config name: the registry (kind ``loss``) first, then ``LOSSES``."""
    from mrinets import registry

    try:
        return registry.get("loss", name)
    except registry.UnknownNameError:
        pass
    if name in LOSSES:
        return LOSSES[name]
    known = sorted(set(LOSSES) | set(registry.names("loss")))
    hint = did_you_mean(name, known)
    raise ValueError(f"Unknown loss {name!r}.{hint} Known losses: {', '.join(known)}.")


def _as_loss(item, index, dtype):
    """One entry of ``Combined(losses=...)`` -> (loss, weight or None); names get ``dtype``."""
    if isinstance(item, ComplexLoss):
        return item, None
    if isinstance(item, str):
        return _loss_class(item)(dtype=dtype), None
    if isinstance(item, dict) and "type" in item:
        kwargs = {"dtype": dtype, **{k: v for k, v in item.items() if k not in ("type", "weight")}}
        return _loss_class(item["type"])(**kwargs), item.get("weight")
    if isinstance(item, dict) and "class_name" in item:
        return keras.saving.deserialize_keras_object(item), None
    raise ValueError(
        f"Invalid value for argument `losses`. Expected mrinets losses, names or {{type: Name, weight: w}} mappings. "
        f"Received: losses[{index}]={item!r}"
    )


def _combined_fields():
    from mrinets.config import Field, Ref

    weight = Field(float, min=0, default=1.0)
    return {"losses": Field(list, required=True, items=Field(ref=Ref("loss", build="config", extra={"weight": weight})))}


@keras.saving.register_keras_serializable(package="mrinets", name="CombinedLoss")
class Combined(ComplexLoss):
    """Weighted sum of mrinets losses, computed per example before the reduction.

    >>> loss = Combined([{"type": "L1", "weight": 0.16}, {"type": "SSIMLoss", "weight": 0.84}])

    Args:
        losses: list of ``ComplexLoss`` instances, loss names, or mappings
            ``{type: Name, weight: w, **kwargs}``. Only each loss's ``call`` is used:
            their own reductions are ignored.
        weights: optional list of weights (default 1 each); not together with ``weight:`` keys.
    """

    def __init__(self, losses, weights=None, reduction="sum_over_batch_size", name=None, dtype=None):
        if not isinstance(losses, (list, tuple)) or not losses:
            raise ValueError(f"Invalid value for argument `losses`. Expected a non-empty list. Received: losses={losses!r}")
        if weights is not None and (not isinstance(weights, (list, tuple)) or len(weights) != len(losses)):
            raise ValueError(
                f"Invalid value for argument `weights`. Expected a list of {len(losses)} numbers (one per loss). "
                f"Received: weights={weights!r}"
            )
        super().__init__(reduction=reduction, name=name, dtype=dtype)
        self.losses, self.weights = [], []
        for i, item in enumerate(losses):
            loss, weight = _as_loss(item, i, dtype)
            if weight is not None and weights is not None:
                raise ValueError(f"Invalid value for argument `weights`. losses[{i}] has its own `weight`; give one or the other.")
            weight = weights[i] if weights is not None else (1.0 if weight is None else weight)
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
                raise ValueError(f"Invalid value for argument `weights`. Expected numbers >= 0. Received: weight {weight!r} for losses[{i}]")
            self.losses.append(loss)
            self.weights.append(float(weight))

    def _convert(self, y_true, y_pred):
        if any(loss.requires_complex for loss in self.losses):
            y_true, y_pred = tf.convert_to_tensor(y_true), tf.convert_to_tensor(y_pred)
            if not (y_true.dtype.is_complex or y_pred.dtype.is_complex):
                names = [type(loss).__name__ for loss in self.losses if loss.requires_complex]
                raise ValueError(f"{', '.join(names)} in {type(self).__name__} expects complex inputs.")
        return super()._convert(y_true, y_pred)

    def call(self, y_true, y_pred):
        total = 0.0
        for loss, weight in zip(self.losses, self.weights):
            total = total + weight * tf.cast(loss.call(y_true, y_pred), self.dtype)
        return total

    def get_config(self):
        return {
            **super().get_config(),
            "losses": [keras.saving.serialize_keras_object(loss) for loss in self.losses],
            "weights": list(self.weights),
        }


#: How ``mrinets.config`` validates ``losses:`` (each a loss ``{type: ...}`` with an optional ``weight``).
Combined.config_fields = _combined_fields()

#: Config name -> loss class; registered under kind ``loss`` by the built-in plugin.
LOSSES = {cls.__name__: cls for cls in (L1, MSE, ComplexMSE, NMSE, SSIMLoss, Combined)}
