"""3D: already undersampled files (challenge layout), one calibration region for every rank, and
3D evaluation through the baseline registry."""

import json

import h5py
import numpy as np
import pytest

from mrinets.data import masks3d


def _centered(fn, x, axes):
    """Centered orthonormal ``numpy.fft.fftn``/``ifftn`` over ``axes``."""
    return np.fft.fftshift(fn(np.fft.ifftshift(x, axes=axes), axes=axes, norm="ortho"), axes=axes)


def _hamming(length):
    """The taper ``estimate_coil_maps`` puts over a calibration run of ``length`` points."""
    return 0.54 - 0.46 * np.cos(2 * np.pi * (np.arange(length) + 0.5) / length)


# -- one calibration region for every rank ------------------------------------------------------

@pytest.fixture(scope="module")
def acquisition():
    """Random 3D k-space `(1, coils, x, kz, ky)` and a (kz, ky) mask whose 4 x 6 block is extended
    along its centre row and column by sampled points (a run through the centre is longer)."""
    rng = np.random.default_rng(3)
    kspace = (rng.standard_normal((1, 3, 5, 12, 14)) + 1j * rng.standard_normal((1, 3, 5, 12, 14))).astype(np.complex64)
    mask = np.zeros((12, 14), np.float32)
    mask[4:8, 4:10] = 1  # the block: start (n - c + 1) // 2 on each axis
    mask[6, 1:4] = mask[6, 10:13] = mask[1:4, 7] = 1  # next to it, through the centre
    mask[::3, ::4] = 1
    return kspace * mask, mask.reshape(1, 1, 1, 12, 14)


def test_rank3_coil_maps_use_the_2d_calibration_block(acquisition):
    from mrinets import networks, ops

    kspace, mask = acquisition
    num_low = np.array([4], np.int32)
    # Independent reference: the hamming-tapered 4 x 6 block, low-resolution 3D coil images over their RSS.
    region = np.zeros((12, 14))
    region[4:8, 4:10] = np.outer(_hamming(4), _hamming(6))
    images = _centered(np.fft.ifftn, kspace * region, (2, 3, 4))
    reference = images / np.sqrt((np.abs(images) ** 2).sum(1, keepdims=True) + 1e-8)
    maps3d = ops.estimate_coil_maps(kspace, mask=mask, num_low_frequencies=num_low, rank=3).numpy()
    np.testing.assert_allclose(maps3d, reference, atol=2e-5)
    # The same code path in 2D: every readout position of the hybrid data is a 2D ky-kz problem.
    hybrid = _centered(np.fft.ifftn, kspace, (2,))[0].transpose(1, 0, 2, 3)  # (x, coils, kz, ky)
    maps2d = ops.estimate_coil_maps(hybrid, mask=mask[0], num_low_frequencies=np.full(5, 4, np.int32), rank=2).numpy()
    np.testing.assert_allclose(maps2d.transpose(1, 0, 2, 3)[None], reference, atol=2e-5)
    # A run through the centre would take the extra points (the region this replaces for rank 3).
    assert ops.calibration_region(mask, axes=(-2, -1)).numpy().sum() > 4 * 6
    # VarNet's maps (no sensitivity network) and its sensitivity network's input use the same block.
    varnet = networks.VarNet(rank=3, cascades=1, sensitivity=None, regularizer={
        "type": "UNet", "dtype": "float32", "in_channels": 2, "filters": [4, 8]})
    np.testing.assert_allclose(varnet.coil_maps(kspace, mask, num_low).numpy(), reference, atol=2e-5)
    block = ops.acs_region(mask, num_low, 5).numpy()
    np.testing.assert_array_equal(np.broadcast_to(block, (1, 1, 1, 12, 14))[0, 0, 0] != 0, region != 0)


# -- already undersampled 3D files ----------------------------------------------------------------

