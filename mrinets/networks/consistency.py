"""Data-consistency blocks for unrolled networks (registered under kind ``data_consistency``).

Each is a layer called as ``block(image, kspace, mask, maps)`` with

- ``image``: ``(batch, *spatial)`` complex, the regularizer's output ``z``;
- ``kspace``: ``(batch, coils, *spatial)`` complex measured (zero-filled) k-space ``y``;
- ``mask``: sampling mask broadcastable to ``kspace``;
- ``maps``: ``(batch, coils, *spatial)`` complex coil maps;

and returns the updated ``(batch, *spatial)`` image, for the SENSE model ``A = M F S``.
"""

import keras
import tensorflow as tf

from mrinets import ops
from mrinets.arguments import check_positive_int, check_rank, invalid_argument
from mrinets.config import PositiveInt, Rank


class DataConsistency(keras.layers.Layer):
    """Base: ``rank`` spatial dimensions; subclasses implement ``call``."""

    def __init__(self, rank: Rank = 2, **kwargs):
        super().__init__(**{"dtype": "float32", **kwargs})  # complex64 physics under a mixed policy too
        self.rank = check_rank(rank)

    def get_config(self):
        return {**super().get_config(), "rank": self.rank}


@keras.saving.register_keras_serializable(package="mrinets")
class HardDC(DataConsistency):
    """Replace the sampled k-space of each coil image with the measurement (DC-CNN's noiseless DC).

    ``x = sum_c conj(S_c) F^H [(1 - M) F S_c z + M y]``.
    """

    def call(self, image, kspace, mask, maps):
        predicted = ops.fftn(maps * tf.expand_dims(image, 1), rank=self.rank)
        mask = tf.cast(mask, predicted.dtype)
        merged = (1 - mask) * predicted + mask * kspace
        return tf.reduce_sum(tf.math.conj(maps) * ops.ifftn(merged, rank=self.rank), axis=1)


@keras.saving.register_keras_serializable(package="mrinets")
class GradientDC(DataConsistency):
    """One gradient step on ``||A x - y||^2`` with a learned step: ``x = z - w A^H (A z - y)``.

    Args:
        rank: spatial dimensions.
        initial_weight: starting step size ``w``.
        learnable: learn ``w``.
    """

    def __init__(self, rank: Rank = 2, initial_weight=1.0, learnable: bool = True, **kwargs):
        super().__init__(rank, **kwargs)
        self.initial_weight, self.learnable = float(initial_weight), bool(learnable)
        self.weight = self.add_weight(name="weight", shape=(), initializer=keras.initializers.Constant(initial_weight),
                                      trainable=self.learnable)

    def call(self, image, kspace, mask, maps):
        residual = ops.sense_forward(image, maps, mask, rank=self.rank) - ops.apply_mask(kspace, mask)
        step = ops.sense_adjoint(residual, maps, mask, rank=self.rank)
        return image - tf.cast(self.weight, image.dtype) * step

    def get_config(self):
        return {**super().get_config(), "initial_weight": self.initial_weight, "learnable": self.learnable}


@keras.saving.register_keras_serializable(package="mrinets")
class CGDC(DataConsistency):
    """MoDL's data consistency: solve ``(A^H A + lambda I) x = A^H y + lambda z`` with conjugate gradients.

    Args:
        rank: spatial dimensions.
        initial_lambda: starting regularization weight (kept positive).
        iterations: CG iterations (unrolled; gradients flow through them).
        tolerance: CG relative residual tolerance.
        learnable: learn ``lambda``.
    """

    def __init__(self, rank: Rank = 2, initial_lambda=0.05, iterations: PositiveInt = 10, tolerance=1e-6,
                 learnable: bool = True, **kwargs):
        super().__init__(rank, **kwargs)
        if not initial_lambda > 0:
            raise invalid_argument("initial_lambda", "a strictly positive float", initial_lambda)
        self.initial_lambda, self.learnable = float(initial_lambda), bool(learnable)
        self.iterations = check_positive_int(iterations, "iterations")
        self.tolerance = float(tolerance)
        self.lam = self.add_weight(name="lambda", shape=(), initializer=keras.initializers.Constant(initial_lambda),
                                   trainable=self.learnable)

    def call(self, image, kspace, mask, maps):
        lam = tf.cast(tf.abs(self.lam), image.dtype)  # kept positive
        rhs = ops.sense_adjoint(kspace, maps, mask, rank=self.rank) + lam * image
        return ops.conjugate_gradient(
            lambda x: ops.sense_normal(x, maps, mask, rank=self.rank) + lam * x,
            rhs, x0=image, max_iterations=self.iterations, tolerance=self.tolerance,
        )

    def get_config(self):
        return {**super().get_config(), "initial_lambda": self.initial_lambda, "iterations": self.iterations,
                "tolerance": self.tolerance, "learnable": self.learnable}


DATA_CONSISTENCY = {"HardDC": HardDC, "GradientDC": GradientDC, "CGDC": CGDC}
