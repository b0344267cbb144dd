import os

import h5py
import numpy as np
import pytest
import tensorflow as tf

from mrinets import cli, data, ops, registry

HEADER = (
    b'<?xml version="1.0" encoding="utf-8"?>\n<ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD"><encoding>'
    b"<encodedSpace><matrixSize><x>32</x><y>20</y><z>1</z></matrixSize></encodedSpace>"
    b"<reconSpace><matrixSize><x>16</x><y>16</y><z>1</z></matrixSize></reconSpace>"
    b"<encodingLimits><kspace_encoding_step_1><minimum>0</minimum><maximum>19</maximum><center>10</center>"
    b"</kspace_encoding_step_1></encodingLimits></encoding></ismrmrdHeader>"
)


def _kspace(rng, *shape):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)


def write_fastmri_train(path, multicoil=True, slices=3, coils=4):
    """A file in fastMRI's exact train/val layout, written with plain h5py."""
    rng = np.random.default_rng(1)
    shape = (slices, coils, 32, 20) if multicoil else (slices, 32, 20)
    kspace = _kspace(rng, *shape)
    key = "reconstruction_rss" if multicoil else "reconstruction_esc"
    target = np.abs(rng.standard_normal((slices, 16, 16))).astype(np.float32)
    with h5py.File(path, "w") as f:
        f.create_dataset("kspace", data=kspace)
        f.create_dataset(key, data=target)
        f.create_dataset("ismrmrd_header", data=HEADER)
        f.attrs["acquisition"] = "CORPD_FBK"
        f.attrs["max"] = np.float64(target.max())
        f.attrs["norm"] = np.float64(np.linalg.norm(target))
        f.attrs["patient_id"] = "abc"
    return kspace, target


def write_fastmri_test(path, slices=2, coils=4):
    """fastMRI's test/challenge layout: undersampled k-space, `mask`, no target."""
    rng = np.random.default_rng(2)
    mask = np.zeros(20, bool)
    mask[8:12] = True
    mask[::4] = True
    kspace = _kspace(rng, slices, coils, 32, 20) * mask
    with h5py.File(path, "w") as f:
        f.create_dataset("kspace", data=kspace)
        f.create_dataset("mask", data=mask)
        f.create_dataset("ismrmrd_header", data=HEADER)
        f.attrs["acceleration"] = 4
        f.attrs["num_low_frequency"] = 4
        f.attrs["acquisition"] = "CORPD_FBK"
    return kspace, mask


def test_read_fastmri_train_layout(tmp_path):
    path = tmp_path / "file1000000.h5"
    kspace, target = write_fastmri_train(path)
    meta = data.read_metadata(path)
    assert meta["num_slices"] == 3 and meta["kspace_shape"] == (4, 32, 20) and meta["multicoil"]
    assert meta["target_key"] == "reconstruction_rss" and meta["target_shape"] == (16, 16)
    assert meta["encoded_size"] == (32, 20, 1) and meta["recon_size"] == (16, 16, 1)
    assert meta["encoding_limits_center"] == 10 and meta["encoding_limits_max"] == 20
    assert meta["attrs"]["acquisition"] == "CORPD_FBK" and meta["attrs"]["max"] == pytest.approx(target.max())
    sample = data.read_slice(path, 1)
    np.testing.assert_array_equal(sample["kspace"], kspace[1])
    np.testing.assert_array_equal(sample["target"], target[1])
    assert sample["mask"] is None


def test_read_single_coil(tmp_path):
    path = tmp_path / "single.h5"
    kspace, target = write_fastmri_train(path, multicoil=False)
    meta = data.read_metadata(path)
    assert not meta["multicoil"] and meta["kspace_shape"] == (1, 32, 20) and meta["target_key"] == "reconstruction_esc"
    volume = data.read_volume(path)
    np.testing.assert_array_equal(volume["kspace"][:, 0], kspace)
    np.testing.assert_array_equal(volume["target"], target)


def test_read_test_layout_and_pipeline(tmp_path):
    path = tmp_path / "file_test.h5"
    kspace, mask = write_fastmri_test(path)
    meta = data.read_metadata(path)
    assert meta["target_key"] is None and meta["has_mask"] and meta["attrs"]["acceleration"] == 4
    ds = data.build_dataset(path, mask="random", normalize=False, return_metadata=True)
    elements = list(ds.as_numpy_iterator())
    assert len(elements) == 2
    inputs, metadata = elements[0]
    # The file's own mask is used as is; k-space is not masked again.
    np.testing.assert_array_equal(inputs["kspace"][0], kspace[0])
    np.testing.assert_array_equal(inputs["mask"][0, 0, 0], mask.astype(np.float32))
    assert inputs["num_low_frequencies"][0] == 4
    assert metadata["fname"][0] == b"file_test.h5" and metadata["slice"][0] == 0


