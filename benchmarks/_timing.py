"""Interleaved, warmed-up timing of several candidates; medians and ratios."""

import json
import os
import platform
import statistics
import time
from datetime import datetime, timezone


def time_candidates(candidates, repeats=15, warmup=3):
    """``candidates``: name -> zero-argument callable. Returns name -> median seconds.

    Candidates run round-robin so machine noise hits them alike.
    """
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    samples = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def machine():
    import tensorflow as tf

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "tensorflow": tf.__version__,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def write_results(name, results):
    """Write ``benchmarks/results/<name>.json`` atomically and return its path."""
    folder = os.path.join(os.path.dirname(__file__), "results")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{name}.json")
    temporary = path + ".tmp"
    with open(temporary, "w") as handle:
        json.dump({"machine": machine(), **results}, handle, indent=2)
    os.replace(temporary, path)
    return path
