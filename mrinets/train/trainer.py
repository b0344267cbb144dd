"""The training loop behind ``mrinets train``: a ``tf.function`` step under a ``tf.distribute`` strategy.

Exit statuses returned by ``Trainer.run``: 0 done, 3 non-finite loss (the last good
checkpoint is kept), 130 interrupted (SIGINT/SIGTERM; a checkpoint is saved first).
"""

import csv
import io
import json
import math
import os
import signal
import sys
import time

import numpy as np

from mrinets import ops
from mrinets.errors import UsageError
from mrinets.train import checkpoint, evaluation
from mrinets.train.checkpoint import CHECKPOINTS
from mrinets.train.schema import build_model, to_yaml

EXIT_NONFINITE = 3
EXIT_INTERRUPTED = 130


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


def data_paths(cfg):
    """``(train_path, val_path)`` of the config's data section (prepares built-in data once)."""
    data = cfg["data"]
    if data["path"]:
        return data["path"], data["val_path"]
    from mrinets.data import builtin

    options = dict(data["options"] or {})
    prepare = {"mni152": builtin.prepare_builtin, "shepp_logan": builtin.prepare_shepp_logan}[data["builtin"]]
    if data["builtin"] == "mni152":
        options.setdefault("progress", True)
    try:
        root = prepare(cache_dir=data["cache_dir"], **options)
    except TypeError as error:
        raise UsageError(f"data.options: {error}") from error
    return os.path.join(root, "train"), os.path.join(root, "val")


def epoch_seed(seed, epoch):
    """Seed of epoch ``epoch``'s shuffle and masks: the data order depends on (seed, epoch) only."""
    return (int(seed) * 1_000_003 + int(epoch) * 7919 + 1) % (2**31 - 1)


class Schedule:
    """Learning rate ``learning_rate * warmup(step) * decay(step)`` as a Keras schedule factory."""

    @staticmethod
    def build(learning_rate, spec, total_steps):
        import keras

        kind, warmup = spec["type"], spec["warmup_steps"]
        if kind == "constant" and not warmup:
            return learning_rate

        class _Schedule(keras.optimizers.schedules.LearningRateSchedule):
            def __call__(self, step):
                import tensorflow as tf

                step = tf.cast(step, tf.float32)
                if kind == "cosine":
                    span = float(spec["decay_steps"] or max(total_steps - warmup, 1))
                    t = tf.clip_by_value((step - warmup) / span, 0.0, 1.0)
                    factor = spec["alpha"] + (1 - spec["alpha"]) * 0.5 * (1 + tf.cos(math.pi * t))
                elif kind == "exponential":
                    period = float(spec["decay_steps"] or max(total_steps, 1))
                    factor = tf.pow(spec["decay_rate"], tf.maximum(step - warmup, 0.0) / period)
                else:
                    factor = 1.0
                if warmup:
                    factor = factor * tf.minimum(1.0, (step + 1) / float(warmup))
                return learning_rate * factor

            def get_config(self):
                return {}

        return _Schedule()


def build_optimizer(cfg, total_steps):
    """The Keras optimizer of the ``optimizer`` section (wrapped for loss scaling under mixed_float16)."""
    import keras

    from mrinets.train.schema import optimizer_class

    section = dict(cfg["optimizer"])
    cls = optimizer_class(section.pop("type"))
    lr = Schedule.build(section.pop("learning_rate"), section.pop("schedule"), total_steps)
    kwargs = {k: v for k, v in section.items() if v is not None}
    optimizer = cls(learning_rate=lr, **kwargs)
    if cfg["train"]["precision"] == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def _summary(kind, tag, value, step):
    """Write a TensorBoard scalar or image (``(1, h, w, 1)`` in [0, 1]) without needing the tensorboard package."""
    import tensorflow as tf
    from tensorflow.core.framework import summary_pb2

    metadata = summary_pb2.SummaryMetadata()
    if kind == "scalar":
        metadata.plugin_data.plugin_name = "scalars"
        metadata.data_class = summary_pb2.DATA_CLASS_SCALAR
        tensor = tf.constant(float(value), tf.float32)
    else:
        metadata.plugin_data.plugin_name = "images"
        metadata.data_class = summary_pb2.DATA_CLASS_BLOB_SEQUENCE
        image = tf.cast(tf.round(tf.clip_by_value(value[0], 0.0, 1.0) * 255.0), tf.uint8)
        png = tf.io.encode_png(image)
        tensor = tf.stack([tf.as_string(tf.shape(image)[1]), tf.as_string(tf.shape(image)[0]), png])
    tf.summary.write(tag, tensor, step=step, metadata=metadata)


