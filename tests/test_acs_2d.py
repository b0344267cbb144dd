"""2D masks (poisson_disc, gaussian): coil maps come from the real 2D calibration block."""

import os

import numpy as np
import pytest
import tensorflow as tf

from mrinets import data, networks, ops
from tests.conftest import random_complex

CALIBRATION = (6, 8)


def block(shape2d, calibration):
    """NumPy: 1 on the centred calibration block (fastMRI's centre: start at (n - c + 1) // 2)."""
    out = np.zeros(shape2d, np.float32)
    (h, w), (ch, cw) = shape2d, calibration
    out[(h - ch + 1) // 2:(h - ch + 1) // 2 + ch, (w - cw + 1) // 2:(w - cw + 1) // 2 + cw] = 1
    return out


def centred_ifft2(x):
    axes = (-2, -1)
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(x, axes=axes), axes=axes, norm="ortho"), axes=axes)


@pytest.fixture(scope="module")
def dataset_batch(tmp_path_factory):
    root = data.prepare_shepp_logan(cache_dir=tmp_path_factory.mktemp("acs"), matrix=32, num_coils=3, num_slices=2)
    mask = data.PoissonDiscMask(4, calibration=CALIBRATION, seed=0)
    inputs, _ = next(iter(data.build_dataset(os.path.join(root, "*", "*.h5"), mask=mask, batch_size=2)))
    return inputs


@pytest.mark.parametrize("mask_type", [data.PoissonDiscMask, data.GaussianMask])
def test_acs_region_is_the_2d_block_and_lines_for_line_masks(mask_type):
    mask, calibration = mask_type(4, calibration=CALIBRATION, seed=1)((3, 24, 32))
    mask = mask[None]  # (1, 1, 24, 32)
    expected = block((24, 32), calibration)
    traced = tf.function(lambda m, n: ops.acs_region(m, n, 4),  # unknown mask shape: chosen at run time
                         input_signature=[tf.TensorSpec((None, 1, None, None)), tf.TensorSpec((None,), tf.int32)])
    for region in (ops.acs_region(mask, [calibration[-1]], 4), traced(mask, tf.constant([calibration[-1]]))):
        np.testing.assert_array_equal(np.broadcast_to(region.numpy(), (1, 1, 24, 32))[0, 0], expected)
    # with seed 1 sampled points touch the block: a run through the centre would grow it to 7 x 9
    assert ops.calibration_region(mask, axes=(-2, -1)).numpy().sum() > expected.sum()
    lines = np.zeros((1, 1, 1, 32), np.float32)
    lines[..., ::4] = 1
    lines[..., 13:19] = 1  # a 6-line centre next to sampled lines: num_low decides, as in fastMRI
    np.testing.assert_array_equal(ops.acs_region(lines, [6], 4).numpy()[0, 0, 0], block((1, 32), (1, 6))[0])


def test_pipeline_coil_maps_use_the_2d_calibration_block(dataset_batch):
    kspace, mask, num_low = dataset_batch["kspace"], dataset_batch["mask"], dataset_batch["num_low_frequencies"]
    assert mask.shape[-2:] == (32, 32) and tuple(num_low.numpy()) == (CALIBRATION[1],) * 2
    maps = ops.estimate_coil_maps(kspace, mask=mask, num_low_frequencies=num_low, window=None).numpy()
    images = centred_ifft2(kspace.numpy() * block((32, 32), CALIBRATION))  # NumPy reference
    expected = images / np.sqrt((np.abs(images) ** 2).sum(axis=1, keepdims=True) + 1e-8)
    np.testing.assert_allclose(maps, expected, atol=2e-5)


def test_varnet_sensitivity_network_sees_only_the_2d_block(dataset_batch):
    """Zeroing k-space outside the 2D block before the VarNet's coil-map estimation changes nothing."""
    kspace, mask, num_low = dataset_batch["kspace"], dataset_batch["mask"], dataset_batch["num_low_frequencies"]
    net = networks.build_layer({"type": "VarNet", "cascades": 1, "regularizer": {
        "type": "UNet", "filters": [2, 4], "dtype": "float32", "in_channels": 2},
        "sensitivity": {"type": "UNet", "filters": [2, 4], "dtype": "float32", "in_channels": 2}})
    inside = kspace * block((32, 32), CALIBRATION)
    np.testing.assert_allclose(net.coil_maps(kspace, mask, num_low).numpy(), net.coil_maps(inside, mask, num_low).numpy(),
                               atol=1e-5)
    assert np.abs(kspace - inside).max() > 0  # the mask samples outside the block too
