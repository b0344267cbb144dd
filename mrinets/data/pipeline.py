"""A ``tf.data`` pipeline over fastMRI-layout files (real or simulated).

Element structure (batched; `B` = batch size)::

    inputs = {
        "kspace": (B, C, H, W) complex64   # undersampled k-space (zeros where not sampled)
        "mask": (B, 1, 1, W) float32       # line masks; (B, 1, H, W) for 2D masks
        "num_low_frequencies": (B,) int32  # fully sampled centre lines (2D masks: the block's width;
                                           # networks take a 2D mask's block from the mask itself)
    }
    target: (B, h, w) float32              # RSS (multi-coil) / ESC (single-coil) magnitude

``build_dataset`` yields `(inputs, target)` (Keras ``fit``-ready), or `inputs` alone for test
files without a target, plus a metadata dict `{"fname", "slice", "scale", "max"}` as a last
element when ``return_metadata=True``. Single-coil k-space gets a coil axis of 1. k-space and
target are divided by ``scale``: the max of the cropped zero-filled RSS image of each example.
"""

import contextlib
import glob
import os
import re
import threading
import warnings
import zlib
from collections.abc import Mapping

import numpy as np
import tensorflow as tf

from mrinets.arguments import check_positive_int
from mrinets.data.fastmri import DataError, read_metadata, read_slice
from mrinets.data.masks import MaskFunc, _VariableDensity2D
from mrinets.ops import coil_compression as compress
from mrinets.ops.fft import ifftn_np


def list_files(path):
    """Sorted `.h5` files of a folder, a glob pattern, a single file or a list of those."""
    if isinstance(path, (list, tuple)):
        files = [f for p in path for f in list_files(p)]
    else:
        path = os.fspath(path)
        if os.path.isdir(path):
            files = sorted(glob.glob(os.path.join(path, "*.h5")))
            if not files:
                raise DataError(f"Data folder {path!r} contains no .h5 files.")
        elif glob.has_magic(path):
            files = sorted(glob.glob(path))
            if not files:
                raise DataError(f"Data pattern {path!r} matches no files.")
        elif os.path.exists(path):
            files = [path]
        else:
            raise DataError(f"Data path {path!r} does not exist.")
    return files


def _build_mask(mask):
    """A mask object from ``mask``; a name or ``{type: ...}`` mapping (a validated config node keeps its
    YAML path in errors) is built through ``mrinets.config.build``, as every config node is."""
    if isinstance(mask, (str, Mapping)):
        from mrinets import config

        return config.build(mask, "mask")
    if mask is None or isinstance(mask, (MaskFunc, _VariableDensity2D)) or callable(mask):
        return mask
    raise ValueError(
        f"Invalid value for argument `mask`. Expected a mask object, a registered mask name or a mapping. Received: mask={mask!r}"
    )


def _crc(text):
    return zlib.crc32(text.encode("utf-8"))


class DataWarning(UserWarning):
    """Bad data files or slices were skipped (``skip_bad_files=True``)."""


class _Loader:
    """Reads and prepares one example in NumPy (called through ``tf.numpy_function``).

    With ``skip_bad``, an unreadable slice is counted and warned about before its error is
    re-raised for ``Dataset.ignore_errors`` to drop.
    """

    def __init__(self, files, mask_fn, crop, normalize, with_target, skip_bad=False):
        self.files = files
        self.mask_fn = mask_fn
        self.crop = crop
        self.normalize = normalize
        self.with_target = with_target
        self.skip_bad = skip_bad
        self.skipped = set()
        self._lock = threading.Lock()

    def __call__(self, file_index, slice_index, seed):
        path = self.files[int(file_index)]
        try:
            sample = read_slice(path, int(slice_index), target_key="auto" if self.with_target else None)
        except DataError as error:
            if self.skip_bad:
                with self._lock:
                    new = (path, int(slice_index)) not in self.skipped
                    self.skipped.add((path, int(slice_index)))
                    count = len(self.skipped)
                if new:
                    warnings.warn(f"skipped a bad slice ({count} so far): {error}", DataWarning, stacklevel=2)
            raise
        kspace = sample["kspace"]
        if sample["mask"] is not None:  # test/challenge file: already undersampled
            mask = sample["mask"].reshape((1, 1, -1) if sample["mask"].ndim == 1 else (1,) + sample["mask"].shape)
            num_low = _file_calibration_size(sample["mask"], sample["attrs"])
        elif self.mask_fn is not None:
            mask, num_low = self.mask_fn(kspace.shape, seed=int(seed))
            num_low = num_low[-1] if isinstance(num_low, (tuple, list)) else num_low  # a 2D block's width
            mask = mask.astype(np.float32)
            kspace = kspace * mask
        else:
            mask = np.ones((1, 1, kspace.shape[-1]), np.float32)
            num_low = kspace.shape[-1]
        crop = self.crop or (sample["target"].shape if sample["target"] is not None else kspace.shape[-2:])
        scale = np.float32(1.0)
        if self.normalize:
            image = np.sqrt((np.abs(ifftn_np(kspace, rank=2)) ** 2).sum(0))
            crop_image = _crop(image, crop)
            scale = np.float32(max(float(crop_image.max()), 1e-12))
            kspace = kspace / scale
        target = np.zeros((0, 0), np.float32)
        if self.with_target:
            target = _crop(sample["target"], crop) / scale
        maxval = sample["attrs"].get("max")
        maxval = np.float32(maxval if isinstance(maxval, (int, float)) else np.nan)
        return (
            kspace.astype(np.complex64),
            mask.astype(np.float32),
            np.int32(num_low),
            target.astype(np.float32),
            scale,
            maxval,
        )


