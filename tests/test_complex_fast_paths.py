"""Complex normalization and cardioid on their fast paths: values and gradients vs NumPy/SciPy.

Complex normalization whitens with block-diagonal matmuls and a hand-written backward pass;
cardioid on the channels-last stacked form runs as complex elementwise ops with a hand-written
gradient. Both are checked against a NumPy reference (SciPy's matrix square root for the 2x2
whitening) and against central differences of that reference, not of the code under test.
"""

import numpy as np
import pytest
import scipy.linalg
import tensorflow as tf

from mrinets import layers
from tests.conftest import random_complex

EPSILON = 1e-3


def _whiten_reference(z, gamma, beta, statistics):
    """``gamma V^(-1/2) (z - mean) + beta`` per channel; ``z (B, H, W, C)`` complex, ``gamma (C, 2, 2)``."""
    groups = {"batch": [(slice(None), c) for c in range(z.shape[-1])],
              "instance": [(b, c) for b in range(z.shape[0]) for c in range(z.shape[-1])],
              "layer": [(b, slice(None)) for b in range(z.shape[0])]}[statistics]
    whitened = np.empty_like(z)
    for batch, channel in groups:
        values = z[batch, ..., channel]
        centred = values - values.mean()
        pairs = np.stack([centred.real.reshape(-1), centred.imag.reshape(-1)])
        covariance = pairs @ pairs.T / pairs.shape[1] + EPSILON * np.eye(2)
        white = (scipy.linalg.inv(scipy.linalg.sqrtm(covariance)).real @ pairs).reshape((2,) + centred.shape)
        whitened[batch, ..., channel] = white[0] + 1j * white[1]
    out = np.einsum("cij,j...c->i...c", gamma, np.stack([whitened.real, whitened.imag]))
    return out[0] + beta.real + 1j * (out[1] + beta.imag)


def _numerical_gradient(function, x, delta=1e-6):
    gradient = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = delta
        gradient[index] = (function(x + step) - function(x - step)) / (2 * delta)
    return gradient


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(3)
    z = random_complex(rng, (2, 3, 4, 2), np.complex128) * np.array([2.0 + 1j, 0.5]) + np.array([1 - 1j, 0.3])
    gamma = np.array([[[1.2, 0.3], [0.3, 0.8]], [[0.6, -0.2], [-0.2, 1.1]]])
    beta = np.array([0.4 - 0.1j, -0.3 + 0.2j])
    weights = random_complex(rng, z.shape, np.complex128)
    return z, gamma, beta, weights


def _layer(statistics, gamma, beta, axis=-1):
    kind = {"batch": layers.BatchNormalization, "instance": layers.InstanceNormalization,
            "layer": layers.LayerNormalization}[statistics]
    layer = kind(axis=axis, dtype="complex128", epsilon=EPSILON)
    layer.build((2, 3, 4, 2) if axis == -1 else (2, 2, 3, 4))
    layer.gamma[0].assign(gamma[:, 0, 0])
    layer.gamma[1].assign(gamma[:, 0, 1])
    layer.gamma[2].assign(gamma[:, 1, 1])
    layer.beta[0].assign(beta.real)
    layer.beta[1].assign(beta.imag)
    return layer


