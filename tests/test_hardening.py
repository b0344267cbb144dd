"""Hardening: fuzzed configs, unsafe YAML and model files, broken plugins, corrupt data, crashes, locks.

The config fuzzer mutates every shipped config (dropped keys, wrong types, unknown names, negative
sizes, deep nesting, non-UTF-8 bytes, huge files) and runs ``mrinets validate`` and
``mrinets train --dry-run`` on each mutant: a mutant is either valid or ends in ``error: ...``
naming the file and a YAML path, exit status 2; never a traceback. ``pytest -m slow`` runs many
more cases, with real model builds.
"""

import contextlib
import io
import os
import re
import subprocess
import sys

import pytest
import tensorflow  # noqa: F401  (imported first: it raises the recursion limit, which hypothesis warns about)
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mrinets import configs
from mrinets.config import MAX_BYTES, MAX_DEPTH, load, to_plain
from tests.test_registry import LAYER_PLUGIN, make_distribution, site  # noqa: F401  (site is a fixture)

SHIPPED = {name: to_plain(load(os.path.join(configs.FOLDER, f"{name}.yaml"))) for name in configs.names()}


# -- config fuzzing -------------------------------------------------------------------------------
def _paths(node, prefix=()):
    """Every ``(path, value)`` below ``node`` (mappings and lists)."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield prefix + (key,), value
        yield from _paths(value, prefix + (key,))


def _depth(node):
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    return 1 + max((_depth(c) for c in children), default=0)


def _parent(document, path):
    for key in path[:-1]:
        document = document[key]
    return document


WRONG_TYPES = st.sampled_from(["abc", "", 1.5, 7, True, None, [1, "x"], {"a": 1}, [], {}])
NAMES = st.sampled_from(["Conv2d", "UNEt", "nonexistent", "mod relu", "adamm", "type", "__import__", "../x.yaml"])
NEGATIVE = st.sampled_from([-1, 0, -3, -1.0e9, -2.5, 10**30, float("nan"), float("inf")])


@st.composite
def deep(draw):
    value = draw(st.sampled_from([1, "x", None]))
    for _ in range(draw(st.integers(MAX_DEPTH + 1, MAX_DEPTH + 40))):
        value = [value] if draw(st.booleans()) else {"k": value}
    return value


@st.composite
def mutant(draw):
    """``(name, kind, text_or_bytes)``: a shipped config with 1-3 mutations, as YAML."""
    name = draw(st.sampled_from(sorted(SHIPPED)))
    document = yaml.safe_load(yaml.safe_dump(SHIPPED[name]))  # a deep copy
    kinds = []
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(document))
        if not paths:
            break
        path, value = draw(st.sampled_from(paths))
        parent, key = _parent(document, path), path[-1]
        kind = draw(st.sampled_from(["drop", "wrong_type", "unknown_name", "unknown_key", "negative", "deep"]))
        kinds.append(kind)
        if kind == "drop":
            del parent[key]
        elif kind == "wrong_type":
            parent[key] = draw(WRONG_TYPES.filter(lambda v, old=value: type(v) is not type(old)))
        elif kind == "unknown_name":
            parent[key] = draw(NAMES)
        elif kind == "unknown_key" and isinstance(parent, dict):
            parent[draw(NAMES) + "_"] = parent.pop(key)
        elif kind == "negative":
            parent[key] = draw(NEGATIVE)
        elif kind == "deep":
            parent[key] = draw(deep())
    if "deep" in kinds and _depth(document) <= MAX_DEPTH:  # a later mutation dropped it
        kinds.remove("deep")
    data = yaml.safe_dump(document, sort_keys=False, width=10**6).encode("utf-8")
    byte_kind = draw(st.sampled_from(["none", "none", "none", "non_utf8", "huge", "garbage"]))
    if byte_kind == "non_utf8":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\x80abc", b"\xed\xa0\x80"])) + data[at:]
    elif byte_kind == "huge":
        data += b"# " + b"x" * MAX_BYTES + b"\n"
    elif byte_kind == "garbage":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b": :", b"\n  - [", b"{{", b"\t", b"&a [*a]", b"!!python/name:os.system"])) + data[at:]
    if byte_kind != "none":
        kinds.append(byte_kind)
    return name, kinds, data


#: Mutations after which a config can never be valid.
ALWAYS_INVALID = {"deep", "non_utf8", "huge"}


def run_cli(argv):
    """``(status, stdout, stderr)`` of ``mrinets.cli.main(argv)`` in this process; exceptions propagate."""
    from mrinets.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


def check_outcome(status, err, kinds, path):
    """A valid mutant exits 0; anything else is one clear ``error:`` naming the file, status 2."""
    if ALWAYS_INVALID & set(kinds):
        assert status != 0, f"{kinds}: accepted"
    if status == 0:
        return
    assert status == 2, (kinds, err)
    assert "Traceback" not in err
    assert err.startswith("error: "), err
    assert os.path.basename(path) in err, err
    # every problem line is "<file>: <yaml path>: <message>"
    lines = [line for line in err[len("error: "):].splitlines() if line.startswith(str(path))]
    assert lines and all(re.match(re.escape(str(path)) + r": \S.*?: \S", ln) for ln in lines), err


class _FakeModel:
    def count_params(self):
        return 0


FUZZ = dict(deadline=20000, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                                    HealthCheck.data_too_large], derandomize=True)


def fuzz_once(case, folder, build_models):
    name, kinds, data = case
    path = folder / f"{name}-mutant.yaml"
    path.write_bytes(data)
    for argv in (["validate", str(path)], ["train", str(path), "--dry-run"]):
        status, _, err = run_cli(argv)
        check_outcome(status, err, kinds, path)


@settings(max_examples=150, **FUZZ)
@given(case=mutant())
def test_fuzzed_configs_fail_cleanly(case, tmp_path, monkeypatch):
    # validation is what is fuzzed here; building the (valid) models is in the slow variant
    monkeypatch.setattr("mrinets.networks.build", lambda *a, **k: _FakeModel())
    fuzz_once(case, tmp_path, build_models=False)


@pytest.mark.slow
@settings(max_examples=400, **{**FUZZ, "deadline": None})
@given(case=mutant())
def test_fuzzed_configs_fail_cleanly_many(case, tmp_path):
    fuzz_once(case, tmp_path, build_models=True)


def test_fuzzed_configs_through_the_real_cli(tmp_path):
    """Two mutants through ``python -m mrinets.cli``: exit 2, the file, a YAML path and line, no traceback."""
    text = yaml.safe_dump(SHIPPED["unet2d"], sort_keys=False)
    (tmp_path / "bytes.yaml").write_bytes(text.encode("utf-8").replace(b"model:", b"model:\xff", 1))
    (tmp_path / "types.yaml").write_text(re.sub(r"(?m)^(  batch_size:) \d+", r"\1 two", text))
    for argv, expected in ((["validate", "bytes.yaml"], r"bytes\.yaml: <root>: the config is not valid UTF-8: byte 0xff"),
                           (["train", "types.yaml", "--dry-run"], r"types\.yaml: train\.batch_size: .*'two' \(line \d+\)")):
        result = subprocess.run([sys.executable, "-m", "mrinets.cli", *argv], cwd=tmp_path, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert re.search(expected, result.stderr), result.stderr


# -- unsafe YAML and model files ------------------------------------------------------------------
@pytest.mark.parametrize("payload", [
    "!!python/object/apply:os.system ['touch {marker}']",
    "!!python/object/new:subprocess.check_output [['touch', '{marker}']]",
    "!!python/name:os.system",
    "!!python/module:os",
    "!!binary aGVsbG8=",
    "!custom {{x: 1}}",
])
def test_yaml_code_tags_are_refused_by_the_cli(tmp_path, payload):
    marker = tmp_path / "pwned"
    text = yaml.safe_dump(SHIPPED["unet2d"], sort_keys=False).replace("\n  rank: 2", "\n  rank: " + payload.format(marker=marker), 1)
    path = tmp_path / "evil.yaml"
    path.write_text(text)
    for argv in (["validate", str(path)], ["train", str(path), "--dry-run"]):
        status, _, err = run_cli(argv)
        assert status == 2 and re.search(r"evil\.yaml: model\.rank: the YAML tag \S+ is not allowed.*\(line \d+\)", err), err
    assert not marker.exists()


def test_alias_bomb_is_bounded(tmp_path):
    """A "billion laughs" document is refused quickly without expanding it."""
    import time

    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    path = tmp_path / "lol.yaml"
    path.write_text("\n".join(lines) + "\nmodel: {type: UNet, rank: 2, filters: *a9}\n")
    started = time.perf_counter()
    status, _, err = run_cli(["validate", str(path)])
    assert status == 2 and "expands to more than" in err and "lol.yaml" in err
    assert time.perf_counter() - started < 10


def _keras_file(path, layer, dtype="float32"):
    import keras

    inputs = keras.Input((4,), dtype=dtype)
    keras.Model(inputs, layer(inputs)).save(path)
    return path


def test_keras_files_load_in_safe_mode(tmp_path):
    import keras
    import numpy as np

    import mrinets
    from mrinets.saving import ModelFileError

    good = _keras_file(tmp_path / "good.keras", mrinets.layers.Dense(3, dtype="complex64"), "complex64")
    x = np.ones((1, 4), np.complex64)
    assert mrinets.load_model(good)(x).shape == (1, 3)
    lam = _keras_file(tmp_path / "lambda.keras", keras.layers.Lambda(lambda t: t * 2, name="doubler"))
    with pytest.raises(ModelFileError, match=r"lambda\.keras' holds a Lambda layer 'doubler'.*safe mode"):
        mrinets.load_model(lam)

    class Unregistered(keras.layers.Layer):
        def call(self, t):
            return t

    unknown = _keras_file(tmp_path / "unknown.keras", Unregistered())
    with pytest.raises(ModelFileError, match=r"unknown\.keras' uses the class 'Unregistered', which no installed"):
        mrinets.load_model(unknown)
    (tmp_path / "zip.keras").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(ModelFileError, match=r"zip\.keras' is not a readable \.keras file"):
        mrinets.load_model(tmp_path / "zip.keras")


def test_evaluate_refuses_an_unsafe_keras_file_in_a_run(tmp_path):
    import keras

    from tests.test_train import TINY

    (tmp_path / "config.yaml").write_text(TINY)
    _keras_file(tmp_path / "model.keras", keras.layers.Lambda(lambda t: t, name="identity"))
    status, _, err = run_cli(["evaluate", str(tmp_path / "model.keras")])
    assert status == 2 and "holds a Lambda layer 'identity'" in err and "Traceback" not in err


# -- plugins --------------------------------------------------------------------------------------
def test_slow_plugin_import_warns_with_its_time(site, monkeypatch):
    from mrinets import registry
    from mrinets.registry import _registry

    make_distribution(site, "sleepy-dist", "sleepy", "sleepy_plugin",
                      "import time\ntime.sleep(0.3)\n" + LAYER_PLUGIN.format(cls="SleepyDouble"))
    monkeypatch.setattr(_registry, "SLOW_IMPORT_SECONDS", 0.1)
    fresh = registry.Registry()
    with pytest.warns(registry.PluginWarning, match=r"'sleepy' \(distribution sleepy-dist 1.2.3\) took 0\.\d s to import"):
        assert "SleepyDouble" in fresh.names("layer")
    assert {p.name: p.status for p in fresh.plugins()}["sleepy"] == "ok"


def test_plugins_command_shows_failed_plugins_with_the_reason(site, monkeypatch):
    from mrinets import registry

    make_distribution(site, "broken-dist", "broken", "broken_cli_plugin", "raise ImportError('needs tensorflow_mri')")
    make_distribution(site, "twice-dist", "twice", "twice_plugin", LAYER_PLUGIN.format(cls="Dense"))
    fresh = registry.Registry()
    monkeypatch.setattr(registry, "plugins", fresh.plugins)
    monkeypatch.setattr(registry, "names", fresh.names)
    with pytest.warns(registry.PluginWarning):
        status, out, _ = run_cli(["plugins"])
    assert status == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:] if line.strip() and ":" not in line}
    assert rows["broken"][1:4] == ["broken-dist", "1.2.3", "failed"] and rows["twice"][3] == "failed"
    assert rows["mrinets"][3] == "ok"
    assert "broken: import failed: ImportError: needs tensorflow_mri" in out
    assert "twice: The layer 'Dense' is registered twice: by plugin 'mrinets'" in out
    assert fresh.get("layer", "Dense").__module__.startswith("mrinets.")  # everything else keeps working


# -- corrupt data ---------------------------------------------------------------------------------
def _bad_folder(folder):
    """2 good files, a truncated one and one whose slice 1 has NaN k-space (3 slices each)."""
    import h5py
    import numpy as np

    from tests.test_data import write_fastmri_train

    folder.mkdir()
    for name in ("a.h5", "b.h5", "nan.h5"):
        write_fastmri_train(folder / name)
    with h5py.File(folder / "nan.h5", "r+") as f:
        kspace = f["kspace"][()]
        kspace[1, 0, 3, 4] = np.nan
        f["kspace"][...] = kspace
    (folder / "truncated.h5").write_bytes((folder / "a.h5").read_bytes()[:3000])
    return folder


def test_corrupt_values_and_dtypes_name_file_dataset_and_slice(tmp_path):
    import h5py
    import numpy as np

    from mrinets import data
    from tests.test_data import write_fastmri_train

    folder = _bad_folder(tmp_path / "d")
    with pytest.raises(data.DataError, match=r"nan\.h5': dataset 'kspace' holds NaN or Inf values in slice 1"):
        data.read_slice(folder / "nan.h5", 1)
    assert data.read_slice(folder / "nan.h5", 0)["kspace"].shape == (4, 32, 20)
    with pytest.raises(data.DataError, match=r"truncated\.h5' is not a readable HDF5 file"):
        data.read_metadata(folder / "truncated.h5")
    write_fastmri_train(tmp_path / "inf_target.h5")
    with h5py.File(tmp_path / "inf_target.h5", "r+") as f:
        f["reconstruction_rss"][2] = np.inf
    with pytest.raises(data.DataError, match=r"inf_target\.h5': dataset 'reconstruction_rss' holds NaN or Inf values in slice 2"):
        data.read_slice(tmp_path / "inf_target.h5", 2)
    with h5py.File(tmp_path / "text_target.h5", "w") as f:
        f["kspace"] = np.ones((1, 2, 8, 8), np.complex64)
        f["reconstruction_rss"] = np.array([[[b"ab"] * 4] * 4], "S2")
    with pytest.raises(data.DataError, match=r"text_target\.h5': cannot read dataset 'reconstruction_rss'"):
        data.read_slice(tmp_path / "text_target.h5", 0)


@pytest.mark.filterwarnings("ignore:The `deterministic` argument has no effect:UserWarning")
def test_bad_files_stop_the_pipeline_or_are_skipped_with_a_count(tmp_path):
    import tensorflow as tf

    from mrinets import data

    folder = _bad_folder(tmp_path / "d")
    with pytest.raises(data.DataError, match=r"truncated\.h5"):
        data.build_dataset(folder)
    with pytest.warns(data.DataWarning, match=r"skipped 1 of 4 data files: .*truncated\.h5"):
        ds = data.build_dataset(folder, skip_bad_files=True, num_parallel_calls=None)
    with pytest.warns(data.DataWarning, match=r"skipped a bad slice \(1 so far\): .*nan\.h5.*slice 1"):
        slices = [s for batch in ds for s in batch[1]]
    assert len(slices) == 3 * 3 - 1

    (folder / "truncated.h5").unlink()
    ds = data.build_dataset(folder, num_parallel_calls=None)
    with pytest.raises(data.DataError, match=r"^Data file '.*nan\.h5': dataset 'kspace' holds NaN or Inf values in slice 1\.$"):
        with data.data_errors():
            list(ds)
    with pytest.raises(tf.errors.InvalidArgumentError):  # other TensorFlow errors pass through
        with data.data_errors():
            tf.debugging.assert_positive(tf.constant(-1.0))
    empty = tmp_path / "only_bad"
    empty.mkdir()
    (empty / "x.h5").write_bytes(b"garbage")
    with pytest.raises(data.DataError, match=r"All 1 data files are bad: .*x\.h5"):
        data.build_dataset(empty, skip_bad_files=True)


def test_training_config_has_skip_bad_files():
    from mrinets.train.schema import load_config

    assert load_config("varnet_quickstart")["data"]["skip_bad_files"] is False
    assert load_config("varnet_quickstart", overrides=["data.skip_bad_files=true"])["data"]["skip_bad_files"] is True


# -- crashes, full disks, concurrent runs ----------------------------------------------------------
CHECKPOINT_EVERY = 2


@pytest.fixture(scope="module")
def crash_workspace(tmp_path_factory):
    from tests.test_train import TINY

    root = tmp_path_factory.mktemp("crash")
    (root / "tiny.yaml").write_text(TINY)
    env = {**os.environ, "MRINETS_CACHE": str(root / "cache"), "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "",
           "MRINETS_TEST_WRITE_PAUSE": "0.3"}  # each checkpoint pauses half-written: kills land mid-write
    env.pop("TF_CONFIG", None)
    return root, env


def _steps(text):
    return [int(m) for m in re.findall(r"^step (\d+)/", text, re.M)]


def kill_and_resume(workspace, run, kills, seed):
    """SIGKILL ``mrinets train`` ``kills`` times at random moments (half of them mid-checkpoint-write).

    After each kill the latest checkpoint must load, be at most one checkpoint interval behind the
    last step the run printed, and be where the next run resumes. Returns ``(kills, mid_write, lost)``.
    """
    import random
    import signal
    import time

    from mrinets.train import checkpoint

    root, env = workspace
    rng = random.Random(seed)
    latest = root / run / "checkpoints" / "latest.npz"
    args = [sys.executable, "-m", "mrinets.cli", "train", "tiny.yaml", "--output", run, "--set", "train.steps=100000",
            "--set", f"train.checkpoint_every={CHECKPOINT_EVERY}", "--set", "train.eval_every=0"]
    mid_write, lost, expected_start = 0, [], None
    for kill in range(kills):
        log = root / f"{run}-{kill}.log"
        with open(log, "w") as out:
            process = subprocess.Popen(args, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
            try:
                target = rng.randint(1, 6)  # printed steps to wait for
                deadline = time.time() + 300
                while len([s for s in _steps(log.read_text()) if s > (expected_start or 0)]) < target:
                    assert process.poll() is None and time.time() < deadline, log.read_text()[-3000:]
                    time.sleep(0.02)
                if kill % 2:  # wait until a checkpoint is half-written
                    while not list(latest.parent.glob(".latest.npz.*.tmp")):
                        assert process.poll() is None and time.time() < deadline, log.read_text()[-3000:]
                        time.sleep(0.01)
                else:
                    time.sleep(rng.uniform(0, 0.5))
                process.send_signal(signal.SIGKILL)
            finally:
                process.kill()
                process.wait()
        text = log.read_text()
        assert "Traceback" not in text, text[-3000:]
        if expected_start is not None:
            assert f"resuming from {run}/checkpoints/latest.npz at step {expected_start} " in text, text[-3000:]
        mid_write += bool(list(latest.parent.glob(".latest.npz.*.tmp")))
        meta, weights, _ = checkpoint.read(str(latest))  # loads: never partial
        step = meta["state"]["step"]
        assert step >= max(_steps(text)) - CHECKPOINT_EVERY, (step, _steps(text)[-3:])
        lost.append(max(_steps(text)) - step)
        expected_start = step
    # one more run, to the end: resumes from the last checkpoint, clears the half-written files
    result = subprocess.run(args[:-4] + ["--set", f"train.steps={expected_start + 2}"], cwd=root, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert f"at step {expected_start} " in result.stdout and checkpoint.read(str(latest))[0]["state"]["step"] == expected_start + 2
    assert not list(latest.parent.glob("*.tmp")), os.listdir(latest.parent)
    return kills, mid_write, lost


def test_sigkill_twice_then_resume(crash_workspace):
    kills, mid_write, lost = kill_and_resume(crash_workspace, "two", 2, seed=1)
    assert mid_write >= 1 and max(lost) <= CHECKPOINT_EVERY


@pytest.mark.slow
def test_sigkill_ten_times_then_resume(crash_workspace):
    kills, mid_write, lost = kill_and_resume(crash_workspace, "ten", 10, seed=2)
    print(f"\nkills survived: {kills}, of them mid-checkpoint-write: {mid_write}, "
          f"steps lost per kill: {lost} (checkpoint interval {CHECKPOINT_EVERY})")
    assert mid_write >= 5 and max(lost) <= CHECKPOINT_EVERY


class _FullDisk:
    """A file whose writes fail with ENOSPC after ``room`` bytes."""

    def __init__(self, handle, room):
        self.handle, self.room = handle, room

    def write(self, data):
        import errno

        data = bytes(data)
        if len(data) > self.room:
            self.handle.write(data[: self.room])
            self.room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.handle.write(data)

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()


def test_disk_full_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    import keras
    import numpy as np

    from mrinets.train import checkpoint

    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    optimizer = keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    path = tmp_path / "checkpoints" / "latest.npz"
    checkpoint.save(str(path), model, optimizer, {"step": 1})
    before = path.read_bytes()
    model.layers[-1].kernel.assign(np.ones((3, 2), np.float32))
    fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda fd, mode: _FullDisk(fdopen(fd, mode), room=500))
    with pytest.raises(checkpoint.CheckpointError, match=r"Could not write '.*latest\.npz': No space left on device; "
                                                         r"the previous file there \(if any\) is unchanged"):
        checkpoint.save(str(path), model, optimizer, {"step": 2})
    monkeypatch.undo()
    assert path.read_bytes() == before and os.listdir(path.parent) == ["latest.npz"]
    assert checkpoint.read(str(path))[0]["state"]["step"] == 1
    from mrinets.cli import _user_errors

    assert issubclass(checkpoint.CheckpointError, _user_errors())  # the CLI prints it as `error: ...`, exit 2


def test_run_lock_refuses_a_live_holder_and_ignores_a_stale_lock_file(tmp_path):
    import signal

    from mrinets.cli import UsageError
    from mrinets.train.checkpoint import RunLock

    run = tmp_path / "run"
    run.mkdir()
    (run / ".lock").write_text("pid 999999999 on a-dead-machine\n")  # left by a killed run: no flock held
    with RunLock(str(run)):
        assert (run / ".lock").read_text() == f"pid {os.getpid()} on {os.uname().nodename}\n"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from mrinets.train.checkpoint import RunLock; "
         "lock = RunLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(120)", str(run)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UsageError, match=rf"Run directory '.*run' is in use by pid {holder.pid} on .*choose another --output"):
            RunLock(str(run)).acquire()
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        with RunLock(str(run)):  # the kernel released the dead process's lock
            pass
    finally:
        holder.kill()
        holder.wait()
