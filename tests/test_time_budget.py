"""``train.time_limit``: the plan from a measured step rate, the fitted schedule, the stop, resume.

Time is a fake clock that each training step and each validation advance, so the tests check
behaviour, not wall-clock precision.
"""

import json

import numpy as np
import pytest

from mrinets.train.time_budget import TimeBudget, describe


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_plan_fits_steps_and_validations_into_the_budget():
    clock = FakeClock()
    budget = TimeBudget(minutes=10, max_steps=10_000, eval_every=100, warmup=20, margin=0.05, clock=clock)
    clock.now = 30.0  # set-up and data preparation
    for step in range(1, 22):
        clock.now += 4.0 if step == 1 else 0.5  # the first step traces the graph; then 2 steps/s
        due = budget.step_done(step)
    assert due
    clock.now += 12.0  # one validation
    plan = budget.fit(21, eval_seconds=12.0)
    # 570 s usable; 30 + 4 + 10 + 12 spent; 12 s kept for the final validation; each step costs
    # 0.5 s plus 12 s per 100 steps of validations.
    expected = 21 + int((570 - 30 - 4 - 10 - 12 - 12) / (0.5 + 12 / 100))
    assert plan["planned_steps"] == expected and plan["steps_per_s"] == pytest.approx(2.0)
    assert f"-> {expected} steps" in describe(plan)
    assert not budget.out_of_time()
    clock.now = 570 - 12.0 - 0.4  # less than a final validation and a step left
    assert budget.out_of_time()
    capped = TimeBudget(minutes=600, max_steps=50, warmup=2, clock=clock)
    for step in (1, 2, 3):
        clock.now += 1
        capped.step_done(step)
    assert capped.fit(3, 1.0)["planned_steps"] == 50  # `train.steps` is the most it plans


def test_schedule_follows_the_planned_length():
    import tensorflow as tf

    from mrinets.train.optimization import Schedule

    spec = {"type": "cosine", "warmup_steps": 0, "alpha": 0.1, "decay_steps": None, "decay_rate": 0.5}
    schedule = Schedule.build(1.0, spec, total_steps=1000)
    traced = tf.function(lambda step: schedule(step))
    assert float(traced(tf.constant(500))) == pytest.approx(0.55)
    schedule.set_total_steps(500)  # seen by the already traced function
    assert float(traced(tf.constant(250))) == pytest.approx(0.55) and float(traced(tf.constant(500))) == pytest.approx(0.1)
    assert schedule.get_config()["total_steps"] == 500


TINY = """\
schema_version: 1
model:
  type: VarNet
  rank: 2
  cascades: 1
  regularizer: {type: UNet, dtype: float32, in_channels: 2, filters: [4, 8], use_bias: false,
                activation: leaky_relu, down: average, up: transpose, normalize: true}
  sensitivity: null
data: {builtin: shepp_logan, cache_dir: CACHE}
mask: {type: equispaced_fraction, center_fractions: 0.08, accelerations: 4}
loss: {type: L1}
optimizer:
  type: adam
  learning_rate: 1.0e-3
  schedule: {type: cosine, warmup_steps: 0, alpha: 0.1}
train: {steps: 500, time_limit: 0.5, batch_size: 2, eval_every: 0, checkpoint_every: 0, log_every: 100, seed: 1}
"""


def _trainer_class(clock, stop_at=None):
    from mrinets.train.trainer import Trainer

    class FakeTimeTrainer(Trainer):
        """Each step costs 1 s of the fake clock, each validation 2 s; SIGINT after step ``stop_at``."""

        def _make_train_step(self, tf, jit_compile):
            real = super()._make_train_step(tf, jit_compile)

            def step(inputs, target):
                clock.now += 1.0
                if stop_at is not None and self.state["step"] + 1 == stop_at:
                    self.stop_signal = "SIGINT"
                return real(inputs, target)

            return step

        def evaluate(self, train_loss):
            clock.now += 2.0
            return super().evaluate(train_loss)

    return FakeTimeTrainer


