"""Simulate realistic multi-coil k-space from magnitude images and write fastMRI-layout files.

Realism without inverse crime: smooth birdcage coil sensitivities, a smooth random
phase, k-space computed on the image's own (finer) grid and truncated to the target
matrix, and complex Gaussian noise correlated across coils (noise covariance).
"""

import contextlib
import os
import tempfile

import h5py
import numpy as np

from mrinets.ops.fft import fftn_np, ifftn_np

ISMRMRD_NS = "http://www.ismrm.org/ISMRMRD"


def birdcage_maps(shape, num_coils, radius=2.0, rotation=0.0):
    """Birdcage-like coil sensitivities on a ring of ``num_coils`` coils around the FOV.

    Args:
        shape: `(H, W)` grid.
        num_coils: number of coils.
        radius: ring radius relative to the half field of view (corners are at sqrt(2)).
        rotation: rotation of the ring in radians.

    Returns:
        `(num_coils, H, W)` complex64, scaled so that the largest RSS value is 1.
    """
    h, w = shape
    y, x = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    maps = np.empty((num_coils, h, w), np.complex128)
    for c in range(num_coils):
        angle = rotation + 2 * np.pi * c / num_coils
        cx, cy = radius * np.cos(angle), radius * np.sin(angle)
        dist = np.hypot(x - cx, y - cy)
        # Magnitude falls off with distance to the coil; phase turns with the angle seen from it.
        maps[c] = np.exp(1j * (np.arctan2(y - cy, x - cx) - angle)) / dist
    maps /= np.sqrt((np.abs(maps) ** 2).sum(0)).max()
    return maps.astype(np.complex64)


def smooth_phase(shape, rng, max_phase=np.pi / 2, order=3):
    """A smooth random phase map `(H, W)` (float64 radians): a random low-order 2D polynomial."""
    h, w = shape
    y, x = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    phase = np.zeros(shape)
    for i in range(order + 1):
        for j in range(order + 1 - i):
            phase += rng.uniform(-1, 1) * x**i * y**j / (1 + i + j)
    phase -= phase.mean()
    return max_phase * phase / max(np.abs(phase).max(), 1e-12)


def noise_covariance(num_coils, rng, correlation=0.15):
    """A random Hermitian positive-definite coil noise covariance with unit mean diagonal."""
    a = rng.standard_normal((num_coils, num_coils)) + 1j * rng.standard_normal((num_coils, num_coils))
    cov = np.eye(num_coils) + correlation * (a @ a.conj().T) / num_coils
    gains = rng.uniform(0.8, 1.2, num_coils)
    cov = cov * np.outer(gains, gains)
    return cov / np.real(np.trace(cov)) * num_coils


