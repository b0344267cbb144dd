"""Domain-randomized training data from the MNI152 template (in the spirit of SynthSeg/SynthMR).

Each example draws, from its own seed: a smooth random deformation with a random affine part,
flips; a tissue contrast (random intensities of the template's grey matter, white matter and
CSF probability maps, which nilearn ships); a smooth bias field; a ring of 4-8 loop coils of
random radius, ellipticity and rotation; a smooth background phase of random strength; and an
SNR drawn log-uniformly. Coil counts of 4 to ``MAX_COILS`` are stored padded with empty coils to
``MAX_COILS`` so that examples batch together. Accelerations and centre fractions are per example already: give the
mask fastMRI's lists (``center_fractions: [0.08, 0.04], accelerations: [4, 8]``).

The measurement is exact on the example's own grid: ``kspace = F(S x) + noise`` for the image
``x`` and maps ``S`` returned with it, so ``A x = y - noise`` holds to rounding. Examples have
320 phase-encoding columns (fastMRI's clinical width); the fully sampled readout is cropped in
hybrid (x, ky) space to a band of rows (``crop_readout``), which keeps that identity exact for
the cropped image and maps, at a fraction of the cost.

The coil arrays of the generalization set (``mrinets.data.generalization``: a 12-coil ring at
radius 1.5, a one-sided arc, a planar anterior/posterior array) stay out of this distribution:
rings here have radius 1.6 to 2.4.
"""

import os

import numpy as np

from mrinets.ops.fft import fftn_np, ifftn_np

VERSION = 1
MAX_COILS = 8


def load_tissue_maps():
    """Grey matter, white matter and CSF probability maps of the MNI152 2009a template,
    float32 `(3, x, y, z)` in [0, 1] (CSF: the brain mask less grey and white matter)."""
    from nilearn import datasets

    gm = np.asarray(datasets.load_mni152_gm_template(resolution=1).get_fdata(), np.float32)
    wm = np.asarray(datasets.load_mni152_wm_template(resolution=1).get_fdata(), np.float32)
    brain = np.asarray(datasets.load_mni152_brain_mask(resolution=1).get_fdata(), np.float32)
    gm, wm = gm / max(gm.max(), 1e-6), wm / max(wm.max(), 1e-6)
    csf = np.clip(brain - gm - wm, 0, 1)
    return np.stack([gm, wm, csf])


def smooth_field(shape, rng, nodes=5):
    """A smooth random field `(H, W)` in about [-1, 1]: Gaussian values on a coarse grid, cubic-upsampled."""
    from scipy import ndimage

    coarse = rng.standard_normal((nodes, nodes))
    field = ndimage.zoom(coarse, (shape[0] / nodes, shape[1] / nodes), order=3, mode="nearest")[: shape[0], : shape[1]]
    return field / max(np.abs(field).max(), 1e-12)


def random_warp(images, rng, max_displacement=0.04, max_rotation=np.pi / 12, scale=(0.9, 1.1)):
    """Warp `(..., H, W)` images with one random rotation/scale/flip and a smooth displacement
    (at most ``max_displacement`` of the side); linear interpolation."""
    from scipy import ndimage

    h, w = images.shape[-2:]
    y, x = np.meshgrid(np.arange(h) - (h - 1) / 2, np.arange(w) - (w - 1) / 2, indexing="ij")
    angle, zoom = rng.uniform(-max_rotation, max_rotation), rng.uniform(*scale)
    cos, sin = np.cos(angle) / zoom, np.sin(angle) / zoom
    sy = cos * y - sin * x + (h - 1) / 2 + max_displacement * h * smooth_field((h, w), rng)
    sx = sin * y + cos * x + (w - 1) / 2 + max_displacement * w * smooth_field((h, w), rng)
    if rng.uniform() < 0.5:
        sx = (w - 1) - sx
    flat = images.reshape((-1, h, w))
    out = np.stack([ndimage.map_coordinates(im, [sy, sx], order=1, mode="constant") for im in flat])
    return out.reshape(images.shape)


def random_contrast(tissues, rng):
    """An image from `(3, H, W)` tissue maps with random intensities in [0.05, 1] per tissue."""
    weights = rng.uniform(0.05, 1.0, size=3)
    return np.tensordot(weights, tissues, axes=1)


