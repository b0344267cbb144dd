"""Coil compression (SVD, GCC): NumPy references, energy kept on the built-in simulation, data option."""

import numpy as np
import pytest
import tensorflow as tf

from mrinets import data, ops
from mrinets.ops import coil_compression


@pytest.fixture(scope="module")
def mni_kspace():
    """Four axial slices of the built-in MNI152 simulation (8 coils, 128 x 128, SNR 40, as prepare_builtin)."""
    slices = data.builtin._axial_slices(data.load_mni152(), 2)[36:44:2]
    return data.simulate_multicoil(slices, (128, 128), num_coils=8, snr=40.0, rng=np.random.default_rng(0))["kspace"]


def energy(x):
    return np.sum(np.abs(np.asarray(x)) ** 2, axis=tuple(range(1, np.ndim(x))))


@pytest.mark.parametrize("method", ["svd", "gcc"])
def test_four_virtual_coils_keep_99_percent_of_the_builtin_simulation(mni_kspace, method):
    compressed = ops.compress_coils(mni_kspace, 4, method=method).numpy()
    assert compressed.shape == (4, 4, 128, 128)
    kept = energy(compressed) / energy(mni_kspace)
    assert kept.min() >= 0.99
    assert np.all(kept <= 1 + 1e-5)
    if method == "svd":  # GCC's alignment mixes the per-position order
        assert np.all(np.diff(energy(compressed.transpose(1, 0, 2, 3))) <= 0)


def test_svd_matches_numpy(rng):
    kspace = (rng.standard_normal((2, 6, 10, 12)) + 1j * rng.standard_normal((2, 6, 10, 12))).astype(np.complex64)
    compressed = ops.compress_coils(kspace, 3, method="svd").numpy()
    for b in range(2):
        u, _, _ = np.linalg.svd(kspace[b].reshape(6, -1), full_matrices=False)
        expected = u[:, :3].conj().T @ kspace[b].reshape(6, -1)
        # Singular vectors are defined up to a phase each: compare per virtual coil, phase removed.
        got = compressed[b].reshape(3, -1)
        phase = np.sum(got * expected.conj(), axis=1, keepdims=True)
        np.testing.assert_allclose(got * np.conj(phase / np.abs(phase)), expected, atol=2e-4)


def test_gcc_matches_numpy_per_readout_position(rng):
    kspace = (rng.standard_normal((1, 5, 8, 12)) + 1j * rng.standard_normal((1, 5, 8, 12))).astype(np.complex64)
    matrices = coil_compression.gcc_matrices(kspace, 2, window=1).numpy()[0]  # (X, C, N)
    # Reference hybrid space: the inverse FFT along the readout (axis -2) only.
    hybrid = np.fft.fftshift(np.fft.ifft(np.fft.ifftshift(kspace[0], axes=1), axis=1, norm="ortho"), axes=1)
    for x in range(8):
        u, _, _ = np.linalg.svd(hybrid[:, x, :], full_matrices=False)
        np.testing.assert_allclose(matrices[x] @ matrices[x].conj().T, u[:, :2] @ u[:, :2].conj().T, atol=1e-4)
        np.testing.assert_allclose(matrices[x].conj().T @ matrices[x], np.eye(2), atol=1e-5)
    compressed = ops.compress_coils(kspace, 2, method="gcc", window=1).numpy()[0]
    expected = np.einsum("xcn,cxy->nxy", matrices.conj(), hybrid)
    expected = np.fft.fftshift(np.fft.fft(np.fft.ifftshift(expected, axes=1), axis=1, norm="ortho"), axes=1)
    np.testing.assert_allclose(compressed, expected, atol=1e-4)


def test_gcc_alignment_makes_matrices_vary_smoothly(mni_kspace):
    aligned = coil_compression.gcc_matrices(mni_kspace[:1], 4).numpy()[0]
    hybrid = tf.experimental.numpy.moveaxis(ops.ifftn(mni_kspace[:1], axes=[-2]), 2, 1)  # (1, X, C, W)
    covariance = tf.linalg.matmul(hybrid, hybrid, adjoint_b=True)
    _, vectors = tf.linalg.eigh(covariance)
    unaligned = vectors.numpy()[0][..., -4:]

    def mean_step(matrices):  # between neighbouring readout positions inside the head
        return np.linalg.norm(np.diff(matrices[40:88], axis=0), axis=(1, 2)).mean()

    assert mean_step(aligned) < 0.5 * mean_step(unaligned)


def test_bad_arguments(rng):
    kspace = np.zeros((1, 4, 8, 8), np.complex64)
    with pytest.raises(ValueError, match=r"argument `num_virtual`.*at most the 4 coils.*num_virtual=5"):
        ops.compress_coils(kspace, 5)
    with pytest.raises(ValueError, match=r"argument `method`.*method='pca'"):
        ops.compress_coils(kspace, 2, method="pca")
    with pytest.raises(ValueError, match=r"argument `readout_axis`"):
        ops.compress_coils(kspace, 2, method="gcc", readout_axis=1)


def test_dataset_and_config_option(tmp_path):
    pytest.importorskip("skimage")
    from mrinets.config import ConfigError
    from mrinets.train.schema import load_config

    root = data.prepare_shepp_logan(cache_dir=tmp_path, matrix=32, num_coils=4, num_slices=2)
    full = next(iter(data.build_dataset(f"{root}/val", mask="equispaced_fraction")))
    inputs, target = next(iter(data.build_dataset(f"{root}/val", mask="equispaced_fraction", virtual_coils=2,
                                                  coil_compression="gcc")))
    assert inputs["kspace"].shape == (1, 2, 32, 32)
    np.testing.assert_array_equal(target.numpy(), full[1].numpy())
    assert energy(inputs["kspace"]) <= energy(full[0]["kspace"]) * (1 + 1e-5)
    cfg = load_config("varnet_quickstart", overrides=["data.virtual_coils=4", "data.coil_compression=gcc"])
    assert (cfg["data"]["virtual_coils"], cfg["data"]["coil_compression"]) == (4, "gcc")
    with pytest.raises(ConfigError, match="data.virtual_coils"):
        load_config("varnet_quickstart", overrides=["data.virtual_coils=0"])
