"""Non-Cartesian k-space trajectories in radians (``[-pi, pi)`` is the extent of a ``base_resolution`` grid).

Every function returns a float32 NumPy array whose last axis is the coordinate (its index ``d``
pairs with grid axis ``d`` of ``mrinets.ops.nufft``); reshape to `(M, rank)` for the transform.
"""

import numpy as np

from mrinets.arguments import check_positive_int, check_positive_number, invalid_argument

_GOLDEN_RATIO = (1 + np.sqrt(5)) / 2
RADIAL_ORDERINGS = ("linear", "golden", "tiny", "golden_half", "tiny_half", "sorted", "sorted_golden", "sorted_tiny")
_ANGLE_RANGES = {"full": 2 * np.pi, "half": np.pi}


def _readout(base_resolution, readout_os):
    """`(samples,)` radii of a spoke through the centre: ``(i - samples / 2) * 2 pi / samples``."""
    # Half-way cases round up, as tensorflow-mri's ``int(base_resolution * readout_os + 0.5)``.
    samples = int(np.floor(check_positive_int(base_resolution, "base_resolution")
                           * check_positive_number(readout_os, "readout_os") + 0.5))
    return (np.arange(samples) - samples // 2) * (2 * np.pi / samples)


def radial_angles(views, ordering="linear", angle_range="full", tiny_number=7):
    """`(views,)` spoke angles in radians.

    Orderings (tensorflow-mri's names): "linear" (``v * range / views``), "golden" (increments of
    ``range / phi``: 111.25 degrees for the half range, 222.49 for the full), "tiny" (tiny golden
    angles ``range / (phi + tiny_number - 1)``, Wundrak et al. 2016: 23.63 / 47.26 degrees for the
    7th), "golden_half" / "tiny_half" (the half-range increments, 111.25 / 23.63 degrees, on either
    range), and "sorted" (= "sorted_golden") / "sorted_tiny" (the same angles in ascending order).
    Angles wrap modulo the range.
    """
    views = check_positive_int(views, "views")
    if ordering not in RADIAL_ORDERINGS:
        raise invalid_argument("ordering", f"one of {', '.join(map(repr, RADIAL_ORDERINGS))}", ordering)
    if angle_range not in _ANGLE_RANGES:
        raise invalid_argument("angle_range", "'full' or 'half'", angle_range)
    tiny_number = check_positive_int(tiny_number, "tiny_number")
    extent = _ANGLE_RANGES[angle_range]
    index = np.arange(views)
    if ordering == "linear":
        return index * extent / views
    base = np.pi if ordering.endswith("_half") else extent
    step = base / (_GOLDEN_RATIO + tiny_number - 1 if "tiny" in ordering else _GOLDEN_RATIO)
    angles = np.mod(index * step, extent)
    return np.sort(angles) if ordering.startswith("sorted") else angles


def radial_trajectory(base_resolution, views, ordering="linear", angle_range="full", readout_os=2.0, tiny_number=7):
    """2D radial trajectory (spokes through the centre), as tensorflow-mri's ``radial_trajectory``.

    Args:
        base_resolution: image size the trajectory covers (the readout spans ``[-pi, pi)``).
        views: number of spokes.
        ordering: see ``radial_angles``.
        angle_range: "full" (``[0, 2 pi)``) or "half" (``[0, pi)``).
        readout_os: readout oversampling; ``samples = base_resolution * readout_os``.
        tiny_number: N of the tiny golden angle.

    Returns:
        float32 `(views, samples, 2)`.
    """
    radii = _readout(base_resolution, readout_os)
    angles = radial_angles(views, ordering, angle_range, tiny_number)
    direction = np.stack([np.cos(angles), np.sin(angles)], -1)
    return (direction[:, None, :] * radii[None, :, None]).astype(np.float32)


def spiral_trajectory(base_resolution, views, density_exponent=2.0, acceleration=1.0, samples=None):
    """Variable-density spiral interleaves ``k(t) = pi t^a exp(i (2 pi turns t + 2 pi v / views))``.

    ``a = density_exponent`` (1: Archimedean, uniform density; > 1 denser centre). ``turns`` is
    chosen so the ring spacing at the edge is ``acceleration`` times the Nyquist distance
    ``2 pi / base_resolution``; the centre is oversampled for ``a > 1``.

    Returns:
        float32 `(views, samples, 2)`; by default ``samples`` spaces the readout at about half the
        Nyquist distance.
    """
    base_resolution = check_positive_int(base_resolution, "base_resolution")
    views = check_positive_int(views, "views")
    exponent = check_positive_number(density_exponent, "density_exponent")
    acceleration = check_positive_number(acceleration, "acceleration")
    turns = exponent * base_resolution / (2 * views * acceleration)
    if samples is None:
        length = 2 * np.pi**2 * turns / (exponent + 1) + np.pi  # arc length plus the radial run
        samples = int(np.ceil(2 * length / (2 * np.pi / base_resolution)))
    samples = check_positive_int(samples, "samples")
    t = np.arange(samples) / samples
    phase = 2 * np.pi * (turns * t[None, :] + np.arange(views)[:, None] / views)
    radius = np.pi * t**exponent
    return np.stack([radius * np.cos(phase), radius * np.sin(phase)], -1).astype(np.float32)


def stack_of_stars_trajectory(base_resolution, views, partitions, ordering="linear", angle_range="full",
                              readout_os=2.0, tiny_number=7):
    """3D stack of stars: the same radial spokes on ``partitions`` Cartesian kz planes.

    Returns:
        float32 `(partitions, views, samples, 3)`; coordinate 2 is kz ``(p - partitions // 2) 2 pi / partitions``.
    """
    partitions = check_positive_int(partitions, "partitions")
    spokes = radial_trajectory(base_resolution, views, ordering, angle_range, readout_os, tiny_number)
    kz = (np.arange(partitions) - partitions // 2) * (2 * np.pi / partitions)
    spokes = np.broadcast_to(spokes, (partitions,) + spokes.shape)
    kz = np.broadcast_to(kz[:, None, None, None], spokes.shape[:-1] + (1,))
    return np.concatenate([spokes, kz], -1).astype(np.float32)


def kooshball_trajectory(base_resolution, views, readout_os=2.0):
    """3D radial "kooshball" with the 2D golden means (Chan et al., MRM 2009).

    Spoke ``v`` points along ``(sqrt(1 - z^2) cos a, sqrt(1 - z^2) sin a, z)`` with
    ``z = frac(v * 0.4656)`` and ``a = 2 pi frac(v * 0.6823)``; spokes go through the centre, so
    the half sphere of directions covers k-space.

    Returns:
        float32 `(views, samples, 3)`.
    """
    radii = _readout(base_resolution, readout_os)
    views = check_positive_int(views, "views")
    # The golden means of the 3D Fibonacci lattice: the real eigenvector of [[0, 1, 0], [0, 0, 1], [1, 0, 1]].
    values, vectors = np.linalg.eig(np.array([[0, 1, 0], [0, 0, 1], [1, 0, 1]], dtype=float))
    vector = np.real(vectors[:, np.argmax(np.real(values))])
    first, second = vector[0] / vector[2], vector[1] / vector[2]  # 0.4656, 0.6823
    index = np.arange(views)
    z = np.mod(index * first, 1.0)
    azimuth = 2 * np.pi * np.mod(index * second, 1.0)
    planar = np.sqrt(1 - z**2)
    direction = np.stack([planar * np.cos(azimuth), planar * np.sin(azimuth), z], -1)
    return (direction[:, None, :] * radii[None, :, None]).astype(np.float32)