@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A simulated 3D acquisition (an ellipsoid head phantom with 4 coils, 8 readout positions, 20 x 20
    ky-kz) written fully sampled, already undersampled without a target (challenge layout) and
    already undersampled with a target; and the mask."""
    from mrinets.data import builtin3d, volumes

    x, z, y = np.meshgrid(*(np.linspace(-1, 1, n) for n in (12, 28, 28)), indexing="ij")
    image = ((x / 0.9) ** 2 + (z / 0.7) ** 2 + (y / 0.8) ** 2 < 1) * (1 + 0.5 * np.cos(6 * z) * np.sin(5 * y))
    sim = builtin3d.simulate_volume(image.astype(np.float32), (8, 20, 20), num_coils=4, snr=50.0,
                                    rng=np.random.default_rng(0))
    mask = masks3d.VariableDensityMask(acceleration=4, calibration=(6, 6))((20, 20), seed=11)[0].reshape(20, 20)
    folder = tmp_path_factory.mktemp("files3d")
    paths = {
        "full": volumes.write_hybrid_h5(folder / "full" / "vol.h5", sim["hybrid"], sim["target"]),
        "challenge": volumes.write_hybrid_h5(folder / "challenge" / "vol.h5", sim["hybrid"], mask=mask),
        "scored": volumes.write_hybrid_h5(folder / "scored" / "vol.h5", sim["hybrid"], sim["target"], mask=mask),
    }
    return paths, sim, mask


def test_challenge_layout_is_written_and_read(files, tmp_path):
    from mrinets.data import DataError, read_metadata, read_slice, volumes

    paths, sim, mask = files
    with h5py.File(paths["challenge"]) as f:
        assert "reconstruction_rss" not in f and f["mask"].shape == (20, 20)
        np.testing.assert_array_equal(f["kspace"][()], sim["hybrid"] * mask)
        assert f.attrs["acceleration"] == pytest.approx(400 / mask.sum())
    meta = read_metadata(paths["challenge"])
    assert meta["has_mask"] and meta["target_key"] is None and volumes.is_volume_file(meta)
    # The 2D reader takes such a file slice by slice (ky-kz problems) with its 2D mask.
    np.testing.assert_array_equal(read_slice(paths["challenge"], 3)["mask"], mask)
    inputs, target, info = next(iter(volumes.build_volume_dataset(paths["challenge"], mask="poisson_disc")))
    assert target.shape == (1, 0, 0, 0)
    np.testing.assert_array_equal(inputs["mask"].numpy()[0, 0, 0], mask)  # its own mask, not the configured one
    with pytest.raises(ValueError, match=r"Invalid value for argument `mask`. Expected a \(kz, ky\) = \(20, 20\)"):
        volumes.write_hybrid_h5(tmp_path / "bad.h5", sim["hybrid"], mask=mask[:, :10])
    with h5py.File(paths["challenge"]) as source, h5py.File(tmp_path / "wrong.h5", "w") as f:  # a line mask in 3D
        for key in ("kspace", "ismrmrd_header"):
            source.copy(key, f)
        f.attrs["layout"] = volumes.LAYOUT
        f.create_dataset("mask", data=np.ones(20, bool))
    with pytest.raises(DataError, match=r"wrong.h5.*dataset 'mask' must have shape \(20, 20\)"):
        read_metadata(tmp_path / "wrong.h5")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run directory of an untrained small 3D VarNet (config and checkpoint, as ``mrinets train`` writes)."""
    from mrinets.train import checkpoint, schema

    cfg = schema.load_config("varnet3d_quickstart", ["model.cascades=1", "model.regularizer.filters=[4, 8]",
                                                     "mask.calibration=[6, 6]"])
    folder = tmp_path_factory.mktemp("run3d")
    checkpoint.atomic_write_text(str(folder / "config.yaml"), schema.to_yaml(cfg))
    model = schema.build_model(cfg)
    checkpoint.save(str(folder / "checkpoints" / "best.npz"), model, None, {"step": 0})
    return folder, model


def test_predict_on_a_challenge_file_equals_the_masked_fully_sampled_file(files, run_dir, tmp_path):
    from mrinets import cli
    from mrinets.train import evaluation, volumetric

    paths, sim, mask = files
    folder, model = run_dir
    assert cli.main(["predict", str(folder), "--data", str(paths["challenge"]), "--output", str(tmp_path)]) == 0
    with h5py.File(tmp_path / "vol.h5") as f:
        recon = f["reconstruction"][()]
    fixed = mask.reshape(1, 1, 20, 20)
    expected = volumetric.predict_volume(evaluation.predict_function(model), paths["full"],
                                         mask=lambda shape, seed: (fixed, 6))
    assert recon.shape == (8, 20, 20) and np.isfinite(recon).all()
    np.testing.assert_allclose(recon, expected, rtol=1e-4, atol=1e-5 * expected.max())


def test_3d_evaluate_honours_baselines_and_counts_readout_positions(files, run_dir, tmp_path, capsys):
    from mrinets import cli, metrics

    paths, sim, mask = files
    folder, _ = run_dir
    args = ["evaluate", str(folder), "--data", str(paths["scored"]), "--output", str(tmp_path)]
    assert cli.main(args + ["--baseline", "zero_filled"]) == 0
    header = capsys.readouterr().out.splitlines()[1]
    assert "readout positions" in header and "slices" not in header and "cg_sense" not in header
    report = json.loads((tmp_path / "metrics.json").read_text())
    row = report["volumes"][0]
    assert row["readout_positions"] == 8 and "cg_sense_psnr" not in row and "model_psnr" in row
    # Zero-filled of the file's own mask, against NumPy: RSS of the 2D inverse FFT of each position.
    zero_filled = np.sqrt((np.abs(_centered(np.fft.ifftn, sim["hybrid"] * mask, (2, 3))) ** 2).sum(1))
    assert row["zero_filled_psnr"] == pytest.approx(metrics.psnr(sim["target"], zero_filled), abs=1e-3)
    assert (tmp_path / "figures" / "vol.png").stat().st_size > 1000
    # The config's evaluate.baselines by default (zero-filled and CG-SENSE), CG-SENSE better at 4x.
    assert cli.main(args) == 0
    row = json.loads((tmp_path / "metrics.json").read_text())["volumes"][0]
    assert row["cg_sense_psnr"] > row["zero_filled_psnr"]
    assert cli.main(["evaluate", str(folder), "--data", str(paths["challenge"]), "--output", str(tmp_path)]) != 0
    assert "challenge/vol.h5' holds test-style 3D files (no target)" in capsys.readouterr().err


def test_collect_volumes_takes_baseline_specs(files):
    from mrinets.data import volumes
    from mrinets.train import volumetric

    paths, sim, mask = files
    ds = volumes.build_volume_dataset(paths["scored"])
    collected = volumetric.collect_volumes(ds, baselines=[{"type": "cg_sense", "max_iterations": 2}, "cg_sense"])
    volume = collected["vol.h5"]
    assert set(volume) == {"target", "cg_sense", "cg_sense_2"} and volume["cg_sense"].shape == (8, 20, 20)
    assert not np.allclose(volume["cg_sense"], volume["cg_sense_2"])  # 2 vs 10 CG iterations
    assert set(volumetric.collect_volumes(ds, baselines=False)["vol.h5"]) == {"target"}
