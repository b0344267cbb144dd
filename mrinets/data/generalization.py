"""A generalization set: real MR anatomy that training never sees, as fastMRI multi-coil files.

The built-in training data are slices of one template (an average of 152 brains). A model
judged only on other slices of that template can look good and still lose to CG-SENSE on a
real scan. This set is three real MR images from other sources, shipped inside PyPI wheels
(nothing is downloaded at run time; ``pip install mrinets[generalization]``):

========  ===============================================  ==========================  ================
name      image                                            wheel (file)                licence
========  ===============================================  ==========================  ================
brain     T1-weighted coronal brain slice, 256x256,        ``dipy``                    BSD-3-Clause
          skull-stripped (DIPY's denoising test slice)     (``data/files/t1_coronal_   (DIPY)
                                                           slice.npy``)
shoulder  Philips 1.5 T spin-echo shoulder (TR 350 ms,     ``pydicom-data``            MIT (pydicom-
          TE 27 ms), 1024x1024, 0.195 mm: NEMA WG04        (``data_store/data/         data); NEMA WG04
          compression test image ``MR2``                   MR2_UNCR.dcm``)             test images
abdomen   Siemens 1.5 T 3D gradient-echo abdomen/liver     ``pydicom-data``            MIT (pydicom-
          MPR (TR 5.5 ms, TE 2.8 ms), 484x484, 0.72 mm     (``data_store/data/MR-      data)
                                                           SIEMENS-DICOM-WithOverlays
                                                           .dcm``)
========  ===============================================  ==========================  ================

Each image is placed on a square field of view around its anatomy, resampled to a fine grid
of twice the matrix, and simulated with ``simulate_multicoil`` with an acquisition unlike the
built-in data's (8-coil birdcage ring, SNR 40, phase up to pi/2): a 12-coil head array close
to the head, a 6-coil flexible surface array on one side of the shoulder, a 16-coil
anterior/posterior body array; image phase up to pi, stronger noise correlation, SNR 18-25.
k-space is computed on the fine grid and truncated to ``matrix`` x ``matrix`` (no inverse crime).

Two fastMRI layouts are written under the prepared folder:

* ``multicoil_val/<name>.h5``: fully sampled k-space and ``reconstruction_rss`` (train/val layout);
* ``multicoil_challenge_<R>x/<name>.h5``: k-space undersampled by fastMRI's equispaced
  ("fraction") mask at R = 4 (centre fraction 0.08) and 8 (0.04), with ``mask`` and the
  ``acceleration``/``num_low_frequency`` attributes (challenge layout, no target; the target is
  the ``multicoil_val`` file of the same name).

Use it to report, never to choose hyper-parameters or checkpoints: once tuned on, it is no
longer held out.
"""

import importlib.util
import os
import zlib

import numpy as np

VERSION = 1
CHALLENGE = {4: 0.08, 8: 0.04}  # acceleration -> centre fraction (fastMRI's test masks)


def _package_file(package, relative, pip_name):
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"the generalization set needs the `{pip_name}` package "
                          "(pip install 'mrinets[generalization]').")
    path = os.path.join(list(spec.submodule_search_locations)[0], *relative.split("/"))
    if not os.path.exists(path):
        raise ImportError(f"`{pip_name}` is installed but ships no {relative!r} (found no {path}).")
    return path


def _read_dicom(path):
    try:
        import pydicom
    except ImportError as error:
        raise ImportError("the generalization set needs `pydicom` (pip install 'mrinets[generalization]').") from error
    dataset = pydicom.dcmread(path)
    image = dataset.pixel_array.astype(np.float64)
    slope = float(getattr(dataset, "RescaleSlope", 1) or 1)
    intercept = float(getattr(dataset, "RescaleIntercept", 0) or 0)
    return image * slope + intercept, float(dataset.PixelSpacing[0])


def _brain():
    image = np.load(_package_file("dipy", "data/files/t1_coronal_slice.npy", "dipy")).astype(np.float64)
    return image, 1.0  # DIPY does not state the pixel size; about 1 mm by the anatomy's size


def _shoulder():
    return _read_dicom(_package_file("data_store", "data/MR2_UNCR.dcm", "pydicom-data"))


def _abdomen():
    return _read_dicom(_package_file("data_store", "data/MR-SIEMENS-DICOM-WithOverlays.dcm", "pydicom-data"))


