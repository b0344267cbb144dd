"""The command line, run as users run it (subprocess)."""

import json
import os
import subprocess
import sys


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "mrinets.cli", *args], capture_output=True, text=True, env=env)


def test_plugins_and_layers():
    result = run("plugins", "--json")
    assert result.returncode == 0, result.stderr
    builtin = {p["name"]: p for p in json.loads(result.stdout)}["mrinets"]
    assert builtin["status"] == "ok" and "Conv3D" in builtin["registered"]["layer"]
    result = run("layers", "Conv*D")
    assert result.returncode == 0
    assert [line.split()[0] for line in result.stdout.splitlines()[2:]] == ["Conv1D", "Conv2D", "Conv3D"]


def test_user_error_has_no_traceback():
    result = run("layers", "--kind", "layers")
    assert result.returncode == 2
    assert "error: Unknown registry kind 'layers'. Did you mean: layer" in result.stderr
    assert "Traceback" not in result.stderr


def _onednn_after_the_cli(**env):
    """``TF_ENABLE_ONEDNN_OPTS`` and whether TensorFlow's oneDNN kernels are on after a CLI command."""
    script = ("import os; from mrinets.cli import main; main(['plugins', '--json']); "
              "from tensorflow.python.util import _pywrap_util_port; "
              "print(os.environ['TF_ENABLE_ONEDNN_OPTS'], bool(_pywrap_util_port.IsMklEnabled()))")
    environment = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"} | env
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=environment)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()[-2:]


def test_the_cli_turns_tensorflows_onednn_kernels_on_unless_told_otherwise():
    # TensorFlow leaves oneDNN off by itself on AVX2-only CPUs (Eigen's conv gradients are slow there).
    assert _onednn_after_the_cli() == ["1", "True"]
    assert _onednn_after_the_cli(TF_ENABLE_ONEDNN_OPTS="0") == ["0", "False"]
