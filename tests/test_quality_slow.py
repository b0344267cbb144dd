"""Opt-in quality test (``pytest -m slow``): the README's main command on real anatomy it never saw.

``mrinets train varnet_quickstart`` (bounded by its own ``train.time_limit``; this test does not
time it), then ``mrinets evaluate --generalization`` of the saved best checkpoint: the
generalization set's challenge-layout files at 4x (real brain, shoulder and abdomen, other
coil arrays and noise than the training data). Goals: on brain at least CG-SENSE in PSNR and
SSIM, elsewhere never below zero-filled in either; on the built-in split +4 dB over zero-filled.
"""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def _cli(cwd, env, *argv):
    result = subprocess.run([sys.executable, "-m", "mrinets.cli", *argv], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=3600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_quickstart_quality_on_the_generalization_set(tmp_path):
    for package in ("dipy", "pydicom", "data_store"):  # data_store: the pydicom-data wheel
        pytest.importorskip(package)
    env = {**os.environ, "MRINETS_CACHE": str(tmp_path / "cache"), "CUDA_VISIBLE_DEVICES": ""}
    _cli(tmp_path, env, "train", "varnet_quickstart", "--output", "run")
    run = tmp_path / "run"
    last = json.loads((run / "metrics.json").read_text())["evaluations"][-1]
    assert last["val_psnr"] - last["zero_filled_psnr"] >= 4.0, last
    assert last["val_ssim"] > last["zero_filled_ssim"], last
    assert list((run / "figures").glob("*.png"))

    _cli(tmp_path, env, "evaluate", "run", "--generalization", "--output", "gen")
    report = json.loads((tmp_path / "gen" / "generalization.json").read_text())[-1]
    volumes = {v["volume"]: v for v in report["4x"]["volumes"]}
    assert set(volumes) == {"brain.h5", "shoulder.h5", "abdomen.h5"}, sorted(volumes)
    brain = volumes.pop("brain.h5")
    assert brain["model_psnr"] >= brain["cg_sense_psnr"], brain
    assert brain["model_ssim"] >= brain["cg_sense_ssim"], brain
    for volume in volumes.values():
        assert volume["model_psnr"] >= volume["zero_filled_psnr"], volume
        assert volume["model_ssim"] >= volume["zero_filled_ssim"], volume
