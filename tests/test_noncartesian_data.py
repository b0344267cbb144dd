"""Non-Cartesian data (simulation, files, pipeline) and the NUFFT unrolled networks."""

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from mrinets import networks, ops
from mrinets.data import noncartesian as nc
from mrinets.data.fastmri import DataError
from tests.test_noncartesian import phantom
from tests.test_nufft import nudft, relative_error

FINE, N = 32, 16


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("radial")
    trajectory = ops.radial_trajectory(N, 24, ordering="golden").reshape(-1, 2)
    images = np.stack([phantom(FINE), phantom(FINE)[::-1]])
    data = nc.simulate_noncartesian(images, (N, N), trajectory, num_coils=4, snr=1e6, rng=np.random.default_rng(0))
    density = ops.estimate_density(trajectory, (N, N)).numpy()
    paths = [nc.write_noncartesian_h5(folder / "a.h5", data["kspace"], trajectory, (N, N), density, data["target"]),
             nc.write_noncartesian_h5(folder / "b.h5", data["kspace"][:1], trajectory, (N, N), None, data["target"][:1])]
    return paths, images, trajectory, data


def test_simulation_samples_the_fine_grid(files):
    _, images, trajectory, data = files
    assert data["kspace"].shape == (2, 4, len(trajectory)) and data["kspace"].dtype == np.complex64
    assert data["target"].shape == (2, N, N)
    # The samples are the exact NUDFT of the fine coil images (pixels half as wide: radians halved,
    # four times the terms), not a transform of the 16 x 16 target.
    coil_images = data["maps"] * (images[0] * np.exp(1j * data["phase"][0]))[None]
    expected = np.stack([nudft(c, trajectory.astype(np.float64) * N / FINE, (FINE, FINE), "type_2", "forward")
                         for c in coil_images]) * (N / FINE) ** 2
    assert relative_error(data["kspace"][0], expected) < 1e-4
    # Gridding on the 16 x 16 grid reconstructs the target (24 golden spokes cover 16 x 16 well).
    operator = ops.NUFFTOperator(trajectory, (N, N), tol=1e-4)
    density = ops.estimate_density(trajectory, (N, N))
    gridded = ops.gridding_reconstruction(data["kspace"], operator, density).numpy()
    assert relative_error(gridded, data["target"]) < 0.2


def test_files_round_trip_and_errors(files, tmp_path):
    paths, _, trajectory, data = files
    assert nc.is_noncartesian(paths[0])
    volume = nc.read_noncartesian(paths[0])
    np.testing.assert_array_equal(volume["kspace"], data["kspace"])
    np.testing.assert_array_equal(volume["trajectory"], trajectory)
    assert volume["matrix"] == (N, N)
    estimated = nc.read_noncartesian(paths[1])["density"]  # not stored: estimated on reading
    np.testing.assert_allclose(estimated, volume["density"], rtol=1e-5)
    broken = tmp_path / "broken.h5"
    with h5py.File(broken, "w") as f:
        f.create_dataset("kspace", data=data["kspace"])
    with pytest.raises(DataError, match="no dataset 'trajectory'"):
        nc.read_noncartesian(broken)
    with pytest.raises(ValueError, match="argument `trajectory`"):
        nc.write_noncartesian_h5(tmp_path / "x.h5", data["kspace"], trajectory[:10], (N, N))


def test_pipeline_batches_and_scale(files):
    paths, _, trajectory, _ = files
    dataset = nc.build_noncartesian_dataset(paths, batch_size=2)
    inputs, target = next(iter(dataset))
    assert inputs["kspace"].shape == (2, 4, len(trajectory)) and inputs["kspace"].dtype == tf.complex64
    assert inputs["trajectory"].shape == (2, len(trajectory), 2) and inputs["density"].shape == (2, len(trajectory))
    assert target.shape == (2, N, N)
    operator = ops.NUFFTOperator(inputs["trajectory"][:, None], (N, N), tol=1e-4)
    gridded = ops.gridding_reconstruction(inputs["kspace"], operator, inputs["density"][:, None]).numpy()
    np.testing.assert_allclose(gridded.max(axis=(1, 2)), 1, rtol=1e-4)  # scaled by the gridding max


SMALL_CNN = {"type": "CNN", "dtype": "complex64", "filters": 8, "depth": 2}


# Tracing the training step takes 5-15 s (XLA more), so graph and XLA training are opt-in; building
# the functional model (and reloading it) traces the forward pass in the fast runs too.
@pytest.mark.parametrize("consistency,mode", [
    ("cg", "eager"), ("gradient", "eager"), pytest.param("gradient", "graph", marks=pytest.mark.slow),
    pytest.param("cg", "xla", marks=pytest.mark.slow)])
