"""Built-in 3D data: multi-coil 3D Cartesian k-space simulated from the MNI152 template volume.

``data: {builtin: mni152_3d}`` prepares it once (``prepare_builtin_3d``) into the cache, in the
3D layout of ``mrinets.data.volumes`` (one file per volume region, the readout already inverse
Fourier transformed). The acquisition is sagittal-like: readout superior-inferior, phase
encodings left-right (kz) and anterior-posterior (ky). See ``mrinets.data.builtin`` for the
template's origin and licence.

No inverse crime: the anatomy lives on a 2 mm grid (100^3 voxels, 200 mm FOV) where coil
maps and phase are applied and k-space is computed; it is then truncated to the coarser
``matrix`` (same FOV) and gets correlated complex noise. Train/validation split by region
along the readout: validation is a contiguous block of readout positions, ``gap`` positions
on each side belong to neither split, and every training "subject" (its own coil rotation,
phase and noise) contributes the two remaining blocks.
"""

import os

import numpy as np

from mrinets.arguments import check_int
from mrinets.cache import prepared_folder, write_manifest
from mrinets.data.builtin import _Progress, load_mni152, split_slab
from mrinets.data.prepared import SPLITS, PreparedDataset
from mrinets.data.simulate import noise_covariance
from mrinets.data.volumes import write_hybrid_h5
from mrinets.ops.fft import fftn_np, ifftn_np

VERSION = 1
FINE = 100  # 2 mm grid, 200 mm FOV: k-space is computed here before truncation
FOV_MM = 200.0


def head_volume():
    """The template on the fine grid: float32 `(FINE,) * 3` in [0, 1], axes (superior->inferior,
    left->right, anterior->posterior), brain centred (2x2x2 block means of the 1 mm template)."""
    volume = load_mni152()  # (x: L->R, y: P->A, z: I->S), 1 mm
    inside = volume > 0.05
    cube = np.zeros((2 * FINE,) * 3, np.float32)
    source, target = [], []
    for axis in range(3):
        profile = np.flatnonzero(inside.any(axis=tuple(a for a in range(3) if a != axis)))
        centre = (profile.min() + profile.max() + 1) // 2
        lo = centre - FINE
        s0, s1 = max(lo, 0), min(lo + 2 * FINE, volume.shape[axis])
        source.append(slice(s0, s1))
        target.append(slice(s0 - lo, s1 - lo))
    cube[tuple(target)] = volume[tuple(source)]
    fine = cube.reshape(FINE, 2, FINE, 2, FINE, 2).mean(axis=(1, 3, 5))
    # (L->R, P->A, I->S) -> (S->I, L->R, A->P)
    return np.ascontiguousarray(fine.transpose(2, 0, 1)[::-1, :, ::-1])


def coil_maps_3d(shape, num_coils, rotation=0.0, radius=1.6):
    """Coil sensitivities of a head array: two rings of coils around the readout axis.

    Args:
        shape: `(X, Z, Y)` grid (X the readout axis the rings go around).
        num_coils: coils, split between a superior and an inferior ring.
        rotation: rotation of the rings about the readout axis (radians).
        radius: ring radius relative to the half FOV.

    Returns:
        `(num_coils, X, Z, Y)` complex64 maps, scaled so that the largest RSS value is 1.
    """
    x, z, y = np.meshgrid(*(np.linspace(-1, 1, n, dtype=np.float32) for n in shape), indexing="ij")
    upper = (num_coils + 1) // 2
    maps = np.empty((num_coils,) + tuple(shape), np.complex64)
    for c in range(num_coils):
        ring, index, count = (0, c, upper) if c < upper else (1, c - upper, num_coils - upper)
        angle = rotation + 2 * np.pi * (index + 0.5 * ring) / count
        cx, cz, cy = (-0.5 if ring == 0 else 0.5), radius * np.cos(angle), radius * np.sin(angle)
        dist = np.sqrt((x - cx) ** 2 + (z - cz) ** 2 + (y - cy) ** 2)
        maps[c] = np.exp(1j * (np.arctan2(y - cy, z - cz) - angle + 0.5 * (x - cx))) / dist
    return maps / np.sqrt((np.abs(maps) ** 2).sum(0)).max()


