"""Reading fastMRI-layout h5 files (real fastMRI data and our simulated data).

Layout, as the fastMRI dataset ships it:
    kspace: `(slices, coils, H, W)` complex64 (multi-coil) or `(slices, H, W)` (single-coil);
        phase-encoding lines along the last axis.
    reconstruction_rss / reconstruction_esc: `(slices, h, w)` float32 targets (train/val only).
    mask: `(W,)` sampling mask (test/challenge files, whose k-space is already undersampled);
        `(kz, ky)` in 3D files (``mrinets.data.volumes``).
    ismrmrd_header: XML bytes with encodedSpace/reconSpace matrix sizes.
    attrs: e.g. `max`, `norm`, `acquisition`, `patient_id`; test files: `acceleration`,
        `num_low_frequency`.

Files are opened only for the duration of each read (no handles are kept).
"""

import os
import xml.etree.ElementTree as ET

import h5py
import numpy as np

from mrinets.errors import DataError

__all__ = ["TARGET_KEYS", "DataError", "parse_header", "read_metadata", "read_slice", "read_volume"]

TARGET_KEYS = ("reconstruction_rss", "reconstruction_esc")
#: the ``layout`` attribute of 3D files (``mrinets.data.volumes``), whose ``mask`` is `(kz, ky)`.
VOLUME_LAYOUT = "3d_hybrid"


def _open(path):
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DataError(f"Data file {path!r} does not exist.")
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise DataError(f"Data file {path!r} is not a readable HDF5 file (truncated or corrupt?): {error}") from error