def current_lr(optimizer):
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    try:
        return float(np.asarray(inner.learning_rate))
    except (TypeError, ValueError):
        return float("nan")


def _duration(seconds):
    seconds = int(max(seconds, 0))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


class Trainer:
    """Trains ``cfg`` (a validated training config) into ``run_dir``.

    Args:
        cfg: from ``mrinets.train.schema.load_config``.
        run_dir: the run directory (created).
        strategy: a ``tf.distribute`` strategy (``make_strategy``).
        resume: continue from ``<run_dir>/checkpoints/latest.npz`` (it must exist).
        log: function printing one line.
    """

    def __init__(self, cfg, run_dir, strategy, resume=False, log=print):
        self.cfg = cfg
        self.run_dir = run_dir
        self.strategy = strategy
        self.resume = resume
        self.log = log
        self.chief = is_chief(strategy)
        self.stop_signal = None
        self.latest_path = os.path.join(run_dir, CHECKPOINTS, "latest.npz")
        self.best_path = os.path.join(run_dir, CHECKPOINTS, "best.npz")

    # -- set-up -----------------------------------------------------------------
    def setup(self):
        import keras
        import tensorflow as tf

        from mrinets import config
        from mrinets.data import build_index, list_files

        cfg, train = self.cfg, self.cfg["train"]
        rank = cfg["model"].get("rank", 2)
        if rank != 2:
            raise UsageError(f"model.rank: {rank} (a {rank}D network) cannot train on 2D slice data; "
                               "the data pipeline yields (batch, coils, H, W) k-space. Use a rank-2 model.")
        keras.mixed_precision.set_global_policy(train["precision"])
        keras.utils.set_random_seed(train["seed"])
        self.train_path, self.val_path = data_paths(cfg)
        _, pairs = build_index(list_files(self.train_path), cfg["data"]["skip_bad_files"])
        self.num_train = len(pairs)
        self.global_batch = train["batch_size"]
        replicas = self.strategy.num_replicas_in_sync
        if self.global_batch % replicas:
            raise UsageError(f"train.batch_size: {self.global_batch} does not split evenly across {replicas} replicas.")
        self.steps_per_epoch = self.num_train // self.global_batch
        if self.steps_per_epoch < 1:
            raise UsageError(f"train.batch_size: {self.global_batch} is larger than the training split "
                               f"({self.num_train} slices in {self.train_path}).")
        self.total_steps = train["steps"] or train["epochs"] * self.steps_per_epoch
        with self.strategy.scope():
            self.model = build_model(cfg)
            self.optimizer = build_optimizer(cfg, self.total_steps)
            self.optimizer.build(self.model.trainable_variables)
            self.loss_fn = config.build(cfg["loss"], reduction="none")
        self.predict = evaluation.predict_function(self.model)
        self.train_step = self._make_train_step(tf, train["jit_compile"])

    def _make_train_step(self, tf, jit_compile):
        model, optimizer, loss_fn, strategy = self.model, self.optimizer, self.loss_fn, self.strategy
        global_batch = float(self.global_batch)

        def replica_step(inputs, target):
            with tf.GradientTape() as tape:
                pred = tf.cast(model(inputs, training=True), tf.float32)
                pred = ops.center_crop(pred, tf.shape(target)[-2:])
                loss = tf.reduce_sum(loss_fn(target, pred)) / global_batch
                scaled = optimizer.scale_loss(loss)
            grads = tape.gradient(scaled, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss

        @tf.function(jit_compile=jit_compile or None)
        def step(inputs, target):
            per_replica = strategy.run(replica_step, args=(inputs, target))
            return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

        return step

    def dataset(self, epoch, skip):
        """The training batches of ``epoch`` after the first ``skip`` (distributed).

        The order and the masks depend only on (seed, epoch): the map runs sequentially so
        that a resumed run sees the same batches.
        """
        import warnings

        import tensorflow as tf

        from mrinets.data import build_dataset

        with warnings.catch_warnings():  # build_dataset's `deterministic=` is moot for a sequential map
            warnings.simplefilter("ignore", UserWarning)
            ds = build_dataset(
                self.train_path, mask=self.cfg["mask"], batch_size=self.global_batch, shuffle=True,
                seed=epoch_seed(self.cfg["train"]["seed"], epoch), crop=self.cfg["data"]["crop"],
                deterministic_masks=False, drop_remainder=True, num_parallel_calls=None,
                skip_bad_files=self.cfg["data"]["skip_bad_files"],
            )
        if skip:
            ds = ds.skip(skip)
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        options.deterministic = True
        ds = ds.with_options(options)
        return self.strategy.experimental_distribute_dataset(ds)

    def val_dataset(self):
        from mrinets.data import build_dataset

        train = self.cfg["train"]
        return build_dataset(
            self.val_path, mask=self.cfg["mask"], batch_size=train["eval_batch_size"] or train["batch_size"],
            shuffle=False, crop=self.cfg["data"]["crop"], deterministic_masks=True, return_metadata=True,
            skip_bad_files=self.cfg["data"]["skip_bad_files"],
        )

    # -- outputs ----------------------------------------------------------------
    def write_config(self):
        from mrinets._version import __version__

        cfg = dict(self.cfg)
        cfg["mrinets_version"] = __version__
        checkpoint.atomic_write_text(os.path.join(self.run_dir, "config.yaml"), to_yaml(cfg))

    def save(self, path, state):
        if self.chief:
            checkpoint.save(path, self.model, self.optimizer, state)

    def write_metrics(self):
        if not self.chief:
            return
        records = self.records
        checkpoint.atomic_write_text(os.path.join(self.run_dir, "metrics.json"),
                                     json.dumps({"evaluations": records, "best": self.state.get("best")}, indent=2))
        keys = list(dict.fromkeys(k for r in records for k in r))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=keys)
        writer.writeheader()
        writer.writerows(records)
        checkpoint.atomic_write_text(os.path.join(self.run_dir, "metrics.csv"), buffer.getvalue())

    def load_records(self, step):
        path = os.path.join(self.run_dir, "metrics.json")
        if not os.path.exists(path):
            return []
        with open(path) as handle:
            records = json.load(handle).get("evaluations", [])
        return [r for r in records if r.get("step", 0) <= step]

    # -- evaluation ---------------------------------------------------------------
    def evaluate(self, train_loss):
        """Validate, log, write metrics/figure/TensorBoard; returns the record."""
        import tensorflow as tf

        max_slices = self.cfg["train"]["max_eval_slices"]
        volumes = evaluation.collect(self.val_ds, self.predict, baselines=self.baselines is None, max_slices=max_slices)
        if self.baselines is None:
            self.baselines = {name: {k: v for k, v in vol.items() if k in ("zero_filled", "cg_sense")}
                              for name, vol in volumes.items()}
        for name, vol in volumes.items():
            vol.update(self.baselines.get(name, {}))
        _, means = evaluation.volume_metrics(volumes)
        step = self.state["step"]
        record = {"step": step, "epoch": self.state["epoch"], "train_loss": train_loss, "lr": current_lr(self.optimizer),
                  "val_nmse": means["model_nmse"], "val_psnr": means["model_psnr"], "val_ssim": means["model_ssim"]}
        for method in ("zero_filled", "cg_sense"):
            for metric in evaluation.METRIC_NAMES:
                record[f"{method}_{metric}"] = means[f"{method}_{metric}"]
        record["elapsed_s"] = round(time.time() - self.started + self.state.get("elapsed_s", 0.0), 1)
        self.log(
            f"eval step {step}: model NMSE {record['val_nmse']:.4f} PSNR {record['val_psnr']:.2f} dB "
            f"SSIM {record['val_ssim']:.4f} | zero-filled NMSE {record['zero_filled_nmse']:.4f} "
            f"PSNR {record['zero_filled_psnr']:.2f} dB SSIM {record['zero_filled_ssim']:.4f} | "
            f"CG-SENSE PSNR {record['cg_sense_psnr']:.2f} dB"
        )
        self.records.append(record)
        best = self.state.get("best")
        if best is None or record["val_psnr"] > best["val_psnr"]:
            self.state["best"] = {"step": step, "val_psnr": record["val_psnr"], "val_ssim": record["val_ssim"],
                                  "val_nmse": record["val_nmse"]}
            self.save(self.best_path, self.checkpoint_state())
        if self.chief:
            name, k, zf, recon, ref = evaluation.panel(volumes)
            png = evaluation.figure_png(zf, recon, ref, title=f"step {step}: {name} slice {k}")
            checkpoint.atomic_write(os.path.join(self.run_dir, "figures", f"step_{step:07d}.png"),
                                    lambda handle: handle.write(png))
            with self.writer.as_default(step=step):
                for key in ("val_nmse", "val_psnr", "val_ssim"):
                    _summary("scalar", key.replace("_", "/"), record[key], step)
                for key in ("zero_filled_psnr", "zero_filled_ssim", "cg_sense_psnr", "cg_sense_ssim"):
                    _summary("scalar", f"baseline/{key}", record[key], step)
                _summary("image", "val/zero_filled|model|reference|error", evaluation.panel_image(zf, recon, ref), step)
            self.writer.flush()
            self.write_metrics()
        return record

    # -- loop -----------------------------------------------------------------
    def checkpoint_state(self):
        state = dict(self.state)
        state["elapsed_s"] = round(self.state.get("elapsed_s", 0.0) + time.time() - self.started, 1)
        state["total_steps"] = self.total_steps
        return state

    def _on_signal(self, signum, frame):
        if self.stop_signal is not None:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.stop_signal = signal.Signals(signum).name
        self.log(f"{self.stop_signal} received: saving a checkpoint after this step (again to abort)")

    def run(self):
        """Train; return the exit status (0, ``EXIT_NONFINITE`` or ``EXIT_INTERRUPTED``)."""
        import tensorflow as tf

        self.setup()
        train = self.cfg["train"]
        self.state = {"step": 0, "epoch": 0, "batch": 0, "seed": train["seed"], "best": None, "elapsed_s": 0.0}
        if self.resume:
            self.state.update(checkpoint.restore(self.latest_path, self.model, self.optimizer))
            self.log(f"resuming from {self.latest_path} at step {self.state['step']} "
                     f"(epoch {self.state['epoch']}, batch {self.state['batch']})")
        self.started = time.time()
        self.records = self.load_records(self.state["step"]) if self.resume else []
        self.baselines = None
        self.val_ds = self.val_dataset()
        if self.chief:
            self.write_config()
            self.writer = tf.summary.create_file_writer(os.path.join(self.run_dir, "tensorboard"))
            if not self.resume:
                self.save(self.latest_path, self.checkpoint_state())
        replicas = self.strategy.num_replicas_in_sync
        self.log(f"training {self.model.count_params():,} parameters for {self.total_steps} steps "
                 f"(batch {self.global_batch} over {replicas} replica{'s' * (replicas > 1)}, "
                 f"{self.steps_per_epoch} steps/epoch, precision {train['precision']}) into {self.run_dir}")
        handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            return self._loop(tf)
        finally:
            for s, h in handlers.items():
                signal.signal(s, h)
            if self.chief:
                self.writer.close()

    def _loop(self, tf):
        train, state = self.cfg["train"], self.state
        eval_every, ckpt_every, log_every = train["eval_every"], train["checkpoint_every"], train["log_every"]
        window_loss, window_steps, since_eval, since_eval_n = 0.0, 0, 0.0, 0
        tick, tick_step = time.time(), state["step"]
        last_eval_step = self.records[-1]["step"] if self.records else None
        while state["step"] < self.total_steps:
            for inputs, target in self.dataset(state["epoch"], state["batch"]):
                loss = float(self.train_step(inputs, target))
                if not math.isfinite(loss):
                    return self._non_finite(loss)
                state["step"] += 1
                state["batch"] += 1
                step = state["step"]
                window_loss += loss
                window_steps += 1
                since_eval += loss
                since_eval_n += 1
                if step % log_every == 0 or step == self.total_steps:
                    now = time.time()
                    rate = (step - tick_step) / max(now - tick, 1e-9)
                    eta = (self.total_steps - step) / max(rate, 1e-9)
                    self.log(f"step {step}/{self.total_steps}  loss {window_loss / window_steps:.5f}  "
                             f"{rate:.2f} steps/s  ETA {_duration(eta)}")
                    if self.chief:
                        with self.writer.as_default(step=step):
                            _summary("scalar", "train/loss", window_loss / window_steps, step)
                            _summary("scalar", "train/lr", current_lr(self.optimizer), step)
                            _summary("scalar", "train/steps_per_s", rate, step)
                    window_loss, window_steps = 0.0, 0
                    tick, tick_step = now, step
                done = step >= self.total_steps
                if done or (eval_every and step % eval_every == 0):
                    if self.chief:
                        self.evaluate(since_eval / max(since_eval_n, 1))
                        last_eval_step = step
                    since_eval, since_eval_n = 0.0, 0
                    tick, tick_step = time.time(), step
                if done or self.stop_signal or (ckpt_every and step % ckpt_every == 0) or (
                        eval_every and step % eval_every == 0):
                    self.save(self.latest_path, self.checkpoint_state())
                if self.stop_signal:
                    self.log(f"stopped by {self.stop_signal} at step {step}; checkpoint saved to {self.latest_path}. "
                             "Run the same command with --resume (or the same --output) to continue.")
                    return EXIT_INTERRUPTED
                if done:
                    break
            else:
                state["epoch"] += 1
                state["batch"] = 0
                continue
            break
        if self.chief and last_eval_step != state["step"]:
            self.evaluate(since_eval / max(since_eval_n, 1))
            self.save(self.latest_path, self.checkpoint_state())
        best = state.get("best") or {}
        self.log(f"done: {state['step']} steps in {_duration(self.checkpoint_state()['elapsed_s'])}; best validation "
                 f"PSNR {best.get('val_psnr', float('nan')):.2f} dB at step {best.get('step')}; run directory {self.run_dir}")
        return 0

    def _non_finite(self, loss):
        good = "no checkpoint"
        if os.path.exists(self.latest_path):
            try:
                good = f"{self.latest_path} (step {checkpoint.read(self.latest_path)[0]['state']['step']})"
            except checkpoint.CheckpointError:
                good = self.latest_path
        print(
            f"error: the training loss became {loss} at step {self.state['step'] + 1}; stopped without saving. "
            f"The last good checkpoint is {good}. Lower optimizer.learning_rate, set optimizer.clipnorm, "
            "or use train.precision: float32.",
            file=sys.stderr,
        )
        return EXIT_NONFINITE
