"""A run's data: the built-in data prepared once, and its training and validation ``tf.data`` pipelines."""

import inspect
import os
import warnings

import tensorflow as tf

from mrinets import config
from mrinets.data import build_dataset, build_index, list_files
from mrinets.data import noncartesian as nc
from mrinets.errors import UsageError
from mrinets.train.schema import coil_compression_options


def is_noncartesian(cfg):
    """Whether the run reads non-Cartesian data (its config has a ``trajectory``); the one branch of the
    data hooks below."""
    return cfg.get("trajectory") is not None


def data_paths(cfg):
    """``(train_path, val_path)`` of the config's data section (prepares the ``data.builtin`` dataset once)."""
    data = cfg["data"]
    if data["path"]:
        return data["path"], data["val_path"]
    dataset = config.resolve(data.dataset)  # validated with the config: not validated again
    prepare = config.Spec(dataset.kind, dataset.name, dataset.obj.prepare, dataset.kwargs, path=dataset.path,
                          line=dataset.line, source=dataset.source)
    trajectory = {"trajectory": config.to_plain(cfg["trajectory"])} if is_noncartesian(cfg) else {}
    root = prepare(cache_dir=data["cache_dir"], **trajectory)
    return os.path.join(root, "train"), os.path.join(root, "val")


def num_slices(cfg, path, skip_bad_files=False):
    """The number of training slices in ``path``; non-Cartesian files must be on the model's ``grid_shape``."""
    files = list_files(path)
    if not is_noncartesian(cfg):
        return len(build_index(files, skip_bad_files)[1])
    model = cfg["model"]
    grid = tuple(model.get("grid_shape") or inspect.signature(model.entry.obj).parameters["grid_shape"].default)
    for file in files:
        if nc.read_matrix(file) != grid:
            raise UsageError(f"model.grid_shape: {list(grid)} differs from the image grid (`matrix`) "
                             f"{list(nc.read_matrix(file))} of the data file {file!r}.")
    return nc.count_slices(files)


def epoch_seed(seed, epoch):
    """Seed of epoch ``epoch``'s shuffle and masks: the data order depends on (seed, epoch) only."""
    return (int(seed) * 1_000_003 + int(epoch) * 7919 + 1) % (2**31 - 1)


def train_dataset(cfg, path, global_batch, epoch, skip, strategy):
    """The training batches of ``epoch`` after the first ``skip``, distributed by ``strategy``.

    The order and the masks depend only on (seed, epoch): the map runs sequentially so
    that a resumed run sees the same batches.
    """
    if is_noncartesian(cfg):
        ds = nc.build_noncartesian_dataset(list_files(path), batch_size=global_batch, shuffle=True,
                                           seed=epoch_seed(cfg["train"]["seed"], epoch), drop_remainder=True)
    else:
        ds = _cartesian_train_dataset(cfg, path, global_batch, epoch)
    if skip:
        ds = ds.skip(skip)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    options.deterministic = True
    ds = ds.with_options(options)
    return strategy.experimental_distribute_dataset(ds)


def _cartesian_train_dataset(cfg, path, global_batch, epoch):
    with warnings.catch_warnings():  # build_dataset's `deterministic=` is moot for a sequential map
        warnings.simplefilter("ignore", UserWarning)
        return build_dataset(
            path, mask=cfg["mask"], batch_size=global_batch, shuffle=True,
            seed=epoch_seed(cfg["train"]["seed"], epoch), crop=cfg["data"]["crop"],
            deterministic_masks=False, drop_remainder=True, num_parallel_calls=None,
            skip_bad_files=cfg["data"]["skip_bad_files"], **coil_compression_options(cfg),
        )


def val_dataset(cfg, path, batch_size=None):
    """The validation batches, each with its metadata (file, slice, scale); masks fixed per slice.

    ``batch_size`` defaults to ``train.eval_batch_size`` (else ``train.batch_size``); non-Cartesian
    files without a target give ``(inputs, metadata)``.
    """
    train = cfg["train"]
    batch_size = batch_size or train["eval_batch_size"] or train["batch_size"]
    if is_noncartesian(cfg):
        return nc.build_noncartesian_dataset(list_files(path), batch_size=batch_size, return_metadata=True)
    return build_dataset(
        path, mask=cfg["mask"], batch_size=batch_size, shuffle=False, crop=cfg["data"]["crop"],
        deterministic_masks=True, return_metadata=True, skip_bad_files=cfg["data"]["skip_bad_files"],
        **coil_compression_options(cfg),
    )
