"""More 2D (ky-kz) masks for 3D Cartesian acquisitions: CAIPI-shifted lattices and polynomial variable density.

They share ``PoissonDiscMask``'s and ``GaussianMask``'s interface (``mrinets.data.masks``):
``mask_fn(shape, offset=None, seed=None)`` samples the last two axes of ``shape`` (kz, ky) and
returns ``(mask, calibration)``, a float32 `(1, ..., 1, kz, ky)` mask whose centred
``calibration`` block is fully sampled and the block's size. ``acceleration`` is the overall
acceleration, the calibration block included.
"""

import numpy as np

from mrinets.data.masks import _is_number, _radius_grid, _VariableDensity2D


class CaipiMask(_VariableDensity2D):
    """2D-CAIPIRINHA-style lattice: every ``rz``-th kz row is sampled; along ky the row's points are
    spaced by a fractional step and shifted by ``shift`` steps / ``rz`` per sampled row, plus a
    calibration block.

    The ky step is `(N - C) / (rz * (N / acceleration - C))` for `N` points and a block of `C`
    (fastMRI's ``EquispacedFractionMask`` rule in 2D), so the calibration block is paid for and
    the overall acceleration stays near ``acceleration``; with ``calibration=0`` and an integer
    ``acceleration / rz`` it is the plain `R_y x R_z` CAIPIRINHA lattice.

    Args:
        acceleration: overall acceleration (> ``rz``).
        rz: lattice factor along kz (the second-to-last axis).
        shift: CAIPI shift, in ky steps, between consecutive sampled kz rows (0: no shift).
        calibration: one or two sizes `(kz, ky)` of the centred fully sampled block.
        seed: seed of the object's own ``RandomState`` (draws the lattice's ky offset).
    """

    def __init__(self, acceleration=4, rz=2, shift=1, calibration=(12, 12), seed=None):
        super().__init__(acceleration, calibration, seed)
        if isinstance(rz, bool) or not isinstance(rz, int) or rz < 1:
            raise ValueError(f"Invalid value for argument `rz`. Expected a strictly positive integer. Received: rz={rz!r}")
        if rz >= self.acceleration:
            raise ValueError(
                f"Invalid value for argument `rz`. Expected a kz factor smaller than the acceleration "
                f"{self.acceleration:g}. Received: rz={rz!r}"
            )
        if isinstance(shift, bool) or not isinstance(shift, int) or shift < 0:
            raise ValueError(f"Invalid value for argument `shift`. Expected a non-negative integer. Received: shift={shift!r}")
        self.rz, self.shift = rz, shift

    def sample_2d(self, shape2d, center):
        nz, ny = shape2d
        total, block = nz * ny, int(center.sum())
        target = total / self.acceleration
        if target <= block:
            raise ValueError(
                f"Invalid value for argument `calibration`. Expected a calibration block of fewer than "
                f"{target:.0f} points (the sampled total at acceleration {self.acceleration:g}). "
                f"Received: calibration={list(self.calibration)} ({block} points)"
            )
        step = (total - block) / (self.rz * (target - block))
        offset = self.rng.uniform(0, step)
        mask = center.copy()
        for row, kz in enumerate(range((nz % self.rz) // 2, nz, self.rz)):
            start = (offset + row * self.shift * step / self.rz) % step
            ky = np.around(np.arange(start, ny - 0.5, step)).astype(np.int64)
            mask[kz, ky[ky < ny]] = 1
        return mask

    def get_config(self):
        return {**super().get_config(), "rz": self.rz, "shift": self.shift}


class VariableDensityMask(_VariableDensity2D):
    """Polynomial variable-density random mask (Lustig et al.'s SparseMRI density): a calibration
    block plus points drawn without replacement with probability ∝ `(1 - r / r_max)^power`
    (``r`` the normalized distance from the centre), `kz * ky / acceleration` points in total."""

    def __init__(self, acceleration=4, calibration=(12, 12), power=3.0, seed=None):
        super().__init__(acceleration, calibration, seed)
        if not _is_number(power) or power < 0:
            raise ValueError(f"Invalid value for argument `power`. Expected a non-negative number. Received: power={power!r}")
        self.power = float(power)

    def sample_2d(self, shape2d, center):
        r = _radius_grid(shape2d)
        weights = (1 - r / (r.max() + 1e-6)) ** self.power + 1e-6
        return self._fill_to_target(center.copy(), weights, max(self._target(shape2d), int(center.sum())))

    def get_config(self):
        return {**super().get_config(), "power": self.power}


MASKS_3D = {"caipi": CaipiMask, "variable_density": VariableDensityMask}
