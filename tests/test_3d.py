"""3D end to end: ky-kz masks, the built-in 3D data, slab data consistency, checkpointing, training."""

import os

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


# -- slabs: exact data consistency --------------------------------------------------------------

def _centered(fn, x, axes):
    """Centered orthonormal ``numpy.fft.fftn``/``ifftn`` over ``axes``."""
    return np.fft.fftshift(fn(np.fft.ifftshift(x, axes=axes), axes=axes, norm="ortho"), axes=axes)


@pytest.fixture(scope="module")
def volume_file(tmp_path_factory):
    """A random 3D acquisition `(coils, kz, ky, kx)` written in the hybrid layout, and the raw k-space."""
    from mrinets.data import volumes

    rng = np.random.default_rng(0)
    kspace = (rng.standard_normal((3, 10, 12, 14)) + 1j * rng.standard_normal((3, 10, 12, 14))).astype(np.complex64)
    target = np.sqrt((np.abs(_centered(np.fft.ifftn, kspace, (1, 2, 3))) ** 2).sum(0)).transpose(2, 0, 1)
    path = tmp_path_factory.mktemp("volume") / "volume.h5"
    volumes.write_volume_h5(path, kspace, target.astype(np.float32))
    return path, kspace


def test_slab_data_consistency_equals_volume_data_consistency(volume_file):
    import tensorflow as tf

    from mrinets import ops
    from mrinets.data import volumes
    from mrinets.networks import GradientDC, HardDC

    path, raw = volume_file
    mask_fn = masks.PoissonDiscMask(acceleration=3, calibration=(4, 4))
    start, stop = 5, 11

    def example(a, b):
        kspace, mask, _, target, scale = volumes._example(path, a, b, mask_fn, seed=7)
        return kspace[None] * scale, mask[None], target * scale

    whole, mask, target = example(0, 14)
    slab, slab_mask, slab_target = example(start, stop)
    np.testing.assert_array_equal(mask, slab_mask)
    np.testing.assert_allclose(slab_target, target[start:stop], rtol=1e-5, atol=1e-6)
    maps = ops.estimate_coil_maps(whole, mask=mask, rank=3, axes=(-2, -1))
    slab_maps = ops.estimate_coil_maps(slab, mask=mask, rank=3, axes=(-2, -1))
    np.testing.assert_allclose(slab_maps.numpy(), maps.numpy()[:, :, start:stop], atol=2e-5)
    rng = np.random.default_rng(1)
    image = (rng.standard_normal((1, 14, 10, 12)) + 1j * rng.standard_normal((1, 14, 10, 12))).astype(np.complex64)
    # Independent reference: per readout position a 2D ky-kz HardDC on the hybrid data of the raw k-space.
    hybrid = _centered(np.fft.ifftn, raw, (3,)).transpose(3, 0, 1, 2)  # (x, coils, kz, ky)
    m2 = mask[0, 0, 0]
    s = maps.numpy()[0].transpose(1, 0, 2, 3)  # (x, coils, z, y)
    predicted = _centered(np.fft.fftn, s * image[0][:, None], (2, 3))
    merged = (1 - m2) * predicted + m2 * hybrid
    reference = (np.conj(s) * _centered(np.fft.ifftn, merged, (2, 3))).sum(1)
    for block in (HardDC(rank=3), GradientDC(rank=3, initial_weight=0.7)):
        full = block(tf.constant(image), whole, mask, maps).numpy()
        part = block(tf.constant(image[:, start:stop]), slab, mask, slab_maps).numpy()
        np.testing.assert_allclose(part, full[:, start:stop], atol=5e-5)
    np.testing.assert_allclose(HardDC(rank=3)(tf.constant(image), whole, mask, maps).numpy()[0], reference, atol=5e-5)


