"""``train.precision: auto``: mixed_bfloat16 exactly where the hardware computes bfloat16 natively."""

import os
import subprocess
import sys

import pytest
import tensorflow as tf

from mrinets.train import strategy
from mrinets.train.strategy import cpu_flags, native_bfloat16, resolve_precision

CPUINFO = """\
processor\t: 0
model name\t: Some CPU
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_tile
processor\t: 1
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_tile
"""


def test_cpu_flags_reads_the_flags_line(tmp_path):
    (tmp_path / "cpuinfo").write_text(CPUINFO)
    assert cpu_flags(str(tmp_path / "cpuinfo")) == {"fpu", "sse2", "avx2", "avx512f", "avx512_bf16", "amx_tile"}
    assert cpu_flags(str(tmp_path / "missing")) == set()


@pytest.fixture
def cpu_only(monkeypatch):
    """No GPU; ``set_flags(...)`` chooses the CPU's flags."""
    real = tf.config.list_physical_devices
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [] if kind == "GPU" else real(kind))
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    return lambda *flags: monkeypatch.setattr(strategy, "cpu_flags", lambda: set(flags))


@pytest.mark.parametrize("flags, native", [(("avx2", "avx512f", "avx512_bf16"), True), (("avx2", "amx_bf16"), True),
                                           (("avx2", "avx512f", "avx512_vnni"), False), ((), False)])
def test_cpu_native_bfloat16_follows_its_flags(cpu_only, flags, native):
    cpu_only(*flags)
    assert native_bfloat16() is native
    assert resolve_precision("auto") == ("mixed_bfloat16" if native else "float32")


@pytest.mark.parametrize("value", ["0", "false", "False"])
def test_onednn_off_means_emulated_bfloat16(cpu_only, monkeypatch, value):
    cpu_only("avx512_bf16")
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", value)
    assert resolve_precision("auto") == "float32"


@pytest.mark.parametrize("capabilities, native", [([(8, 0)], True), ([(9, 0), (8, 6)], True), ([(7, 5)], False),
                                                  ([(8, 0), (7, 0)], False)])
def test_gpu_native_bfloat16_needs_compute_capability_8(monkeypatch, capabilities, native):
    gpus = [f"GPU:{i}" for i in range(len(capabilities))]
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: gpus if kind == "GPU" else [])
    monkeypatch.setattr(tf.config.experimental, "get_device_details",
                        lambda gpu: {"compute_capability": capabilities[gpus.index(gpu)]})
    monkeypatch.setattr(strategy, "cpu_flags", lambda: {"avx512_bf16"})  # the GPU decides, not the CPU
    assert native_bfloat16() is native


@pytest.mark.parametrize("policy", ["float32", "mixed_float16", "mixed_bfloat16"])
def test_other_precisions_are_policies_already(policy):
    assert resolve_precision(policy) == policy


def test_auto_trains_and_logs_the_policy_it_chose(tmp_path):
    """With oneDNN off and no GPU, ``auto`` is float32 on any machine."""
    from tests.test_train import TINY

    (tmp_path / "tiny.yaml").write_text(TINY)
    env = {**os.environ, "MRINETS_CACHE": str(tmp_path / "cache"), "TF_CPP_MIN_LOG_LEVEL": "2",
           "CUDA_VISIBLE_DEVICES": "", "TF_ENABLE_ONEDNN_OPTS": "0"}
    result = subprocess.run([sys.executable, "-m", "mrinets.cli", "train", "tiny.yaml", "--output", "run", "--set",
                             "train.precision=auto", "--set", "train.steps=2", "--set", "train.eval_every=0"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    assert "precision float32 (auto)) into" in result.stdout
    assert "precision: auto" in (tmp_path / "run" / "config.yaml").read_text()
