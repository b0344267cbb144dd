"""Domain-randomized training data: exact measurements, reproducible per seed, the prepared set."""

import os

import h5py
import numpy as np
import pytest

pytest.importorskip("scipy")

from mrinets.data import augment  # noqa: E402


def _fft2(x):
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))


def _ifft2(x):
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(x, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))


@pytest.fixture(scope="module")
def tissues():
    maps = augment.load_tissue_maps()
    assert maps.shape[0] == 3 and 0 <= maps.min() and maps.max() <= 1
    return augment._axial_tissues(maps, 30)[2]  # (3, 240, 240): one axial slice


def test_crop_readout_keeps_data_consistency_exact():
    rng = np.random.default_rng(0)
    image = rng.standard_normal((40, 24)) + 1j * rng.standard_normal((40, 24))
    maps = rng.standard_normal((3, 40, 24)) + 1j * rng.standard_normal((3, 40, 24))
    kspace = _fft2(maps * image)
    cropped = augment.crop_readout(kspace, 16, start=5)
    np.testing.assert_allclose(cropped, _fft2(maps[:, 5:21] * image[5:21]), atol=1e-5)
    np.testing.assert_allclose(augment.crop_readout(kspace, 16), _fft2(maps[:, 12:28] * image[12:28]), atol=1e-5)
    with pytest.raises(ValueError, match="argument `rows`"):
        augment.crop_readout(kspace, 41)


def test_example_satisfies_a_x_equals_y_and_is_reproducible(tissues):
    example = augment.randomized_example(tissues, np.random.default_rng([7, 1]), rows=32, cols=64)
    x, maps, y = example["image"], example["maps"], example["kspace"]
    assert x.shape == (32, 64) and y.shape == maps.shape and 4 <= maps.shape[0] <= augment.MAX_COILS
    forward = _fft2(maps * x[None])  # A x with a full mask
    np.testing.assert_allclose(forward, y - example["noise"], atol=1e-5 * np.abs(y).max())
    assert np.linalg.norm(example["noise"]) > 0
    np.testing.assert_allclose(example["target"], np.sqrt((np.abs(_ifft2(y)) ** 2).sum(0)), rtol=1e-4, atol=1e-6)
    mask = np.zeros(64, bool)
    mask[::4] = True
    np.testing.assert_allclose(forward * mask, (y - example["noise"]) * mask, atol=1e-5 * np.abs(y).max())
    again = augment.randomized_example(tissues, np.random.default_rng([7, 1]), rows=32, cols=64)
    for key in example:
        np.testing.assert_array_equal(example[key], again[key])
    other = augment.randomized_example(tissues, np.random.default_rng([7, 2]), rows=32, cols=64)
    assert not np.allclose(np.abs(other["image"]), np.abs(x))


def test_prepare_randomized_small(tmp_path):
    root = augment.prepare_randomized(cache_dir=tmp_path, rows=16, cols=32, num_train_subjects=1, slice_step=12,
                                      val_slices=2, gap=1, progress=False)
    with h5py.File(os.path.join(root, "train", "mni152_random_train_00.h5"), "r") as f:
        kspace, target = f["kspace"][()], f["reconstruction_rss"][()]
        slices = f.attrs["slices"]
    assert kspace.shape[1:] == (augment.MAX_COILS, 16, 32) and target.shape == (kspace.shape[0], 16, 32)
    with h5py.File(os.path.join(root, "val", "mni152_random_val_00.h5"), "r") as f:
        assert f["kspace"].shape[0] == 2
        assert not set(f.attrs["slices"]) & set(slices)  # no slice in both splits
    assert augment.prepare_randomized(cache_dir=tmp_path, rows=16, cols=32, num_train_subjects=1, slice_step=12,
                                      val_slices=2, gap=1, progress=False) == root