def test_volume_layout_is_fastmri_readable_and_checked(volume_file, tmp_path):
    from mrinets.data import DataError, read_metadata, volumes
    from mrinets.data.simulate import write_fastmri_h5

    path, raw = volume_file
    meta = read_metadata(path)
    assert volumes.is_volume_file(meta) and meta["num_slices"] == 14 and meta["kspace_shape"] == (3, 10, 12)
    hybrid, _ = volumes.read_slab(path, 2, 4)
    np.testing.assert_allclose(hybrid, _centered(np.fft.ifftn, raw, (3,)).transpose(3, 0, 1, 2)[2:4], atol=1e-5)
    slice_file = write_fastmri_h5(tmp_path / "slices.h5", raw[None, :, :, :, 0])
    with pytest.raises(DataError, match=r"slices.h5.*is not a 3D file"):
        volumes.build_volume_dataset(slice_file)
    with pytest.raises(DataError, match=r"at least slab=20"):
        volumes.build_slab_dataset(path, slab=20)
    with pytest.raises(ValueError, match=r"argument `kspace`. Expected complex \(coils, kz, ky, kx\)"):
        volumes.write_volume_h5(tmp_path / "bad.h5", raw[0])


# -- gradient checkpointing -----------------------------------------------------------------------

def test_gradient_checkpointing_gives_the_same_gradients():
    import tensorflow as tf

    from mrinets import networks

    model = networks.build({"type": "VarNet", "rank": 3, "cascades": 2, "sensitivity": None, "regularizer": {
        "type": "UNet", "dtype": "float32", "in_channels": 2, "filters": [4, 8], "normalize": True}})
    network = next(layer for layer in model.layers if isinstance(layer, networks.ReconNetwork))
    rng = np.random.default_rng(0)
    kspace = (rng.standard_normal((1, 3, 4, 8, 8)) + 1j * rng.standard_normal((1, 3, 4, 8, 8))).astype(np.complex64)
    mask = masks.PoissonDiscMask(acceleration=2, calibration=(4, 4))((8, 8), seed=0)[0].reshape(1, 1, 1, 8, 8)
    inputs = {"kspace": kspace * mask, "mask": mask, "num_low_frequencies": np.array([4], np.int32)}
    target = rng.standard_normal((1, 4, 8, 8)).astype(np.float32)

    @tf.function
    def gradients():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.abs(model(inputs, training=True) - target))
        return tape.gradient(loss, model.trainable_variables)

    plain = [g.numpy() for g in gradients()]
    network.gradient_checkpointing = True
    checkpointed = [g.numpy() for g in tf.function(gradients.python_function)()]
    assert len(plain) == len(checkpointed) == len(model.trainable_variables)
    for a, b in zip(plain, checkpointed):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)


# -- end to end ------------------------------------------------------------------------------------

def test_3d_train_evaluate_predict(tmp_path, monkeypatch):
    import h5py

    from mrinets import cli
    from mrinets.data import builtin3d, volumes

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MRINETS_CACHE", str(tmp_path / "cache"))
    options = "{matrix: 24, num_coils: 3, val_positions: 6, num_train_subjects: 1}"
    overrides = ["--set", f"data.options={options}", "--set", "data.slab=8", "--set", "model.cascades=1",
                 "--set", "model.regularizer.filters=[4, 8]", "--set", "mask.calibration=[6, 6]",
                 "--set", "train.steps=2", "--set", "train.eval_every=0", "--set", "train.gradient_checkpointing=true"]
    assert cli.main(["train", "varnet3d_quickstart", "-o", "run", *overrides]) == 0
    metrics = __import__("json").loads((tmp_path / "run" / "metrics.json").read_text())
    record = metrics["evaluations"][-1]
    assert record["step"] == 2 and np.isfinite(record["val_psnr"]) and np.isfinite(record["cg_sense_psnr"])
    assert (tmp_path / "run" / "figures" / "step_0000002_planes.png").stat().st_size > 1000
    root = builtin3d.prepare_builtin_3d(matrix=24, num_coils=3, val_positions=6, num_train_subjects=1)
    val = os.path.join(root, "val", "mni152_3d_val_00.h5")
    hybrid, target = volumes.read_slab(val)
    assert hybrid.shape == (6, 3, 24, 24) and target.shape == (6, 24, 24)
    assert cli.main(["predict", "run", "--data", val, "--output", "out"]) == 0
    with h5py.File(tmp_path / "out" / "mni152_3d_val_00.h5") as f:
        recon = f["reconstruction"][()]
    assert recon.shape == (6, 24, 24) and np.isfinite(recon).all()
    # The scale of the reconstruction is the target's (file units), within the network's error.
    assert 0.3 < recon.max() / target.max() < 3