def ring_maps(shape, rng):
    """Loop-coil maps `(C, H, W)` of a random ring: 4 to ``MAX_COILS`` coils, radius 1.6-2.4 half-FOVs,
    ellipticity 0.8-1.25, random rotation, magnitude falling as distance**-(1 to 2)."""
    from mrinets.data.generalization import surface_coil_maps

    num_coils = int(rng.integers(4, MAX_COILS + 1))
    radius, ellipticity = rng.uniform(1.6, 2.4), rng.uniform(0.8, 1.25)
    angles = rng.uniform(0, 2 * np.pi) + 2 * np.pi * np.arange(num_coils) / num_coils
    positions = np.stack([radius * ellipticity * np.cos(angles), radius * np.sin(angles)], axis=1)
    return surface_coil_maps(shape, positions, decay=rng.uniform(1.0, 2.0), rng=rng)


def crop_readout(kspace, rows, start=None):
    """Crop the readout (second-to-last) axis of k-space to ``rows`` image rows in hybrid space.

    Inverse FFT along the readout, keep rows ``[start, start + rows)`` (default: the centre),
    FFT back. As the 2D FFT is separable and masks sample whole readout lines, the result is
    the k-space of the cropped coil images: data consistency stays exact.

    Args:
        kspace: `(..., H, W)` complex k-space, fully sampled along the readout.
        rows: rows to keep (<= H).
        start: first kept row.

    Returns:
        `(..., rows, W)` complex64.
    """
    h = kspace.shape[-2]
    if not 0 < rows <= h:
        raise ValueError(f"Invalid value for argument `rows`. Expected 1 to {h}. Received: rows={rows}")
    start = (h - rows) // 2 if start is None else int(start)
    hybrid = np.fft.fftshift(np.fft.ifft(np.fft.ifftshift(kspace, axes=-2), axis=-2, norm="ortho"), axes=-2)
    hybrid = hybrid[..., start : start + rows, :]
    return np.fft.fftshift(np.fft.fft(np.fft.ifftshift(hybrid, axes=-2), axis=-2, norm="ortho"), axes=-2).astype(np.complex64)


