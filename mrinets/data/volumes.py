"""3D Cartesian data: the hybrid-space h5 layout, readout-slab training data and whole volumes.

A 3D Cartesian scan samples the readout (kx) fully and undersamples both phase encodings
(kz, ky). After an inverse FFT along the readout, every readout position ``x`` is an
independent ky-kz problem, so a file stores one "slice" per readout position::

    kspace: (X, coils, kz, ky) complex64   # hybrid space: image domain along the readout
    reconstruction_rss: (X, z, y) float32  # RSS of the fully sampled volume (train/val files)
    mask: (kz, ky) bool                    # already undersampled files only (see below)
    ismrmrd_header                         # encoded/recon matrix (x, y, z)
    attrs: layout = "3d_hybrid" (``LAYOUT``), max, norm, ...; with a mask: acceleration

It is a valid fastMRI-layout file (``mrinets.data.fastmri`` reads it slice by slice as 2D
ky-kz problems); ``write_volume_h5`` converts raw 3D k-space `(coils, kz, ky, kx)`.

Already undersampled files (the challenge layout, as fastMRI's 2D test/challenge files): the
``kspace`` is zero where the ``mask`` is 0, the same `(kz, ky)` mask for every readout position,
usually without a target. Readers take such a file's own mask and ignore the configured one;
``mrinets predict`` reconstructs it, ``mrinets evaluate`` scores it when it holds a target.
``write_hybrid_h5(..., mask=...)`` / ``write_volume_h5(..., mask=...)`` write one.

For networks, a contiguous run of readout positions ``[a, a + L)`` (a slab) is turned back
into 3D k-space by a centered orthonormal FFT along the readout: `(coils, L, kz, ky)`. The
mask does not depend on kx, so the slab's forward model ``M F_3D S`` is exactly the
per-position ky-kz model: data consistency on a slab equals data consistency on the whole
volume restricted to it. Training draws random slabs (``build_slab_dataset``); evaluation and
prediction take whole volumes (``build_volume_dataset``). Both yield the pipeline's dict::

    {"kspace": (B, coils, L, kz, ky) complex64, "mask": (B, 1, 1, kz, ky) float32,
     "num_low_frequencies": (B,) int32}, target (B, L, z, y) float32

normalized by the max of the example's zero-filled RSS (``scale`` in the metadata).
"""

import os

import h5py
import numpy as np
import tensorflow as tf

from mrinets.data.fastmri import VOLUME_LAYOUT, DataError, read_metadata
from mrinets.data.pipeline import _build_mask, _crc, _file_calibration_size, list_files
from mrinets.data.simulate import write_fastmri_h5
from mrinets.ops.fft import ifftn_np

LAYOUT = VOLUME_LAYOUT


def write_hybrid_h5(path, hybrid, target=None, attrs=None, mask=None):
    """Write hybrid-space data `(X, coils, kz, ky)` (and an optional `(X, z, y)` target) atomically.

    ``mask``: optional `(kz, ky)` sampling mask of an already undersampled file (the k-space is
    zeroed where it is 0; its ``acceleration`` attribute is the measured one).
    """
    hybrid = np.asarray(hybrid, np.complex64)
    if hybrid.ndim != 4:
        raise ValueError(f"Invalid value for argument `hybrid`. Expected (readout, coils, kz, ky). "
                         f"Received: shape={hybrid.shape}")
    x, _, kz, ky = hybrid.shape
    attrs = {**(attrs or {}), "layout": LAYOUT}
    if mask is not None:
        mask = np.asarray(mask) != 0
        if mask.shape != (kz, ky) or not mask.any():
            raise ValueError(f"Invalid value for argument `mask`. Expected a (kz, ky) = {(kz, ky)} mask with sampled "
                             f"points. Received: mask of shape {mask.shape} with {int(mask.sum())} sampled")
        hybrid = hybrid * mask
        attrs["acceleration"] = float(mask.size / mask.sum())
    return write_fastmri_h5(path, hybrid, target, attrs=attrs, mask=mask,
                            encoded_size=(x, ky, kz), recon_size=(x, ky, kz))


