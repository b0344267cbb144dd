"""The generalization set: real anatomy from installed wheels, built offline and deterministically."""

import os

import h5py
import numpy as np
import pytest

pytest.importorskip("pydicom")
pytest.importorskip("data_store", reason="pydicom-data is not installed")
pytest.importorskip("dipy")
pytest.importorskip("scipy")

from mrinets.data import generalization  # noqa: E402

MATRIX = 48


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return generalization.prepare_generalization(cache_dir=tmp_path_factory.mktemp("gen"), matrix=MATRIX, progress=False)


def _read(path):
    with h5py.File(path, "r") as f:
        return {key: f[key][()] for key in f}, dict(f.attrs)


def test_layouts_masks_and_targets(root):
    names = sorted(generalization.SOURCES)
    assert sorted(os.listdir(os.path.join(root, "multicoil_val"))) == [f"{n}.h5" for n in names]
    coils = set()
    for name in names:
        full, attrs = _read(os.path.join(root, "multicoil_val", f"{name}.h5"))
        kspace = full["kspace"]
        assert kspace.shape[-2:] == (MATRIX, MATRIX) and kspace.dtype == np.complex64
        coils.add(kspace.shape[1])
        rss = np.sqrt((np.abs(np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(kspace, axes=(-2, -1)), norm="ortho"),
                                              axes=(-2, -1))) ** 2).sum(1))
        np.testing.assert_allclose(full["reconstruction_rss"], rss, rtol=1e-4, atol=1e-6 * rss.max())
        assert "licence" in attrs["source"] or "MIT" in attrs["source"] or "BSD" in attrs["source"]
        for acceleration, fraction in generalization.CHALLENGE.items():
            test, tattrs = _read(os.path.join(generalization.challenge_folder(root, acceleration), f"{name}.h5"))
            assert "reconstruction_rss" not in test
            mask = test["mask"]
            assert mask.shape == (MATRIX,) and mask.dtype == bool
            np.testing.assert_array_equal(test["kspace"], kspace * mask)
            assert tattrs["acceleration"] == acceleration
            assert tattrs["num_low_frequency"] == round(MATRIX * fraction)
            centre = (MATRIX - tattrs["num_low_frequency"] + 1) // 2
            assert mask[centre : centre + tattrs["num_low_frequency"]].all()
            assert MATRIX / mask.sum() == pytest.approx(acceleration, rel=0.35)
    assert 8 not in coils and len(coils) == 3  # coil arrays unlike the built-in data's 8-coil ring


def test_build_is_deterministic_and_idempotent(root, tmp_path):
    again = generalization.prepare_generalization(cache_dir=tmp_path, matrix=MATRIX, progress=False)
    for name in generalization.SOURCES:
        a, _ = _read(os.path.join(root, "multicoil_challenge_4x", f"{name}.h5"))
        b, _ = _read(os.path.join(again, "multicoil_challenge_4x", f"{name}.h5"))
        np.testing.assert_array_equal(a["kspace"], b["kspace"])
    stamp = os.path.getmtime(os.path.join(again, "manifest.json"))
    assert generalization.prepare_generalization(cache_dir=tmp_path, matrix=MATRIX, progress=False) == again
    assert os.path.getmtime(os.path.join(again, "manifest.json")) == stamp


def test_scored_dataset_pairs_challenge_files_with_their_targets(root):
    for element in generalization.scored_dataset(root, 8):
        inputs, target, meta = element
        name = meta["fname"].numpy()[0].decode()
        full, _ = _read(os.path.join(root, "multicoil_val", name))
        np.testing.assert_allclose(target.numpy()[0] * meta["scale"].numpy()[0], full["reconstruction_rss"][0],
                                   rtol=1e-5, atol=1e-7)
        assert inputs["num_low_frequencies"].numpy()[0] == round(MATRIX * 0.04)


def test_scorer_reports_model_and_baselines_per_file(root):
    from mrinets import ops
    from mrinets.train.generalization import GeneralizationScorer, flat_means, summary_line

    scorer = GeneralizationScorer(root=root, accelerations=(8,))
    results = scorer.score(lambda inputs: ops.zero_filled(inputs["kspace"]))  # a "model" that is zero-filled
    for acceleration, (rows, means) in results.items():
        assert [r["volume"] for r in rows] == [f"{n}.h5" for n in sorted(generalization.SOURCES)]
        for row in rows:
            assert row["model_psnr"] == pytest.approx(row["zero_filled_psnr"], abs=1e-4)
            assert row["cg_sense_psnr"] > row["zero_filled_psnr"] - 3
        assert "CG-SENSE" in summary_line(acceleration, means)
    means = flat_means(results)
    assert means["gen8x_model_psnr"] == pytest.approx(means["gen8x_zero_filled_psnr"], abs=1e-4)
    again = scorer.score(lambda inputs: 0.5 * ops.zero_filled(inputs["kspace"]))  # baselines kept, model new
    assert flat_means(again)["gen8x_cg_sense_psnr"] == means["gen8x_cg_sense_psnr"]
    assert flat_means(again)["gen8x_model_psnr"] < means["gen8x_model_psnr"]


def test_surface_coil_maps_and_positions():
    for _, acquisition in generalization.SOURCES.values():
        n = acquisition["num_coils"]
        positions = generalization.coil_positions(acquisition["array"], n, acquisition["radius"])
        assert positions.shape == (n, 2)
        assert (np.abs(positions).max(axis=1) > 1).all()  # every coil outside the field of view
        maps = generalization.surface_coil_maps((32, 32), positions)
        rss = np.sqrt((np.abs(maps) ** 2).sum(0))
        assert maps.dtype == np.complex64 and rss.max() == pytest.approx(1, rel=1e-5)
    with pytest.raises(ValueError, match="Invalid value for argument `array`"):
        generalization.coil_positions("helmet", 4, 1.0)


def test_prepare_command(tmp_path, capsys):
    import argparse

    from mrinets.cli import add_prepare_arguments
    from mrinets.data.builtin import prepare_command

    parser = add_prepare_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["generalization", "--cache-dir", str(tmp_path), "--matrix", "32"])
    assert prepare_command(args) == 0
    assert os.path.exists(os.path.join(capsys.readouterr().out.strip(), "multicoil_challenge_8x", "brain.h5"))
    with pytest.raises(Exception, match="num_coils"):  # each image has its own coil array
        prepare_command(parser.parse_args(["generalization", "--cache-dir", str(tmp_path), "--coils", "4"]))


def test_untrained_varnet_starting_at_cg_sense_does_no_harm(tmp_path):
    import keras

    from mrinets import networks
    from mrinets.train.evaluation import predict_function
    from mrinets.train.generalization import GeneralizationScorer

    root = generalization.prepare_generalization(cache_dir=tmp_path, matrix=96, progress=False)
    keras.utils.set_random_seed(0)
    model = networks.build({
        "type": "VarNet", "cascades": 2, "sensitivity": None, "start": "cg_sense", "regularizer_scale": 0.0,
        "regularizer": {"type": "UNet", "dtype": "float32", "in_channels": 2, "filters": [4, 8], "normalize": True},
    })
    rows, _ = GeneralizationScorer(root=root, accelerations=(4,)).score(predict_function(model))[4]
    for row in rows:  # real anatomy the network never saw, at initialization: CG-SENSE plus data consistency
        assert row["model_psnr"] >= max(row["cg_sense_psnr"], row["zero_filled_psnr"]) - 0.05, row
        assert row["model_ssim"] >= max(row["cg_sense_ssim"], row["zero_filled_ssim"]) - 0.005, row
