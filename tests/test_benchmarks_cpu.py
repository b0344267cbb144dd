"""The results table names the CPU (model, AVX-512) and the load average a benchmark ran under."""

from benchmarks.__main__ import table
from tests.test_benchmarks import _write


def test_table_names_the_cpu_and_load(tmp_path):
    row = {"comparison": "type_2 time", "result": "0.10x", "goal": "< 1x", "pass": True}
    _write(tmp_path, "nufft", [row], cpu={"model": "AMD EPYC", "avx512": True, "load_average": [9.6, 9, 8],
                                          "load_average_at_end": [12.25, 11, 10]})
    _write(tmp_path, "conv", [row], cpu={"model": "Xeon", "avx512": False, "load_average": "not recorded"})
    text = table(str(tmp_path))
    assert "TensorFlow 2.21.0, CPU AMD EPYC (AVX-512 yes), load average 9.6 -> 12.2. `nufft.json`" in text
    assert "TensorFlow 2.21.0, CPU Xeon (AVX-512 no). `conv.json`" in text
