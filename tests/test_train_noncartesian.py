"""`mrinets train`/`evaluate`/`predict` on non-Cartesian data: a config's `trajectory` picks the NUFFT operator."""

import json

import h5py
import numpy as np
import pytest

from mrinets import ops
from mrinets.cli import main
from mrinets.config import ConfigError
from mrinets.data import noncartesian as nc
from mrinets.train.schema import load_config
from tests.test_noncartesian import phantom

FINE, N = 32, 16

CONFIG = """\
model:
  type: NonCartesianUnrolled
  grid_shape: [16, 16]
  iterations: 1
  cg_iterations: 2
  regularizer: {type: CNN, dtype: complex64, filters: 4, depth: 2}
data: {path: DATA/train, val_path: DATA/val}
trajectory: {type: radial, views: 12, ordering: golden}
optimizer: {type: adam, learning_rate: 1.0e-3}
train: {steps: 2, batch_size: 2, eval_every: 0, log_every: 1}
"""


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("nc_train")
    trajectory = nc.radial(N, views=12)
    density = ops.estimate_density(trajectory, (N, N)).numpy()
    rng = np.random.default_rng(0)
    for split, flips in (("train", (1, -1)), ("val", (1,))):
        images = np.stack([phantom(FINE)[::flip] for flip in flips])
        data = nc.simulate_noncartesian(images, (N, N), trajectory, num_coils=2, snr=100.0, rng=rng)
        nc.write_noncartesian_h5(root / "data" / split / f"{split}.h5", data["kspace"], trajectory, (N, N), density,
                                 data["target"])
        if split == "val":  # a test-style file: no target
            nc.write_noncartesian_h5(root / "test" / "scan.h5", data["kspace"], trajectory, (N, N), density)
    (root / "nc.yaml").write_text(CONFIG.replace("DATA", str(root / "data")))
    return root


def test_train_evaluate_and_predict_through_the_cli(workspace, capsys):
    run = workspace / "run"
    assert main(["train", str(workspace / "nc.yaml"), "--output", str(run)]) == 0
    out = capsys.readouterr().out
    assert "| gridding NMSE" in out and "CG-SENSE PSNR" in out
    record = json.loads((run / "metrics.json").read_text())["evaluations"][-1]
    assert record["step"] == 2 and np.isfinite(record["val_psnr"])
    assert {"gridding_psnr", "cg_sense_psnr"} <= set(record) and "zero_filled_psnr" not in record

    assert main(["evaluate", str(run), "--output", str(workspace / "eval")]) == 0
    report = json.loads((workspace / "eval" / "metrics.json").read_text())
    assert {"model_psnr", "gridding_psnr", "cg_sense_psnr"} <= set(report["mean"])
    assert report["mean"]["cg_sense_psnr"] > report["mean"]["gridding_psnr"]  # 12 spokes: CG-SENSE beats gridding

    assert main(["predict", str(run), "--data", str(workspace / "test"), "--output", str(workspace / "recon")]) == 0
    with h5py.File(workspace / "recon" / "scan.h5", "r") as f:
        reconstruction = f["reconstruction"][()]
    assert reconstruction.shape == (1, N, N) and np.isfinite(reconstruction).all() and reconstruction.max() > 0


def test_misspelt_trajectory_type_is_a_yaml_path_error(workspace):
    text = CONFIG.replace("type: radial", "type: radail")
    with pytest.raises(ConfigError, match=r"trajectory\.type: unknown trajectory 'radail'\. Did you mean: radial\?"):
        load_config(text)


@pytest.mark.parametrize("edit,path", [
    (("trajectory: {type: radial, views: 12, ordering: golden}\n", ""), "trajectory: required by model"),
    ((CONFIG[:CONFIG.index("data:")], "model: {type: UNet, rank: 2}\n"), "model.type: UNet reconstructs Cartesian k-space"),
    (("views: 12", "views: 0"), "trajectory: building trajectory radial failed"),
    (("ordering: golden", "ordering: golde"), "trajectory.ordering: .*'golde'"),
])
def test_trajectory_and_model_must_agree(edit, path):
    with pytest.raises(ConfigError, match=path):
        load_config(CONFIG.replace(*edit))


def test_grid_shape_must_match_the_files(workspace, capsys):
    config = workspace / "nc.yaml"
    assert main(["train", str(config), "--output", str(workspace / "bad"), "--set", "model.grid_shape=[12,12]"]) == 2
    assert "model.grid_shape: [12, 12] differs from the image grid (`matrix`) [16, 16]" in capsys.readouterr().err


@pytest.mark.slow
def test_builtin_noncartesian_dataset_follows_the_trajectory(tmp_path):
    from mrinets import registry

    dataset = registry.get("dataset", "mni152_noncartesian")
    inputs, target = next(iter(dataset("val", cache_dir=tmp_path, matrix=32, num_coils=2, batch_size=2,
                                       trajectory={"type": "spiral", "views": 8})))
    assert inputs["trajectory"].shape[1:] == (len(nc.spiral(32, views=8)), 2) and target.shape == (2, 32, 32)
    assert len(list(tmp_path.iterdir())) == 1  # one prepared folder, reused by the next call
    dataset("val", cache_dir=tmp_path, matrix=32, num_coils=2, trajectory={"type": "spiral", "views": 8})
    assert len(list(tmp_path.iterdir())) == 1
