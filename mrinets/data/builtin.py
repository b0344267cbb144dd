"""Built-in datasets: MNI152 brain slices (default) and a tiny Shepp-Logan set for tests.

MNI152 template. The anatomy is the ICBM 2009a Nonlinear Symmetric T1 template
(``mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz``, 1 mm, skull-stripped) that
``nilearn`` ships inside its package, so no download is needed. Licence of the
template (McConnell Brain Imaging Centre, Montreal Neurological Institute, McGill
University; Fonov et al., NeuroImage 2011; Collins et al. 1999): a permissive
notice, "Permission to use, copy, modify, and distribute this software and its
documentation for any purpose and without fee is hereby granted, provided that the
above copyright notice appear in all copies" with no warranty; cite Fonov et al.
2011/2009 when publishing. (Stated from the MNI ICBM 2009 distribution page, which
this offline build could not re-check; nilearn redistributes the file.)

Prepared data are fastMRI-layout h5 files (``mrinets.data.fastmri``), so the
standard reader and pipeline serve them.
"""

import os
import sys

import numpy as np

from mrinets.arguments import check_int
from mrinets.cache import default_cache_dir, prepared_folder, write_manifest
from mrinets.data.augment import prepare_randomized
from mrinets.data.generalization import prepare_generalization
from mrinets.data.noncartesian import prepare_noncartesian_builtin
from mrinets.data.prepared import PreparedDataset
from mrinets.data.simulate import simulate_multicoil, write_fastmri_h5

VERSION = 2
FINE_GRID = 240  # 1 mm grid (240 mm FOV) on which k-space is computed before truncation


class _Progress:
    """A progress bar on stderr; where stderr is not a terminal (a log file), a start and an end line."""

    def __init__(self, total, label, enabled):
        self.total, self.label, self.enabled, self.done = total, label, enabled, 0
        self.bar = enabled and sys.stderr.isatty()
        if enabled and not self.bar:
            sys.stderr.write(f"{label}: {total} files...\n")
            sys.stderr.flush()

    def update(self, n=1):
        self.done += n
        if self.bar:
            width = 30
            filled = int(width * self.done / max(self.total, 1))
            sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}")
            if self.done >= self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()
        elif self.enabled and self.done == self.total:
            sys.stderr.write(f"{self.label}: done\n")
            sys.stderr.flush()


def load_mni152():
    """The MNI152 2009a T1 template as a float32 `(x, y, z)` volume in [0, 1] (1 mm)."""
    try:
        from nilearn.datasets import load_mni152_template

        data = np.asarray(load_mni152_template(resolution=1).get_fdata(), np.float32)
    except Exception:  # older/newer nilearn: read the packaged file directly
        import nibabel
        import nilearn

        path = os.path.join(
            os.path.dirname(nilearn.__file__), "datasets", "data", "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
        )
        data = np.asarray(nibabel.load(path).dataobj, np.float32)
    return data / data.max()


def _axial_slices(volume, step, reference=None):
    """Axial slices `(n, 240, 240)` on a 240 mm FOV (anterior up), keeping slices with brain."""
    area = ((volume if reference is None else reference) > 0.05).sum(axis=(0, 1))
    keep = np.flatnonzero(area > 0.25 * area.max())[::step]
    slices = np.rot90(volume[:, :, keep], k=1, axes=(0, 1)).transpose(2, 0, 1)
    out = np.zeros((slices.shape[0], FINE_GRID, FINE_GRID), np.float32)
    h, w = slices.shape[1:]
    sh, sw = min(h, FINE_GRID), min(w, FINE_GRID)
    oh, ow = (FINE_GRID - sh) // 2, (FINE_GRID - sw) // 2
    ih, iw = (h - sh) // 2, (w - sw) // 2
    out[:, oh : oh + sh, ow : ow + sw] = slices[:, ih : ih + sh, iw : iw + sw]
    return out


def split_slab(num_slices, val_slices, gap, position=0.55):
    """Train/validation split by slab: validation is `val_slices` contiguous slices starting near
    ``position`` of the stack; `gap` slices on each side of it belong to neither split."""
    start = int(round(position * (num_slices - val_slices)))
    val = np.arange(start, start + val_slices)
    excluded = np.arange(max(start - gap, 0), min(start + val_slices + gap, num_slices))
    train = np.setdiff1d(np.arange(num_slices), excluded)
    return train, val