def randomized_example(tissues, rng, rows=128, cols=320, snr_range=(15.0, 80.0)):
    """One domain-randomized example.

    Args:
        tissues: `(3, H, W)` tissue maps of a slice on a square FOV (any size; resampled to ``cols``).
        rng: ``numpy.random.Generator``.
        rows: readout rows kept (hybrid-space crop of a random band through the anatomy).
        cols: phase-encoding columns.
        snr_range: SNR (mean foreground RSS / noise std) drawn log-uniformly.

    Returns:
        dict: `image` `(rows, cols)` complex64, `maps` `(C, rows, cols)` complex64, `kspace`
        `(C, rows, cols)` complex64 (with noise), `noise` (the noise added), `target` `(rows, cols)`
        float32 (RSS of the noisy fully sampled k-space).
    """
    from scipy import ndimage

    from mrinets.data.simulate import noise_covariance, smooth_phase

    tissues = ndimage.zoom(tissues, (1, cols / tissues.shape[1], cols / tissues.shape[2]), order=1)[:, :cols, :cols]
    tissues = random_warp(np.clip(tissues, 0, None), rng)
    magnitude = random_contrast(tissues, rng)
    magnitude *= np.exp(rng.uniform(0, 0.5) * smooth_field(magnitude.shape, rng, nodes=3))
    magnitude /= max(magnitude.max(), 1e-12)
    image = magnitude * np.exp(1j * smooth_phase(magnitude.shape, rng, max_phase=rng.uniform(0, np.pi)))
    maps = ring_maps(magnitude.shape, rng)
    rows_with_signal = np.flatnonzero(magnitude.max(axis=1) > 0.05)
    centre = int(rng.choice(rows_with_signal)) if rows_with_signal.size else cols // 2
    start = int(np.clip(centre - rows // 2, 0, cols - rows))
    clean = crop_readout(fftn_np(maps * image[None], rank=2), rows, start)
    image, maps = image[start : start + rows].astype(np.complex64), maps[:, start : start + rows]
    rss = np.sqrt((np.abs(ifftn_np(clean, rank=2)) ** 2).sum(0))
    foreground = rss > 0.1 * rss.max()
    sigma = rss[foreground].mean() / np.exp(rng.uniform(*np.log(snr_range))) if foreground.any() else 0.0
    chol = np.linalg.cholesky(noise_covariance(maps.shape[0], rng, correlation=rng.uniform(0.0, 0.3)))
    white = (rng.standard_normal(clean.shape) + 1j * rng.standard_normal(clean.shape)) / np.sqrt(2)
    noise = (np.einsum("ij,jhw->ihw", chol, white) * sigma).astype(np.complex64)
    kspace = clean + noise
    target = np.sqrt((np.abs(ifftn_np(kspace, rank=2)) ** 2).sum(0)).astype(np.float32)
    return {"image": image, "maps": maps, "kspace": kspace, "noise": noise, "target": target}


def _axial_tissues(tissues, step):
    from mrinets.data.builtin import _axial_slices

    brain = tissues.sum(0)
    return np.stack([_axial_slices(t, step, reference=brain) for t in tissues], axis=1)  # (slices, 3, 240, 240)


def prepare_randomized(cache_dir=None, rows=128, cols=320, num_train_subjects=3, slice_step=2, val_slices=12, gap=3,
                       seed=0, force=False, progress=True):
    """Prepare the domain-randomized built-in set (``data.builtin: mni152_random``); return its folder.

    ``train/``: ``num_train_subjects`` files, each the training slab with every slice randomized
    from its own seed. ``val/``: the validation slab of ``prepare_builtin`` (same slices left
    out with a ``gap``), simulated without randomization: T1 contrast, an 8-coil ring, SNR 40.
    Both at ``rows`` x ``cols`` (readout cropped in hybrid space). Deterministic, idempotent.
    """
    from mrinets.arguments import check_int
    from mrinets.cache import prepared_folder, write_manifest
    from mrinets.data.builtin import _Progress, load_mni152, split_slab
    from mrinets.data.simulate import birdcage_maps, noise_covariance, smooth_phase, write_fastmri_h5

    rows, cols = check_int(rows, "rows", 16), check_int(cols, "cols", 16)
    if rows > cols:
        raise ValueError(f"Invalid value for argument `rows`. Expected at most cols={cols}. Received: rows={rows}")
    params = {"version": VERSION, "rows": rows, "cols": cols, "subjects": check_int(num_train_subjects, "num_train_subjects", 1),
              "slice_step": slice_step, "val_slices": val_slices, "gap": gap, "seed": int(seed)}
    root, manifest = prepared_folder(cache_dir, f"mni152_random-{rows}x{cols}", params)
    if os.path.exists(manifest) and not force:
        return root
    tissues = _axial_tissues(load_tissue_maps(), slice_step)
    train_idx, val_idx = split_slab(len(tissues), val_slices, gap)
    bar = _Progress(num_train_subjects + 1, "Preparing randomized MNI152 data", progress)
    files = {"train": [], "val": []}
    for subject in range(num_train_subjects):
        examples = [randomized_example(tissues[i], np.random.default_rng([int(seed), subject, int(i)]), rows, cols)
                    for i in train_idx]
        path = os.path.join(root, "train", f"mni152_random_train_{subject:02d}.h5")
        kspace = np.zeros((len(examples), MAX_COILS, rows, cols), np.complex64)
        for k, e in enumerate(examples):
            kspace[k, : e["kspace"].shape[0]] = e["kspace"]
        write_fastmri_h5(path, kspace, np.stack([e["target"] for e in examples]),
                         attrs={"acquisition": "AXT_MNI152_RANDOMIZED_SIM", "slices": np.asarray(train_idx, np.int32)})
        files["train"].append(os.path.relpath(path, root))
        bar.update()
    volume = load_mni152()
    from mrinets.data.builtin import _axial_slices
    from scipy import ndimage

    slices = _axial_slices(volume, slice_step)[val_idx]
    slices = ndimage.zoom(slices, (1, cols / slices.shape[1], cols / slices.shape[2]), order=1)[:, :cols, :cols]
    rng = np.random.default_rng([int(seed), 999])
    maps = birdcage_maps((cols, cols), 8)
    chol = np.linalg.cholesky(noise_covariance(8, rng))
    kspace, targets = [], []
    for image in slices:
        full = fftn_np(maps * (image * np.exp(1j * smooth_phase(image.shape, rng)))[None], rank=2)
        clean = crop_readout(full, rows)
        rss = np.sqrt((np.abs(ifftn_np(clean, rank=2)) ** 2).sum(0))
        sigma = rss[rss > 0.1 * rss.max()].mean() / 40.0
        white = (rng.standard_normal(clean.shape) + 1j * rng.standard_normal(clean.shape)) / np.sqrt(2)
        noisy = clean + np.einsum("ij,jhw->ihw", chol, white) * sigma
        kspace.append(noisy)
        targets.append(np.sqrt((np.abs(ifftn_np(noisy, rank=2)) ** 2).sum(0)))
    path = os.path.join(root, "val", "mni152_random_val_00.h5")
    write_fastmri_h5(path, np.stack(kspace), np.stack(targets).astype(np.float32),
                     attrs={"acquisition": "AXT1_MNI152_SIM", "slices": np.asarray(val_idx, np.int32)})
    files["val"].append(os.path.relpath(path, root))
    bar.update()
    write_manifest(manifest, {"params": params, "files": files, "source": "nilearn MNI152 2009a templates (T1, GM, WM, mask)"})
    return root
