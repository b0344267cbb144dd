"""Unrolled networks for non-Cartesian data, with the NUFFT SENSE operator ``A = F_nu S``.

They take the dict of ``mrinets.data.noncartesian``::

    {"kspace": (batch, coils, M) complex64,
     "trajectory": (batch, M, rank) float32,   # radians
     "density": (batch, M) float32}            # density-compensation weights

and return the ``(batch, *grid_shape)`` float32 magnitude image. The NUFFT operator and its
Toeplitz normal operator are planned once per batch from the trajectory.
"""

import typing

import keras
import tensorflow as tf

from mrinets import ops
from mrinets.arguments import check_positive_int, invalid_argument
from mrinets.config import PositiveInt, Rank, Ref
from mrinets.networks._blocks import apply_image_network, plain
from mrinets.networks.recon import ReconNetwork

NetworkRef = typing.Annotated[object, Ref("network", partial=True)]
_CONSISTENCY = ("cg", "gradient")


@keras.saving.register_keras_serializable(package="mrinets")
class NonCartesianUnrolled(ReconNetwork):
    """Unrolled reconstruction of non-Cartesian data: ``iterations`` x {regularizer, data consistency}.

    ``x0`` is the SENSE-combined gridding image ``S^H F_nu^H (d y)`` with coil maps from the gridded
    k-space centre (``ops.estimate_coil_maps_nc``); each iteration applies the image regularizer,
    then data consistency with the NUFFT: "cg" (MoDL: solve ``(A^H A + lambda I) x = A^H y + lambda z``,
    ``A^H A`` by Toeplitz embedding, learned lambda relative to ``M``) or "gradient"
    (``x = z - w A^H (d (A z - y))``, learned step). Output ``|x| * rss(maps)``.

    Args:
        rank: spatial dimensions (2 or 3).
        grid_shape: the image grid, ``rank`` ints.
        iterations: unrolled iterations.
        regularizer: image network (``CNN``, ``UNet``, ...).
        data_consistency: "cg" or "gradient".
        cg_iterations: CG iterations per data-consistency step.
        initial_lambda: starting CG lambda (relative to ``M``, the diagonal of ``A^H A``) or gradient step.
        share_weights: one regularizer and one weight for all iterations.
        calibration_size: diameter in pixels of the k-space centre used for the coil maps.
        tol: NUFFT accuracy.

    Example:
        ```yaml
        model: {type: NonCartesianUnrolled, rank: 2, grid_shape: [64, 64], iterations: 5,
                regularizer: {type: CNN, dtype: complex64, filters: 32, depth: 5}}
        ```
    """

    #: Reads the non-Cartesian pipeline's dict (a training config pairs it with a ``trajectory``).
    noncartesian = True

    def __init__(self, rank: Rank = 2, grid_shape: typing.Tuple[int, ...] = (64, 64), iterations: PositiveInt = 5,
                 regularizer: NetworkRef = "CNN", data_consistency: typing.Literal["cg", "gradient"] = "cg",
                 cg_iterations: PositiveInt = 8, initial_lambda: float = 0.05, share_weights: bool = False,
                 calibration_size: float = 24.0, tol: float = 1e-4, **kwargs):
        super().__init__(rank, **kwargs)
        if self.rank not in (2, 3):
            raise invalid_argument("rank", "2 or 3 (the NUFFT's ranks)", rank)
        self.grid_shape = tuple(int(n) for n in grid_shape)
        if len(self.grid_shape) != self.rank or min(self.grid_shape) < 2:
            raise invalid_argument("grid_shape", f"{self.rank} integers >= 2", grid_shape)
        if data_consistency not in _CONSISTENCY:
            raise invalid_argument("data_consistency", "'cg' or 'gradient'", data_consistency)
        if not initial_lambda > 0:
            raise invalid_argument("initial_lambda", "a strictly positive float", initial_lambda)
        self.iterations = check_positive_int(iterations, "iterations")
        self.cg_iterations = check_positive_int(cg_iterations, "cg_iterations")
        self.regularizer, self.data_consistency = regularizer, data_consistency
        self.initial_lambda, self.share_weights = float(initial_lambda), bool(share_weights)
        self.calibration_size, self.tol = float(calibration_size), float(tol)
        count = 1 if self.share_weights else self.iterations
        self.regularizers = [self.build_network(regularizer) for _ in range(count)]
        self.weights_dc = [self.add_weight(name=f"dc_weight_{i}", shape=(),
                                           initializer=keras.initializers.Constant(initial_lambda))
                           for i in range(count)]

    def model_inputs(self):
        """``keras.Input`` placeholders of the non-Cartesian pipeline's dict."""
        return {"kspace": keras.Input((None, None), dtype="complex64", name="kspace"),
                "trajectory": keras.Input((None, self.rank), dtype="float32", name="trajectory"),
                "density": keras.Input((None,), dtype="float32", name="density")}

    def _consistency(self, image, kspace, maps, operator, normal, density, weight):
        weight = tf.cast(tf.abs(weight), image.dtype)  # kept positive
        if self.data_consistency == "gradient":
            # With density weights A^H D A is about the identity, so steps near 1 are natural.
            residual = ops.nc_sense_forward(image, maps, operator) - kspace
            return image - weight * ops.nc_sense_adjoint(residual, maps, operator, density)
        lam = weight * tf.cast(operator.num_points, image.dtype)
        rhs = ops.nc_sense_adjoint(kspace, maps, operator) + lam * image
        return ops.conjugate_gradient(lambda x: ops.nc_sense_normal(x, maps, normal) + lam * x, rhs, x0=image,
                                      max_iterations=self.cg_iterations)

    def call(self, inputs, training=None):
        kspace = tf.convert_to_tensor(inputs["kspace"])
        trajectory = tf.convert_to_tensor(inputs["trajectory"])
        density = tf.cast(inputs["density"], tf.float32)[:, None]  # (batch, 1, M) broadcasts over coils
        operator = ops.NUFFTOperator(trajectory[:, None], self.grid_shape, tol=self.tol, dtype=kspace.dtype)
        normal = operator.toeplitz() if self.data_consistency == "cg" else None
        maps = ops.estimate_coil_maps_nc(kspace, operator, density, self.calibration_size)
        image = ops.nc_sense_adjoint(kspace, maps, operator, density)
        for i in range(self.iterations):
            index = 0 if self.share_weights else i
            image = apply_image_network(self.regularizers[index], image)
            image = self._consistency(image, kspace, maps, operator, normal, density, self.weights_dc[index])
        return tf.abs(image) * ops.rss(maps, axis=1)

    def get_config(self):
        return {**super().get_config(), "grid_shape": list(self.grid_shape),
                "iterations": self.iterations, "regularizer": plain(self.regularizer),
                "data_consistency": self.data_consistency, "cg_iterations": self.cg_iterations,
                "initial_lambda": self.initial_lambda, "share_weights": self.share_weights,
                "calibration_size": self.calibration_size, "tol": self.tol}


