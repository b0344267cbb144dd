import numpy as np
import pytest
import tensorflow as tf

from mrinets import ops

RNG = np.random.default_rng(0)


def crandn(*shape, dtype=np.complex64):
    return (RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)).astype(dtype)


def inner(a, b):
    return np.vdot(np.asarray(a).ravel(), np.asarray(b).ravel())


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_fftn_matches_numpy(rank, dtype):
    x = crandn(2, 3, *([6, 5, 4][:rank]), dtype=dtype)
    axes = tuple(range(-rank, 0))
    expected = np.fft.fftshift(np.fft.fftn(np.fft.ifftshift(x, axes=axes), axes=axes, norm="ortho"), axes=axes)
    got = ops.fftn(x, rank=rank)
    assert got.dtype == tf.as_dtype(dtype)
    tol = 1e-5 if dtype == np.complex64 else 1e-12
    np.testing.assert_allclose(got.numpy(), expected, atol=tol)
    np.testing.assert_allclose(ops.fftn_np(x, rank=rank), expected, atol=tol)
    expected_inv = np.fft.fftshift(np.fft.ifftn(np.fft.ifftshift(x, axes=axes), axes=axes, norm="ortho"), axes=axes)
    np.testing.assert_allclose(ops.ifftn(x, rank=rank).numpy(), expected_inv, atol=tol)
    np.testing.assert_allclose(ops.ifftn(got, rank=rank).numpy(), x, atol=tol)


def test_fftn_explicit_axes_and_jit():
    x = crandn(2, 4, 6, 3)
    expected = np.fft.fftshift(np.fft.fftn(np.fft.ifftshift(x, axes=(1, 2)), axes=(1, 2), norm="ortho"), axes=(1, 2))
    np.testing.assert_allclose(ops.fftn(x, axes=(1, 2)).numpy(), expected, atol=1e-5)
    jitted = tf.function(lambda t: ops.ifftn(ops.fftn(t, rank=2), rank=2), jit_compile=True)
    np.testing.assert_allclose(jitted(tf.constant(x)).numpy(), x, atol=1e-5)


def test_fft_argument_errors():
    with pytest.raises(ValueError, match=r"Invalid value for argument `rank`. Expected 1, 2 or 3. Received: rank=4"):
        ops.fftn(crandn(2, 2, 2, 2, 2), rank=4)
    with pytest.raises(TypeError, match=r"argument `x`.*Received: dtype=float32"):
        ops.fftn(np.zeros((2, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"argument `axes`"):
        ops.fftn(crandn(2, 4), axes=(5,))


@pytest.mark.parametrize("rank", [2, 3])
def test_sense_adjointness(rank):
    spatial = [6, 8, 4][:rank] if rank == 3 else [8, 6]
    x = crandn(2, *spatial)
    maps = crandn(2, 3, *spatial)
    y = crandn(2, 3, *spatial)
    mask = (RNG.random((2, 1, *spatial)) > 0.5).astype(np.float32)
    ax = ops.sense_forward(x, maps, mask, rank=rank)
    ahy = ops.sense_adjoint(y, maps, mask, rank=rank)
    np.testing.assert_allclose(inner(ax, y), inner(x, ahy), rtol=1e-4)
    normal = ops.sense_normal(x, maps, mask, rank=rank, regularization=0.5)
    np.testing.assert_allclose(normal, ops.sense_adjoint(ax, maps, mask, rank=rank) + 0.5 * x, atol=1e-4)


def test_sense_forward_matches_numpy():
    x = crandn(1, 8, 8)
    maps = crandn(1, 2, 8, 8)
    mask = np.zeros((1, 1, 1, 8), np.float32)
    mask[..., ::2] = 1
    expected = ops.fftn_np(maps * x[:, None], rank=2) * mask
    np.testing.assert_allclose(ops.sense_forward(x, maps, mask).numpy(), expected, atol=1e-5)


def test_rss():
    x = crandn(2, 4, 5, 5)
    np.testing.assert_allclose(ops.rss(x).numpy(), np.sqrt((np.abs(x) ** 2).sum(1)), rtol=1e-5)


def _smooth_maps(coils, h, w):
    yy, xx = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    maps = []
    for c in range(coils):
        angle = 2 * np.pi * c / coils
        cx, cy = 1.5 * np.cos(angle), 1.5 * np.sin(angle)
        maps.append(np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 2) * np.exp(1j * (angle + 0.3 * xx)))
    maps = np.stack(maps)
    return (maps / np.sqrt((np.abs(maps) ** 2).sum(0))).astype(np.complex64)


def test_calibration_region_and_coil_maps():
    mask = np.zeros((2, 1, 1, 32), np.float32)
    mask[..., 14:19] = 1  # ACS lines 14..18 (5 lines, fastMRI centre for 32 cols: pad=(32-5+1)//2=14)
    mask[..., ::4] = 1
    region = ops.calibration_region(mask).numpy()
    expected = np.zeros(32, np.float32)
    expected[14:19] = 1  # line 12 is sampled too, but 13 is not, so the run stops at 14
    np.testing.assert_array_equal(region[0, 0, 0], expected)
    np.testing.assert_array_equal(ops.center_region(32, 5, 4).numpy()[0, 0, 0], expected)

    # A smooth object with smooth maps: ACS maps reproduce the true maps where there is signal.
    maps = _smooth_maps(4, 32, 32)
    yy, xx = np.meshgrid(np.linspace(-1, 1, 32), np.linspace(-1, 1, 32), indexing="ij")
    image = np.exp(-(xx**2 + yy**2) / 0.3).astype(np.complex64)
    kspace = ops.fftn_np(maps * image, rank=2)[None]
    full = np.ones((1, 1, 1, 32), np.float32)
    full[..., :8] = 0
    full[..., 24:] = 0
    est = ops.estimate_coil_maps(kspace, mask=full).numpy()[0]
    support = np.abs(image) > 0.5
    np.testing.assert_allclose(np.sqrt((np.abs(est) ** 2).sum(0))[support], 1, atol=1e-4)
    # Maps are unique up to a common phase; compare after removing it.
    phase = np.exp(-1j * np.angle((est * maps.conj()).sum(0)))
    np.testing.assert_allclose((est * phase)[:, support], maps[:, support], atol=0.05)
    with pytest.raises(ValueError, match="argument `mask`"):
        ops.estimate_coil_maps(kspace)


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_conjugate_gradient_matches_solve(dtype):
    n, batch = 6, 3
    a = RNG.standard_normal((batch, n, n)) + (1j * RNG.standard_normal((batch, n, n)) if dtype == np.complex128 else 0)
    hpd = (np.conj(np.transpose(a, (0, 2, 1))) @ a + n * np.eye(n)).astype(dtype)
    b = (RNG.standard_normal((batch, n)) + (1j * RNG.standard_normal((batch, n)) if dtype == np.complex128 else 0)).astype(dtype)
    op = tf.constant(hpd)

    def apply(x):
        return tf.linalg.matvec(op, x)

    expected = np.linalg.solve(hpd, b[..., None])[..., 0]
    got = ops.conjugate_gradient(apply, b, max_iterations=n + 2, tolerance=1e-12)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-8, atol=1e-10)
    graph = tf.function(lambda rhs: ops.conjugate_gradient(apply, rhs, max_iterations=n + 2, tolerance=1e-12))
    np.testing.assert_allclose(graph(tf.constant(b)).numpy(), expected, rtol=1e-8, atol=1e-10)
    # With a loose tolerance CG stops early: the residual is small but nonzero.
    loose = ops.conjugate_gradient(apply, b, max_iterations=50, tolerance=1e-2).numpy()
    residual = np.linalg.norm(np.einsum("bij,bj->bi", hpd, loose) - b, axis=1) / np.linalg.norm(b, axis=1)
    assert np.all(residual <= 1e-2)