def test_unrolled_trains_saves_and_loads(files, tmp_path, consistency, mode):
    paths, *_ = files
    keras.utils.set_random_seed(0)
    model = networks.build({"type": "NonCartesianUnrolled", "rank": 2, "grid_shape": [N, N], "iterations": 1,
                            "regularizer": SMALL_CNN, "data_consistency": consistency, "cg_iterations": 2})
    dataset = nc.build_noncartesian_dataset(paths, batch_size=2, repeat=True)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mae", run_eagerly=mode == "eager",
                  jit_compile=mode == "xla")
    history = model.fit(dataset, steps_per_epoch=3, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    inputs, target = next(iter(dataset))
    prediction = model(inputs).numpy()
    assert prediction.shape == target.shape and np.isfinite(prediction).all()
    path = tmp_path / "model.keras"
    model.save(path)
    np.testing.assert_allclose(keras.models.load_model(path)(inputs).numpy(), prediction, rtol=1e-4, atol=1e-5)


def test_modl_config_round_trip_and_errors():
    layer = networks.NonCartesianMoDL(grid_shape=(N, N), iterations=2, regularizer=SMALL_CNN)
    clone = networks.NonCartesianMoDL.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config() and clone.share_weights and clone.data_consistency == "cg"
    with pytest.raises(ValueError, match="argument `grid_shape`"):
        networks.NonCartesianUnrolled(grid_shape=(16,))
    with pytest.raises(ValueError, match="argument `data_consistency`"):
        networks.NonCartesianUnrolled(grid_shape=(N, N), data_consistency="hard")


@pytest.mark.slow
def test_builtin_radial_data(tmp_path):
    pytest.importorskip("nilearn")
    folder = nc.prepare_radial_builtin(tmp_path, matrix=32, views=16, num_coils=4, slice_step=16)
    train = nc.read_noncartesian(tmp_path / "train" / "mni152_radial_train.h5")
    val = nc.read_noncartesian(tmp_path / "val" / "mni152_radial_val.h5")
    assert folder == tmp_path and train["kspace"].shape[1:] == (4, 16 * 64) and train["matrix"] == (32, 32)
    assert val["target"].shape[1:] == (32, 32) and len(val["kspace"]) >= 1


def test_varnet_cascade_is_a_gradient_step_minus_the_regularizer(files):
    """One cascade with a zeroed regularizer against the NUDFT: ``|x0 - w A^H D (A x0 - y)| rss(maps)``."""
    paths, *_ = files
    inputs, _ = next(iter(nc.build_noncartesian_dataset(paths[:1], batch_size=1)))
    model = networks.build({"type": "NonCartesianVarNet", "grid_shape": [N, N], "cascades": 1, "initial_step": 0.7,
                            "regularizer": {**SMALL_CNN, "residual": False}})
    network = model.get_layer(index=-1)
    for variable in network.regularizers[0].weights:
        variable.assign(tf.zeros_like(variable))
    points = inputs["trajectory"].numpy()[0].astype(np.float64)
    kspace, density = inputs["kspace"].numpy()[0].astype(np.complex128), inputs["density"].numpy()[0]
    operator = ops.NUFFTOperator(inputs["trajectory"][:, None], (N, N), tol=1e-4)
    maps = ops.estimate_coil_maps_nc(inputs["kspace"], operator, inputs["density"][:, None]).numpy()[0]

    def adjoint(samples):  # A^H D y, (coils, M) -> (N, N)
        return np.sum(np.conj(maps) * nudft(density * samples, points, (N, N), "type_1", "backward"), axis=0)

    x0 = adjoint(kspace)
    forward = nudft(maps * x0[None], points, (N, N), "type_2", "forward")
    expected = np.abs(x0 - 0.7 * adjoint(forward - kspace)) * np.sqrt(np.sum(np.abs(maps) ** 2, axis=0))
    assert relative_error(model(inputs).numpy()[0], expected) < 1e-3


def test_varnet_trains_saves_and_loads(files, tmp_path):
    paths, *_ = files
    keras.utils.set_random_seed(0)
    model = networks.build({"type": "NonCartesianVarNet", "grid_shape": [N, N], "cascades": 2,
                            "regularizer": {**SMALL_CNN, "residual": False}})
    dataset = nc.build_noncartesian_dataset(paths, batch_size=2, repeat=True)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mae", run_eagerly=True)
    assert np.isfinite(model.fit(dataset, steps_per_epoch=1, epochs=1, verbose=0).history["loss"]).all()
    inputs, target = next(iter(dataset))
    prediction = model(inputs).numpy()
    assert prediction.shape == target.shape
    network = model.get_layer(index=-1)
    assert type(network).from_config(network.get_config()).get_config() == network.get_config()
    model.save(tmp_path / "varnet.keras")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "varnet.keras")(inputs).numpy(), prediction,
                               rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="argument `initial_step`"):
        networks.NonCartesianVarNet(grid_shape=(N, N), initial_step=0.0)
