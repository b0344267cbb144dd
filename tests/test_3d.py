"""3D end to end: ky-kz masks, the built-in 3D data, slab data consistency, checkpointing, training."""

import numpy as np
import pytest

from mrinets import registry
from mrinets.data import masks, masks3d

#: every registered mask that samples the last two axes (kz, ky) of 3D k-space.
MASKS_2D = [name for name in registry.names("mask") if issubclass(registry.get("mask", name), masks._VariableDensity2D)]


def test_2d_masks_are_registered():
    assert {"poisson_disc", "gaussian", "caipi", "variable_density"} <= set(MASKS_2D)


@pytest.mark.parametrize("name", MASKS_2D)
@pytest.mark.parametrize("acceleration", [4, 8])
@pytest.mark.parametrize("shape", [(48, 64), (40, 33)])
def test_2d_mask_acceleration_and_calibration(name, acceleration, shape):
    fn = registry.get("mask", name)(acceleration=acceleration, calibration=(8, 10))
    mask, calibration = fn((4,) + shape, seed=3)
    assert mask.shape == (1,) + shape and mask.dtype == np.float32 and tuple(calibration) == (8, 10)
    measured = np.prod(shape) / mask.sum()
    assert abs(measured - acceleration) <= 0.05 * acceleration, measured
    # The centred block (fastMRI's start (n - c + 1) // 2 on each axis) is fully sampled.
    z0, y0 = (shape[0] - 8 + 1) // 2, (shape[1] - 10 + 1) // 2
    assert mask[0, z0 : z0 + 8, y0 : y0 + 10].all()
    np.testing.assert_array_equal(mask, fn((4,) + shape, seed=3)[0])


def test_caipi_lattice():
    # Without a calibration block, R = 4 with rz = 2 and shift 1 is the 2x2 CAIPIRINHA lattice:
    # every other kz row, every other ky point, rows alternately offset by one.
    mask = masks3d.CaipiMask(acceleration=4, rz=2, shift=1, calibration=0)((8, 8), seed=0)[0]
    rows = np.flatnonzero(mask.any(1))
    np.testing.assert_array_equal(rows, [0, 2, 4, 6])
    firsts = [int(np.flatnonzero(mask[r])[0]) for r in rows]
    assert len(set(firsts)) == 2 and firsts[0] != firsts[1] and firsts[0] == firsts[2]
    for r in rows:
        assert np.all(np.diff(np.flatnonzero(mask[r])) == 2)


def test_3d_mask_argument_errors():
    with pytest.raises(ValueError, match=r"Invalid value for argument `rz`. Expected a kz factor smaller"):
        masks3d.CaipiMask(acceleration=2, rz=2)
    with pytest.raises(ValueError, match=r"argument `shift`"):
        masks3d.CaipiMask(shift=-1)
    with pytest.raises(ValueError, match=r"argument `calibration`. Expected a calibration block of fewer"):
        masks3d.CaipiMask(acceleration=8, calibration=(12, 12))((16, 16))
    with pytest.raises(ValueError, match=r"argument `power`"):
        masks3d.VariableDensityMask(power=-1)
