import numpy as np
import pytest
import tensorflow as tf

from mrinets import registry
from mrinets.data import masks


def _reference_random(num_cols, center_fraction, acceleration, seed):
    """Independent NumPy statement of fastMRI's RandomMaskFunc for one (fraction, acceleration)."""
    rng = np.random.RandomState(seed)
    rng.randint(1)  # fastMRI draws the (fraction, acceleration) choice first
    num_low = round(num_cols * center_fraction)
    prob = (num_cols / acceleration - num_low) / (num_cols - num_low)
    mask = rng.uniform(size=num_cols) < prob
    pad = (num_cols - num_low + 1) // 2
    mask[pad : pad + num_low] = True
    return mask.astype(np.float32), num_low


@pytest.mark.parametrize("fraction,acceleration", [(0.08, 4), (0.04, 8)])
def test_random_mask_matches_fastmri_semantics(fraction, acceleration):
    fn = masks.RandomMask(fraction, acceleration)
    mask, num_low = fn((4, 32, 368), seed=123)
    assert mask.shape == (1, 1, 368) and mask.dtype == np.float32
    expected, expected_low = _reference_random(368, fraction, acceleration, 123)
    assert num_low == expected_low == round(368 * fraction)
    np.testing.assert_array_equal(mask.ravel(), expected)
    # Centre lines are all sampled.
    pad = (368 - num_low + 1) // 2
    assert mask.ravel()[pad : pad + num_low].all()
    # Acceleration holds on average.
    rates = [368 / fn((368,), seed=s)[0].sum() for s in range(200)]
    assert abs(np.mean(rates) - acceleration) < 0.1 * acceleration


def test_seeding_is_reproducible_and_restores_state():
    fn = masks.RandomMask([0.08, 0.04], [4, 8], seed=5)
    a, _ = fn((64,), seed=(1, 2))
    b, _ = fn((64,), seed=(1, 2))
    np.testing.assert_array_equal(a, b)
    state = fn.rng.get_state()[1].copy()
    fn((64,), seed=9)
    np.testing.assert_array_equal(fn.rng.get_state()[1], state)
    different = [fn((64,), seed=s)[0] for s in range(5)]
    assert any(not np.array_equal(different[0], d) for d in different[1:])
    # Unseeded calls advance the object's own RandomState deterministically.
    x = masks.RandomMask(0.08, 4, seed=3)
    y = masks.RandomMask(0.08, 4, seed=3)
    np.testing.assert_array_equal(x((64,))[0], y((64,))[0])


def test_equispaced_mask():
    fn = masks.EquispacedMask(0.08, 4)
    mask, num_low = fn((1, 100), offset=1)
    assert num_low == 8
    line = mask.ravel()
    center = masks.MaskFunc.center_mask(100, 8)
    expected = np.maximum(center, (np.arange(100) % 4 == 1).astype(np.float32))
    np.testing.assert_array_equal(line, expected)
    offsets = {int(np.flatnonzero(fn((100,), seed=s)[0].ravel()[:4])[0]) for s in range(30)}
    assert offsets == {0, 1, 2, 3}


def test_equispaced_fraction_mask_hits_acceleration():
    fn = masks.EquispacedFractionMask(0.08, 4)
    num_cols = 368
    mask, num_low = fn((num_cols,), offset=0)
    adjusted = 4 * (num_low - num_cols) / (num_low * 4 - num_cols)
    positions = np.around(np.arange(0, num_cols - 1, adjusted)).astype(int)
    expected = masks.MaskFunc.center_mask(num_cols, num_low)
    expected[positions] = 1
    np.testing.assert_array_equal(mask.ravel(), expected)
    assert abs(num_cols / mask.sum() - 4) < 0.25


def test_mask_argument_errors():
    with pytest.raises(ValueError, match=r"Invalid value for argument `accelerations`. Expected numbers >= 1. Received: accelerations=0"):
        masks.RandomMask(0.08, 0)
    with pytest.raises(ValueError, match=r"argument `center_fractions`"):
        masks.RandomMask(1.5, 4)
    with pytest.raises(ValueError, match=r"argument `accelerations`. Expected as many"):
        masks.RandomMask([0.08], [4, 8])
    with pytest.raises(ValueError, match=r"argument `acceleration`"):
        masks.PoissonDiscMask(acceleration=0)
    with pytest.raises(ValueError, match=r"argument `shape`"):
        masks.GaussianMask()((16,))


@pytest.mark.parametrize("cls", [masks.PoissonDiscMask, masks.GaussianMask])
def test_2d_masks(cls):
    fn = cls(acceleration=4, calibration=(6, 6))
    mask, calib = fn((2, 40, 32), seed=7)
    assert mask.shape == (1, 40, 32) and calib == (6, 6)
    m = mask[0]
    assert m.sum() == round(40 * 32 / 4)
    assert m[17:23, 13:19].all()  # fastMRI-style centred block: pad = (n - c + 1) // 2
    again, _ = fn((2, 40, 32), seed=7)
    np.testing.assert_array_equal(mask, again)
    # Variable density: the centre quarter is sampled more densely than the periphery.
    r = masks._radius_grid((40, 32))
    assert m[(r < 0.5) & (m >= 0)].mean() > 1.5 * m[r > 0.7].mean()


def test_poisson_disc_spacing():
    fn = masks.PoissonDiscMask(acceleration=6, calibration=0, density=0.0)
    m = fn((48, 48), seed=1)[0]
    ys, xs = np.nonzero(m)
    pts = np.stack([ys, xs], 1).astype(float)
    d = np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    # A uniform Poisson-disc pattern has no clumps: most points' nearest neighbours are > 1 px away.
    assert np.mean(d.min(1) > 1.5) > 0.8


def test_registered_and_tf_wrapper():
    assert {"random", "equispaced", "equispaced_fraction", "poisson_disc", "gaussian"} <= set(registry.names("mask"))
    fn = masks.get_mask_function("random", center_fractions=0.08, accelerations=4)

    @tf.function
    def sample(seed):
        return masks.tf_sample_mask(fn, (3, 8, 50), seed)

    m1, n1 = sample(tf.constant(11, tf.int64))
    m2, _ = sample(tf.constant(11, tf.int64))
    assert m1.shape == (1, 1, 50) and int(n1) == 4
    np.testing.assert_array_equal(m1.numpy(), m2.numpy())
    np.testing.assert_array_equal(m1.numpy(), fn((3, 8, 50), seed=11)[0])
    ds = tf.data.Dataset.range(4).map(lambda s: masks.tf_sample_mask(fn, (50,), s)[0])
    out = np.stack(list(ds.as_numpy_iterator()))
    assert out.shape == (4, 50) and len({o.tobytes() for o in out}) > 1


def test_seeded_masks_do_not_depend_on_other_threads_sharing_the_mask_object():
    # tf.data loads examples in parallel threads that share one mask object (and its rng).
    from concurrent.futures import ThreadPoolExecutor

    from mrinets.data import PoissonDiscMask

    mask = PoissonDiscMask(4, calibration=(8, 8), seed=0)
    seeds = list(range(64))
    sequential = [mask((3, 32, 32), seed=s)[0] for s in seeds]
    with ThreadPoolExecutor(8) as pool:
        concurrent = list(pool.map(lambda s: mask((3, 32, 32), seed=s)[0], seeds))
    for seed, (one, other) in enumerate(zip(sequential, concurrent)):
        np.testing.assert_array_equal(one, other, err_msg=f"seed {seed}")