def prepare_builtin(
    cache_dir=None,
    matrix=128,
    num_coils=8,
    snr=40.0,
    slice_step=2,
    num_train_subjects=2,
    val_slices=12,
    gap=3,
    seed=0,
    force=False,
    progress=True,
):
    """Prepare the MNI152 multi-coil dataset once; return its folder (with `train/` and `val/`).

    Axial slices of the template on a 1 mm 240x240 grid get birdcage coil maps (ring rotated
    per virtual subject), a smooth random phase and correlated noise (image SNR ``snr``);
    k-space is truncated to ``matrix`` x ``matrix`` (240 mm FOV). Validation is a contiguous slab
    of ``val_slices`` slices with ``gap`` slices dropped on each side (no slice leakage); each
    training "subject" is the training slab with its own coil rotation, phase and noise.
    Deterministic for given arguments; idempotent (a `manifest.json` marks a complete build);
    every file is written to a temporary name and renamed.

    Args:
        cache_dir: root folder (default: ``default_cache_dir()``).
        matrix: square k-space matrix (< 240).
        num_coils, snr, slice_step (every n-th 1 mm slice), num_train_subjects, val_slices, gap, seed.
        force: rebuild even if complete.
        progress: print a progress bar to stderr.

    Returns:
        Path of the dataset folder.
    """
    matrix = check_int(matrix, "matrix", 16)
    if matrix >= FINE_GRID:
        raise ValueError(
            f"Invalid value for argument `matrix`. Expected less than {FINE_GRID} (k-space comes from the finer "
            f"{FINE_GRID} grid). Received: matrix={matrix}"
        )
    num_coils = check_int(num_coils, "num_coils", 1)
    slice_step = check_int(slice_step, "slice_step", 1)
    num_train_subjects = check_int(num_train_subjects, "num_train_subjects", 1)
    val_slices = check_int(val_slices, "val_slices", 1)
    gap = check_int(gap, "gap", 0)
    params = {
        "version": VERSION, "matrix": matrix, "num_coils": num_coils, "snr": float(snr), "slice_step": slice_step,
        "num_train_subjects": num_train_subjects, "val_slices": val_slices, "gap": gap, "seed": int(seed),
    }
    root, manifest = prepared_folder(cache_dir, f"mni152-{matrix}-{num_coils}c", params)
    if os.path.exists(manifest) and not force:
        return root
    slices = _axial_slices(load_mni152(), slice_step)
    train_idx, val_idx = split_slab(len(slices), val_slices, gap)
    if len(train_idx) < 1:
        raise ValueError(
            f"Invalid value for argument `val_slices`. Expected a slab leaving training slices out of {len(slices)}. "
            f"Received: val_slices={val_slices}"
        )
    jobs = [("train", f"mni152_train_{k:02d}.h5", train_idx, k) for k in range(num_train_subjects)]
    jobs.append(("val", "mni152_val_00.h5", val_idx, num_train_subjects))
    bar = _Progress(len(jobs), "Preparing MNI152 data", progress)
    files = {}
    for split, name, idx, subject in jobs:
        rng = np.random.default_rng([int(seed), subject])
        sim = simulate_multicoil(
            slices[idx], (matrix, matrix), num_coils=num_coils, snr=snr, rng=rng,
            rotation=2 * np.pi * subject / (num_train_subjects + 1) / num_coils,
        )
        path = os.path.join(root, split, name)
        write_fastmri_h5(
            path, sim["kspace"], sim["target"],
            attrs={"acquisition": "AXT1_MNI152_SIM", "patient_id": f"mni152-{split}-{subject}",
                   "slices": np.asarray(idx, np.int32), "noise_sigma": float(sim["sigma"])},
        )
        files.setdefault(split, []).append(os.path.relpath(path, root))
        bar.update()
    write_manifest(manifest, {"params": params, "files": files, "source": "nilearn MNI152 2009a T1 template"})
    return root


