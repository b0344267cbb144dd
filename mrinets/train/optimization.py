"""The ``optimizer`` section: a Keras optimizer with a warm-up + decay learning-rate schedule."""

import math

import keras
import numpy as np
import tensorflow as tf

from mrinets import config
from mrinets.train.schema import optimizer_class

#: The decays of ``Schedule``; each is also a registered schedule of that name.
DECAYS = ("constant", "cosine", "exponential")


@keras.saving.register_keras_serializable(package="mrinets")
class Schedule(keras.optimizers.schedules.LearningRateSchedule):
    """Learning rate ``learning_rate * warmup(step) * decay(step)``.

    ``warmup(step) = min(1, (step + 1) / warmup_steps)`` (1 without warm-up). ``decay``:
    ``"constant"`` 1; ``"cosine"`` from 1 to ``alpha`` over ``decay_steps`` after the warm-up
    (default: the rest of ``total_steps``); ``"exponential"`` ``decay_rate ** ((step - warmup_steps)
    / decay_steps)`` (default period: ``total_steps``). ``get_config`` lists every argument.
    ``set_total_steps`` changes the length later (``train.time_limit``), also inside traced steps.
    """

    def __init__(self, learning_rate, decay="constant", warmup_steps=0, total_steps=1, decay_steps=None,
                 alpha=0.0, decay_rate=0.5):
        if decay not in DECAYS:
            raise ValueError(f"Invalid value for argument `decay`. Expected one of {DECAYS}. Received: decay={decay!r}")
        self.learning_rate, self.decay, self.warmup_steps = float(learning_rate), decay, int(warmup_steps or 0)
        self.total_steps, self.decay_steps = int(total_steps), decay_steps
        self._total = tf.Variable(float(self.total_steps), trainable=False, dtype=tf.float32, name="schedule_steps")
        self.alpha, self.decay_rate = float(alpha), float(decay_rate)

    @staticmethod
    def build(learning_rate, spec, total_steps):
        """From an ``optimizer.schedule`` mapping: its registered schedule called with the run's numbers."""
        arguments = {key: value for key, value in spec.items() if key != "type"}
        return SCHEDULES[spec["type"]](learning_rate, total_steps, **arguments)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warmup = self.warmup_steps
        if self.decay == "cosine":
            span = float(self.decay_steps) if self.decay_steps else tf.maximum(self._total - warmup, 1.0)
            t = tf.clip_by_value((step - warmup) / span, 0.0, 1.0)
            factor = self.alpha + (1 - self.alpha) * 0.5 * (1 + tf.cos(math.pi * t))
        elif self.decay == "exponential":
            period = float(self.decay_steps) if self.decay_steps else tf.maximum(self._total, 1.0)
            factor = tf.pow(self.decay_rate, tf.maximum(step - warmup, 0.0) / period)
        else:
            factor = 1.0
        if warmup:
            factor = factor * tf.minimum(1.0, (step + 1) / float(warmup))
        return self.learning_rate * factor

    def set_total_steps(self, total_steps):
        """Make the schedule ``total_steps`` long."""
        self.total_steps = int(total_steps)
        self._total.assign(float(self.total_steps))

    def get_config(self):
        return {"learning_rate": self.learning_rate, "decay": self.decay, "warmup_steps": self.warmup_steps,
                "total_steps": self.total_steps, "decay_steps": self.decay_steps, "alpha": self.alpha,
                "decay_rate": self.decay_rate}


def _schedule(decay):
    def schedule(learning_rate, total_steps, warmup_steps=0, decay_steps=None, alpha=0.0, decay_rate=0.5):
        if decay == "constant" and not warmup_steps:
            return learning_rate
        return Schedule(learning_rate, decay, warmup_steps, total_steps, decay_steps, alpha, decay_rate)

    schedule.__name__ = schedule.__qualname__ = decay
    schedule.__doc__ = (
        f"The {decay!r} ``Schedule`` (the plain ``learning_rate`` when constant without warm-up); every "
        "built-in schedule takes the same arguments, so changing `type` alone keeps a config valid."
    )
    return schedule


#: The built-in schedules: ``name(learning_rate, total_steps, **arguments)`` -> a rate or a ``Schedule``.
SCHEDULES = {decay: _schedule(decay) for decay in DECAYS}


def build_optimizer(cfg, total_steps):
    """``(optimizer, learning_rate)`` of the ``optimizer`` section: the Keras optimizer (wrapped for loss scaling
    under the global policy mixed_float16) and the rate it was given, a float or the ``Schedule`` that ``train.time_limit`` rescales."""
    section = dict(cfg["optimizer"])
    cls = optimizer_class(section.pop("type"))
    lr = config.build(section.pop("schedule"), learning_rate=section.pop("learning_rate"), total_steps=total_steps)
    kwargs = {k: v for k, v in section.items() if v is not None}
    optimizer = cls(learning_rate=lr, **kwargs)
    if keras.mixed_precision.global_policy().name == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer, lr


def current_lr(optimizer):
    """The optimizer's learning rate at its current step (NaN when it cannot be read)."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    try:
        return float(np.asarray(inner.learning_rate))
    except (TypeError, ValueError):
        return float("nan")
