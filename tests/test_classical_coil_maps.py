"""Coil maps by ESPIRiT, Walsh and Inati: known smooth maps recovered, sigpy agreement, YAML use."""

import numpy as np
import pytest
import tensorflow as tf

from mrinets import networks, ops
from mrinets.data.simulate import birdcage_maps
from mrinets.ops.fft import fftn_np


def coherence(a, b):
    """Per-pixel |<a, b>| / (|a| |b|) over the coil axis 0 (phase-invariant)."""
    num = np.abs((a * b.conj()).sum(0))
    return num / (np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0) + 1e-30)


def ellipse(shape, scale=1.0):
    grids = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    radii = (0.75, 0.6, 0.65)[: len(shape)]
    return sum((g / r) ** 2 for g, r in zip(grids, radii)) < scale


def ring_maps(shape, num_coils):
    """Smooth maps of coils on a ring (2D: ``birdcage_maps``; 3D: the ring at z = 1.2 and -1.2)."""
    if len(shape) == 2:
        return birdcage_maps(shape, num_coils).astype(np.complex128)
    z, y, x = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    maps = []
    for c in range(num_coils):
        angle, height = 2 * np.pi * c / num_coils, 1.2 * (-1) ** c
        cx, cy = 2 * np.cos(angle), 2 * np.sin(angle)
        maps.append(np.exp(1j * np.arctan2(y - cy, x - cx)) / np.sqrt((x - cx) ** 2 + (y - cy) ** 2 + (z - height) ** 2))
    return np.stack(maps)


def acquisition(shape, num_coils, seed=0):
    """Noiseless k-space `(1, coils, *shape)` of an object with smooth phase, and the unit-norm true maps."""
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    image = ellipse(shape) * (1 + 0.3 * np.cos(3 * grids[-1]) + 0.1 * rng.standard_normal(shape))
    image = image * np.exp(0.7j * grids[0])
    maps = ring_maps(shape, num_coils)
    kspace = fftn_np(maps * image, rank=len(shape))[None].astype(np.complex64)
    return kspace, maps / np.linalg.norm(maps, axis=0)


@pytest.fixture(scope="module")
def data2d():
    return acquisition((64, 64), 8)


def line_mask(width, acs, acceleration):
    mask = np.zeros((1, 1, 1, width), np.float32)
    mask[..., ::acceleration] = 1
    mask[..., (width - acs + 1) // 2 : (width - acs + 1) // 2 + acs] = 1
    return mask


@pytest.mark.parametrize("method", ["espirit", "walsh", "inati", "acs"])
def test_recovers_known_maps_from_undersampled_data(data2d, method):
    kspace, truth = data2d
    mask = line_mask(64, 24, 4)
    maps = ops.estimate_coil_maps(kspace * mask, mask=mask, method=method).numpy()[0]
    inside = ellipse((64, 64), 0.9)
    assert coherence(maps, truth)[inside].min() > 0.99
    norm = np.linalg.norm(maps, axis=0)
    np.testing.assert_allclose(norm[inside], 1, atol=1e-3 if method != "acs" else 0.05)


def test_espirit_crop_zeroes_the_background_and_batches(data2d):
    kspace, truth = data2d
    other, _ = acquisition((64, 64), 8, seed=1)
    batch = np.concatenate([kspace, other])
    maps = ops.estimate_coil_maps(batch, num_low_frequencies=tf.constant([24, 20]), method="espirit").numpy()
    single = ops.estimate_coil_maps(kspace, num_low_frequencies=20, method="espirit").numpy()
    # The batch shares the ACS block common to every example (20 lines here).
    assert coherence(maps[0], single[0]).min(initial=1, where=np.linalg.norm(single[0], axis=0) > 0) > 0.9999
    outside = ~ellipse((64, 64), 2.0)
    assert np.abs(maps[:, :, outside]).max() == 0
    uncropped = ops.estimate_coil_maps(kspace, num_low_frequencies=24, method="espirit", crop=0).numpy()
    assert np.abs(uncropped[0, :, outside]).min(axis=0).max() > 0


def test_espirit_3d_with_a_2d_mask():
    kspace, truth = acquisition((16, 20, 20), 6)
    mask = np.zeros((1, 1, 1, 20, 20), np.float32)
    mask[..., 4:16, 4:16] = 1  # ACS block 12 x 12 (ky, kz); readout fully sampled
    mask[..., ::2, ::2] = 1
    maps = ops.estimate_coil_maps(kspace * mask, mask=mask, rank=3, axes=(-2, -1), method="espirit", kernel_width=4,
                                  crop=0.5).numpy()[0]
    inside = ellipse((16, 20, 20), 0.7)
    assert coherence(maps, truth)[inside].min() > 0.99


def test_espirit_matches_sigpy(data2d):
    mr = pytest.importorskip("sigpy.mri")
    kspace, _ = data2d
    ours = ops.estimate_coil_maps(kspace, num_low_frequencies=24, method="espirit").numpy()[0]
    theirs = mr.app.EspiritCalib(kspace[0], calib_width=24, show_pbar=False).run()
    kept = np.linalg.norm(theirs, axis=0) > 0
    np.testing.assert_array_equal(np.linalg.norm(ours, axis=0) > 0, kept)
    assert coherence(ours, theirs)[kept].min() > 0.9999
    np.testing.assert_allclose(ours, theirs, atol=1e-3)  # both take coil 0's phase out


def test_walsh_matches_numpy_eigenvectors():
    rng = np.random.default_rng(3)
    images = (rng.standard_normal((1, 3, 9, 8)) + 1j * rng.standard_normal((1, 3, 9, 8))).astype(np.complex64)
    maps = ops.coil_maps.walsh(images, kernel_size=3).numpy()[0]
    # Reference: the box-averaged covariance at one interior pixel and one edge pixel.
    for (i, j), (rows, cols) in {(4, 4): (slice(3, 6), slice(3, 6)), (0, 7): (slice(0, 2), slice(6, 8))}.items():
        block = images[0][:, rows, cols].reshape(3, -1)
        _, vectors = np.linalg.eigh(block @ block.conj().T)
        assert coherence(maps[:, i, j, None], vectors[:, -1:])[0] > 0.99999
        assert np.angle(maps[0, i, j]) == pytest.approx(0, abs=1e-5)


def test_inati_gradients_match_finite_differences():
    rng = np.random.default_rng(4)
    images = (rng.standard_normal((1, 2, 5, 5)) + 1j * rng.standard_normal((1, 2, 5, 5))).astype(np.complex128)
    weights = tf.constant(rng.standard_normal((1, 2, 5, 5)), tf.float64)

    def loss(x):
        return tf.reduce_sum(weights * tf.math.real(ops.coil_maps.inati(tf.complex(x, 0.3 * x), kernel_size=3)))

    theoretical, numerical = tf.test.compute_gradient(loss, [tf.constant(images.real)])
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-5)