def prepare_shepp_logan(cache_dir=None, matrix=32, num_coils=4, num_slices=4, snr=40.0, seed=0, force=False):
    """A tiny Shepp-Logan set (for fast tests): `train/` and `val/` files of ``num_slices``
    scaled/shifted phantoms each, fastMRI layout. Needs scikit-image. Returns the folder."""
    from skimage.data import shepp_logan_phantom
    from skimage.transform import resize

    matrix = check_int(matrix, "matrix", 8)
    num_coils = check_int(num_coils, "num_coils", 1)
    num_slices = check_int(num_slices, "num_slices", 1)
    fine = 2 * matrix
    root = os.path.join(default_cache_dir(cache_dir), f"shepp_logan-{matrix}-{num_coils}c-{num_slices}s-{seed}-v{VERSION}")
    manifest = os.path.join(root, "manifest.json")
    if os.path.exists(manifest) and not force:
        return root
    base = resize(shepp_logan_phantom(), (fine, fine), anti_aliasing=True).astype(np.float32)
    for k, split in enumerate(("train", "val")):
        rng = np.random.default_rng([int(seed), k])
        images = []
        for s in range(num_slices):
            zoom = 0.8 + 0.2 * s / max(num_slices - 1, 1)
            small = resize(base, (int(fine * zoom),) * 2, anti_aliasing=True)
            img = np.zeros((fine, fine), np.float32)
            o = (fine - small.shape[0]) // 2
            img[o : o + small.shape[0], o : o + small.shape[1]] = small
            images.append(img)
        sim = simulate_multicoil(np.stack(images), (matrix, matrix), num_coils=num_coils, snr=snr, rng=rng)
        write_fastmri_h5(os.path.join(root, split, f"shepp_logan_{split}.h5"), sim["kspace"], sim["target"],
                         attrs={"acquisition": "SHEPP_LOGAN_SIM"})
    write_manifest(manifest, {"matrix": matrix, "num_coils": num_coils, "num_slices": num_slices, "seed": seed})
    return root


def fastmri_dataset(path, **kwargs):
    """Registered as ``fastmri``: ``build_dataset(path, **kwargs)`` over fastMRI-layout files."""
    from mrinets.data.pipeline import build_dataset

    return build_dataset(path, **kwargs)


#: The built-in plugin's datasets; one line adds a dataset prepared into the cache.
DATASETS = {
    "fastmri": fastmri_dataset,
    "mni152": PreparedDataset(prepare_builtin),
    "shepp_logan": PreparedDataset(prepare_shepp_logan),
    "mni152_random": PreparedDataset(prepare_randomized),
    "generalization": PreparedDataset(prepare_generalization),
    "mni152_noncartesian": PreparedDataset(prepare_noncartesian_builtin, layout="noncartesian"),
}


def prepared_dataset(name):
    """The registered ``PreparedDataset`` called ``name``.

    Raises:
        UnknownNameError: no dataset ``name`` (with a did-you-mean), or one mrinets cannot prepare.
    """
    from mrinets import registry

    dataset = registry.get("dataset", name)
    if not isinstance(dataset, PreparedDataset):
        preparable = [n for n in registry.names("dataset") if isinstance(registry.get("dataset", n), PreparedDataset)]
        raise registry.UnknownNameError(
            f"dataset {name!r} reads existing files (a training config's `data.path`), mrinets does not prepare it; "
            f"it prepares: {', '.join(preparable)}"
        )
    return dataset


def prepare_command(args):
    """Entry point of ``mrinets data prepare``: prepares the dataset, prints its folder, returns 0.

    ``args`` is an ``argparse.Namespace`` from ``mrinets.cli.add_prepare_arguments`` (missing attributes
    take their defaults).
    """
    name = getattr(args, "name", "mni152") or "mni152"
    kwargs = {"cache_dir": getattr(args, "cache_dir", None)}
    if getattr(args, "force", False):
        kwargs["force"] = True
    if getattr(args, "matrix", None):
        kwargs["matrix"] = args.matrix
    if getattr(args, "coils", None):
        kwargs["num_coils"] = args.coils
    root = prepared_dataset(name).prepare(**kwargs)
    print(root)
    return 0
