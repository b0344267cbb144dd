"""Shared benchmark helpers: thread settings, interleaved timing, memory, result files."""

import json
import os
import platform
import resource
import statistics
import time
from datetime import datetime, timezone

#: Threads given to every framework (TensorFlow intra/inter-op, torch); ``MRINETS_BENCH_THREADS``.
THREADS = int(os.environ.get("MRINETS_BENCH_THREADS", "2"))
RESULTS = os.path.join(os.path.dirname(__file__), "results")


def set_tf_threads(threads=None):
    """Give TensorFlow ``threads`` intra-op and inter-op threads (call before any op runs)."""
    import tensorflow as tf

    threads = threads or THREADS
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    return threads


def set_torch_threads(threads=None):
    """Give torch ``threads`` intra-op and inter-op threads."""
    import torch

    threads = threads or THREADS
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(threads)
    return threads


def train_step(model, optimizer, loss_fn=None):
    """``step(inputs, target) -> loss``: one ``tf.function`` training step of a Keras model.

    ``loss_fn(target, prediction)`` defaults to the mean absolute error.
    """
    import tensorflow as tf

    @tf.function
    def step(inputs, target):
        with tf.GradientTape() as tape:
            prediction = model(inputs, training=True)
            loss = loss_fn(target, prediction) if loss_fn else tf.reduce_mean(tf.abs(prediction - target))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    return step


def time_candidates(candidates, repeats=15, warmup=3, reduce=statistics.median):
    """``candidates``: name -> zero-argument callable. Returns name -> median seconds (or ``reduce``
    of the repeats, e.g. ``min``: the uncontended time on a loaded machine).

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
    return {name: reduce(values) for name, values in samples.items()}


def current_rss_mb():
    """Resident set size of this process now, in MiB (Linux)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb():
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu():
    """``{"model", "avx512", "load_average"}``: the CPU model, whether it has AVX-512 and the load average now
    (Linux ``/proc/cpuinfo``; model "unknown" elsewhere). Every result file records it next to its figures."""
    try:
        with open("/proc/cpuinfo") as handle:
            text = handle.read()
    except OSError:
        text = ""
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")),
                 "unknown")
    return {"model": model, "avx512": " avx512f" in text, "load_average": list(os.getloadavg())}


def machine():
    import tensorflow as tf

    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "threads": THREADS,
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "tensorflow": tf.__version__,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
    except ImportError:
        pass
    return info


def row(comparison, result, goal="", passed=None):
    """One line of the results table: what was compared, the figure, the goal, met or not."""
    return {"comparison": comparison, "result": result, "goal": goal, "pass": passed}


def results_folder(quick=False):
    """``benchmarks/results``, or its ``quick/`` subfolder for ``--quick`` runs."""
    return os.path.join(RESULTS, "quick") if quick else RESULTS


def print_rows(rows):
    """Print each table row as ``comparison: result (goal ...)``."""
    for line in rows:
        print(f"{line['comparison']}: {line['result']} (goal {line['goal'] or '-'})")


def write_results(name, results, rows=(), quick=False):
    """Write ``<results_folder(quick)>/<name>.json`` atomically (with the machine and the table
    ``rows``) and return its path."""
    folder = results_folder(quick)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{name}.json")
    temporary = path + ".tmp"
    with open(temporary, "w") as handle:
        json.dump({"machine": machine(), "rows": list(rows), **results}, handle, indent=2)
    os.replace(temporary, path)
    return path
