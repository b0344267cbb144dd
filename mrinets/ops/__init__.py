"""TensorFlow MRI operators: centered FFTs, SENSE, coil maps, conjugate gradient, baselines.

All operators take complex64/complex128 tensors with a leading batch axis, are
differentiable and run eagerly, under ``tf.function`` and inside Keras models.
"""

from mrinets.ops.baselines import cg_sense, zero_filled
from mrinets.ops.cg import conjugate_gradient
from mrinets.ops.nufft import NUFFTOperator, ToeplitzOperator, nufft
from mrinets.ops.fft import fft2c, fftn, fftn_np, ifft2c, ifftn, ifftn_np
from mrinets.ops.sense import (
    apply_mask,
    calibration_region,
    center_crop,
    center_region,
    estimate_coil_maps,
    rss,
    sense_adjoint,
    sense_forward,
    sense_normal,
)

__all__ = [
    "NUFFTOperator",
    "ToeplitzOperator",
    "apply_mask",
    "calibration_region",
    "center_crop",
    "center_region",
    "cg_sense",
    "conjugate_gradient",
    "estimate_coil_maps",
    "fft2c",
    "fftn",
    "fftn_np",
    "ifft2c",
    "ifftn",
    "ifftn_np",
    "nufft",
    "rss",
    "sense_adjoint",
    "sense_forward",
    "sense_normal",
    "zero_filled",
]
