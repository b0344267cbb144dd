"""Data: fastMRI-layout reading, a tf.data pipeline, sampling masks, simulation, built-in data.

>>> from mrinets import data
>>> root = data.prepare_builtin()                       # MNI152, 8 coils, 128x128, once
>>> ds = data.build_dataset(f"{root}/train", mask={"type": "random", "center_fractions": 0.08,
...                         "accelerations": 4}, batch_size=4, shuffle=True, seed=0)
"""

from mrinets.data.builtin import (
    DATASETS,
    default_cache_dir,
    load_mni152,
    prepare_builtin,
    prepare_command,
    prepare_shepp_logan,
    split_slab,
)
from mrinets.data.fastmri import DataError, parse_header, read_metadata, read_slice, read_volume
from mrinets.data.masks import (
    MASKS,
    EquispacedFractionMask,
    EquispacedMask,
    GaussianMask,
    MaskFunc,
    PoissonDiscMask,
    RandomMask,
    tf_sample_mask,
)
from mrinets.data.pipeline import DataWarning, build_dataset, build_index, data_errors, list_files
from mrinets.data.simulate import birdcage_maps, make_header, noise_covariance, simulate_multicoil, write_fastmri_h5

__all__ = [
    "DATASETS",
    "MASKS",
    "DataError",
    "DataWarning",
    "EquispacedFractionMask",
    "EquispacedMask",
    "GaussianMask",
    "MaskFunc",
    "PoissonDiscMask",
    "RandomMask",
    "birdcage_maps",
    "build_dataset",
    "build_index",
    "data_errors",
    "default_cache_dir",
    "list_files",
    "load_mni152",
    "make_header",
    "noise_covariance",
    "parse_header",
    "prepare_builtin",
    "prepare_command",
    "prepare_shepp_logan",
    "read_metadata",
    "read_slice",
    "read_volume",
    "simulate_multicoil",
    "split_slab",
    "tf_sample_mask",
    "write_fastmri_h5",
]
