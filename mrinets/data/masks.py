"""k-space sampling masks: fastMRI's Cartesian line masks and 2D variable-density masks.

Line masks follow fastMRI's ``fastmri/data/subsample.py`` semantics, with one
difference of convention: our k-space has no trailing real/imaginary axis, so the
sampled (phase-encoding) axis is the **last** axis (fastMRI's ``shape[-2]``).
With the same seed, the same ``RandomState`` draws are made in the same order, so
masks equal fastMRI's.

Every mask object is called as ``mask_fn(shape, offset=None, seed=None)`` and
returns ``(mask, num_low_frequencies)``: a float32 array broadcastable to ``shape``
and the size of the fully sampled centre. ``tf_sample_mask`` wraps a call for use
inside a ``tf.data`` pipeline, seeded per example.
"""

import contextlib
import numbers
import threading
from collections.abc import Sequence

import numpy as np
import tensorflow as tf


def _as_tuple(value, name, check, expected):
    values = tuple(value) if isinstance(value, (list, tuple)) else (value,)
    if not values or not all(check(v) for v in values):
        raise ValueError(f"Invalid value for argument `{name}`. Expected {expected}. Received: {name}={value!r}")
    return values


def _is_number(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


_SEED_LOCK = threading.RLock()  # see _temp_seed


@contextlib.contextmanager
def _temp_seed(rng, seed):
    """Reseed ``rng`` for the block and restore its state after (fastMRI's ``temp_seed``).

    Held under one lock: tf.data loads examples in parallel threads that share a mask object, and
    two reseedings of its ``rng`` at once would give masks that depend on thread timing.
    """
    if seed is None:
        yield
        return
    with _SEED_LOCK:
        state = rng.get_state()
        rng.seed(_seed_value(seed))
        try:
            yield
        finally:
            rng.set_state(state)


def _seed_value(seed):
    if isinstance(seed, np.ndarray):
        seed = seed.tolist()
    if isinstance(seed, (list, tuple)):
        return [int(s) % 2**32 for s in seed]
    return int(seed) % 2**32


def _check_shape(shape, min_ndim, name="shape"):
    shape = tuple(int(s) for s in shape)
    if len(shape) < min_ndim or any(s < 1 for s in shape):
        raise ValueError(
            f"Invalid value for argument `{name}`. Expected at least {min_ndim} positive dimensions "
            f"(k-space shape, sampled axis last). Received: {name}={shape}"
        )
    return shape


class MaskFunc:
    """Base class of fastMRI-style line masks (phase-encoding lines along the last axis).

    Args:
        center_fractions: fraction(s) of central lines always sampled, e.g. `0.08` or `[0.08, 0.04]`.
        accelerations: acceleration(s), e.g. `4` or `[4, 8]`; one pair is drawn per call.
        allow_any_combination: draw fraction and acceleration independently.
        seed: seed of the object's own ``RandomState``.
    """

    def __init__(
        self,
        center_fractions: float | Sequence[float] = 0.08,
        accelerations: float | Sequence[float] = 4,
        allow_any_combination: bool = False,
        seed: int | None = None,
    ):
        self.center_fractions = _as_tuple(
            center_fractions, "center_fractions", lambda v: _is_number(v) and 0 <= v < 1, "floats in [0, 1)"
        )
        self.accelerations = _as_tuple(
            accelerations, "accelerations", lambda v: _is_number(v) and v >= 1, "numbers >= 1"
        )
        if len(self.center_fractions) != len(self.accelerations) and not allow_any_combination:
            raise ValueError(
                "Invalid value for argument `accelerations`. Expected as many accelerations as center fractions "
                f"(or allow_any_combination=True). Received: accelerations={accelerations!r}, "
                f"center_fractions={center_fractions!r}"
            )
        self.allow_any_combination = bool(allow_any_combination)
        self.rng = np.random.RandomState(seed)

    def __call__(self, shape, offset=None, seed=None):
        """Sample a mask for k-space of ``shape``; returns `(mask, num_low_frequencies)`.

        ``mask`` is float32 with shape `(1, ..., 1, shape[-1])`.
        """
        shape = _check_shape(shape, 1)
        with _temp_seed(self.rng, seed):
            center, accel, num_low = self.sample_mask(shape, offset)
        return np.maximum(center, accel), num_low

    def sample_mask(self, shape, offset):
        """Return the centre mask, the acceleration mask and the number of centre lines."""
        num_cols = shape[-1]
        center_fraction, acceleration = self.choose_acceleration()
        num_low = int(round(num_cols * center_fraction))
        center = self._reshape(self.center_mask(num_cols, num_low), shape)
        accel = self._reshape(self.acceleration_mask(num_cols, acceleration, offset, num_low), shape)
        return center, accel, num_low

    @staticmethod
    def center_mask(num_cols, num_low):
        """fastMRI's centre: lines `[pad, pad + num_low)` with `pad = (num_cols - num_low + 1) // 2`."""
        mask = np.zeros(num_cols, np.float32)
        pad = (num_cols - num_low + 1) // 2
        mask[pad : pad + num_low] = 1
        return mask

    def acceleration_mask(self, num_cols, acceleration, offset, num_low):
        raise NotImplementedError(f"{type(self).__name__} must implement `acceleration_mask`.")

    def choose_acceleration(self):
        if self.allow_any_combination:
            return self.rng.choice(self.center_fractions), self.rng.choice(self.accelerations)
        choice = self.rng.randint(len(self.center_fractions))
        return self.center_fractions[choice], self.accelerations[choice]

    @staticmethod
    def _reshape(mask, shape):
        return np.asarray(mask, np.float32).reshape([1] * (len(shape) - 1) + [shape[-1]])

    def get_config(self):
        return {
            "center_fractions": list(self.center_fractions),
            "accelerations": list(self.accelerations),
            "allow_any_combination": self.allow_any_combination,
        }


class RandomMask(MaskFunc):
    """fastMRI's ``RandomMaskFunc``: centre lines plus lines drawn with probability
    `(N / acceleration - num_low) / (N - num_low)`, so that `N / acceleration` lines are
    expected in total."""

    def acceleration_mask(self, num_cols, acceleration, offset, num_low):
        prob = (num_cols / acceleration - num_low) / (num_cols - num_low) if num_cols > num_low else 0.0
        return self.rng.uniform(size=num_cols) < prob


class EquispacedMask(MaskFunc):
    """fastMRI's ``EquiSpacedMaskFunc``: centre lines plus every ``acceleration``-th line from
    ``offset`` (random in `[0, acceleration)` when not given). The true acceleration is lower
    than ``acceleration`` because of the centre."""

    def acceleration_mask(self, num_cols, acceleration, offset, num_low):
        if offset is None:
            offset = self.rng.randint(0, high=round(acceleration))
        mask = np.zeros(num_cols, np.float32)
        mask[int(offset) :: int(acceleration)] = 1
        return mask


class EquispacedFractionMask(MaskFunc):
    """fastMRI's ``EquispacedMaskFractionFunc`` (the mask of the public multi-coil data):
    outer lines spaced by the adjusted acceleration
    `acceleration * (num_low - N) / (num_low * acceleration - N)` (rounded positions), so the
    overall acceleration is about ``acceleration``."""

    def acceleration_mask(self, num_cols, acceleration, offset, num_low):
        adjusted = (acceleration * (num_low - num_cols)) / (num_low * acceleration - num_cols)
        if offset is None:
            offset = self.rng.randint(0, high=round(adjusted))
        mask = np.zeros(num_cols, np.float32)
        positions = np.around(np.arange(offset, num_cols - 1, adjusted)).astype(np.int64)
        mask[positions] = 1
        return mask


def _centered_block(shape2d, calibration):
    mask = np.zeros(shape2d, np.float32)
    slices = []
    for n, c in zip(shape2d, calibration):
        c = min(int(c), n)
        pad = (n - c + 1) // 2
        slices.append(slice(pad, pad + c))
    mask[tuple(slices)] = 1
    return mask


def _radius_grid(shape2d):
    """Normalized distance from the k-space centre, 0 at the centre, ~1 at the edges."""
    ky = (np.arange(shape2d[0]) - shape2d[0] // 2) / max(shape2d[0] / 2, 1)
    kz = (np.arange(shape2d[1]) - shape2d[1] // 2) / max(shape2d[1] / 2, 1)
    return np.sqrt(ky[:, None] ** 2 + kz[None, :] ** 2)


class _VariableDensity2D:
    """Base of 2D (ky-kz) masks for 3D Cartesian acquisitions; the last two axes are sampled."""

    def __init__(self, acceleration=4, calibration=(12, 12), seed=None):
        if not _is_number(acceleration) or acceleration < 1:
            raise ValueError(
                f"Invalid value for argument `acceleration`. Expected a number >= 1. Received: acceleration={acceleration!r}"
            )
        calibration = _as_tuple(calibration, "calibration", lambda v: isinstance(v, int) and v >= 0, "non-negative ints")
        if len(calibration) == 1:
            calibration = calibration * 2
        if len(calibration) != 2:
            raise ValueError(
                f"Invalid value for argument `calibration`. Expected one or two sizes. Received: calibration={calibration!r}"
            )
        self.acceleration = float(acceleration)
        self.calibration = calibration
        self.rng = np.random.RandomState(seed)

    def __call__(self, shape, offset=None, seed=None):
        """Sample a mask for k-space of ``shape`` (sampled axes last two).

        Returns `(mask, calibration)`: float32 mask of shape `(1, ..., 1, H, W)` and the
        calibration block size.
        """
        shape = _check_shape(shape, 2)
        shape2d = shape[-2:]
        with _temp_seed(self.rng, seed):
            mask = self.sample_2d(shape2d, _centered_block(shape2d, self.calibration))
        return mask.reshape([1] * (len(shape) - 2) + list(shape2d)).astype(np.float32), self.calibration

    def _target(self, shape2d):
        return int(round(shape2d[0] * shape2d[1] / self.acceleration))

    def _fill_to_target(self, mask, weights, target):
        """Add (weighted random) or remove (uniformly, outside the centre) points to hit ``target``."""
        count = int(mask.sum())
        if count < target:
            free = np.flatnonzero(mask.ravel() == 0)
            p = weights.ravel()[free]
            p = p / p.sum()
            pick = self.rng.choice(free, size=min(target - count, free.size), replace=False, p=p)
            mask.ravel()[pick] = 1
        return mask

    def get_config(self):
        return {"acceleration": self.acceleration, "calibration": list(self.calibration)}


class GaussianMask(_VariableDensity2D):
    """2D Gaussian variable-density random mask: a fully sampled calibration block plus points
    drawn without replacement with probability ∝ `exp(-r^2 / (2 * std^2))` (``r`` normalized to
    ~1 at the edges), `H * W / acceleration` points in total."""

    def __init__(self, acceleration=4, calibration=(12, 12), std=0.4, seed=None):
        super().__init__(acceleration, calibration, seed)
        if not _is_number(std) or std <= 0:
            raise ValueError(f"Invalid value for argument `std`. Expected a positive number. Received: std={std!r}")
        self.std = float(std)

    def sample_2d(self, shape2d, center):
        weights = np.exp(-(_radius_grid(shape2d) ** 2) / (2 * self.std**2)) + 1e-12
        return self._fill_to_target(center.copy(), weights, max(self._target(shape2d), int(center.sum())))

    def get_config(self):
        return {**super().get_config(), "std": self.std}


class PoissonDiscMask(_VariableDensity2D):
    """2D variable-density Poisson-disc mask: points at least `r(k) = s * (1 + density * |k|)`
    pixels apart (``|k|`` normalized to ~1 at the edges), plus a calibration block. The scale
    ``s`` is fitted so that about `H * W / acceleration` points are sampled; the count is then
    made exact by adding density-weighted points."""

    def __init__(self, acceleration=4, calibration=(12, 12), density=2.0, seed=None):
        super().__init__(acceleration, calibration, seed)
        if not _is_number(density) or density < 0:
            raise ValueError(
                f"Invalid value for argument `density`. Expected a non-negative number. Received: density={density!r}"
            )
        self.density = float(density)

    def _throw(self, shape2d, radius, order):
        h, w = shape2d
        taken = np.zeros((h, w), bool)
        reach = int(np.ceil(radius.max()))
        offsets = np.arange(-reach, reach + 1)
        dist = np.sqrt(offsets[:, None] ** 2 + offsets[None, :] ** 2)
        for index in order:
            y, x = divmod(int(index), w)
            r = radius[y, x]
            k = int(np.ceil(r))
            y0, y1, x0, x1 = max(y - k, 0), min(y + k + 1, h), max(x - k, 0), min(x + k + 1, w)
            window = taken[y0:y1, x0:x1]
            near = dist[reach + y0 - y : reach + y1 - y, reach + x0 - x : reach + x1 - x] < r
            if not np.any(window & near):
                taken[y, x] = True
        return taken

    def sample_2d(self, shape2d, center):
        target = max(self._target(shape2d), int(center.sum()))
        profile = 1 + self.density * _radius_grid(shape2d)
        order = self.rng.permutation(shape2d[0] * shape2d[1])
        # Bisection on the radius scale; prefer the densest pattern that is not below the
        # target (dropping points keeps the spacing, adding random ones would not).
        lo, hi = 0.0, 2.0 * np.sqrt(self.acceleration) + 1.0
        best = None
        for _ in range(8):
            scale = 0.5 * (lo + hi)
            taken = np.maximum(self._throw(shape2d, np.maximum(scale * profile, 0.5), order), center)
            count = int(taken.sum())
            if count >= target:
                lo = scale
                if best is None or best.sum() < target or count < best.sum():
                    best = taken.astype(np.float32)
            else:
                hi = scale
                if best is None or (best.sum() < target and count > best.sum()):
                    best = taken.astype(np.float32)
            if count == target:
                break
        if best.sum() > target:
            extra = np.flatnonzero((best.ravel() == 1) & (center.ravel() == 0))
            drop = self.rng.choice(extra, size=min(int(best.sum()) - target, extra.size), replace=False)
            best.ravel()[drop] = 0
        return self._fill_to_target(best, 1 / profile**2, target)

    def get_config(self):
        return {**super().get_config(), "density": self.density}


MASKS = {
    "random": RandomMask,
    "equispaced": EquispacedMask,
    "equispaced_fraction": EquispacedFractionMask,
    "poisson_disc": PoissonDiscMask,
    "gaussian": GaussianMask,
}


def get_mask_function(name, **kwargs):
    """Build a registered mask by name (kind ``mask``), e.g. ``get_mask_function("random", accelerations=4)``."""
    from mrinets import registry

    return registry.get("mask", name)(**kwargs)


def tf_sample_mask(mask_fn, shape, seed):
    """Call ``mask_fn(shape, seed=seed)`` from TensorFlow (e.g. inside ``tf.data.Dataset.map``).

    Args:
        mask_fn: a mask object (see module docstring).
        shape: static k-space shape (tuple of ints), sampled axis/axes last.
        seed: int64 scalar tensor (or int), a different one per example for random masks.

    Returns:
        `(mask, num_low_frequencies)`: float32 tensor broadcastable to ``shape`` (static shape
        set) and an int32 scalar (first entry of a 2D calibration size).
    """
    shape = _check_shape(shape, 1)
    probe, _ = mask_fn(shape, seed=0)

    def sample(seed_value):
        mask, num_low = mask_fn(shape, seed=int(seed_value))
        num_low = num_low[0] if isinstance(num_low, (tuple, list)) else num_low
        return mask.astype(np.float32), np.int32(num_low)

    mask, num_low = tf.numpy_function(sample, [tf.cast(seed, tf.int64)], [tf.float32, tf.int32], stateful=False)
    mask.set_shape(probe.shape)
    num_low.set_shape([])
    return mask, num_low
