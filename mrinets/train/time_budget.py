"""``train.time_limit``: fit a run's steps and learning-rate schedule into a wall-clock budget.

A run with a time limit measures its step rate over ``warmup`` steps (after the first step,
which traces the graph), validates once to learn what a validation costs, and then plans:

    steps_left = rate * (time_left - eval_s) / (1 + rate * eval_s / eval_every)

so that the remaining steps, the validations every ``eval_every`` steps and the final one fit
in what is left of the budget (less a safety ``margin``). ``train.steps`` (or ``epochs``) is the
most it may plan. The learning-rate schedule's length becomes the planned steps, so a cosine
decay ends at the planned last step. At every later validation the run plans again from the
step rate since the last plan and that validation's time, and takes the new plan when it
moves the end by more than ``replan_tolerance`` (a machine that speeds up or slows down still
ends on time, with its schedule decayed). The plan is logged, kept in the checkpoint state and
written to ``time_budget.json`` in the run directory; ``--resume`` continues the same plan.
Should the machine slow down between validations, the run stops when the time left would not
cover a final validation, and validates and saves as at the planned end.
"""

import time


class TimeBudget:
    """Step-rate measurement, the plan and the deadline of one run.

    Args:
        minutes: the budget, counted from ``started``.
        max_steps: the most steps the plan may give (``train.steps``).
        eval_every: steps between validations (0: only at the end).
        warmup: steps measured (after the first) before planning.
        margin: fraction of the budget kept free for start-up, saving and variations.
        clock: a function giving seconds (``time.monotonic``; tests inject a fake one).
        started: the clock's value when the run started (default: now).
        elapsed: seconds already spent by an earlier part of a resumed run.
        replan_tolerance: the fraction of the planned steps a new plan must move the end by.
    """

    def __init__(self, minutes, max_steps, eval_every=0, warmup=20, margin=0.05, clock=time.monotonic,
                 started=None, elapsed=0.0, replan_tolerance=0.02):
        self.limit = float(minutes) * 60.0
        self.max_steps = int(max_steps)
        self.eval_every = int(eval_every)
        self.warmup = int(warmup)
        self.margin = float(margin)
        self.clock = clock
        self.started = clock() if started is None else started
        self.elapsed = float(elapsed)
        self.first_step_at = None
        self.first_step = None
        self.rate = None
        self.eval_s = None
        self.plan = None
        self.replan_tolerance = float(replan_tolerance)
        self.mark = None  # (clock, step) after the last plan: where the next rate measurement starts

    def time_left(self):
        """Seconds left of the budget (negative once past it)."""
        return self.limit * (1 - self.margin) - self.elapsed - (self.clock() - self.started)

    def step_done(self, step):
        """Note that step ``step`` finished; True when the warm-up is over and a plan is due."""
        if self.plan is not None:
            if self.mark is None:  # resumed: measure from the first step of this session
                self.mark = (self.clock(), step)
            return False
        if self.first_step_at is None:
            self.first_step_at, self.first_step = self.clock(), step
            return False
        if step - self.first_step < self.warmup:
            return False
        self.rate = (step - self.first_step) / max(self.clock() - self.first_step_at, 1e-9)
        return True

    def fit(self, step, eval_seconds):
        """Plan the run's total steps from the warm-up's step rate and one validation's ``eval_seconds``.

        Returns the plan: ``{"planned_steps", "steps_per_s", "eval_s", "time_limit_min",
        "planned_at_step", "max_steps"}`` (also kept as ``self.plan``).
        """
        return self._plan(step, self.rate, eval_seconds)

    def refit(self, step, trained_until, eval_seconds):
        """Plan again at a validation after step ``step``; the new plan, or None if it keeps the old one.

        The rate is of the steps since the last plan up to ``trained_until`` (the clock when this
        validation began), ``eval_seconds`` is the validation's time. Fewer than ``warmup`` steps
        since the last plan, or an end moved by at most ``replan_tolerance``: the old plan stays.
        """
        if self.plan is None or self.mark is None:
            return None
        if step - self.mark[1] < self.warmup:  # measure on, without this validation's time
            self.mark = (self.mark[0] + float(eval_seconds), self.mark[1])
            return None
        rate = (step - self.mark[1]) / max(trained_until - self.mark[0], 1e-9)
        old, new = self.plan, self._candidate(step, rate, eval_seconds)
        self.mark = (self.clock(), step)
        if abs(new["planned_steps"] - old["planned_steps"]) <= self.replan_tolerance * old["planned_steps"]:
            return None
        self.plan, self.eval_s = new, float(eval_seconds)
        return new

    def _plan(self, step, rate, eval_seconds):
        self.plan, self.eval_s = self._candidate(step, rate, eval_seconds), float(eval_seconds)
        self.mark = (self.clock(), step)
        return self.plan

    def _candidate(self, step, rate, eval_seconds):
        """The plan for ``rate`` steps/s and ``eval_seconds`` per validation from step ``step`` on."""
        eval_s = float(eval_seconds)
        left = self.time_left() - eval_s  # the final validation
        per_step = 1.0 / rate + (eval_s / self.eval_every if self.eval_every else 0.0)
        steps_left = int(max(left, 0.0) / per_step)
        planned = min(self.max_steps, step + max(steps_left, 1))
        return {"planned_steps": planned, "steps_per_s": round(rate, 4), "eval_s": round(eval_s, 2),
                "time_limit_min": self.limit / 60.0, "planned_at_step": step, "max_steps": self.max_steps}

    def restore(self, plan):
        """Continue a recorded plan (``--resume``)."""
        self.plan = dict(plan)
        self.eval_s = plan.get("eval_s")

    def out_of_time(self):
        """True when what is left would not cover a final validation (and one more step)."""
        if self.plan is None:
            return self.time_left() <= 0
        return self.time_left() < (self.eval_s or 0.0) + 1.0 / max(self.plan["steps_per_s"], 1e-9)


def describe(plan):
    """One log line for a plan."""
    return (f"time limit {plan['time_limit_min']:g} min: {plan['steps_per_s']:.2f} steps/s measured, "
            f"{plan['eval_s']:.1f} s per validation -> {plan['planned_steps']} steps "
            f"(at most {plan['max_steps']}); learning-rate schedule fitted to {plan['planned_steps']} steps")