def test_simulator_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    yy, xx = np.meshgrid(np.linspace(-1, 1, 48), np.linspace(-1, 1, 48), indexing="ij")
    images = np.stack([((xx**2 + yy**2) < r).astype(np.float32) for r in (0.5, 0.6)])
    sim = data.simulate_multicoil(images, (24, 24), num_coils=4, snr=40, rng=rng)
    assert sim["kspace"].shape == (2, 4, 24, 24) and sim["kspace"].dtype == np.complex64
    assert sim["target"].shape == (2, 24, 24)
    cov = sim["covariance"]
    np.testing.assert_allclose(cov, cov.conj().T)
    assert np.all(np.linalg.eigvalsh(cov) > 0)
    # SNR about 40: foreground mean over background noise level.
    noise = ops.ifftn_np(sim["kspace"], rank=2)[:, :, :3, :3]
    assert 20 < sim["target"][:, 10:14, 10:14].mean() / (np.abs(noise).std() + 1e-12) < 200
    path = data.write_fastmri_h5(tmp_path / "sim.h5", sim["kspace"], sim["target"], attrs={"acquisition": "SIM"})
    assert sorted(os.listdir(tmp_path)) == ["sim.h5"]  # the temporary file was renamed away
    meta = data.read_metadata(path)
    assert meta["recon_size"] == (24, 24, 1) and meta["attrs"]["acquisition"] == "SIM"
    sample = data.read_slice(path, 1)
    np.testing.assert_array_equal(sample["kspace"], sim["kspace"][1])
    np.testing.assert_allclose(sample["target"], np.sqrt((np.abs(ops.ifftn_np(sim["kspace"][1])) ** 2).sum(0)), rtol=1e-4)


def test_birdcage_maps_are_smooth_and_normalized():
    maps = data.birdcage_maps((32, 32), 8)
    rss = np.sqrt((np.abs(maps) ** 2).sum(0))
    assert maps.shape == (8, 32, 32) and rss.max() == pytest.approx(1.0, rel=1e-5)
    # Smooth: almost all energy of each map sits in the central 8x8 of its 32x32 k-space.
    spectrum = np.abs(ops.fftn_np(maps)) ** 2
    assert np.all(spectrum[:, 12:20, 12:20].sum((1, 2)) / spectrum.sum((1, 2)) > 0.95)


def test_pipeline_structure_masks_and_normalization(tmp_path):
    root = data.prepare_shepp_logan(cache_dir=tmp_path, matrix=32, num_coils=4, num_slices=4)
    mask = data.RandomMask(0.08, 4)
    ds = data.build_dataset(os.path.join(root, "train"), mask=mask, batch_size=2, shuffle=True, seed=3)
    inputs, target = next(iter(ds))
    assert inputs["kspace"].shape == (2, 4, 32, 32) and inputs["kspace"].dtype == tf.complex64
    assert inputs["mask"].shape == (2, 1, 1, 32) and target.shape == (2, 32, 32)
    assert inputs["num_low_frequencies"].numpy().tolist() == [3, 3]
    m = inputs["mask"].numpy()
    assert np.all(inputs["kspace"].numpy()[m[:, :, :, :].repeat(4, 1).repeat(32, 2) == 0] == 0)
    # Normalization: the zero-filled RSS of each example peaks at 1.
    zf = ops.zero_filled(inputs["kspace"]).numpy()
    np.testing.assert_allclose(zf.max(axis=(1, 2)), 1.0, rtol=1e-5)
    # Random masks differ across examples and epochs; validation masks are fixed per slice.
    masks_epochs = [np.concatenate([b[0]["mask"].numpy() for b in ds]) for _ in range(2)]
    assert not np.array_equal(masks_epochs[0], masks_epochs[1])
    val = data.build_dataset(os.path.join(root, "val"), mask=mask, return_metadata=True)
    first = [e[0]["mask"] for e in val.as_numpy_iterator()]
    second = [e[0]["mask"] for e in val.as_numpy_iterator()]
    np.testing.assert_array_equal(np.stack(first), np.stack(second))
    # Mask from a registry mapping, crop, and Keras-fit-ready (inputs, target) pairs.
    ds2 = data.build_dataset(os.path.join(root, "val"), mask={"type": "equispaced", "accelerations": 4}, crop=(16, 16))
    inputs2, target2 = next(iter(ds2))
    assert target2.shape == (1, 16, 16) and inputs2["kspace"].shape == (1, 4, 32, 32)


def test_pipeline_on_glob_and_2d_mask(tmp_path):
    root = data.prepare_shepp_logan(cache_dir=tmp_path, matrix=32, num_coils=2, num_slices=2)
    ds = data.build_dataset(os.path.join(root, "*", "*.h5"), mask=data.GaussianMask(4, calibration=(4, 4)), batch_size=4)
    inputs, target = next(iter(ds))
    assert inputs["kspace"].shape == (4, 2, 32, 32) and inputs["mask"].shape == (4, 1, 32, 32)
    assert inputs["mask"].numpy()[0].sum() == 32 * 32 / 4


def test_registered_datasets(tmp_path):
    assert {"fastmri", "mni152", "shepp_logan"} <= set(registry.names("dataset"))
    ds = registry.get("dataset", "shepp_logan")("val", cache_dir=tmp_path, matrix=16, num_coils=2)
    assert next(iter(ds))[0]["kspace"].shape == (1, 2, 16, 16)


