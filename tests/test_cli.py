"""The command line, run as users run it (subprocess)."""

import json
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