def _center_lines(mask):
    """Length of the contiguous sampled run through the centre of a 1D mask."""
    mask = np.asarray(mask).reshape(-1) != 0
    c = mask.size // 2
    if not mask[c]:
        return 0
    right = np.argmin(np.append(mask[c:], False))
    left = np.argmin(np.append(mask[:c][::-1], False))
    return int(left + right)


def _file_calibration_size(mask, attrs):
    """An already undersampled file's calibration size: its ``num_low_frequency`` attribute, else the
    centre run of its mask (``(ky,)``, or the centre kz row of a 3D file's ``(kz, ky)``)."""
    num_low = attrs.get("num_low_frequency")
    if isinstance(num_low, (int, np.integer)):
        return int(num_low)
    mask = np.asarray(mask)
    return _center_lines(mask if mask.ndim == 1 else mask[mask.shape[0] // 2])


def _crop(x, shape):
    shape = tuple(int(s) for s in shape)
    if any(m > n for m, n in zip(shape, x.shape[-2:])):
        raise DataError(f"Crop {shape} is larger than the image {x.shape[-2:]}.")
    s0, s1 = (x.shape[-2] - shape[0]) // 2, (x.shape[-1] - shape[1]) // 2
    return x[..., s0 : s0 + shape[0], s1 : s1 + shape[1]]


def build_index(files, skip_bad_files=False):
    """Metadata of each file and the `(file_index, slice_index)` pairs of all slices.

    With ``skip_bad_files``, files that fail ``read_metadata`` are left out (each metadata's
    ``path`` names its file) with one ``DataWarning`` giving their count and reasons.

    Raises:
        DataError: a bad file (without ``skip_bad_files``), or no good file at all.
    """
    metas, bad = [], []
    for path in files:
        try:
            metas.append(read_metadata(path))
        except DataError as error:
            if not skip_bad_files:
                raise
            bad.append(str(error))
    if bad:
        if not metas:
            raise DataError(f"All {len(bad)} data files are bad: " + " | ".join(bad[:5]))
        warnings.warn(f"skipped {len(bad)} of {len(bad) + len(metas)} data files: " + " | ".join(bad[:5]),
                      DataWarning, stacklevel=2)
    pairs = [(i, s) for i, meta in enumerate(metas) for s in range(meta["num_slices"])]
    return metas, pairs


@contextlib.contextmanager
def data_errors():
    """Re-raise a ``DataError`` that TensorFlow wrapped while running the pipeline as a ``DataError``."""
    try:
        yield
    except tf.errors.OpError as error:
        found = re.search(r"DataError: ([^\n]*)", error.message or "")
        if found is None:
            raise
        raise DataError(found[1]) from error


def build_dataset(
    path,
    mask=None,
    batch_size=1,
    shuffle=False,
    seed=None,
    crop=None,
    normalize=True,
    deterministic_masks=None,
    repeat=False,
    num_parallel_calls=tf.data.AUTOTUNE,
    prefetch=tf.data.AUTOTUNE,
    return_metadata=False,
    drop_remainder=False,
    skip_bad_files=False,
    virtual_coils=None,
    coil_compression="svd",
):
    """Build the ``tf.data.Dataset`` described in the module docstring.

    Args:
        path: folder, glob pattern, file or list of them (fastMRI-layout `.h5`).
        mask: mask object, registered mask name, or mapping `{"type": name, **kwargs}`; ignored
            for files that carry their own `mask` (test/challenge data). None: fully sampled.
        batch_size: examples per batch (> 1 needs equal shapes across files).
        shuffle: shuffle the slice index each epoch.
        seed: seed of the shuffle and of the per-example mask seeds.
        crop: `(h, w)` centre crop of the target and of the normalization image; default: the
            stored target's shape (k-space shape for test files).
        normalize: divide k-space and target by the max of the zero-filled RSS crop.
        deterministic_masks: fixed mask per (file, slice), as for validation. Default: `not shuffle`.
        repeat: repeat forever.
        num_parallel_calls, prefetch: tf.data parallelism.
        return_metadata: add a metadata dict as the last element.
        drop_remainder: drop the last partial batch.
        skip_bad_files: leave out unreadable files (one ``DataWarning`` with their count) and,
            while iterating, bad slices such as NaN k-space (a ``DataWarning`` each, counted).
        virtual_coils: compress the (undersampled) k-space to this many virtual coils
            (``mrinets.ops.compress_coils``); the target keeps the file's coils. None: no compression.
        coil_compression: "svd" or "gcc" (readout along axis -2, as in fastMRI files).

    Raises:
        DataError: unreadable files, no files, files mixing train-style and test-style layouts,
            or unequal shapes with ``batch_size > 1``. While iterating, TensorFlow wraps a bad
            slice's ``DataError``; ``data_errors()`` unwraps it.
    """
    check_positive_int(batch_size, "batch_size")
    files = list_files(path)
    metas, pairs = build_index(files, skip_bad_files)
    files = [meta["path"] for meta in metas]
    has_target = {meta["target_key"] is not None for meta in metas}
    if len(has_target) > 1:
        raise DataError(
            "Data files mix train-style (with a target) and test-style (without) layouts: "
            + ", ".join(f"{m['path']} ({m['target_key'] or 'no target'})" for m in metas[:6])
        )
    with_target = has_target.pop()
    if virtual_coils is not None and coil_compression not in compress.METHODS:
        raise ValueError(f"Invalid value for argument `coil_compression`. Expected one of {compress.METHODS}. "
                         f"Received: coil_compression={coil_compression!r}")
    mask_fn = _build_mask(mask)
    kshapes = {meta["kspace_shape"] for meta in metas}
    if crop is None:
        tshapes = {meta["target_shape"] if with_target else meta["kspace_shape"][-2:] for meta in metas}
    else:
        tshapes = {tuple(crop)}
    if batch_size > 1 and (len(kshapes) > 1 or len(tshapes) > 1):
        raise DataError(
            f"batch_size={batch_size} needs equal k-space and target shapes across files; found k-space shapes "
            f"{sorted(kshapes)} and target shapes {sorted(tshapes)}. Use batch_size=1 or files of one shape."
        )
    kshape = kshapes.pop() if len(kshapes) == 1 else (None, None, None)
    tshape = tshapes.pop() if len(tshapes) == 1 else (None, None)
    if any(meta["has_mask"] for meta in metas):
        mshape = (1, 1, kshape[-1])
    elif mask_fn is not None and kshape[0] is not None:
        mshape = mask_fn(kshape, seed=0)[0].shape
    else:
        mshape = (1, None, None) if mask_fn is not None else (1, 1, kshape[-1])
    if deterministic_masks is None:
        deterministic_masks = not shuffle

    file_idx = np.array([p[0] for p in pairs], np.int64)
    slice_idx = np.array([p[1] for p in pairs], np.int64)
    fixed_seeds = np.array([(_crc(os.path.basename(files[f])) + s) % 2**31 for f, s in pairs], np.int64)
    names = np.array([os.path.basename(f) for f in files])
    ds = tf.data.Dataset.from_tensor_slices((file_idx, slice_idx, fixed_seeds))
    if shuffle:
        ds = ds.shuffle(len(pairs), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    if not deterministic_masks:
        random_seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        ds = tf.data.Dataset.zip(ds, random_seeds).map(lambda idx, r: (idx[0], idx[1], r % 2**31))

    loader = _Loader(files, mask_fn, None if crop is None else tuple(crop), normalize, with_target, skip_bad_files)
    names_t = tf.constant(names)

    def load(f, s, seed_value):
        kspace, m, num_low, target, scale, maxval = tf.numpy_function(
            loader, [f, s, seed_value], [tf.complex64, tf.float32, tf.int32, tf.float32, tf.float32, tf.float32],
            stateful=False,
        )
        kspace.set_shape(kshape)
        if virtual_coils is not None:
            kspace = compress.compress_coils(kspace[None], virtual_coils, coil_compression)[0]
        m.set_shape(mshape)
        num_low.set_shape([])
        target.set_shape(tshape if with_target else (0, 0))
        inputs = {"kspace": kspace, "mask": m, "num_low_frequencies": num_low}
        out = (inputs, target) if with_target else (inputs,)
        if return_metadata:
            scale.set_shape([])
            maxval.set_shape([])
            out = out + ({"fname": tf.gather(names_t, f), "slice": s, "scale": scale, "max": maxval},)
        return out if len(out) > 1 else out[0]

    ds = ds.map(load, num_parallel_calls=num_parallel_calls, deterministic=not shuffle)
    if skip_bad_files:
        ds = ds.ignore_errors()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if prefetch:
        ds = ds.prefetch(prefetch)
    return ds
