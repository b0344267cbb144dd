"""TensorFlow MRI operators: centered FFTs, SENSE, coil maps, conjugate gradient, baselines,
the non-uniform FFT, non-Cartesian trajectories and density compensation.

All operators take complex64/complex128 tensors with a leading batch axis, are
differentiable and run eagerly, under ``tf.function`` and inside Keras models.
"""

from mrinets.ops import coil_maps, cs
from mrinets.ops.baselines import cg_sense, zero_filled
from mrinets.ops.cg import conjugate_gradient
from mrinets.ops.coil_compression import compress_coils
from mrinets.ops.cs import l1_wavelet_recon, tv_recon, wavelet_forward, wavelet_inverse
from mrinets.ops.density import estimate_density
from mrinets.ops.fft import fft2c, fftn, fftn_np, ifft2c, ifftn, ifftn_np
from mrinets.ops.grappa import grappa, grappa_kspace
from mrinets.ops.noncartesian import (
    calibration_window,
    cg_sense_nc,
    estimate_coil_maps_nc,
    gridding_reconstruction,
    nc_sense_adjoint,
    nc_sense_forward,
    nc_sense_normal,
)
from mrinets.ops.nufft import NUFFTOperator, ToeplitzOperator, nufft
from mrinets.ops.partial_fourier import pocs
from mrinets.ops.sense import (
    acs_region,
    apply_mask,
    calibration_block,
    calibration_region,
    center_crop,
    center_region,
    estimate_coil_maps,
    rss,
    sense_adjoint,
    sense_forward,
    sense_normal,
)
from mrinets.ops.trajectories import (
    kooshball_trajectory,
    radial_angles,
    radial_trajectory,
    spiral_trajectory,
    stack_of_stars_trajectory,
)

__all__ = [
    "acs_region",
    "apply_mask",
    "calibration_block",
    "calibration_region",
    "calibration_window",
    "center_crop",
    "center_region",
    "cg_sense",
    "cg_sense_nc",
    "coil_maps",
    "compress_coils",
    "conjugate_gradient",
    "cs",
    "estimate_coil_maps",
    "estimate_coil_maps_nc",
    "estimate_density",
    "fft2c",
    "fftn",
    "fftn_np",
    "grappa",
    "grappa_kspace",
    "gridding_reconstruction",
    "ifft2c",
    "ifftn",
    "ifftn_np",
    "kooshball_trajectory",
    "l1_wavelet_recon",
    "nc_sense_adjoint",
    "nc_sense_forward",
    "nc_sense_normal",
    "nufft",
    "NUFFTOperator",
    "pocs",
    "radial_angles",
    "radial_trajectory",
    "rss",
    "sense_adjoint",
    "sense_forward",
    "sense_normal",
    "spiral_trajectory",
    "stack_of_stars_trajectory",
    "ToeplitzOperator",
    "tv_recon",
    "wavelet_forward",
    "wavelet_inverse",
    "zero_filled",
]