def test_conjugate_gradient_gradients_in_graph():
    n = 4
    mat = RNG.standard_normal((n, n))
    hpd = tf.constant(mat @ mat.T + n * np.eye(n), tf.float32)
    scale = tf.Variable(2.0)
    b = tf.constant(RNG.standard_normal((2, n)), tf.float32)

    @tf.function
    def loss_and_grad():
        with tf.GradientTape() as tape:
            x = ops.conjugate_gradient(lambda v: tf.linalg.matvec(hpd, v) + scale * v, b, max_iterations=n, tolerance=0.0)
            loss = tf.reduce_sum(x)
        return loss, tape.gradient(loss, scale)

    loss, grad = loss_and_grad()
    # d/ds sum((H + sI)^-1 b) = -sum((H + sI)^-2 b)
    inv = np.linalg.inv(hpd.numpy() + 2.0 * np.eye(n))
    expected = -np.sum(np.einsum("ij,jk,bk->bi", inv, inv, b.numpy()))
    np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-3)
    np.testing.assert_allclose(loss.numpy(), np.sum(np.einsum("ij,bj->bi", inv, b.numpy())), rtol=1e-4)


def test_conjugate_gradient_argument_errors():
    with pytest.raises(ValueError, match=r"argument `max_iterations`. Expected a strictly positive integer. Received: max_iterations=0"):
        ops.conjugate_gradient(lambda x: x, np.ones((1, 2)), max_iterations=0)
    with pytest.raises(ValueError, match=r"argument `tolerance`"):
        ops.conjugate_gradient(lambda x: x, np.ones((1, 2)), tolerance=-1.0)


def test_cg_sense_beats_zero_filled():
    coils, h, w = 4, 32, 32
    maps = _smooth_maps(coils, h, w)
    yy, xx = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    image = ((xx**2 + (yy / 0.8) ** 2) < 0.6).astype(np.float32) * (1 + 0.5 * (xx > 0))
    kspace = ops.fftn_np(maps * image, rank=2)[None].astype(np.complex64)
    mask = np.zeros((1, 1, 1, w), np.float32)
    mask[..., ::2] = 1
    mask[..., 13:19] = 1
    truth = np.abs(image)
    zf = ops.zero_filled(kspace * mask).numpy()[0]
    cg = ops.cg_sense(kspace * mask, mask, regularization=1e-4, max_iterations=30, window=None).numpy()[0]
    err_zf = np.linalg.norm(zf - truth)
    err_cg = np.linalg.norm(cg - truth)
    assert err_cg < 0.5 * err_zf
    tapered = ops.cg_sense(kspace * mask, mask, regularization=1e-4, max_iterations=30, window="hann").numpy()[0]
    assert np.linalg.norm(tapered - truth) < err_zf
    with pytest.raises(ValueError, match=r"argument `window`"):
        ops.estimate_coil_maps(kspace, mask=mask, window="kaiser")
    crop = ops.zero_filled(kspace, crop=(16, 16))
    assert crop.shape == (1, 16, 16)


def test_center_crop_numpy_and_errors():
    x = np.arange(5 * 6).reshape(5, 6)
    np.testing.assert_array_equal(ops.center_crop(x, (3, 2)), x[1:4, 2:4])
    with pytest.raises(ValueError, match="argument `shape`"):
        ops.center_crop(x, (7, 2))
