"""The ``baseline`` registry kind: calling convention, plugins, evaluation and ``mrinets baseline``."""

import os
import types

import h5py
import numpy as np
import pytest
import tensorflow as tf

import mrinets
from mrinets import data, registry
from mrinets.train import evaluation

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    pytest.importorskip("skimage")
    return data.prepare_shepp_logan(cache_dir=tmp_path_factory.mktemp("cache"), matrix=32, num_coils=4, num_slices=2)


@pytest.fixture(scope="module")
def batch(tiny):
    mask = {"type": "equispaced_fraction", "center_fractions": 0.25, "accelerations": 2}
    inputs, target = next(iter(data.build_dataset(f"{tiny}/val", mask=mask, batch_size=2)))
    return inputs, target


@pytest.mark.parametrize("name", registry.names("baseline"))
def test_every_baseline_follows_the_calling_convention(batch, name):
    inputs, target = batch
    image = registry.get("baseline", name)(inputs["kspace"], inputs["mask"],
                                           num_low_frequencies=inputs["num_low_frequencies"], rank=2)
    assert image.shape == (2, 32, 32) and not image.dtype.is_complex
    assert np.all(np.isfinite(image.numpy()))
    error = np.linalg.norm(image.numpy() - target.numpy()) / np.linalg.norm(target.numpy())
    assert error < 0.5, (name, error)


def test_builtins_and_a_plugin_baseline(batch):
    assert {"zero_filled", "cg_sense", "grappa", "l1_wavelet", "tv"} <= set(registry.names("baseline"))
    plugin = types.ModuleType("baseline_plugin")

    @mrinets.hookimpl
    def register_baselines(register):
        register(lambda kspace, mask, num_low_frequencies=None, rank=2: tf.zeros(kspace.shape[:1] + kspace.shape[2:]),
                 name="zeros")

    plugin.register_baselines = register_baselines
    registry.add_plugin(plugin, "baseline-plugin")
    try:
        assert registry.entry("baseline", "zeros").plugin == "baseline-plugin"
        inputs, _ = batch
        images = evaluation.baseline_functions(["zeros", {"type": "l1_wavelet", "iterations": 3}, "zeros"])
        assert list(images) == ["zeros", "l1_wavelet", "zeros_2"]
        out = images["zeros"](inputs["kspace"], inputs["mask"], inputs["num_low_frequencies"])
        assert out.shape == (2, 32, 32)
    finally:
        registry.remove_plugin("baseline-plugin")


def test_collect_scores_configured_baselines(tiny):
    mask = {"type": "equispaced_fraction", "center_fractions": 0.25, "accelerations": 2}
    ds = data.build_dataset(f"{tiny}/val", mask=mask, return_metadata=True)
    volumes = evaluation.collect(ds, baselines=["zero_filled", {"type": "grappa", "regularization": 0.05}])
    rows, means = evaluation.volume_metrics(volumes)
    assert evaluation.methods_of(volumes) == ["zero_filled", "grappa"]
    assert means["grappa_psnr"] > means["zero_filled_psnr"]
    assert "grappa PSNR" in evaluation.format_table(rows, means)


def test_baseline_command_writes_submission_files(tiny, tmp_path, capsys):
    from mrinets.cli import main

    out = tmp_path / "recon"
    status = main(["baseline", "cg_sense", "--data", f"{tiny}/val", "--output", str(out), "--set", "max_iterations=5",
                   "--mask", "{type: equispaced_fraction, center_fractions: 0.25, accelerations: 2}"])
    assert status == 0 and "wrote 1 file(s)" in capsys.readouterr().out
    written = sorted(os.listdir(out))
    assert written == sorted(os.listdir(f"{tiny}/val"))
    with h5py.File(out / written[0]) as f, h5py.File(f"{tiny}/val/{written[0]}") as ref:
        assert f["reconstruction"].shape == ref["reconstruction_rss"].shape
        recon, target = f["reconstruction"][()], ref["reconstruction_rss"][()]
    assert np.linalg.norm(recon - target) / np.linalg.norm(target) < 0.3  # in the files' units
    assert main(["baseline", "grapa", "--data", f"{tiny}/val", "--output", str(out)]) == 2
    assert "Did you mean: grappa?" in capsys.readouterr().err


def test_evaluate_section_of_the_training_config():
    from mrinets.config import ConfigError
    from mrinets.train.schema import load_config

    assert [b["type"] for b in load_config("varnet_quickstart")["evaluate"]["baselines"]] == ["zero_filled", "cg_sense"]
    cfg = load_config("varnet_quickstart", overrides=["evaluate.baselines=[grappa, {type: l1_wavelet, lam: 0.003}]"])
    assert cfg["evaluate"]["baselines"][1]["lam"] == 0.003
    with pytest.raises(ConfigError, match=r"evaluate.baselines\[0\].lamda: unknown argument 'lamda'.*Did you mean: lam"):
        load_config("varnet_quickstart", overrides=["evaluate.baselines=[{type: tv, lamda: 1}]"])