def write_volume_h5(path, kspace, target=None, attrs=None, mask=None):
    """Write raw 3D k-space `(coils, kz, ky, kx)` (readout last, centered) in the hybrid layout.

    ``target``: optional `(x, z, y)` magnitude volume (default: none, a test-style file).
    ``mask``: optional `(kz, ky)` mask of already undersampled k-space (``write_hybrid_h5``).
    """
    kspace = np.asarray(kspace)
    if kspace.ndim != 4 or kspace.dtype.kind != "c":
        raise ValueError(f"Invalid value for argument `kspace`. Expected complex (coils, kz, ky, kx). "
                         f"Received: shape={kspace.shape}, dtype={kspace.dtype}")
    hybrid = np.fft.fftshift(np.fft.ifft(np.fft.ifftshift(kspace, axes=-1), axis=-1, norm="ortho"), axes=-1)
    return write_hybrid_h5(path, hybrid.transpose(3, 0, 1, 2), target, attrs, mask=mask)


def is_volume_file(meta):
    """Whether ``read_metadata``'s result describes a file of this layout."""
    return meta["attrs"].get("layout") == LAYOUT


def read_slab(path, start=0, stop=None):
    """Readout positions ``[start, stop)`` of a file: `(hybrid (L, coils, kz, ky), target (L, z, y) or None)`."""
    path = os.fspath(path)
    with h5py.File(path, "r") as f:
        hybrid = np.asarray(f["kspace"][start:stop], np.complex64)
        target = np.asarray(f["reconstruction_rss"][start:stop], np.float32) if "reconstruction_rss" in f else None
    if not np.isfinite(hybrid).all():
        raise DataError(f"Data file {path!r}: dataset 'kspace' holds NaN or Inf values in positions [{start}, {stop}).")
    return hybrid, target


def slab_kspace(hybrid):
    """3D k-space `(coils, L, kz, ky)` of hybrid data `(L, coils, kz, ky)`: centered orthonormal FFT along the readout."""
    kspace = np.fft.fftshift(np.fft.fft(np.fft.ifftshift(hybrid, axes=0), axis=0, norm="ortho"), axes=0)
    return np.ascontiguousarray(kspace.transpose(1, 0, 2, 3)).astype(np.complex64)


def _volume_metas(path):
    metas = [read_metadata(f) for f in list_files(path)]
    for meta in metas:
        if not is_volume_file(meta):
            raise DataError(f"Data file {meta['path']!r} is not a 3D file (attribute layout={LAYOUT!r}); "
                            "see mrinets.data.volumes for the layout and write_volume_h5 to convert 3D k-space.")
    return metas


def _file_mask(meta, mask_fn):
    """The mask function of one file: its own `(kz, ky)` mask if it has one (already undersampled),
    whatever the seed, else ``mask_fn``."""
    if not meta["has_mask"]:
        return mask_fn
    with h5py.File(meta["path"], "r") as f:
        mask = np.asarray(f["mask"][()], np.float32).reshape(tuple(meta["kspace_shape"][1:]))
    num_low = _file_calibration_size(mask, meta["attrs"])  # unused by 2D masks' calibration (ops.acs_region)
    return lambda shape, seed: (mask[None, None], num_low)


def _example(path, start, stop, mask_fn, seed, with_target=True):
    """One normalized example (NumPy): kspace, mask, calibration size, target, scale."""
    hybrid, target = read_slab(path, start, stop)
    kspace = slab_kspace(hybrid)
    if mask_fn is None:
        mask, num_low = np.ones((1, 1) + kspace.shape[2:], np.float32), kspace.shape[-1]
    else:
        mask, num_low = mask_fn(kspace.shape, seed=int(seed))
        mask = np.asarray(mask, np.float32).reshape((1, 1) + kspace.shape[2:])
        num_low = num_low[0] if isinstance(num_low, (tuple, list)) else num_low
    kspace = kspace * mask
    image = np.sqrt((np.abs(ifftn_np(kspace, rank=3)) ** 2).sum(0))
    scale = np.float32(max(float(image.max()), 1e-12))
    if target is None or not with_target:
        target = np.zeros((0, 0, 0), np.float32)
    return kspace / scale, mask, np.int32(num_low), (target / scale).astype(np.float32), scale