def simulate_multicoil(images, matrix, num_coils=8, snr=40.0, rng=None, rotation=0.0, covariance=None, maps=None,
                       max_phase=np.pi / 2):
    """Multi-coil k-space from magnitude images on a finer grid.

    Args:
        images: `(slices, Hf, Wf)` real magnitude images on the fine grid.
        matrix: `(H, W)` target matrix, at most `(Hf, Wf)`; k-space is truncated to it (same FOV,
            coarser resolution).
        num_coils: coils of the birdcage array.
        snr: mean foreground RSS signal / noise standard deviation (per coil, image domain).
        rng: ``numpy.random.Generator`` (default seeded 0).
        rotation: rotation of the coil ring (radians).
        covariance: optional `(coils, coils)` noise covariance (default ``noise_covariance``).
        maps: optional `(coils, Hf, Wf)` coil sensitivities on the fine grid (default: the birdcage
            ring of ``num_coils`` coils turned by ``rotation``).
        max_phase: largest value of the smooth random image phase (radians).

    Returns:
        dict: `kspace` `(slices, coils, H, W)` complex64, `target` `(slices, H, W)` float32 RSS of
        the noisy fully sampled k-space (fastMRI's `reconstruction_rss`), `maps` `(coils, Hf, Wf)`,
        `covariance`, `sigma`.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    images = np.asarray(images, np.float64)
    if images.ndim != 3:
        raise ValueError(f"Invalid value for argument `images`. Expected (slices, H, W). Received: shape={images.shape}")
    fine = images.shape[1:]
    matrix = tuple(int(m) for m in matrix)
    if len(matrix) != 2 or any(m < 1 or m > f for m, f in zip(matrix, fine)):
        raise ValueError(
            f"Invalid value for argument `matrix`. Expected two sizes no larger than the image grid {fine}. "
            f"Received: matrix={matrix}"
        )
    maps = birdcage_maps(fine, num_coils, rotation=rotation) if maps is None else np.asarray(maps, np.complex64)
    if maps.shape[1:] != fine:
        raise ValueError(f"Invalid value for argument `maps`. Expected (coils, {fine[0]}, {fine[1]}) like the images. "
                         f"Received: maps.shape={maps.shape}")
    num_coils = maps.shape[0]
    covariance = noise_covariance(num_coils, rng) if covariance is None else np.asarray(covariance)
    chol = np.linalg.cholesky(covariance)
    starts = [(f - m + 1) // 2 for f, m in zip(fine, matrix)]
    crop = (slice(None), slice(None), slice(starts[0], starts[0] + matrix[0]), slice(starts[1], starts[1] + matrix[1]))
    scale = np.sqrt(matrix[0] * matrix[1] / (fine[0] * fine[1]))
    clean = []
    for image in images:
        phase = np.exp(1j * smooth_phase(fine, rng, max_phase=max_phase))
        coil_images = maps * (image * phase)[None]
        clean.append(fftn_np(coil_images[None], rank=2)[crop][0] * scale)
    clean = np.stack(clean)
    clean_rss = np.sqrt((np.abs(ifftn_np(clean, rank=2)) ** 2).sum(1))
    foreground = clean_rss > 0.1 * clean_rss.max()
    sigma = clean_rss[foreground].mean() / snr if foreground.any() else 0.0
    white = (rng.standard_normal(clean.shape) + 1j * rng.standard_normal(clean.shape)) / np.sqrt(2)
    noise = np.einsum("ij,sjhw->sihw", chol, white) * sigma
    kspace = (clean + noise).astype(np.complex64)
    target = np.sqrt((np.abs(ifftn_np(kspace, rank=2)) ** 2).sum(1)).astype(np.float32)
    return {"kspace": kspace, "target": target, "maps": maps, "covariance": covariance, "sigma": sigma}


def make_header(encoded_size, recon_size, fov_mm=(240.0, 240.0, 5.0)):
    """A minimal ISMRMRD XML header with encodedSpace/reconSpace matrix sizes (x, y, z)."""
    enc = tuple(encoded_size) + (1,) * (3 - len(encoded_size))
    rec = tuple(recon_size) + (1,) * (3 - len(recon_size))

    def space(tag, size):
        return (
            f"<{tag}><matrixSize><x>{size[0]}</x><y>{size[1]}</y><z>{size[2]}</z></matrixSize>"
            f"<fieldOfView_mm><x>{fov_mm[0]}</x><y>{fov_mm[1]}</y><z>{fov_mm[2]}</z></fieldOfView_mm></{tag}>"
        )

    limits = (
        f"<encodingLimits><kspace_encoding_step_1><minimum>0</minimum><maximum>{enc[1] - 1}</maximum>"
        f"<center>{enc[1] // 2}</center></kspace_encoding_step_1></encodingLimits>"
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<ismrmrdHeader xmlns="{ISMRMRD_NS}"><encoding>'
        f"{space('encodedSpace', enc)}{space('reconSpace', rec)}{limits}<trajectory>cartesian</trajectory>"
        f"</encoding></ismrmrdHeader>"
    )


@contextlib.contextmanager
def atomic_h5(path):
    """An ``h5py.File`` open for writing under a temporary name beside ``path``, moved to ``path`` when the
    block ends without an error and removed when it raises: a reader never sees a half-written file."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".h5", dir=directory)
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_fastmri_h5(path, kspace, target=None, target_key="reconstruction_rss", attrs=None, mask=None,
                     encoded_size=None, recon_size=None, header=None):
    """Write a fastMRI-layout file atomically (temporary file, then rename).

    Args:
        path: destination `.h5`.
        kspace: `(slices, coils, H, W)` or `(slices, H, W)` complex.
        target: optional `(slices, h, w)` float32, stored under ``target_key``.
        attrs: extra file attributes; `max` and `norm` of the target are added when a target is given.
        mask: optional `(W,)` mask (test-style files).
        encoded_size, recon_size: header matrix sizes (default: k-space and target shapes).
        header: the ISMRMRD XML to store instead of a generated one (converted raw data).
    """
    path = os.fspath(path)
    kspace = np.asarray(kspace, np.complex64)
    encoded_size = encoded_size or (kspace.shape[-2], kspace.shape[-1], 1)
    recon_size = recon_size or ((target.shape[-2], target.shape[-1], 1) if target is not None else encoded_size)
    with atomic_h5(path) as f:
        f.create_dataset("kspace", data=kspace, chunks=(1,) + kspace.shape[1:])
        if target is not None:
            target = np.asarray(target, np.float32)
            f.create_dataset(target_key, data=target)
            f.attrs["max"] = float(target.max())
            f.attrs["norm"] = float(np.linalg.norm(target))
        if mask is not None:
            f.create_dataset("mask", data=np.asarray(mask).astype(bool))
        xml = make_header(encoded_size, recon_size) if header is None else header
        f.create_dataset("ismrmrd_header", data=np.bytes_(xml.encode("utf-8") if isinstance(xml, str) else xml))
        for key, value in (attrs or {}).items():
            f.attrs[key] = value
    return path
