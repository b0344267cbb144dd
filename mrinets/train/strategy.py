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


def is_chief(strategy):
    """Whether this process writes the run directory (always, except non-chief multi-workers)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    spec = resolver.cluster_spec().as_dict()
    if resolver.task_type == "chief":
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in spec