def smooth_phase_3d(shape, rng, max_phase=np.pi / 2, order=2):
    """A smooth random phase `(X, Z, Y)` (float32 radians): a random low-order 3D polynomial."""
    x, z, y = np.meshgrid(*(np.linspace(-1, 1, n, dtype=np.float32) for n in shape), indexing="ij")
    phase = np.zeros(shape, np.float32)
    for i in range(order + 1):
        for j in range(order + 1 - i):
            for k in range(order + 1 - i - j):
                phase += rng.uniform(-1, 1) * x**i * z**j * y**k / (1 + i + j + k)
    phase -= phase.mean()
    return max_phase * phase / max(float(np.abs(phase).max()), 1e-12)


def simulate_volume(image, matrix, num_coils=8, snr=30.0, rng=None, rotation=0.0):
    """Multi-coil 3D k-space of a fine-grid magnitude volume, in hybrid space.

    Args:
        image: `(Xf, Zf, Yf)` real volume on the fine grid.
        matrix: `(X, Z, Y)` target matrix (no larger than the fine grid; same FOV).
        num_coils, snr (mean foreground RSS / per-coil noise sigma, image domain), rng, rotation.

    Returns:
        dict: `hybrid` `(X, coils, Z, Y)` complex64 k-space inverse-transformed along the
        readout, `target` `(X, Z, Y)` float32 RSS of the noisy fully sampled data, `sigma`.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    fine = image.shape
    maps = coil_maps_3d(fine, num_coils, rotation)
    coil_images = maps * (image * np.exp(1j * smooth_phase_3d(fine, rng))).astype(np.complex64)[None]
    kspace = fftn_np(coil_images, rank=3)
    starts = [(f - m + 1) // 2 for f, m in zip(fine, matrix)]
    kspace = kspace[(slice(None),) + tuple(slice(s, s + m) for s, m in zip(starts, matrix))]
    kspace = kspace * np.sqrt(np.prod(matrix) / np.prod(fine))
    clean_rss = np.sqrt((np.abs(ifftn_np(kspace, rank=3)) ** 2).sum(0))
    sigma = float(clean_rss[clean_rss > 0.1 * clean_rss.max()].mean() / snr)
    chol = np.linalg.cholesky(noise_covariance(num_coils, rng))
    white = (rng.standard_normal(kspace.shape) + 1j * rng.standard_normal(kspace.shape)) / np.sqrt(2)
    kspace = kspace + np.einsum("ij,j...->i...", chol, white) * sigma
    hybrid = np.fft.fftshift(np.fft.ifft(np.fft.ifftshift(kspace, axes=1), axis=1, norm="ortho"), axes=1)
    target = np.sqrt((np.abs(ifftn_np(hybrid, rank=2)) ** 2).sum(0))
    return {"hybrid": np.ascontiguousarray(hybrid.transpose(1, 0, 2, 3)).astype(np.complex64),
            "target": target.astype(np.float32), "sigma": sigma}


def _runs(indices):
    """Split sorted indices into contiguous runs."""
    return [run for run in np.split(indices, np.flatnonzero(np.diff(indices) > 1) + 1) if run.size]


def prepare_builtin_3d(cache_dir=None, matrix=64, num_coils=8, snr=30.0, num_train_subjects=2, val_positions=16,
                       gap=2, seed=0, force=False, progress=True):
    """Prepare the 3D MNI152 dataset once; return its folder (with `train/` and `val/`).

    Args:
        cache_dir: root folder (default: ``default_cache_dir()``).
        matrix: cubic matrix size (< 100, the fine grid), 200 mm FOV.
        num_coils, snr, num_train_subjects, seed.
        val_positions: readout positions of the validation region; ``gap`` on each side are dropped.
        force: rebuild even if complete.
        progress: print progress to stderr.

    Returns:
        Path of the dataset folder. Deterministic for given arguments; a `manifest.json` marks
        a complete build; files are written to temporary names and renamed.
    """
    matrix = check_int(matrix, "matrix", 16)
    if matrix >= FINE:
        raise ValueError(f"Invalid value for argument `matrix`. Expected less than {FINE} (k-space comes from the "
                         f"finer {FINE}^3 grid). Received: matrix={matrix}")
    num_coils = check_int(num_coils, "num_coils", 1)
    num_train_subjects = check_int(num_train_subjects, "num_train_subjects", 1)
    val_positions = check_int(val_positions, "val_positions", 1)
    gap = check_int(gap, "gap", 0)
    if val_positions + 2 * gap >= matrix:
        raise ValueError(f"Invalid value for argument `val_positions`. Expected a region leaving training positions "
                         f"out of {matrix} (with gap={gap}). Received: val_positions={val_positions}")
    params = {"version": VERSION, "matrix": matrix, "num_coils": num_coils, "snr": float(snr),
              "num_train_subjects": num_train_subjects, "val_positions": val_positions, "gap": gap, "seed": int(seed)}
    root, manifest = prepared_folder(cache_dir, f"mni152_3d-{matrix}-{num_coils}c", params)
    if os.path.exists(manifest) and not force:
        return root
    train_idx, val_idx = split_slab(matrix, val_positions, gap)
    image = head_volume()
    bar = _Progress(num_train_subjects * len(_runs(train_idx)) + 1, "Preparing MNI152 3D data", progress)
    files = {}
    for subject in range(num_train_subjects + 1):
        split = "val" if subject == num_train_subjects else "train"
        rng = np.random.default_rng([int(seed), subject])
        sim = simulate_volume(image, (matrix,) * 3, num_coils=num_coils, snr=snr, rng=rng,
                              rotation=2 * np.pi * subject / (num_train_subjects + 1) / num_coils)
        regions = [val_idx] if split == "val" else _runs(train_idx)
        for part, idx in enumerate(regions):
            name = f"mni152_3d_{split}_{subject:02d}_{part}.h5" if split == "train" else "mni152_3d_val_00.h5"
            path = os.path.join(root, split, name)
            write_hybrid_h5(path, sim["hybrid"][idx], sim["target"][idx],
                            attrs={"acquisition": "3DT1_MNI152_SIM", "patient_id": f"mni152_3d-{split}-{subject}",
                                   "readout_positions": np.asarray(idx, np.int32), "noise_sigma": sim["sigma"]})
            files.setdefault(split, []).append(os.path.relpath(path, root))
            bar.update()
    write_manifest(manifest, {"params": params, "files": files, "source": "nilearn MNI152 2009a T1 template"})
    return root


class PreparedVolumes(PreparedDataset):
    """A ``PreparedDataset`` of 3D files: calling it reads random readout slabs of ``slab`` positions
    for ``"train"`` (``build_slab_dataset``) and whole volumes for ``"val"`` (``build_volume_dataset``);
    the preparation options go to ``prepare``, the other keywords to those builders (``mask``, ...)."""

    def __call__(self, split="train", cache_dir=None, slab=16, **kwargs):
        from mrinets.data.volumes import build_slab_dataset, build_volume_dataset

        if split not in SPLITS:
            raise ValueError(f"Invalid value for argument `split`. Expected one of {SPLITS}. Received: split={split!r}")
        options = {name: kwargs.pop(name) for name in self.options if name in kwargs}
        root = self.prepare(cache_dir=cache_dir, **options)
        if split == "train":
            return build_slab_dataset(os.path.join(root, "train"), slab=slab, **kwargs)
        return build_volume_dataset(os.path.join(root, "val"), **kwargs)


#: Registered by the built-in plugin beside ``mrinets.data.builtin.DATASETS``.
DATASETS_3D = {"mni152_3d": PreparedVolumes(prepare_builtin_3d)}
