"""Training building blocks without a training run: config schema details, atomic writes, schedules."""

import os

import numpy as np
import pytest

from mrinets.config import ConfigError
from mrinets.train import checkpoint
from mrinets.train.schema import load_config


def test_model_may_be_a_path_to_a_network_file(tmp_path):
    (tmp_path / "nets").mkdir()
    (tmp_path / "nets" / "net.yaml").write_text("schema_version: 1\nmodel: {type: VarNet, cascades: 2}\n")
    (tmp_path / "train.yaml").write_text("model: nets/net.yaml\ntrain: {steps: 5}\n")
    cfg = load_config(str(tmp_path / "train.yaml"))
    assert cfg["model"]["type"] == "VarNet" and cfg["model"]["cascades"] == 2
    assert cfg["mask"] == {"type": "equispaced_fraction", "center_fractions": 0.08, "accelerations": 4}
    assert cfg["loss"]["type"] == "L1" and cfg["optimizer"]["type"] == "adam" and cfg["train"]["steps"] == 5


def test_missing_network_file_and_conflicting_keys_are_reported_together(tmp_path):
    (tmp_path / "a.yaml").write_text("model: {type: VarNet}\ntrain: {steps: 5, epochs: 2}\noptimizer: {type: sgd, lr: 1}\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(tmp_path / "a.yaml"))
    text = str(info.value)
    assert "train.epochs: give `train.steps` or `train.epochs`, not both (line 2)" in text
    assert "optimizer.lr: unknown argument 'lr' for optimizer SGD." in text
    (tmp_path / "b.yaml").write_text("model: missing/net.yaml\n")
    with pytest.raises(ConfigError, match=r"b\.yaml: model: network file 'missing/net\.yaml' does not exist"):
        load_config(str(tmp_path / "b.yaml"))


def test_seed_and_overrides(tmp_path):
    (tmp_path / "c.yaml").write_text("model: {type: VarNet}\n")
    cfg = load_config(str(tmp_path / "c.yaml"), overrides=["train.batch_size=3", "optimizer.schedule.type=cosine"], seed=7)
    assert (cfg["train"]["seed"], cfg["train"]["batch_size"], cfg["train"]["steps"]) == (7, 3, 1000)
    assert cfg["optimizer"]["schedule"]["type"] == "cosine"


def test_mask_lists_as_in_fastmri_and_constructor_errors_at_validation():
    cfg = load_config("varnet_quickstart", overrides=["mask.center_fractions=[0.08, 0.04]", "mask.accelerations=[4, 8]"])
    assert list(cfg["mask"]["center_fractions"]) == [0.08, 0.04] and list(cfg["mask"]["accelerations"]) == [4, 8]
    with pytest.raises(ConfigError) as info:
        load_config("varnet_quickstart", overrides=["mask.center_fractions=[0.08, x]", "mask.accelerations=[4, 8]"])
    assert "mask.center_fractions[1]: expected a number" in str(info.value)
    with pytest.raises(ConfigError) as info:  # the mask's own argument check, reported with its YAML path
        load_config("varnet_quickstart", overrides=["mask.center_fractions=1.5"])
    assert "mask: building mask equispaced_fraction failed" in str(info.value) and "center_fractions=1.5" in str(info.value)


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "f.bin"
    checkpoint.atomic_write_text(str(path), "old")

    def broken(handle):
        handle.write(b"partial")
        raise OSError("disk full")

    with pytest.raises(checkpoint.CheckpointError, match="disk full; the previous file there"):
        checkpoint.atomic_write(str(path), broken)
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["f.bin"]


def test_truncated_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "latest.npz"
    path.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(checkpoint.CheckpointError, match="not a readable mrinets checkpoint"):
        checkpoint.read(str(path))


def test_cosine_schedule_with_warmup():
    from mrinets.train.optimization import Schedule

    spec = {"type": "cosine", "warmup_steps": 10, "alpha": 0.1, "decay_steps": None, "decay_rate": 0.5}
    schedule = Schedule.build(1.0, spec, total_steps=110)
    values = [float(schedule(s)) for s in (0, 9, 10, 60, 110, 500)]
    np.testing.assert_allclose(values, [0.1, 1.0, 1.0, 0.55, 0.1, 0.1], rtol=1e-5)
    assert Schedule.build(0.5, {**spec, "type": "constant", "warmup_steps": 0}, 10) == 0.5