def test_bad_arguments(data2d):
    kspace, _ = data2d
    with pytest.raises(ValueError, match=r"argument `method`.*Received: method='esprit'"):
        ops.estimate_coil_maps(kspace, num_low_frequencies=24, method="esprit")
    with pytest.raises(ValueError, match=r"argument `crop`.*method='walsh'"):
        ops.estimate_coil_maps(kspace, num_low_frequencies=24, method="walsh", crop=0.9)
    with pytest.raises(ValueError, match=r"argument `threshold`.*espirit"):
        ops.estimate_coil_maps(kspace, num_low_frequencies=24, method="espirit", threshold=0.1)
    with pytest.raises(ValueError, match=r"argument `kernel_width`"):
        ops.estimate_coil_maps(kspace, num_low_frequencies=24, method="espirit", kernel_width=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="smaller than kernel_width=6"):
        ops.estimate_coil_maps(kspace, num_low_frequencies=4, method="espirit")


@pytest.mark.parametrize("network", ["Unrolled", "VarNet"])
def test_networks_take_coil_maps_from_yaml(data2d, network):
    kspace, _ = data2d
    node = {"type": network, "coil_maps": {"method": "espirit", "crop": 0.8}, "regularizer": {"type": "CNN",
            "filters": 4, "depth": 2}, "iterations" if network == "Unrolled" else "cascades": 1}
    if network == "VarNet":
        node["sensitivity"] = None
    layer = networks.build_layer(node)
    assert layer.get_config()["coil_maps"] == {"method": "espirit", "crop": 0.8}
    mask = line_mask(64, 24, 4)
    out = layer({"kspace": kspace * mask, "mask": mask, "num_low_frequencies": tf.constant([24])})
    assert out.shape == (1, 64, 64)
    with pytest.raises(Exception, match="coil_maps"):
        networks.build_layer({"type": "VarNet", "coil_maps": "walsh"})  # the sensitivity network makes the maps


def test_cg_sense_with_espirit_maps(data2d):
    kspace, truth = data2d
    mask = line_mask(64, 24, 3)
    target = ops.rss(ops.ifftn(kspace)).numpy()
    errors = {}
    for method in ("acs", "espirit"):
        image = ops.cg_sense(kspace * mask, mask, coil_maps=method, regularization=1e-4, max_iterations=30).numpy()
        inside = ellipse((64, 64), 0.9)
        errors[method] = np.linalg.norm((image - target)[0][inside]) / np.linalg.norm(target[0][inside])
    assert errors["espirit"] < 0.05
    assert errors["espirit"] < errors["acs"]
