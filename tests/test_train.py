"""``mrinets train/evaluate/predict`` end to end on the tiny Shepp-Logan set, through the real CLI."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from mrinets.train import checkpoint

TINY = """\
schema_version: 1
model:
  type: VarNet
  rank: 2
  cascades: 2
  regularizer: {type: UNet, dtype: float32, in_channels: 2, filters: [4, 8], use_bias: false,
                activation: leaky_relu, down: average, up: transpose, normalize: true}
  sensitivity: null
data: {builtin: shepp_logan}
mask: {type: equispaced_fraction, center_fractions: 0.08, accelerations: 4}
loss: {type: L1}
optimizer: {type: adam, learning_rate: 1.0e-3}
train: {steps: 4, batch_size: 2, eval_every: 2, checkpoint_every: 2, log_every: 1, seed: 3}
"""


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A folder with the tiny config and an environment whose MRINETS_CACHE is inside it."""
    root = tmp_path_factory.mktemp("train")
    (root / "tiny.yaml").write_text(TINY)
    env = {**os.environ, "MRINETS_CACHE": str(root / "cache"), "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("TF_CONFIG", None)
    return root, env


def cli(workspace, *args, timeout=180):
    root, env = workspace
    return subprocess.run([sys.executable, "-m", "mrinets.cli", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=timeout)


def losses(stdout):
    """``{step: loss}`` from the console progress lines."""
    return {int(m[1]): float(m[2]) for m in re.finditer(r"^step (\d+)/\d+  loss ([\d.e+-]+)", stdout, re.M)}


def state(path):
    return checkpoint.read(str(path))[0]["state"]


def weights(path):
    return checkpoint.read(str(path))[1]


@pytest.fixture(scope="module")
def trained(workspace):
    """A 4-step run (evaluated at steps 2 and 4)."""
    result = cli(workspace, "train", "tiny.yaml", "--output", "run")
    assert result.returncode == 0, result.stderr
    return workspace[0] / "run", result


def test_run_directory_has_every_artifact(trained):
    run, result = trained
    assert "eval step 4: model NMSE" in result.stdout and "zero-filled" in result.stdout
    assert "Traceback" not in result.stderr
    config = (run / "config.yaml").read_text()
    assert "schema_version: 1" in config and "mrinets_version:" in config and "builtin: shepp_logan" in config
    assert state(run / "checkpoints" / "latest.npz")["step"] == 4
    assert state(run / "checkpoints" / "best.npz")["best"]["step"] in (2, 4)
    rows = (run / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("step,epoch,train_loss,lr,val_nmse,val_psnr,val_ssim,zero_filled_nmse")
    assert [r.split(",")[0] for r in rows[1:]] == ["2", "4"]
    records = json.loads((run / "metrics.json").read_text())["evaluations"]
    assert records[-1]["zero_filled_psnr"] > 10 and np.isfinite(records[-1]["val_ssim"])
    pngs = sorted(p.name for p in (run / "figures").iterdir())
    assert pngs == ["step_0000002.png", "step_0000004.png"]
    assert (run / "figures" / pngs[0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import tensorflow as tf

    tags = set()
    for event_file in (run / "tensorboard").iterdir():
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            tags |= {v.tag for v in event.summary.value}
    assert {"train/loss", "train/lr", "val/psnr", "baseline/zero_filled_psnr", "val/zero_filled|model|reference|error"} <= tags


def test_resume_continues_steps_and_data_order(workspace, trained):
    run, first = trained
    # One uninterrupted 6-step run versus the 4-step run resumed to 6 steps: same losses, same weights.
    straight = cli(workspace, "train", "tiny.yaml", "--output", "straight", "--set", "train.steps=6")
    assert straight.returncode == 0, straight.stderr
    resumed = cli(workspace, "train", "tiny.yaml", "--output", "run", "--set", "train.steps=6")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from" in resumed.stdout and "at step 4" in resumed.stdout
    assert set(losses(resumed.stdout)) == {5, 6}
    full = losses(straight.stdout)
    for step, value in {**losses(first.stdout), **losses(resumed.stdout)}.items():
        assert value == pytest.approx(full[step], rel=1e-4), step
    assert state(run / "checkpoints" / "latest.npz")["step"] == 6
    for a, b in zip(weights(run / "checkpoints" / "latest.npz"), weights(workspace[0] / "straight/checkpoints/latest.npz")):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    steps = [r["step"] for r in json.loads((run / "metrics.json").read_text())["evaluations"]]
    assert steps == [2, 4, 6]


def test_evaluate_and_predict(workspace, trained):
    run, _ = trained
    result = cli(workspace, "evaluate", str(run))
    assert result.returncode == 0, result.stderr
    assert re.search(r"^mean\s+4\s", result.stdout, re.M) and "zero_filled PSNR" in result.stdout
    report = json.loads((run / "evaluation-best" / "metrics.json").read_text())
    assert report["volumes"][0]["volume"] == "shepp_logan_val.h5"
    assert {"model_psnr", "zero_filled_psnr", "cg_sense_psnr"} <= set(report["mean"])
    assert (run / "evaluation-best" / "figures" / "shepp_logan_val.png").exists()

    # Test-style files: undersampled k-space, a `mask` dataset and no target.
    val = next((workspace[0] / "cache").glob("shepp_logan-*/val/shepp_logan_val.h5"))
    test_dir = workspace[0] / "test_files"
    test_dir.mkdir()
    with h5py.File(val) as f:
        kspace = f["kspace"][()]
    mask = np.zeros(kspace.shape[-1], np.float32)
    mask[::4] = 1
    mask[kspace.shape[-1] // 2 - 2 : kspace.shape[-1] // 2 + 2] = 1
    with h5py.File(test_dir / "case_a.h5", "w") as f:
        f["kspace"] = (kspace * mask).astype(np.complex64)
        f["mask"] = mask
    out = workspace[0] / "recons"
    result = cli(workspace, "predict", str(run), "--data", str(test_dir), "--output", str(out))
    assert result.returncode == 0, result.stderr
    with h5py.File(out / "case_a.h5") as f:
        recon = f["reconstruction"][()]
    assert recon.shape == kspace.shape[:1] + kspace.shape[-2:] and recon.dtype == np.float32
    assert np.isfinite(recon).all() and recon.max() > 0


def test_nan_loss_stops_and_keeps_last_good_checkpoint(workspace):
    result = cli(workspace, "train", "tiny.yaml", "--output", "nan", "--set", "optimizer.learning_rate=1.0e+30",
                 "--set", "train.steps=50", "--set", "train.checkpoint_every=1", "--set", "train.eval_every=0")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "loss became nan" in result.stderr.lower() and "last good checkpoint" in result.stderr
    assert "Traceback" not in result.stderr
    good = state(workspace[0] / "nan" / "checkpoints" / "latest.npz")
    assert good["step"] < 50
    assert all(np.isfinite(w).all() for w in weights(workspace[0] / "nan" / "checkpoints" / "latest.npz"))


def _wait_for(process, pattern, timeout=120):
    """Read ``process``'s stdout until a line matches; returns what was read."""
    seen, deadline = "", time.time() + timeout
    while time.time() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen += line
        if re.search(pattern, line):
            return seen
    raise AssertionError(f"{pattern!r} never appeared: {seen}")


def test_sigint_saves_sigkill_leaves_a_loadable_checkpoint(workspace):
    root, env = workspace
    args = [sys.executable, "-m", "mrinets.cli", "train", "tiny.yaml", "--output", "signals", "--set",
            "train.steps=100000", "--set", "train.checkpoint_every=1", "--set", "train.eval_every=0"]
    process = subprocess.Popen(args, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(process, r"^step 3/")
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "checkpoint saved" in out and "Traceback" not in err
    stopped = int(re.search(r"at step (\d+); checkpoint saved", out)[1])
    assert state(root / "signals" / "checkpoints" / "latest.npz")["step"] == stopped

    # Resume, then SIGKILL at arbitrary moments: the latest checkpoint always loads.
    process = subprocess.Popen(args, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(process, rf"^step {stopped + 2}/")
    for delay in (0.0, 0.05, 0.13):
        time.sleep(delay)
        assert state(root / "signals" / "checkpoints" / "latest.npz")["step"] >= stopped
    process.kill()
    process.communicate(timeout=30)
    assert state(root / "signals" / "checkpoints" / "latest.npz")["step"] >= stopped + 1


def test_lock_refuses_a_second_run_in_one_directory(workspace, capsys, monkeypatch):
    import fcntl

    from mrinets.cli import main

    root, env = workspace
    monkeypatch.chdir(root)
    monkeypatch.setenv("MRINETS_CACHE", env["MRINETS_CACHE"])
    (root / "locked").mkdir()
    with open(root / "locked" / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert main(["train", "tiny.yaml", "--output", "locked"]) == 2
    assert "is in use" in capsys.readouterr().err


@pytest.mark.parametrize(
    "override, expected",
    [
        ("train.steps=-3", r"train\.steps: expected a positive integer, got -3"),
        ("train.stpes=3", r"train\.stpes: unknown key 'stpes'\. Did you mean: steps\?"),
        ("optimizer.type=adamm", r"optimizer\.type: unknown Keras optimizer 'adamm'\. Did you mean: Adam"),
        ("loss.type=L2", r"loss\.type: unknown loss 'L2'"),
        ("mask.accelerations=four", r"mask\.accelerations: "),
        ("train.precision=half", r"train\.precision: expected one of 'float32'"),
        ("data.path=/nowhere", r"data\.val_path: required when `data\.path` is set"),
    ],
)
def test_bad_config_names_the_yaml_path(workspace, capsys, monkeypatch, override, expected):
    from mrinets.cli import main

    monkeypatch.chdir(workspace[0])
    assert main(["train", "tiny.yaml", "--set", override, "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert re.search(expected, err) and "tiny.yaml" in err and "Traceback" not in err


def test_bad_config_in_a_subprocess_has_line_and_no_traceback(workspace):
    root, _ = workspace
    (root / "bad.yaml").write_text(TINY.replace("batch_size: 2", "batch_size: 0"))
    result = cli(workspace, "train", "bad.yaml")
    assert result.returncode == 2
    assert "bad.yaml: train.batch_size: expected a positive integer, got 0 (line 13)" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("name", ["cascade", "modl", "unet2d", "unet3d", "varnet", "varnet_quickstart",
                                  "varnet_complex_quickstart", "varnet3d_quickstart", "radial_modl_quickstart"])
def test_shipped_configs_validate_with_dry_run(name, capsys):
    from mrinets.train.schema import load_config, to_yaml

    cfg = load_config(name)
    if cfg["trajectory"] is not None:
        expected = ("mni152_noncartesian",)
    else:
        expected = ("mni152_3d",) if cfg["model"]["rank"] == 3 else ("mni152", "mni152_random")
    assert cfg["train"]["steps"] and cfg["data"]["builtin"] in expected
    assert "train:" in to_yaml(cfg)


def test_3d_model_on_2d_data_is_a_clear_error(workspace, capsys, monkeypatch):
    from mrinets.cli import main

    monkeypatch.chdir(workspace[0])
    monkeypatch.setenv("MRINETS_CACHE", workspace[1]["MRINETS_CACHE"])
    assert main(["train", "unet3d", "--set", "data.builtin=shepp_logan", "--output", "u3"]) == 2
    assert "model.rank: 3" in capsys.readouterr().err


@pytest.mark.parametrize("precision", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_trains(workspace, precision):
    result = cli(workspace, "train", "tiny.yaml", "--output", f"mixed-{precision}", "--set", f"train.precision={precision}",
                 "--set", "train.steps=2", "--set", "train.eval_every=0")
    assert result.returncode == 0, result.stderr
    assert all(np.isfinite(v) for v in losses(result.stdout).values()) and len(losses(result.stdout)) == 2


MIRRORED = """\
import sys, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from mrinets.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_mirrored_two_devices_follows_single_device(workspace, trained):
    root, env = workspace
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED, "train", "tiny.yaml", "--output", "mirrored", "--set",
         "train.distribute=mirrored"], cwd=root, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert "over 2 replicas" in result.stdout
    single, mirrored = losses(trained[1].stdout), losses(result.stdout)
    assert set(mirrored) == {1, 2, 3, 4}
    for step in mirrored:
        assert mirrored[step] == pytest.approx(single[step], rel=2e-3), step


def _free_ports(n):
    import socket

    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _run_together(argv, envs, cwd, timeout):
    """Run one process per environment in ``envs`` and return their (stdout, stderr).

    Output goes to files (no pipe can fill up and block); once one process fails or
    ``timeout`` passes, the others are killed instead of waited on.
    """
    processes, logs = [], []
    for index, env in enumerate(envs):
        out, err = open(cwd / f"process{index}.out", "w+"), open(cwd / f"process{index}.err", "w+")
        logs.append((out, err))
        processes.append(subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err, text=True))
    deadline = time.time() + timeout
    while time.time() < deadline and any(p.poll() is None for p in processes):
        if any(p.poll() not in (None, 0) for p in processes):
            break
        time.sleep(0.5)
    outputs = []
    for p, files in zip(processes, logs):
        if p.poll() is None:
            p.kill()
        p.wait()
        outputs.append(tuple(f.seek(0) or f.read() for f in files))
        for f in files:
            f.close()
    for index, (p, (_, err)) in enumerate(zip(processes, outputs)):
        assert p.returncode == 0, f"process {index} exited with {p.returncode}:\n{err[-3000:]}"
    return outputs


def test_multi_worker_two_processes_chief_writes_and_resumes(workspace):
    root, env = workspace
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    envs = [{**env, "TF_CONFIG": json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})}
            for i in range(2)]
    argv = [sys.executable, "-m", "mrinets.cli", "train", "tiny.yaml", "--output", "multi", "--set",
            "train.distribute=multi_worker"]
    outputs = _run_together(argv, envs, root, timeout=600)
    assert "eval step 4" in outputs[0][0] and "eval step" not in outputs[1][0]  # only the chief evaluates/writes
    assert state(root / "multi" / "checkpoints" / "latest.npz")["step"] == 4
    assert (root / "multi" / "metrics.csv").exists() and (root / "multi" / "figures").is_dir()
    resumed = cli(workspace, "train", "tiny.yaml", "--output", "multi", "--set", "train.steps=5")
    assert resumed.returncode == 0, resumed.stderr
    assert "at step 4" in resumed.stdout and set(losses(resumed.stdout)) == {5}
