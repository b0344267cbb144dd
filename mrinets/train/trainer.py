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

from mrinets import ops
from mrinets.errors import UsageError
from mrinets.train import checkpoint, evaluation, generalization, time_budget
from mrinets.train.checkpoint import CHECKPOINTS
from mrinets.train.datasets import data_paths, num_slices, train_dataset, val_dataset
from mrinets.train.optimization import Schedule, build_optimizer, current_lr
from mrinets.train.schema import build_model, to_yaml
from mrinets.train.strategy import is_chief, resolve_precision
from mrinets.train.tensorboard import write_summary

EXIT_NONFINITE = 3
EXIT_INTERRUPTED = 130


def _duration(seconds):
    seconds = int(max(seconds, 0))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def _enable_gradient_checkpointing(model):
    """``train.gradient_checkpointing``: recompute each cascade in the backward pass."""
    from mrinets.networks import ReconNetwork

    networks = [layer for layer in model.layers if isinstance(layer, ReconNetwork)]
    if not networks:
        raise UsageError("train.gradient_checkpointing: the model is not a reconstruction network with cascades.")
    for network in networks:
        network.gradient_checkpointing = True


class Trainer:
    """Trains ``cfg`` (a validated training config) into ``run_dir``.

    Args:
        cfg: from ``mrinets.train.schema.load_config``.
        run_dir: the run directory (created).
        strategy: a ``tf.distribute`` strategy (``make_strategy``).
        resume: continue from ``<run_dir>/checkpoints/latest.npz`` (it must exist).
        log: function printing one line.
        clock: seconds for ``train.time_limit`` (``time.monotonic``; tests inject a fake clock).
    """

    #: trains rank-3 models on 3D data (``mrinets.train.volumetric.VolumeTrainer``).
    volumetric = False

    def __init__(self, cfg, run_dir, strategy, resume=False, log=print, clock=time.monotonic):
        self.cfg = cfg
        self.run_dir = run_dir
        self.strategy = strategy
        self.resume = resume
        self.log = log
        self.chief = is_chief(strategy)
        self.stop_signal = None
        self.latest_path = os.path.join(run_dir, CHECKPOINTS, "latest.npz")
        self.best_path = os.path.join(run_dir, CHECKPOINTS, "best.npz")
        self.clock = clock
        self.created = clock()  # the time limit counts data preparation too

    # -- set-up -----------------------------------------------------------------
    def setup(self):
        import keras
        import tensorflow as tf

        from mrinets import config

        cfg, train = self.cfg, self.cfg["train"]
        rank = cfg["model"].get("rank", 2)
        if rank != (3 if self.volumetric else 2):
            raise UsageError(f"model.rank: {rank} (a {rank}D network) cannot train on 2D slice data; "
                               "the data pipeline yields (batch, coils, H, W) k-space. Use a rank-2 model, "
                               "or rank 3 on 3D data (data.builtin: mni152_3d).")
        self.precision = resolve_precision(train["precision"])
        keras.mixed_precision.set_global_policy(self.precision)
        keras.utils.set_random_seed(train["seed"])
        self.train_path, self.val_path = data_paths(cfg)
        self.num_train = self.count_examples()
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
            if train["gradient_checkpointing"]:
                _enable_gradient_checkpointing(self.model)
            self.optimizer, self.learning_rate = build_optimizer(cfg, self.total_steps)
            self.optimizer.build(self.model.trainable_variables)
            self.loss_fn = config.build(cfg["loss"], reduction="none")
        self.predict = evaluation.predict_function(self.model)
        self.train_step = self._make_train_step(tf, train["jit_compile"])

    def count_examples(self):
        """Training examples per epoch (slices of the training split)."""
        return num_slices(self.cfg, self.train_path, self.cfg["data"]["skip_bad_files"])

    def dataset(self, epoch, skip):
        """The training batches of ``epoch`` after the first ``skip`` (distributed)."""
        return train_dataset(self.cfg, self.train_path, self.global_batch, epoch, skip, self.strategy)

    def val_dataset(self):
        return val_dataset(self.cfg, self.val_path)

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

    def generalization_scorer(self):
        """The scorer of ``train.generalization`` (None when off, or when its packages are missing)."""
        if not self.cfg["train"]["generalization"]:
            return None
        try:
            return generalization.GeneralizationScorer(cache_dir=self.cfg["data"]["cache_dir"])
        except ImportError as error:
            self.log(f"train.generalization: skipped, {error}")
            return None

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
    def collect(self, max_slices, baselines):
        """``{fname: {method: (slices, h, w)}}`` of the validation split with ``baselines`` (specs, or False)."""
        return evaluation.collect(self.val_ds, self.predict, baselines=baselines, max_slices=max_slices)

    def evaluate(self, train_loss):
        """Validate, log, write metrics/figure/TensorBoard; returns the record."""
        import tensorflow as tf

        from mrinets.config import to_plain

        specs = to_plain(self.cfg["evaluate"]["baselines"]) if self.baselines is None else False
        volumes = self.collect(self.cfg["train"]["max_eval_slices"], specs)
        if self.baselines is None:  # the baselines do not change: computed at the first evaluation only
            self.baselines = {name: {k: v for k, v in vol.items() if k not in ("target", "model")}
                              for name, vol in volumes.items()}
        for name, vol in volumes.items():
            vol.update(self.baselines.get(name, {}))
        _, means = evaluation.volume_metrics(volumes)
        step = self.state["step"]
        record = {"step": step, "epoch": self.state["epoch"], "train_loss": train_loss, "lr": current_lr(self.optimizer),
                  "val_nmse": means["model_nmse"], "val_psnr": means["model_psnr"], "val_ssim": means["model_ssim"]}
        baselines = [m for m in evaluation.methods_of(volumes) if m != "model"]
        for method in baselines:
            for metric in evaluation.METRIC_NAMES:
                record[f"{method}_{metric}"] = means[f"{method}_{metric}"]
        record["elapsed_s"] = round(time.time() - self.started + self.state.get("elapsed_s", 0.0), 1)
        parts = [f"eval step {step}: model NMSE {record['val_nmse']:.4f} PSNR {record['val_psnr']:.2f} dB "
                 f"SSIM {record['val_ssim']:.4f}"]
        for method in baselines:
            label = evaluation.BASELINES.get(method, method)
            if method in ("zero_filled", "gridding"):  # the no-prior baseline: every metric
                parts.append(f"{label} NMSE {record[f'{method}_nmse']:.4f} PSNR {record[f'{method}_psnr']:.2f} "
                             f"dB SSIM {record[f'{method}_ssim']:.4f}")
            else:
                parts.append(f"{label} PSNR {record[f'{method}_psnr']:.2f} dB")
        self.log(" | ".join(parts))
        if self.generalization is not None:  # reported only: never picks the best checkpoint
            results = self.generalization.score(self.predict)
            record.update(generalization.flat_means(results))
            for acceleration, (_, gen_means) in results.items():
                self.log(generalization.summary_line(acceleration, gen_means))
            generalization.write_report(os.path.join(self.run_dir, "generalization.json"), results, step)
        self.records.append(record)
        best = self.state.get("best")
        if best is None or record["val_psnr"] > best["val_psnr"]:
            self.state["best"] = {"step": step, "val_psnr": record["val_psnr"], "val_ssim": record["val_ssim"],
                                  "val_nmse": record["val_nmse"]}
            self.save(self.best_path, self.checkpoint_state())
        if self.chief:
            name, k, zf, recon, ref = evaluation.panel(volumes)
            first = evaluation.first_baseline(volumes[name]) or "none"
            png = evaluation.figure_png(zf, recon, ref, title=f"step {step}: {name} slice {k}",
                                        baseline=evaluation.BASELINES.get(first, first))
            checkpoint.atomic_write(os.path.join(self.run_dir, "figures", f"step_{step:07d}.png"),
                                    lambda handle: handle.write(png))
            with self.writer.as_default(step=step):
                for key in ("val_nmse", "val_psnr", "val_ssim"):
                    write_summary("scalar", key.replace("_", "/"), record[key], step)
                for key in (f"{method}_{metric}" for method in baselines for metric in ("psnr", "ssim")):
                    write_summary("scalar", f"baseline/{key}", record[key], step)
                write_summary("image", f"val/{first}|model|reference|error", evaluation.panel_image(zf, recon, ref), step)
            self.writer.flush()
            self.write_metrics()
        return record

    # -- loop -----------------------------------------------------------------
    def checkpoint_state(self):
        state = dict(self.state)
        state["elapsed_s"] = round(self.state.get("elapsed_s", 0.0) + time.time() - self.started, 1)
        state["total_steps"] = self.total_steps
        if self.budget is not None and self.budget.plan is not None:
            state["time_budget"] = self.budget.plan
        return state

    def make_time_budget(self):
        """The run's ``TimeBudget`` under ``train.time_limit`` (a resumed run keeps its plan), else None."""
        train = self.cfg["train"]
        if not train["time_limit"]:
            return None
        resumed = self.state.get("elapsed_s", 0.0) if self.resume else 0.0
        budget = time_budget.TimeBudget(train["time_limit"], self.total_steps, train["eval_every"], clock=self.clock,
                                        started=self.created, elapsed=resumed)
        if self.state.get("time_budget"):
            budget.restore(self.state["time_budget"])
            self.set_total_steps(budget.plan["planned_steps"])
            self.log(f"resuming the time-limited plan: {time_budget.describe(budget.plan)}")
        return budget

    def set_total_steps(self, steps):
        """Set the run's length and the learning-rate schedule's (inside the traced step too)."""
        self.total_steps = int(steps)
        if isinstance(self.learning_rate, Schedule):
            self.learning_rate.set_total_steps(self.total_steps)

    def _fit_time_budget(self, step, train_loss):
        """Validate once (timed), plan the steps into the time limit, log and record the plan."""
        started = self.clock()
        if self.chief:
            self.evaluate(train_loss)
        self._take_plan(self.budget.fit(step, self.clock() - started))

    def _take_plan(self, plan, again=False):
        self.set_total_steps(plan["planned_steps"])
        self.log((f"planned again at step {plan['planned_at_step']}: " if again else "") + time_budget.describe(plan))
        if self.chief:
            checkpoint.atomic_write_text(os.path.join(self.run_dir, "time_budget.json"), json.dumps(plan, indent=2))

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
        self.budget = self.make_time_budget()
        self.records = self.load_records(self.state["step"]) if self.resume else []
        self.baselines = None
        self.val_ds = self.val_dataset()
        self.generalization = self.generalization_scorer() if self.chief else None
        if self.chief:
            self.write_config()
            self.writer = tf.summary.create_file_writer(os.path.join(self.run_dir, "tensorboard"))
            if not self.resume:
                self.save(self.latest_path, self.checkpoint_state())
        replicas = self.strategy.num_replicas_in_sync
        precision = f"{self.precision} (auto)" if train["precision"] == "auto" else self.precision
        self.log(f"training {self.model.count_params():,} parameters for {self.total_steps} steps "
                 f"(batch {self.global_batch} over {replicas} replica{'s' * (replicas > 1)}, "
                 f"{self.steps_per_epoch} steps/epoch, precision {precision}) into {self.run_dir}")
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
                if self.budget is not None:
                    if self.budget.step_done(step):
                        self._fit_time_budget(step, since_eval / since_eval_n)
                        since_eval, since_eval_n = 0.0, 0
                        last_eval_step = step
                        tick, tick_step = time.time(), step
                    elif step < self.total_steps and self.budget.out_of_time():
                        self.log(f"time limit: stopping at step {step} of {self.total_steps} to validate and save in time")
                        self.total_steps = step
                if step % log_every == 0 or step == self.total_steps:
                    now = time.time()
                    rate = (step - tick_step) / max(now - tick, 1e-9)
                    eta = (self.total_steps - step) / max(rate, 1e-9)
                    self.log(f"step {step}/{self.total_steps}  loss {window_loss / window_steps:.5f}  "
                             f"{rate:.2f} steps/s  ETA {_duration(eta)}")
                    if self.chief:
                        with self.writer.as_default(step=step):
                            write_summary("scalar", "train/loss", window_loss / window_steps, step)
                            write_summary("scalar", "train/lr", current_lr(self.optimizer), step)
                            write_summary("scalar", "train/steps_per_s", rate, step)
                    window_loss, window_steps = 0.0, 0
                    tick, tick_step = now, step
                done = step >= self.total_steps
                if done or (eval_every and step % eval_every == 0):
                    eval_started = self.clock()
                    if self.chief:
                        self.evaluate(since_eval / max(since_eval_n, 1))
                        last_eval_step = step
                    if self.budget is not None and not done:
                        plan = self.budget.refit(step, eval_started, self.clock() - eval_started)
                        if plan is not None:
                            self._take_plan(plan, again=True)
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
