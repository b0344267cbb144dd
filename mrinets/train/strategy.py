"""The ``tf.distribute`` strategy of ``train.distribute`` and which process writes the run directory."""

import os

from mrinets.errors import UsageError


def make_strategy(kind):
    """The ``tf.distribute`` strategy for ``train.distribute`` (create it before any other TF work)."""
    import tensorflow as tf

    if kind == "one_device":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        if tf.config.list_logical_devices("GPU"):
            return tf.distribute.MirroredStrategy()
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=cpus)
    if kind == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise UsageError("train.distribute: multi_worker needs the TF_CONFIG environment variable "
                               "(cluster spec and this worker's task) on every worker.")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"Invalid value for argument `kind`. Expected one_device, mirrored or multi_worker. Received: kind={kind!r}")


def cpu_flags(path="/proc/cpuinfo"):
    """The instruction-set flags of this machine's CPU (``avx2``, ``avx512_bf16``, ...); empty where ``path``
    cannot be read (not Linux)."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def native_bfloat16():
    """Whether TensorFlow computes bfloat16 natively here: on every visible GPU of compute capability 8.0 or
    newer, or, without a GPU, on a CPU with AVX-512 BF16 or AMX while oneDNN is on (``TF_ENABLE_ONEDNN_OPTS``
    not ``0``)."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return all(tuple(tf.config.experimental.get_device_details(gpu).get("compute_capability") or (0, 0)) >= (8, 0)
                   for gpu in gpus)
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS", "").strip().lower() in ("0", "false"):
        return False
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def resolve_precision(precision):
    """The Keras policy of ``train.precision``: ``auto`` is ``mixed_bfloat16`` where bfloat16 is native
    (``native_bfloat16``), else ``float32``; other values are policies already."""
    if precision != "auto":
        return precision
    return "mixed_bfloat16" if native_bfloat16() else "float32"


def is_chief(strategy):
    """Whether this process writes the run directory (always, except non-chief multi-workers)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    spec = resolver.cluster_spec().as_dict()
    if resolver.task_type == "chief":
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in spec