@pytest.mark.parametrize("statistics", ["batch", "instance", "layer"])
def test_complex_normalization_values_and_gradients_match_the_scipy_reference(case, statistics):
    z, gamma, beta, weights = case
    layer = _layer(statistics, gamma, beta)
    x = tf.constant(z)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(tf.math.real(tf.math.conj(tf.constant(weights)) * y))
    gradients = tape.gradient(loss, [x] + layer.trainable_variables)
    np.testing.assert_allclose(y.numpy(), _whiten_reference(z, gamma, beta, statistics), atol=1e-9)

    def reference_loss(z_, gamma_=gamma, beta_=beta):
        return np.sum(np.real(np.conj(weights) * _whiten_reference(z_, gamma_, beta_, statistics)))

    # d loss / d z as TF reports it for a real loss of a complex input: d/dRe + i d/dIm
    d_real = _numerical_gradient(lambda re: reference_loss(re + 1j * z.imag), z.real)
    d_imag = _numerical_gradient(lambda im: reference_loss(z.real + 1j * im), z.imag)
    np.testing.assert_allclose(gradients[0].numpy(), d_real + 1j * d_imag, atol=1e-6)
    symmetric = lambda rr, ri, ii: np.stack([np.stack([rr, ri], -1), np.stack([ri, ii], -1)], -2)  # noqa: E731
    parts = [gamma[:, 0, 0], gamma[:, 0, 1], gamma[:, 1, 1]]
    for i, (variable, gradient) in enumerate(zip(layer.trainable_variables, gradients[1:])):
        if i < 3:
            expected = _numerical_gradient(
                lambda p: reference_loss(z, symmetric(*[p if j == i else parts[j] for j in range(3)])), parts[i])
        else:
            part = beta.real if i == 3 else beta.imag
            expected = _numerical_gradient(
                lambda p: reference_loss(z, gamma, p + 1j * beta.imag if i == 3 else beta.real + 1j * p), part)
        np.testing.assert_allclose(gradient.numpy(), expected, atol=1e-6, err_msg=variable.name)


def test_complex_batch_norm_inference_uses_the_moving_statistics(case):
    z, gamma, beta, _ = case
    layer = _layer("batch", gamma, beta)
    layer.momentum = 0.0  # the moving statistics become this batch's
    training = layer(z, training=True).numpy()
    np.testing.assert_allclose(layer(z, training=False).numpy(), training, atol=1e-9)
    np.testing.assert_allclose(layer.moving_mean[0].numpy() + 1j * layer.moving_mean[1].numpy(),
                               z.mean(axis=(0, 1, 2)), atol=1e-12)
    centred = z - z.mean(axis=(0, 1, 2))
    np.testing.assert_allclose(layer.moving_variance[1].numpy(),
                               np.mean(centred.real * centred.imag, axis=(0, 1, 2)), atol=1e-12)


def test_complex_normalization_channels_first_matches_channels_last(case):
    z, gamma, beta, _ = case
    last = _layer("instance", gamma, beta)(z).numpy()
    first = _layer("instance", gamma, beta, axis=1)(np.moveaxis(z, -1, 1)).numpy()
    np.testing.assert_allclose(np.moveaxis(first, 1, -1), last, atol=1e-12)


def _cardioid_reference(z):
    return 0.5 * (1 + np.cos(np.angle(z))) * z


@pytest.mark.parametrize("axis", [-1, 1])
def test_cardioid_on_the_stacked_form_matches_numpy_with_its_gradient(rng, axis):
    # axis -1: the complex-dtype fast path; axis 1: the (re, im) pairs path.
    z = random_complex(rng, (2, 3, 4), np.complex128)
    weights = random_complex(rng, z.shape, np.complex128)
    layer = layers.Activation("cardioid", axis=axis, dtype="complex128", stacked=True)
    move = (lambda t: t) if axis == -1 else (lambda t: np.moveaxis(t, -1, 1))  # noqa: E731
    to_stacked = lambda t: move(np.stack([t.real, t.imag], -1).reshape(t.shape[:-1] + (-1,)))  # noqa: E731
    x = tf.constant(to_stacked(z))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(y * to_stacked(weights))
    np.testing.assert_allclose(y.numpy(), to_stacked(_cardioid_reference(z)), atol=1e-12)

    def reference_loss(stacked):
        pairs = np.moveaxis(stacked, 1, -1) if axis == 1 else stacked
        pairs = pairs.reshape(pairs.shape[:-1] + (-1, 2))
        return np.sum(to_stacked(_cardioid_reference(pairs[..., 0] + 1j * pairs[..., 1])) * to_stacked(weights))

    np.testing.assert_allclose(tape.gradient(loss, x).numpy(), _numerical_gradient(reference_loss, x.numpy()),
                               atol=1e-6)


def test_cardioid_gradient_is_finite_at_zero():
    z = tf.zeros((1, 4), tf.complex64)
    with tf.GradientTape() as tape:
        tape.watch(z)
        loss = tf.reduce_sum(tf.abs(layers.cardioid(z) + 1))
    assert np.all(np.isfinite(tape.gradient(loss, z).numpy()))
