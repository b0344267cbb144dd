"""NumPy metrics matching fastMRI's evaluation (no scikit-image needed at run time)."""

import numpy as np

WIN_SIZE = 7
K1, K2 = 0.01, 0.03


def _pair(gt, pred):
    gt = np.asarray(gt)
    pred = np.asarray(pred)
    if np.iscomplexobj(gt):
        gt = np.abs(gt)
    if np.iscomplexobj(pred):
        pred = np.abs(pred)
    if gt.shape != pred.shape:
        raise ValueError(
            f"Invalid value for argument `pred`. Expected the shape of `gt` {gt.shape}. Received: pred.shape={pred.shape}"
        )
    return gt.astype(np.float64), pred.astype(np.float64)


def nmse(gt, pred):
    """Normalized MSE `||gt - pred||^2 / ||gt||^2` over the whole array; float."""
    gt, pred = _pair(gt, pred)
    return float(np.sum((gt - pred) ** 2) / np.sum(gt**2))


def psnr(gt, pred, maxval=None):
    """PSNR in dB over the whole array with ``data_range = maxval`` (default ``gt.max()``)."""
    gt, pred = _pair(gt, pred)
    maxval = gt.max() if maxval is None else float(maxval)
    mse = np.mean((gt - pred) ** 2)
    return float(10 * np.log10(maxval**2 / mse))


def _box_mean(x, size):
    """Mean over all `size x size` windows fully inside the last two axes ('valid')."""
    c = np.cumsum(np.cumsum(x, axis=-2), axis=-1)
    c = np.pad(c, [(0, 0)] * (x.ndim - 2) + [(1, 0), (1, 0)])
    s = c[..., size:, size:] - c[..., :-size, size:] - c[..., size:, :-size] + c[..., :-size, :-size]
    return s / size**2


def ssim_map(x, y, data_range, win_size=WIN_SIZE):
    """SSIM map of images `(..., H, W)` on windows fully inside the image: `(..., H-6, W-6)`."""
    n = win_size**2
    cov_norm = n / (n - 1)
    ux, uy = _box_mean(x, win_size), _box_mean(y, win_size)
    vx = cov_norm * (_box_mean(x * x, win_size) - ux * ux)
    vy = cov_norm * (_box_mean(y * y, win_size) - uy * uy)
    vxy = cov_norm * (_box_mean(x * y, win_size) - ux * uy)
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    return ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))


def ssim(gt, pred, maxval=None):
    """Mean SSIM over slices of `(slices, H, W)` (or one `(H, W)` image), ``data_range = maxval``
    (default ``gt.max()`` of the whole volume), 7x7 uniform window."""
    gt, pred = _pair(gt, pred)
    if gt.ndim not in (2, 3) or min(gt.shape[-2:]) < WIN_SIZE:
        raise ValueError(
            f"Invalid value for argument `gt`. Expected (slices, H, W) or (H, W) with H, W >= {WIN_SIZE}. "
            f"Received: gt.shape={gt.shape}"
        )
    maxval = gt.max() if maxval is None else float(maxval)
    volume_gt = gt.reshape((-1,) + gt.shape[-2:])
    volume_pred = pred.reshape((-1,) + gt.shape[-2:])
    per_slice = ssim_map(volume_gt, volume_pred, maxval).mean(axis=(-2, -1))
    return float(per_slice.mean())