def test_a_run_stops_on_time_with_its_schedule_scaled_and_resume_keeps_it(tmp_path):
    from mrinets.train import checkpoint
    from mrinets.train.schema import load_config
    from mrinets.train.optimization import current_lr
    from mrinets.train.strategy import make_strategy
    from mrinets.train.trainer import EXIT_INTERRUPTED

    cfg = load_config(TINY.replace("CACHE", str(tmp_path / "cache")))
    run = tmp_path / "run"
    lines = []
    clock = FakeClock()
    first = _trainer_class(clock, stop_at=23)(cfg, str(run), make_strategy("one_device"), log=lines.append, clock=clock)
    assert first.run() == EXIT_INTERRUPTED
    plan = json.loads((run / "time_budget.json").read_text())
    # 28.5 s usable; at step 21 the clock reads 21 s, the timed validation ends at 23 s; 2 s kept
    # for the final validation; 1 s per step: 3 more steps.
    assert plan["planned_steps"] == 24 and plan["planned_at_step"] == 21 and plan["eval_s"] == 2.0
    assert any(line.startswith("time limit 0.5 min:") for line in lines)
    saved = checkpoint.read(str(run / "checkpoints" / "latest.npz"))[0]["state"]
    assert saved["step"] == 23 and saved["time_budget"] == plan

    clock = FakeClock()  # a new session: the plan is kept, not measured again
    second = _trainer_class(clock)(cfg, str(run), make_strategy("one_device"), resume=True, log=lines.append,
                                   clock=clock)
    assert second.run() == 0
    assert second.state["step"] == 24 and second.total_steps == 24
    assert json.loads((run / "time_budget.json").read_text()) == plan
    assert any(line.startswith("resuming the time-limited plan") for line in lines)
    # The cosine schedule ends at the planned last step, not at `train.steps` (500).
    np.testing.assert_allclose(current_lr(second.optimizer), 1e-3 * 0.1, rtol=1e-4)
    records = json.loads((run / "metrics.json").read_text())["evaluations"]
    assert [r["step"] for r in records] == [21, 24]


def test_a_run_that_speeds_up_plans_again_at_its_validations_and_still_ends_on_time(tmp_path):
    from mrinets.train.optimization import current_lr
    from mrinets.train.schema import load_config
    from mrinets.train.strategy import make_strategy

    config = TINY.replace("CACHE", str(tmp_path / "cache")).replace("time_limit: 0.5", "time_limit: 2").replace(
        "eval_every: 0", "eval_every: 25")
    cfg = load_config(config)
    clock, lines = FakeClock(), []
    trainer_class = _trainer_class(clock)

    class SpeedsUp(trainer_class):
        """1 s per step up to step 30, then 0.25 s (the fake clock advances 1 s in the parent)."""

        def _make_train_step(self, tf, jit_compile):
            step = super()._make_train_step(tf, jit_compile)

            def faster(inputs, target):
                if self.state["step"] >= 30:
                    clock.now -= 0.75
                return step(inputs, target)

            return faster

    trainer = SpeedsUp(cfg, str(tmp_path / "run"), make_strategy("one_device"), log=lines.append, clock=clock)
    assert trainer.run() == 0
    first = next(line for line in lines if line.startswith("time limit 2 min:"))
    assert "-> 103 steps" in first  # 114 s usable; at 1 s per step and 2 s per 25 steps of validation
    replans = [line for line in lines if line.startswith("planned again at step")]
    # At step 50 the rate since the plan (validations excluded) is 29 steps in 14 s; at 75 it is 4/s.
    assert [line.split(":")[0] for line in replans] == ["planned again at step 50", "planned again at step 75"]
    plan = json.loads((tmp_path / "run" / "time_budget.json").read_text())
    assert plan["planned_at_step"] == 75 and plan["steps_per_s"] == pytest.approx(4.0)
    assert trainer.state["step"] == plan["planned_steps"] > 250
    assert clock.now <= 120.0  # ended within the limit, the final validation included
    np.testing.assert_allclose(current_lr(trainer.optimizer), 1e-3 * 0.1, rtol=1e-4)  # the schedule decayed fully