def _decode(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.dtype.kind in "SO" and value.size == 1:
        return _decode(value.reshape(()).item())
    if isinstance(value, np.generic):
        return value.item()
    return value


def parse_header(xml):
    """Matrix sizes from an ISMRMRD XML header (namespace-agnostic).

    Returns:
        dict with `encoded_size` and `recon_size` (x, y, z) int tuples and, when present,
        `encoding_limits_center`/`encoding_limits_max` of `kspace_encoding_step_1`.
    """
    root = ET.fromstring(_decode(xml))

    def find(*names):
        node = root
        for name in names:
            node = next((child for child in node.iter() if child.tag.split("}")[-1] == name), None)
            if node is None:
                return None
        return node

    def size(space):
        node = find("encoding", space, "matrixSize")
        if node is None:
            return None
        values = {child.tag.split("}")[-1]: int(child.text) for child in node}
        return (values.get("x", 0), values.get("y", 0), values.get("z", 1))

    out = {"encoded_size": size("encodedSpace"), "recon_size": size("reconSpace")}
    limits = find("encoding", "encodingLimits", "kspace_encoding_step_1")
    if limits is not None:
        values = {child.tag.split("}")[-1]: child.text for child in limits}
        if "center" in values and "maximum" in values:
            out["encoding_limits_center"] = int(values["center"])
            out["encoding_limits_max"] = int(values["maximum"]) + 1
    return out


def read_metadata(path):
    """Describe one file without loading arrays.

    Returns:
        dict: `path`, `num_slices`, `kspace_shape` (per slice, with a coil axis, `(C, H, W)`),
        `multicoil`, `target_key` (or None), `target_shape` (per slice or None), `has_mask`,
        `attrs`, `encoded_size`, `recon_size` (from the header, or None).

    Raises:
        DataError naming the file and key for a missing file, a file that is not HDF5, a file
        without `kspace`, a non-complex or wrongly shaped `kspace`, or inconsistent targets/masks.
    """
    path = os.fspath(path)
    with _open(path) as f:
        if "kspace" not in f:
            raise DataError(f"Data file {path!r} has no dataset 'kspace' (keys: {sorted(f.keys())}).")
        kspace = f["kspace"]
        if not isinstance(kspace, h5py.Dataset):
            raise DataError(f"Data file {path!r}: 'kspace' is not a dataset.")
        if kspace.dtype.kind != "c":
            raise DataError(f"Data file {path!r}: dataset 'kspace' must be complex; it is {kspace.dtype}.")
        if kspace.ndim == 4:
            multicoil, per_slice = True, tuple(kspace.shape[1:])
        elif kspace.ndim == 3:
            multicoil, per_slice = False, (1,) + tuple(kspace.shape[1:])
        else:
            raise DataError(
                f"Data file {path!r}: dataset 'kspace' must be (slices, coils, H, W) or (slices, H, W); "
                f"its shape is {kspace.shape}."
            )
        num_slices = kspace.shape[0]
        if num_slices == 0 or 0 in per_slice:
            raise DataError(f"Data file {path!r}: dataset 'kspace' is empty (shape {kspace.shape}).")
        preferred = TARGET_KEYS if multicoil else TARGET_KEYS[::-1]
        target_key = next((key for key in preferred if key in f), None)
        target_shape = None
        if target_key is not None:
            target = f[target_key]
            if target.ndim != 3 or target.shape[0] != num_slices:
                raise DataError(
                    f"Data file {path!r}: dataset {target_key!r} must be (slices, h, w) with {num_slices} slices "
                    f"like 'kspace'; its shape is {target.shape}."
                )
            target_shape = tuple(target.shape[1:])
        has_mask = "mask" in f
        attrs = {key: _decode(value) for key, value in f.attrs.items()}
        # 3D files (mrinets.data.volumes) hold a 2D (kz, ky) mask; 2D files a (W,) line mask
        mask_shape = tuple(per_slice[-2:]) if attrs.get("layout") == VOLUME_LAYOUT else (per_slice[-1],)
        if has_mask and f["mask"].shape not in (mask_shape, (1,) * (2 - len(mask_shape)) + mask_shape):
            raise DataError(
                f"Data file {path!r}: dataset 'mask' must have shape {mask_shape} to match 'kspace' "
                f"{kspace.shape}; its shape is {f['mask'].shape}."
            )
        header = {"encoded_size": None, "recon_size": None}
        if "ismrmrd_header" in f:
            try:
                header = parse_header(f["ismrmrd_header"][()])
            except (ET.ParseError, ValueError, TypeError) as error:
                raise DataError(f"Data file {path!r}: dataset 'ismrmrd_header' is not valid ISMRMRD XML: {error}") from error
    return {
        "path": path,
        "num_slices": int(num_slices),
        "kspace_shape": per_slice,
        "multicoil": multicoil,
        "target_key": target_key,
        "target_shape": target_shape,
        "has_mask": has_mask,
        "attrs": attrs,
        **header,
    }


def _check_finite(array, path, key, index):
    if not np.isfinite(array).all():
        raise DataError(f"Data file {path!r}: dataset {key!r} holds NaN or Inf values in slice {index}.")


def read_slice(path, index, target_key="auto"):
    """Read one slice.

    Args:
        path: fastMRI-layout h5 file.
        index: slice index.
        target_key: `"auto"` (rss for multi-coil, esc for single-coil, None if absent), a key,
            or None to skip the target.

    Returns:
        dict: `kspace` `(C, H, W)` complex64 (C = 1 for single-coil), `target` `(h, w)` float32
        or None, `mask` `(W,)` (`(kz, ky)` in 3D files) float32 or None (test files), `attrs`.

    Raises:
        DataError naming the file and dataset: missing datasets, a slice out of range, unreadable
        (truncated) data, data that do not convert to complex/float, NaN or Inf values.
    """
    path = os.fspath(path)
    with _open(path) as f:
        if "kspace" not in f:
            raise DataError(f"Data file {path!r} has no dataset 'kspace' (keys: {sorted(f.keys())}).")
        dataset = f["kspace"]
        if not 0 <= int(index) < dataset.shape[0]:
            raise DataError(f"Data file {path!r}: slice {index} is out of range for 'kspace' {dataset.shape}.")
        key = "kspace"
        try:
            kspace = np.asarray(dataset[int(index)], np.complex64)
            if kspace.ndim == 2:
                kspace = kspace[None]
            _check_finite(kspace, path, "kspace", index)
            if target_key == "auto":
                preferred = TARGET_KEYS if dataset.ndim == 4 else TARGET_KEYS[::-1]
                target_key = next((k for k in preferred if k in f), None)
            target = None
            if target_key is not None:
                key = target_key
                if target_key not in f:
                    raise DataError(f"Data file {path!r} has no dataset {target_key!r}.")
                target = np.asarray(f[target_key][int(index)], np.float32)
                _check_finite(target, path, target_key, index)
            mask = None
            if "mask" in f:
                key = "mask"
                mask = np.asarray(f["mask"][()], np.float32)
                mask = mask.reshape(-1) if mask.ndim == 1 or mask.shape[0] == 1 else mask  # (W,) or (kz, ky)
            attrs = {k: _decode(v) for k, v in f.attrs.items()}
        except DataError:
            raise
        except (OSError, KeyError, ValueError, TypeError) as error:
            raise DataError(f"Data file {path!r}: cannot read dataset {key!r} (truncated or corrupt?): {error}") from error
    return {"kspace": kspace, "target": target, "mask": mask, "attrs": attrs}


def read_volume(path, target_key="auto"):
    """Read a whole file: like ``read_slice`` but with a leading slices axis on each array."""
    meta = read_metadata(path)
    slices = [read_slice(path, i, target_key) for i in range(meta["num_slices"])]
    out = {"kspace": np.stack([s["kspace"] for s in slices]), "mask": slices[0]["mask"], "attrs": slices[0]["attrs"]}
    out["target"] = None if slices[0]["target"] is None else np.stack([s["target"] for s in slices])
    return out
