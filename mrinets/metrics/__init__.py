"""Reconstruction metrics computed the way fastMRI's ``evaluate.py`` does.

NumPy functions (``nmse``, ``psnr``, ``ssim``) work on magnitude volumes
`(slices, H, W)` (or single images `(H, W)`), with ``maxval = gt.max()`` of the
whole volume and SSIM averaged over slices (7x7 uniform window, K1=0.01,
K2=0.03, sample covariance: scikit-image's ``structural_similarity`` defaults).

The Keras metrics (``NMSE``, ``PSNR``, ``SSIM``) are stateful
``keras.metrics.Metric`` classes written in TensorFlow; they compute the same
quantities **per example** (each example's own max as ``maxval``) and average
over examples, so they run inside ``model.fit``/``evaluate`` in graph mode.
Complex inputs are converted to magnitudes.
"""

from mrinets.metrics._keras import NMSE, PSNR, SSIM, nmse_tf, psnr_tf, ssim_images, ssim_tf
from mrinets.metrics._numpy import nmse, psnr, ssim

#: Registered under kind ``metric``: the NumPy functions and the Keras metric classes.
METRICS = {"nmse": nmse, "psnr": psnr, "ssim": ssim, "NMSE": NMSE, "PSNR": PSNR, "SSIM": SSIM}

__all__ = ["METRICS", "NMSE", "PSNR", "SSIM", "nmse", "nmse_tf", "psnr", "psnr_tf", "ssim", "ssim_images", "ssim_tf"]
