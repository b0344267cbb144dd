"""The benchmark suite's runner: results table from JSON files and its command line."""

import json
import subprocess
import sys

import pytest

from benchmarks.__main__ import COMPARISONS, table


def _write(folder, name, rows, **extra):
    machine = {"date": "2026-11-29T03:00:00+00:00", "cpus": 2, "processor": "x86_64", "threads": 2, "gpus": [],
               "tensorflow": "2.21.0"}
    (folder / f"{name}.json").write_text(json.dumps({"machine": machine, "rows": rows, **extra}))


def test_table_lists_each_result_with_goal_and_verdict(tmp_path):
    _write(tmp_path, "conv", [{"comparison": "stacked vs limit", "result": "1.01x", "goal": "<= 1.05x", "pass": True},
                              {"comparison": "vs cvnn", "result": "not benchmarked", "goal": ">= 1.3x", "pass": None}])
    _write(tmp_path, "vs_fastmri", [{"comparison": "VarNet time", "result": "1.20x", "goal": "<= 1.0x", "pass": False}],
           threads=1)
    text = table(str(tmp_path))
    assert "| stacked vs limit | 1.01x | <= 1.05x | yes |" in text
    assert "| vs cvnn | not benchmarked | >= 1.3x | n/a |" in text
    assert "| VarNet time | 1.20x | <= 1.0x | **no** |" in text
    assert "2026-11-29, 2 CPUs (x86_64), 1 threads per framework, TensorFlow 2.21.0" in text
    assert f"## conv: {COMPARISONS['conv'][1]}" in text and "## quality" not in text


def test_unknown_comparison_is_a_usage_error():
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--only", "nope"], capture_output=True, text=True)
    assert done.returncode == 2
    assert "invalid choice: 'nope'" in done.stderr


@pytest.mark.parametrize("threads", ["0", "-1"])
def test_threads_must_be_positive(threads):
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--threads", threads, "--table-only"],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert "Expected a strictly positive integer" in done.stderr


def test_precision_rows_judge_bfloat16_only_where_auto_picks_it():
    from benchmarks.precision import table_rows

    configs = {"varnet": {"float32": {"step_ms": 300.0, "speedup": 1.0, "agreement": 0.0},
                          "mixed_bfloat16": {"step_ms": 250.0, "speedup": 1.2, "agreement": 1e-3}}}
    native, emulated = table_rows(configs, ["mixed_bfloat16"], True), table_rows(configs, ["mixed_bfloat16"], False)
    assert native[0]["result"] == "1.20x (250 vs 300 ms; output within 1.0e-03)" and native[0]["pass"] is True
    assert emulated[0]["goal"] == "" and emulated[0]["pass"] is None
    configs["varnet"]["mixed_bfloat16"]["speedup"] = 0.9
    assert table_rows(configs, ["mixed_bfloat16"], True)[0]["pass"] is False