def test_errors_name_file_and_key(tmp_path):
    with pytest.raises(data.DataError, match="does not exist"):
        data.read_metadata(tmp_path / "missing.h5")
    with pytest.raises(data.DataError, match="does not exist"):
        data.build_dataset(tmp_path / "nothing")
    with pytest.raises(data.DataError, match="contains no .h5 files"):
        data.build_dataset(tmp_path)
    no_kspace = tmp_path / "no_kspace.h5"
    with h5py.File(no_kspace, "w") as f:
        f.create_dataset("reconstruction_rss", data=np.zeros((1, 4, 4), np.float32))
    with pytest.raises(data.DataError, match=r"no_kspace.h5.*'kspace'"):
        data.read_metadata(no_kspace)
    with pytest.raises(data.DataError, match=r"no_kspace.h5.*'kspace'"):
        data.read_slice(no_kspace, 0)
    bad_shape = tmp_path / "bad_shape.h5"
    with h5py.File(bad_shape, "w") as f:
        f.create_dataset("kspace", data=np.zeros((4, 4), np.complex64))
    with pytest.raises(data.DataError, match=r"bad_shape.h5.*'kspace'.*shape"):
        data.read_metadata(bad_shape)
    real = tmp_path / "real.h5"
    with h5py.File(real, "w") as f:
        f.create_dataset("kspace", data=np.zeros((1, 4, 4), np.float32))
    with pytest.raises(data.DataError, match=r"real.h5.*'kspace' must be complex"):
        data.read_metadata(real)
    mismatch = tmp_path / "mismatch.h5"
    with h5py.File(mismatch, "w") as f:
        f.create_dataset("kspace", data=np.zeros((2, 2, 8, 8), np.complex64))
        f.create_dataset("reconstruction_rss", data=np.zeros((3, 4, 4), np.float32))
    with pytest.raises(data.DataError, match=r"mismatch.h5.*'reconstruction_rss'"):
        data.read_metadata(mismatch)
    good = tmp_path / "good.h5"
    write_fastmri_train(good)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(data.DataError, match=r"truncated.h5"):
        data.read_slice(truncated, 0)
    with pytest.raises(data.DataError, match=r"good.h5.*slice 7"):
        data.read_slice(good, 7)
    (tmp_path / "garbage.h5").write_bytes(b"not an hdf5 file")
    with pytest.raises(data.DataError, match=r"garbage.h5.*not a readable HDF5"):
        data.read_metadata(tmp_path / "garbage.h5")


def test_mixed_layouts_and_batch_shapes_rejected(tmp_path):
    write_fastmri_train(tmp_path / "a.h5")
    write_fastmri_test(tmp_path / "b.h5")
    with pytest.raises(data.DataError, match="mix train-style"):
        data.build_dataset(tmp_path)
    with pytest.raises(ValueError, match=r"argument `batch_size`"):
        data.build_dataset(tmp_path / "a.h5", batch_size=0)


def test_prepare_builtin_small(tmp_path, monkeypatch):
    monkeypatch.setenv("MRINETS_CACHE", str(tmp_path))
    root = data.prepare_builtin(matrix=32, num_coils=2, slice_step=8, num_train_subjects=1, val_slices=3, gap=1, progress=False)
    assert root.startswith(str(tmp_path))
    train = data.read_metadata(os.path.join(root, "train", "mni152_train_00.h5"))
    val = data.read_metadata(os.path.join(root, "val", "mni152_val_00.h5"))
    assert train["kspace_shape"] == (2, 32, 32) and val["num_slices"] == 3
    train_slices, val_slices = set(train["attrs"]["slices"]), set(val["attrs"]["slices"])
    assert not train_slices & val_slices
    assert min(abs(t - v) for t in train_slices for v in val_slices) >= 2  # the gap
    mtime = os.path.getmtime(os.path.join(root, "manifest.json"))
    assert data.prepare_builtin(matrix=32, num_coils=2, slice_step=8, num_train_subjects=1, val_slices=3, gap=1) == root
    assert os.path.getmtime(os.path.join(root, "manifest.json")) == mtime
    assert not [f for _, _, fs in os.walk(root) for f in fs if f.startswith(".tmp")]
    with pytest.raises(ValueError, match=r"argument `matrix`"):
        data.prepare_builtin(matrix=512)


def test_split_slab_and_prepare_command(tmp_path, capsys):
    train, val = data.split_slab(40, 6, 2)
    assert len(val) == 6 and np.all(np.diff(val) == 1)
    assert not set(train) & set(range(val[0] - 2, val[-1] + 3))
    import argparse

    args = cli.add_prepare_arguments(argparse.ArgumentParser()).parse_args(
        ["shepp_logan", "--cache-dir", str(tmp_path), "--matrix", "16", "--coils", "2"]
    )
    assert data.prepare_command(args) == 0
    root = capsys.readouterr().out.strip()
    assert os.path.isdir(os.path.join(root, "train"))
