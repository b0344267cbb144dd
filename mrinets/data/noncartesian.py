"""Non-Cartesian data: simulation without inverse crime, an h5 layout, its reader and a ``tf.data`` pipeline.

File layout (one file per volume)::

    kspace              (slices, coils, M) complex64   samples of each coil
    trajectory          (M, rank) float32              radians, [-pi, pi) spans the image grid
    density             (M,) float32                   optional density-compensation weights
    reconstruction_rss  (slices, *matrix) float32      optional target
    attrs: matrix (the image grid shape), max, norm

Pipeline elements (batched)::

    inputs = {"kspace": (B, C, M) complex64, "trajectory": (B, M, rank) float32, "density": (B, M) float32}
    target: (B, *matrix) float32

k-space and target are divided by a per-slice ``scale``: the max of the gridding RSS image, as
the Cartesian pipeline divides by the max of its zero-filled RSS image.
"""

import os
import typing

import h5py
import numpy as np
import tensorflow as tf

from mrinets.arguments import invalid_argument
from mrinets.cache import prepared_folder, write_manifest
from mrinets.config import Field
from mrinets.data.simulate import atomic_h5, birdcage_maps, noise_covariance, smooth_phase
from mrinets.errors import DataError
from mrinets.ops.density import estimate_density
from mrinets.ops.fft import fftn_np, ifftn_np
from mrinets.ops.noncartesian import gridding_reconstruction
from mrinets.ops.nufft import NUFFTOperator
from mrinets.ops.trajectories import RADIAL_ORDERINGS, radial_trajectory, spiral_trajectory