def _to_dataset(files, examples, mask_fns, shapes, with_target, return_metadata):
    """``examples``: rows (file index, start, stop, mask seed); ``mask_fns``: one per file."""
    names = tf.constant([os.path.basename(f) for f in files])
    table = np.asarray(examples, np.int64).reshape(-1, 4)
    coils, length, nz, ny = shapes

    def load(row):
        f, start, stop, seed = int(row[0]), int(row[1]), int(row[2]), int(row[3])
        return _example(files[f], start, stop, mask_fns[f], seed, with_target)

    def to_tensors(row):
        kspace, mask, num_low, target, scale = tf.numpy_function(
            load, [row], [tf.complex64, tf.float32, tf.int32, tf.float32, tf.float32], stateful=False)
        kspace.set_shape((coils, length, nz, ny))
        mask.set_shape((1, 1, nz, ny))
        num_low.set_shape(())
        target.set_shape((length, nz, ny) if with_target else (0, 0, 0))
        out = ({"kspace": kspace, "mask": mask, "num_low_frequencies": num_low}, target)
        if return_metadata:
            scale.set_shape(())
            out += ({"fname": tf.gather(names, row[0]), "slice": row[1], "scale": scale},)
        return out

    return tf.data.Dataset.from_tensor_slices(table).map(to_tensors)


def count_slabs(path, slab):
    """Slabs of ``slab`` readout positions one epoch of ``build_slab_dataset`` draws (per file: positions // slab)."""
    return sum(meta["num_slices"] // slab for meta in _volume_metas(path))


def build_slab_dataset(path, mask=None, slab=16, batch_size=1, seed=0, drop_remainder=True):
    """Random readout slabs for training, one epoch: per file `positions // slab` slabs at random
    starts, each with its own random mask, shuffled; order and masks depend only on ``seed``.

    Args:
        path: folder, glob, file or list of 3D-layout files.
        mask: a 2D (ky-kz) mask: object, registered name or `{"type": ..., ...}` (files with their
            own mask keep it).
        slab: readout positions per example (files shorter than that are left out).
        batch_size, seed, drop_remainder.

    Raises:
        DataError: files not in the 3D layout, or none with at least ``slab`` positions.
    """
    metas = [m for m in _volume_metas(path) if m["num_slices"] >= slab]
    if not metas:
        raise DataError(f"No 3D file under {path!r} has at least slab={slab} readout positions.")
    shapes = {m["kspace_shape"] for m in metas}
    if len(shapes) > 1:
        raise DataError(f"3D files under {path!r} have different (coils, kz, ky) shapes: {sorted(shapes)}.")
    coils, nz, ny = shapes.pop()
    rng = np.random.default_rng(int(seed))
    examples = []
    for index, meta in enumerate(metas):
        for start in rng.integers(0, meta["num_slices"] - slab + 1, meta["num_slices"] // slab):
            examples.append((index, start, start + slab, rng.integers(2**31)))
    examples = [examples[i] for i in rng.permutation(len(examples))]
    mask_fn = _build_mask(mask)
    ds = _to_dataset([m["path"] for m in metas], examples, [_file_mask(m, mask_fn) for m in metas],
                     (coils, slab, nz, ny), True, False)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def build_volume_dataset(path, mask=None, return_metadata=True, with_target=None):
    """Whole volumes (batch 1), one per file, with a fixed mask per file (seeded by its name; an
    already undersampled file keeps its own).

    ``with_target``: default, whether the files hold targets. Yields `(inputs, target, meta)`
    (``return_metadata``) or `(inputs, target)`; files of different sizes are fine.
    """
    metas = _volume_metas(path)
    if with_target is None:
        with_target = all(m["target_key"] is not None for m in metas)
    mask_fn = _build_mask(mask)
    datasets = []
    for index, meta in enumerate(metas):
        coils, nz, ny = meta["kspace_shape"]
        row = [(0, 0, meta["num_slices"], _crc(os.path.basename(meta["path"])) % 2**31)]
        ds = _to_dataset([meta["path"]], row, [_file_mask(meta, mask_fn)], (coils, meta["num_slices"], nz, ny),
                         with_target, return_metadata)
        datasets.append(ds.batch(1))
    out = datasets[0]
    for ds in datasets[1:]:
        out = out.concatenate(ds)
    return out