@keras.saving.register_keras_serializable(package="mrinets")
class NonCartesianMoDL(NonCartesianUnrolled):
    """MoDL for non-Cartesian data: a shared residual CNN and Toeplitz CG data consistency.

    ``NonCartesianUnrolled`` with MoDL's defaults: 10 iterations, a 5-layer 64-channel CNN, "cg",
    weights shared across iterations.

    Args:
        rank, grid_shape, iterations, regularizer, data_consistency, cg_iterations, initial_lambda,
        share_weights, calibration_size, tol: as ``NonCartesianUnrolled``.
    """

    def __init__(self, rank: Rank = 2, grid_shape: typing.Tuple[int, ...] = (64, 64), iterations: PositiveInt = 10,
                 regularizer: NetworkRef = {"type": "CNN", "filters": 64, "depth": 5},
                 data_consistency: typing.Literal["cg", "gradient"] = "cg", cg_iterations: PositiveInt = 8,
                 initial_lambda: float = 0.05, share_weights: bool = True, calibration_size: float = 24.0,
                 tol: float = 1e-4, **kwargs):
        super().__init__(rank, grid_shape, iterations, regularizer, data_consistency, cg_iterations, initial_lambda,
                         share_weights, calibration_size, tol, **kwargs)


#: The regularizer of ``NonCartesianVarNet``: a CNN predicting the update, not a residual denoiser.
NC_VARNET_REGULARIZER = {"type": "CNN", "filters": 32, "depth": 5, "residual": False}


@keras.saving.register_keras_serializable(package="mrinets")
class NonCartesianVarNet(NonCartesianUnrolled):
    """Image-space variational network for non-Cartesian data (Hammernik et al., MRM 2018) with the NUFFT.

    Each cascade takes a gradient step on the density-weighted data term and subtracts a learned
    regularizer term, both from the same image: ``x <- x - w_t A^H D (A x - y) - R_t(x)`` (``w_t``
    learned, kept positive); ``x0`` and the output as ``NonCartesianUnrolled``.

    Args:
        rank, grid_shape, share_weights, calibration_size, tol: as ``NonCartesianUnrolled``.
        cascades: number of cascades.
        regularizer: image network predicting the regularizer term (default: a 5-layer 32-channel
            CNN without the residual connection).
        initial_step: starting data-term step ``w_t`` (about 1 with density weights).
    """

    def __init__(self, rank: Rank = 2, grid_shape: typing.Tuple[int, ...] = (64, 64), cascades: PositiveInt = 8,
                 regularizer: NetworkRef = NC_VARNET_REGULARIZER, initial_step: float = 1.0,
                 share_weights: bool = False, calibration_size: float = 24.0, tol: float = 1e-4, **kwargs):
        if not initial_step > 0:
            raise invalid_argument("initial_step", "a strictly positive float", initial_step)
        super().__init__(rank, grid_shape, cascades, regularizer, "gradient", 1, initial_step, share_weights,
                         calibration_size, tol, **kwargs)

    def call(self, inputs, training=None):
        kspace = tf.convert_to_tensor(inputs["kspace"])
        density = tf.cast(inputs["density"], tf.float32)[:, None]  # (batch, 1, M) broadcasts over coils
        operator = ops.NUFFTOperator(tf.convert_to_tensor(inputs["trajectory"])[:, None], self.grid_shape,
                                     tol=self.tol, dtype=kspace.dtype)
        maps = ops.estimate_coil_maps_nc(kspace, operator, density, self.calibration_size)
        image = ops.nc_sense_adjoint(kspace, maps, operator, density)
        for i in range(self.iterations):
            index = 0 if self.share_weights else i
            step = tf.cast(tf.abs(self.weights_dc[index]), image.dtype)
            residual = ops.nc_sense_forward(image, maps, operator) - kspace
            image = (image - step * ops.nc_sense_adjoint(residual, maps, operator, density)
                     - apply_image_network(self.regularizers[index], image))
        return tf.abs(image) * ops.rss(maps, axis=1)

    def get_config(self):
        base = super(NonCartesianUnrolled, self).get_config()
        return {**base, "grid_shape": list(self.grid_shape), "cascades": self.iterations,
                "regularizer": plain(self.regularizer), "initial_step": self.initial_lambda,
                "share_weights": self.share_weights, "calibration_size": self.calibration_size, "tol": self.tol}


NETWORKS = {"NonCartesianUnrolled": NonCartesianUnrolled, "NonCartesianMoDL": NonCartesianMoDL,
            "NonCartesianVarNet": NonCartesianVarNet}
