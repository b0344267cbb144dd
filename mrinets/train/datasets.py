"""A run's data: the built-in data prepared once, and its training and validation ``tf.data`` pipelines."""

import os
import warnings

import tensorflow as tf

from mrinets import config
from mrinets.data import build_dataset
from mrinets.train.schema import coil_compression_options


def data_paths(cfg):
    """``(train_path, val_path)`` of the config's data section (prepares the ``data.builtin`` dataset once)."""
    data = cfg["data"]
    if data["path"]:
        return data["path"], data["val_path"]
    dataset = config.resolve(data.dataset)  # validated with the config: not validated again
    prepare = config.Spec(dataset.kind, dataset.name, dataset.obj.prepare, dataset.kwargs, path=dataset.path,
                          line=dataset.line, source=dataset.source)
    root = prepare(cache_dir=data["cache_dir"])
    return os.path.join(root, "train"), os.path.join(root, "val")


def epoch_seed(seed, epoch):
    """Seed of epoch ``epoch``'s shuffle and masks: the data order depends on (seed, epoch) only."""
    return (int(seed) * 1_000_003 + int(epoch) * 7919 + 1) % (2**31 - 1)


def train_dataset(cfg, path, global_batch, epoch, skip, strategy):
    """The training batches of ``epoch`` after the first ``skip``, distributed by ``strategy``.

    The order and the masks depend only on (seed, epoch): the map runs sequentially so
    that a resumed run sees the same batches.
    """
    with warnings.catch_warnings():  # build_dataset's `deterministic=` is moot for a sequential map
        warnings.simplefilter("ignore", UserWarning)
        ds = build_dataset(
            path, mask=cfg["mask"], batch_size=global_batch, shuffle=True,
            seed=epoch_seed(cfg["train"]["seed"], epoch), crop=cfg["data"]["crop"],
            deterministic_masks=False, drop_remainder=True, num_parallel_calls=None,
            skip_bad_files=cfg["data"]["skip_bad_files"], **coil_compression_options(cfg),
        )
    if skip:
        ds = ds.skip(skip)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    options.deterministic = True
    ds = ds.with_options(options)
    return strategy.experimental_distribute_dataset(ds)


def val_dataset(cfg, path):
    """The validation batches, each with its metadata (file, slice, scale); masks fixed per slice."""
    train = cfg["train"]
    return build_dataset(
        path, mask=cfg["mask"], batch_size=train["eval_batch_size"] or train["batch_size"],
        shuffle=False, crop=cfg["data"]["crop"], deterministic_masks=True, return_metadata=True,
        skip_bad_files=cfg["data"]["skip_bad_files"], **coil_compression_options(cfg),
    )