#: name -> (loader, acquisition). Geometry in units of the half field of view.
SOURCES = {
    "brain": (_brain, {"array": "ring", "num_coils": 12, "radius": 1.5, "snr": 60.0,
                       "source": "dipy: data/files/t1_coronal_slice.npy (BSD-3-Clause)"}),
    "shoulder": (_shoulder, {"array": "arc", "num_coils": 6, "radius": 1.45, "snr": 40.0,
                             "source": "pydicom-data: MR2_UNCR.dcm, NEMA WG04 test image (MIT)"}),
    "abdomen": (_abdomen, {"array": "planar", "num_coils": 16, "radius": 1.3, "snr": 30.0,
                           "source": "pydicom-data: MR-SIEMENS-DICOM-WithOverlays.dcm (MIT)"}),
}


def coil_positions(array, num_coils, radius):
    """`(num_coils, 2)` coil centres `(x, y)` of a ``ring`` (around the FOV), an ``arc``
    (120 degrees on the upper left, a flexible surface array) or a ``planar`` array (two rows,
    anterior and posterior, at ``y = -radius, +radius``)."""
    if array == "ring":
        angles = 2 * np.pi * np.arange(num_coils) / num_coils + np.pi / num_coils
    elif array == "arc":
        angles = np.pi + np.linspace(-np.pi / 3, np.pi / 3, num_coils) + np.pi / 4
    elif array == "planar":
        per_row = num_coils // 2
        x = np.tile(np.linspace(-0.9, 0.9, per_row), 2)
        y = np.repeat([-radius, radius], per_row)
        return np.stack([x, y], axis=1)
    else:
        raise ValueError(f"Invalid value for argument `array`. Expected 'ring', 'arc' or 'planar'. Received: array={array!r}")
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def surface_coil_maps(shape, positions, decay=1.5, rng=None):
    """Coil sensitivities `(coils, H, W)` complex64 of small loops at ``positions`` (half-FOV units).

    Magnitude ``1 / distance**decay``, phase the angle seen from the coil plus a random offset
    per coil; scaled so that the largest RSS value is 1.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    h, w = shape
    y, x = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    maps = []
    for cx, cy in positions:
        distance = np.hypot(x - cx, y - cy) + 0.05
        maps.append(np.exp(1j * (np.arctan2(y - cy, x - cx) + rng.uniform(-np.pi, np.pi))) / distance**decay)
    maps = np.stack(maps)
    maps /= np.sqrt((np.abs(maps) ** 2).sum(0)).max()
    return maps.astype(np.complex64)


def _resample(image, size):
    """Resample a 2D image to `(size, size)` (cubic; Gaussian pre-filter when shrinking)."""
    from scipy import ndimage

    factor = size / image.shape[0]
    if factor < 1:
        image = ndimage.gaussian_filter(image, sigma=0.5 * (1 / factor - 1))
    out = ndimage.zoom(image, (size / image.shape[0], size / image.shape[1]), order=3)
    return np.clip(out[:size, :size], 0, None)


def field_of_view(image, fill=0.9, threshold=0.05):
    """Square the image around its anatomy (pixels above ``threshold`` of the max) so that the
    anatomy spans ``fill`` of the side; zero padding where the square leaves the image."""
    rows, cols = np.nonzero(image > threshold * image.max())
    centre = ((rows.min() + rows.max()) / 2, (cols.min() + cols.max()) / 2)
    side = int(np.ceil(max(rows.max() - rows.min(), cols.max() - cols.min()) / fill))
    out = np.zeros((side, side), image.dtype)
    top, left = int(round(centre[0] - side / 2)), int(round(centre[1] - side / 2))
    src_r = slice(max(top, 0), min(top + side, image.shape[0]))
    src_c = slice(max(left, 0), min(left + side, image.shape[1]))
    out[src_r.start - top : src_r.stop - top, src_c.start - left : src_c.stop - left] = image[src_r, src_c]
    return out


def load_images(size):
    """``{name: (size, size) float64 image in [0, 1]}`` of the real anatomy on the fine grid."""
    out = {}
    for name, (loader, _) in SOURCES.items():
        image, _ = loader()
        image = _resample(field_of_view(image), size)
        out[name] = image / image.max()
    return out


def _challenge_mask(name, acceleration, num_cols):
    from mrinets.data.masks import EquispacedFractionMask

    mask_fn = EquispacedFractionMask(center_fractions=CHALLENGE[acceleration], accelerations=acceleration)
    mask, num_low = mask_fn((1, num_cols), seed=zlib.crc32(f"{name}-{acceleration}".encode()) % 2**31)
    return mask.reshape(-1).astype(bool), int(num_low)


def challenge_folder(root, acceleration):
    """The challenge-layout folder of ``acceleration`` (4 or 8) under a prepared set."""
    if acceleration not in CHALLENGE:
        raise ValueError(f"Invalid value for argument `acceleration`. Expected one of {sorted(CHALLENGE)}. "
                         f"Received: acceleration={acceleration!r}")
    return os.path.join(root, f"multicoil_challenge_{acceleration}x")


def prepare_generalization(cache_dir=None, matrix=320, seed=0, force=False, progress=True):
    """Prepare the generalization set once; return its folder (layouts in the module docstring).

    Deterministic for given arguments, offline, idempotent (``manifest.json`` marks a complete
    build, with each file's source and licence).

    Args:
        cache_dir: root folder (default ``default_cache_dir()``).
        matrix: square k-space matrix (phase-encoding lines); fastMRI's clinical width is 320.
        seed: seed of phases, coil phases and noise.
        force: rebuild even if complete.
        progress: progress lines on stderr.

    Raises:
        ImportError: ``dipy``, ``pydicom`` or ``pydicom-data`` missing (the ``generalization`` extra).
    """
    from mrinets.arguments import check_int
    from mrinets.cache import prepared_folder, write_manifest
    from mrinets.data.builtin import _Progress
    from mrinets.data.simulate import noise_covariance, simulate_multicoil, write_fastmri_h5

    matrix = check_int(matrix, "matrix", 16)
    params = {"version": VERSION, "matrix": matrix, "seed": int(seed)}
    root, manifest = prepared_folder(cache_dir, f"generalization-{matrix}", params)
    if os.path.exists(manifest) and not force:
        return root
    images = load_images(2 * matrix)
    bar = _Progress(len(images), "Preparing the generalization set", progress)
    files = {}
    for index, (name, image) in enumerate(images.items()):
        acquisition = SOURCES[name][1]
        rng = np.random.default_rng([int(seed), index, 17])
        positions = coil_positions(acquisition["array"], acquisition["num_coils"], acquisition["radius"])
        maps = surface_coil_maps(image.shape, positions, rng=rng)
        sim = simulate_multicoil(image[None], (matrix, matrix), snr=acquisition["snr"], rng=rng, maps=maps,
                                 max_phase=np.pi, covariance=noise_covariance(len(positions), rng, correlation=0.3))
        attrs = {"acquisition": f"GENERALIZATION_{name.upper()}_SIM", "patient_id": f"generalization-{name}",
                 "source": acquisition["source"], "noise_sigma": float(sim["sigma"])}
        path = os.path.join(root, "multicoil_val", f"{name}.h5")
        write_fastmri_h5(path, sim["kspace"], sim["target"], attrs=attrs)
        entry = {"source": acquisition["source"], "coils": len(positions), "array": acquisition["array"],
                 "snr": acquisition["snr"], "files": [os.path.relpath(path, root)]}
        for acceleration in CHALLENGE:
            mask, num_low = _challenge_mask(name, acceleration, matrix)
            path = os.path.join(challenge_folder(root, acceleration), f"{name}.h5")
            write_fastmri_h5(path, sim["kspace"] * mask, mask=mask,
                             attrs={**attrs, "acceleration": acceleration, "num_low_frequency": num_low})
            entry["files"].append(os.path.relpath(path, root))
        files[name] = entry
        bar.update()
    write_manifest(manifest, {"params": params, "images": files})
    return root


def scored_dataset(root, layout, mask=None):
    """A ``tf.data`` dataset of ``(inputs, target, metadata)`` (batch 1) over one layout.

    Args:
        root: a prepared set (``prepare_generalization``).
        layout: ``"val"`` (fully sampled files, undersampled here by ``mask``) or an
            acceleration ``4``/``8`` (challenge files with their own masks; targets from
            ``multicoil_val``).
        mask: the mask (object, name or mapping) for the ``"val"`` layout.
    """
    import tensorflow as tf

    from mrinets.data.fastmri import read_volume
    from mrinets.data.pipeline import build_dataset

    val = os.path.join(root, "multicoil_val")
    if layout == "val":
        return build_dataset(val, mask=mask, shuffle=False, deterministic_masks=True, return_metadata=True)
    ds = build_dataset(challenge_folder(root, layout), shuffle=False, return_metadata=True)
    targets = {name: read_volume(os.path.join(val, name))["target"] for name in sorted(os.listdir(val))
               if name.endswith(".h5")}

    def target_of(names, slices, scales):
        return np.stack([targets[n.decode()][s] / c for n, s, c in zip(names, slices, scales)]).astype(np.float32)

    def add_target(inputs, meta):
        target = tf.numpy_function(target_of, [meta["fname"], meta["slice"], meta["scale"]], tf.float32)
        target.set_shape((None, None, None))
        return inputs, target, meta

    return ds.map(add_target)
