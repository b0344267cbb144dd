"""tensorflow-mri's radial orderings and readout length (its published angles and rounding)."""

import numpy as np
import pytest

from mrinets.ops import radial_angles, radial_trajectory


@pytest.mark.parametrize(
    "ordering,angle_range,degrees",
    [
        ("tiny", "full", 47.256287),  # 360 / (phi + 6), the 7th tiny golden angle
        ("golden_half", "full", 111.246118),  # the half-range golden step on the full range
        ("golden_half", "half", 111.246118),
        ("tiny_half", "full", 23.628143),
    ],
)
def test_half_and_tiny_orderings(ordering, angle_range, degrees):
    angles = radial_angles(12, ordering, angle_range)
    extent = np.pi if angle_range == "half" else 2 * np.pi
    np.testing.assert_allclose(angles, np.mod(np.arange(12) * np.deg2rad(degrees), extent), atol=1e-4)


def test_sorted_is_sorted_golden():
    angles = radial_angles(9, "sorted", "half")
    np.testing.assert_array_equal(angles, radial_angles(9, "sorted_golden", "half"))
    np.testing.assert_allclose(angles, np.sort(np.mod(np.arange(9) * np.deg2rad(111.246118), np.pi)), atol=1e-6)


@pytest.mark.parametrize("base_resolution,readout_os,samples",
                         [(16, 2.0, 32), (13, 1.5, 20), (13, 0.5, 7), (9, 1.5, 14)])
def test_readout_length_rounds_half_up(base_resolution, readout_os, samples):
    assert radial_trajectory(base_resolution, 3, readout_os=readout_os).shape == (3, samples, 2)