def simulate_noncartesian(images, matrix, trajectory, num_coils=8, snr=40.0, rng=None, rotation=0.0):
    """Multi-coil non-Cartesian k-space of magnitude images given on a finer grid (no inverse crime).

    The NUFFT is evaluated on the images' own fine grid (same field of view, so the radians of
    ``trajectory`` are scaled by ``matrix / fine``), not on the ``matrix`` grid the target and the
    reconstructions live on. The target is the RSS of the fine coil images truncated in k-space
    to ``matrix`` (fastMRI's ``reconstruction_rss`` of a fully sampled Cartesian scan).

    Args:
        images: `(slices, Hf, Wf)` real magnitude images on the fine grid.
        matrix: `(H, W)` image grid of the trajectory, at most `(Hf, Wf)`.
        trajectory: `(M, 2)` radians on the ``matrix`` grid.
        num_coils, snr, rng, rotation: as ``mrinets.data.simulate.simulate_multicoil`` (noise added
            to the samples; ``snr`` is the mean foreground target over the image-domain noise).

    Returns:
        dict: `kspace` `(slices, coils, M)` complex64, `target` `(slices, H, W)` float32 (noise-free),
        `maps` `(coils, Hf, Wf)`, `phase` `(slices, Hf, Wf)` (the smooth image phase), `sigma` (the
        noise standard deviation of the samples).
    """
    rng = np.random.default_rng(0) if rng is None else rng
    images = np.asarray(images, np.float64)
    if images.ndim != 3:
        raise invalid_argument("images", "a (slices, H, W) array", f"<shape {images.shape}>")
    fine = images.shape[1:]
    matrix = tuple(int(m) for m in matrix)
    if len(matrix) != 2 or any(m < 2 or m > f for m, f in zip(matrix, fine)):
        raise invalid_argument("matrix", f"two sizes in [2, {fine}]", matrix)
    trajectory = np.asarray(trajectory, np.float64)
    ratio = np.array([m / f for m, f in zip(matrix, fine)])
    operator = NUFFTOperator(trajectory * ratio, fine, tol=1e-6, dtype=tf.complex128)
    maps = birdcage_maps(fine, num_coils, rotation=rotation)
    starts = [(f - m + 1) // 2 for f, m in zip(fine, matrix)]
    crop = (slice(None), slice(starts[0], starts[0] + matrix[0]), slice(starts[1], starts[1] + matrix[1]))
    kspace, target, phases = [], [], []
    for image in images:
        phases.append(smooth_phase(fine, rng))
        coil_images = maps * (image * np.exp(1j * phases[-1]))[None]
        # Same object on a grid of 1 / ratio smaller pixels: the sum carries prod(1 / ratio) more terms.
        kspace.append(operator.forward(coil_images).numpy() * np.prod(ratio))
        truncated = ifftn_np(fftn_np(coil_images, rank=2)[crop], rank=2) * np.sqrt(np.prod(ratio))
        target.append(np.sqrt(np.sum(np.abs(truncated) ** 2, axis=0)))
    kspace, target = np.stack(kspace), np.stack(target)
    foreground = target > 0.1 * target.max()
    # Image-domain noise sigma corresponds to sigma * sqrt(H W) on the samples of the unnormalized NUFFT.
    sigma = (target[foreground].mean() / snr if foreground.any() else 0.0) * np.sqrt(np.prod(matrix))
    chol = np.linalg.cholesky(noise_covariance(num_coils, rng))
    white = (rng.standard_normal(kspace.shape) + 1j * rng.standard_normal(kspace.shape)) / np.sqrt(2)
    kspace = kspace + np.einsum("ij,sjm->sim", chol, white) * sigma
    return {"kspace": kspace.astype(np.complex64), "target": target.astype(np.float32), "maps": maps,
            "phase": np.stack(phases), "sigma": sigma}


def write_noncartesian_h5(path, kspace, trajectory, matrix, density=None, target=None, attrs=None):
    """Write a non-Cartesian file (layout in the module docstring) atomically; returns ``path``."""
    path = os.fspath(path)
    kspace = np.asarray(kspace, np.complex64)
    trajectory = np.asarray(trajectory, np.float32)
    if kspace.ndim != 3 or trajectory.ndim != 2 or trajectory.shape[0] != kspace.shape[-1]:
        raise invalid_argument("trajectory", f"(M, rank) with M = {kspace.shape[-1]} for kspace (slices, coils, M) "
                               f"{kspace.shape}", f"<shape {trajectory.shape}>")
    with atomic_h5(path) as f:
        f.create_dataset("kspace", data=kspace, chunks=(1,) + kspace.shape[1:])
        f.create_dataset("trajectory", data=trajectory)
        if density is not None:
            f.create_dataset("density", data=np.asarray(density, np.float32))
        if target is not None:
            target = np.asarray(target, np.float32)
            f.create_dataset("reconstruction_rss", data=target)
            f.attrs["max"], f.attrs["norm"] = float(target.max()), float(np.linalg.norm(target))
        f.attrs["matrix"] = np.asarray(matrix, np.int64)
        for key, value in (attrs or {}).items():
            f.attrs[key] = value
    return path


def is_noncartesian(path):
    """Whether ``path`` is a non-Cartesian file (it has a ``trajectory`` dataset)."""
    with h5py.File(os.fspath(path), "r") as f:
        return "trajectory" in f


def read_noncartesian(path):
    """Read a non-Cartesian file: dict `kspace`, `trajectory`, `density` (estimated when absent),
    `target` (or None), `matrix`; raises ``DataError`` naming the file and what is wrong."""
    path = os.fspath(path)
    try:
        with h5py.File(path, "r") as f:
            for key in ("kspace", "trajectory"):
                if key not in f:
                    raise DataError(f"Data file {path!r} has no dataset {key!r} (keys: {sorted(f.keys())}).")
            if "matrix" not in f.attrs:
                raise DataError(f"Data file {path!r} has no attribute 'matrix' (the image grid shape).")
            out = {"kspace": np.asarray(f["kspace"][()], np.complex64),
                   "trajectory": np.asarray(f["trajectory"][()], np.float32),
                   "density": np.asarray(f["density"][()], np.float32) if "density" in f else None,
                   "target": np.asarray(f["reconstruction_rss"][()], np.float32) if "reconstruction_rss" in f else None,
                   "matrix": tuple(int(m) for m in f.attrs["matrix"])}
    except OSError as error:
        raise DataError(f"Data file {path!r} cannot be read as HDF5: {error}") from error
    if out["kspace"].ndim != 3 or out["kspace"].shape[-1] != out["trajectory"].shape[0]:
        raise DataError(f"Data file {path!r}: 'kspace' {out['kspace'].shape} does not match 'trajectory' "
                        f"{out['trajectory'].shape}; expected (slices, coils, M) and (M, rank).")
    if out["density"] is None:
        out["density"] = estimate_density(out["trajectory"], out["matrix"]).numpy().astype(np.float32)
    return out


def noncartesian_examples(files):
    """Per-slice scaled examples of non-Cartesian files: a list of ``(inputs, target, meta)``.

    ``inputs`` and ``target`` (None without ``reconstruction_rss``) as the pipeline's elements (NumPy,
    unbatched); ``meta``: ``{"fname", "slice", "scale"}``, ``scale`` the max of the gridding RSS image.
    """
    examples = []
    for path in files:
        volume = read_noncartesian(path)
        operator = NUFFTOperator(volume["trajectory"], volume["matrix"], tol=1e-4)
        gridded = gridding_reconstruction(volume["kspace"], operator, volume["density"]).numpy()
        for index, kspace in enumerate(volume["kspace"]):
            scale = np.float32(gridded[index].max() or 1.0)
            inputs = {"kspace": kspace / scale, "trajectory": volume["trajectory"], "density": volume["density"]}
            target = None if volume["target"] is None else volume["target"][index] / scale
            meta = {"fname": os.path.basename(path), "slice": np.int64(index), "scale": scale}
            examples.append((inputs, target, meta))
    return examples


def read_matrix(path):
    """The image grid ``matrix`` of a non-Cartesian file, a tuple of ints."""
    with h5py.File(os.fspath(path), "r") as f:
        if "matrix" not in f.attrs:
            raise DataError(f"Data file {path!r} has no attribute 'matrix' (the image grid shape).")
        return tuple(int(m) for m in f.attrs["matrix"])


def count_slices(files):
    """The number of slices (the first axis of ``kspace``) in non-Cartesian ``files``."""
    total = 0
    for path in files:
        with h5py.File(os.fspath(path), "r") as f:
            if "kspace" not in f:
                raise DataError(f"Data file {path!r} has no dataset 'kspace' (keys: {sorted(f.keys())}).")
            total += int(f["kspace"].shape[0])
    return total


def build_noncartesian_dataset(files, batch_size=1, shuffle=False, seed=0, repeat=False, return_metadata=False,
                               drop_remainder=False):
    """A ``tf.data.Dataset`` of `(inputs, target)` batches (module docstring) from non-Cartesian files.

    All files must share the trajectory length and matrix (one batch shape). Files are read once.
    ``return_metadata`` adds ``{"fname", "slice", "scale"}`` as a last element; then files without a
    target give `(inputs, meta)`.
    """
    examples = noncartesian_examples(files)
    if not examples:
        raise DataError(f"No slices in the non-Cartesian files {list(files)!r}.")
    with_target = {target is not None for _, target, _ in examples}
    if len(with_target) > 1 or (not return_metadata and False in with_target):
        raise DataError("Non-Cartesian training data need the target dataset 'reconstruction_rss' in every file.")
    shapes = {(inputs["kspace"].shape, tuple(inputs["trajectory"].shape)) for inputs, _, _ in examples}
    if len(shapes) > 1:
        raise DataError(f"Non-Cartesian files {list(files)!r} differ in coils or samples ({sorted(shapes)}); "
                        "one dataset needs one (coils, M) shape.")
    stacked = {key: np.stack([inputs[key] for inputs, _, _ in examples]) for key in examples[0][0]}
    elements = (stacked,)
    if True in with_target:
        elements += (np.stack([target for _, target, _ in examples]),)
    if return_metadata:
        elements += ({key: np.stack([meta[key] for _, _, meta in examples]) for key in examples[0][2]},)
    dataset = tf.data.Dataset.from_tensor_slices(elements if len(elements) > 1 else elements[0])
    if shuffle:
        dataset = dataset.shuffle(len(examples), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    return dataset.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


_ORDERING = typing.Annotated[str, Field(str, choices=RADIAL_ORDERINGS)]
_ANGLE_RANGE = typing.Annotated[str, Field(str, choices=("full", "half"))]


def radial(base_resolution, views: int = 64, ordering: _ORDERING = "golden", angle_range: _ANGLE_RANGE = "full",
           readout_os: float = 2.0):
    """Radial spokes through the centre (``ops.radial_trajectory``), as `(views * samples, 2)` radians.

    Args:
        base_resolution: the image grid size (given by the data's ``matrix``).
        views: number of spokes.
        ordering: spoke angles: "linear", "golden", "tiny" (tiny golden), "golden_half", "tiny_half",
            "sorted" (= "sorted_golden"), "sorted_tiny" (see ``ops.radial_angles``).
        angle_range: "full" (``[0, 2 pi)``) or "half" (``[0, pi)``).
        readout_os: readout oversampling (samples per spoke = ``base_resolution * readout_os``).
    """
    return radial_trajectory(base_resolution, views, ordering, angle_range, readout_os).reshape(-1, 2)


def spiral(base_resolution, views: int = 16, density_exponent: float = 2.0, acceleration: float = 1.0):
    """Variable-density spiral interleaves (``ops.spiral_trajectory``), as `(views * samples, 2)` radians.

    Args:
        base_resolution: the image grid size (given by the data's ``matrix``).
        views: number of interleaves.
        density_exponent: 1 is Archimedean (uniform); larger samples the centre more densely.
        acceleration: ring spacing at the edge in Nyquist distances.
    """
    return spiral_trajectory(base_resolution, views, density_exponent, acceleration).reshape(-1, 2)


#: Registered trajectories (kind ``trajectory``): a training config's ``trajectory: {type: ...}``.
TRAJECTORIES = {"radial": radial, "spiral": spiral}
DEFAULT_TRAJECTORY = {"type": "radial", "views": 32, "ordering": "golden"}


def prepare_radial_builtin(folder, matrix=64, views=48, num_coils=8, snr=40.0, slice_step=4, ordering="golden",
                           seed=0, trajectory=None):
    """Radial data from the built-in MNI152 anatomy: one file per split in ``folder`` (`train/`, `val/`).

    Slices on the 1 mm 240 x 240 grid are sampled by ``views`` radial spokes of a ``matrix`` grid
    (readout oversampling 2, ``ordering``), or by ``trajectory`` (`(M, 2)` radians) when given;
    validation is a slab of a fifth of the slices (``mrinets.data.builtin.split_slab``, one-slice
    gaps). Returns ``folder``.
    """
    from mrinets.data.builtin import _axial_slices, load_mni152, split_slab
    slices = _axial_slices(load_mni152(), slice_step)
    attrs = {}
    if trajectory is None:
        trajectory = radial_trajectory(matrix, views, ordering=ordering, angle_range="full").reshape(-1, 2)
        attrs = {"views": views, "ordering": ordering}
    density = estimate_density(trajectory, (matrix, matrix)).numpy()
    train, val = split_slab(len(slices), max(1, len(slices) // 5), gap=1)
    rng = np.random.default_rng(seed)
    for split, indices in (("train", train), ("val", val)):
        data = simulate_noncartesian(slices[indices], (matrix, matrix), trajectory, num_coils, snr, rng)
        write_noncartesian_h5(os.path.join(folder, split, f"mni152_radial_{split}.h5"), data["kspace"], trajectory,
                              (matrix, matrix), density, data["target"], attrs=attrs)
    return folder


def prepare_noncartesian_builtin(cache_dir=None, matrix=64, num_coils=8, snr=40.0, slice_step=4, seed=0,
                                 trajectory=None, force=False):
    """Prepare the built-in non-Cartesian MNI152 data once into the cache; return its folder (`train/`, `val/`).

    ``prepare_radial_builtin`` with the trajectory of ``trajectory`` (a registered trajectory's
    config, default ``DEFAULT_TRAJECTORY``: 32 golden-angle spokes) on a ``matrix`` grid. The folder
    name carries a hash of the arguments; a `manifest.json` marks a complete build.
    """
    from mrinets import config

    node = dict(trajectory or DEFAULT_TRAJECTORY)
    params = {"matrix": int(matrix), "num_coils": int(num_coils), "snr": float(snr), "slice_step": int(slice_step),
              "seed": int(seed), "trajectory": config.to_plain(node)}
    root, manifest = prepared_folder(cache_dir, f"mni152_noncartesian-{matrix}-{num_coils}c", params)
    if os.path.exists(manifest) and not force:
        return root
    points = config.build(node, "trajectory", base_resolution=int(matrix))
    prepare_radial_builtin(root, matrix=matrix, num_coils=num_coils, snr=snr, slice_step=slice_step, seed=seed,
                           trajectory=points)
    write_manifest(manifest, params)
    return root

