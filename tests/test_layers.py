"""Pooling, up-sampling, dense, normalization, activations and initializers vs NumPy."""

import math

import keras
import numpy as np
import pytest
import scipy.linalg
import tensorflow as tf

from mrinets import layers
from tests import reference
from tests.conftest import random_complex

SPATIAL = {1: (9,), 2: (7, 8), 3: (5, 6, 4)}


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("padding,strides", [("valid", None), ("same", None), ("same", 1), ("valid", 1)])
def test_pooling_matches_numpy(rng, rank, mode, padding, strides):
    x = random_complex(rng, (2, *SPATIAL[rank], 3), np.complex128)
    cls = getattr(layers, f"{'Max' if mode == 'max' else 'Average'}Pooling{rank}D")
    layer = cls(pool_size=2, strides=strides, padding=padding, dtype="complex128")
    y = layer(x).numpy()
    expected = reference.pool(x, (2,) * rank, (strides or 2,) * rank, padding, mode)
    assert y.shape == layer.compute_output_shape(x.shape) == expected.shape
    np.testing.assert_allclose(y, expected, atol=1e-12)


@pytest.mark.parametrize("mode", ["max", "average"])
def test_real_float64_3d_pooling_matches_numpy(rng, mode):
    x = rng.standard_normal((2, 5, 6, 4, 3))
    cls = layers.MaxPooling3D if mode == "max" else layers.AveragePooling3D
    y = cls(2, padding="same", dtype="float64")(x).numpy()
    np.testing.assert_allclose(y, reference.pool(x, (2, 2, 2), (2, 2, 2), "same", mode) if mode == "average"
                               else _real_max_pool(x), atol=1e-12)


def _real_max_pool(x):
    padded = np.pad(x, [(0, 0), (0, 1), (0, 0), (0, 0), (0, 0)], constant_values=-np.inf)
    n, d, h, w, c = padded.shape
    return padded.reshape(n, d // 2, 2, h // 2, 2, w // 2, 2, c).max(axis=(2, 4, 6))


def test_max_pooling_gradient_flows_to_the_winner(rng):
    x = tf.Variable(random_complex(rng, (1, 4, 4, 1)))
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(tf.math.real(layers.MaxPooling2D(dtype="complex64")(x)))
    grad = tape.gradient(y, x).numpy()
    assert np.count_nonzero(grad) == 4  # one winner per 2x2 window
    magnitudes = np.abs(x.numpy()[0, :, :, 0])
    winners = np.abs(grad[0, :, :, 0]) > 0
    for i in range(2):
        for j in range(2):
            window = magnitudes[2 * i:2 * i + 2, 2 * j:2 * j + 2]
            assert winners[2 * i:2 * i + 2, 2 * j:2 * j + 2][np.unravel_index(window.argmax(), (2, 2))]


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_upsampling_matches_numpy(rng, rank):
    x = random_complex(rng, (2, *SPATIAL[rank], 3))
    size = (2, 3, 1)[:rank]
    y = getattr(layers, f"UpSampling{rank}D")(size, dtype="complex64")(x).numpy()
    expected = x
    for axis, factor in enumerate(size):
        expected = np.repeat(expected, factor, axis=axis + 1)
    np.testing.assert_array_equal(y, expected)
    with pytest.raises(ValueError, match="argument `interpolation`"):
        getattr(layers, f"UpSampling{rank}D")(2, interpolation="bilinear")


def test_dense_matches_numpy(rng):
    x = random_complex(rng, (3, 5, 4), np.complex128)
    layer = layers.Dense(6, dtype="complex128", activation="cardioid", bias_initializer="complex_he_normal")
    y = layer(x).numpy()
    z = x @ layer.kernel.numpy() + layer.bias.numpy()
    expected = 0.5 * (1 + np.cos(np.angle(z))) * z
    np.testing.assert_allclose(y, expected, atol=1e-6)


def _complex_activation_reference(name, z, bias=-0.1):
    """NumPy formulas; ``bias``: modReLU's bias (a float or per channel, the last axis)."""
    magnitude, phase = np.abs(z), np.angle(z)
    if name == "complex_relu":
        return np.maximum(z.real, 0) + 1j * np.maximum(z.imag, 0)
    if name == "mod_relu":
        return np.maximum(magnitude + bias, 0) * np.exp(1j * phase)
    if name == "zrelu":
        return np.where((phase >= 0) & (phase <= np.pi / 2), z, 0)
    return 0.5 * (1 + np.cos(phase)) * z


@pytest.mark.parametrize("name", ["complex_relu", "mod_relu", "zrelu", "cardioid"])
def test_activations_match_numpy_as_function_string_and_layer(rng, name):
    z = random_complex(rng, (4, 6, 3), np.complex128)
    expected = _complex_activation_reference(name, z)
    np.testing.assert_allclose(getattr(layers, name)(z).numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(layers.Activation(name, dtype="complex128")(z).numpy(), expected, atol=1e-6)
    assert layers.Activation.from_config(layers.Activation(name).get_config()).activation.identifier == name
    conv = layers.Conv1D(3, 1, use_bias=False, dtype="complex128", activation=name,
                         kernel_initializer="zeros")
    conv.build(z.shape)
    conv.set_weights([np.eye(3)[None], np.zeros((1, 3, 3))] + ([np.full(3, -0.1)] if name == "mod_relu" else []))
    np.testing.assert_allclose(conv(z).numpy(), expected, atol=1e-6)


def test_mod_relu_learns_a_per_channel_bias(rng):
    """modReLU's bias is a trainable ``(C,)`` weight of the layer applying it, -0.1 at initialization."""
    z = random_complex(rng, (2, 7, 3), np.complex128)
    layer = layers.ModReLU(dtype="complex128")
    layer.build(z.shape)
    assert [(w.name, tuple(w.shape), w.trainable) for w in layer.weights] == [("bias", (3,), True)]
    np.testing.assert_allclose(layer.weights[0].numpy(), -0.1)
    bias = np.array([-1.0, 0.0, -0.3])
    layer.set_weights([bias])
    np.testing.assert_allclose(layer(z).numpy(), _complex_activation_reference("mod_relu", z, bias), atol=1e-6)
    np.testing.assert_allclose(layers.mod_relu(z, bias).numpy(), _complex_activation_reference("mod_relu", z, bias),
                               atol=1e-6)
    assert layers.ModReLU.from_config(layers.ModReLU(bias=-1.0).get_config()).get_config()["bias"] == -1.0
    # d/db sum |modReLU(z)|^2 = sum over active entries of 2 (|z| + b), per channel.
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.abs(layer(z)) ** 2)
    active = np.maximum(np.abs(z) + bias, 0)
    np.testing.assert_allclose(tape.gradient(loss, layer.weights[0]).numpy(), (2 * active).sum(axis=(0, 1)),
                               rtol=1e-6)
    zv = tf.Variable(np.concatenate([z.reshape(-1), [0j]]))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.abs(layers.mod_relu(zv, bias=0.5)) ** 2)
    assert np.all(np.isfinite(tape.gradient(loss, zv).numpy()))


@pytest.mark.parametrize("make", [
    lambda: layers.Conv2D(4, 3, padding="same", activation="mod_relu", dtype="complex64"),
    lambda: layers.Conv2D(4, 3, padding="same", activation="mod_relu", dtype="complex64", data_format="channels_first"),
    lambda: layers.Dense(4, activation={"type": "mod_relu", "bias": -0.3}, dtype="complex64"),
], ids=["conv", "conv_channels_first", "dense"])
def test_mod_relu_inside_a_layer_owns_its_bias(rng, make, tmp_path):
    layer = make()
    conv = isinstance(layer, layers.Conv2D)
    first = conv and layer.data_format == "channels_first"
    shape = (2, 3, 6, 6) if first else (2, 6, 6, 3) if conv else (2, 5)
    x = random_complex(rng, shape)
    y = layer(x).numpy()
    biases = [w for w in layer.trainable_weights if w.path.endswith("/bias") and "activation" in w.path]
    assert len(biases) == 1 and tuple(biases[0].shape) == (4,), [w.path for w in layer.weights]
    np.testing.assert_allclose(biases[0].numpy(), layer.activation.initial_value)
    # NumPy reference: the pre-activation, then modReLU with the layer's bias per channel
    if conv:
        pre = reference.conv(np.moveaxis(x, 1, -1) if first else x, layer.kernel.numpy(), (1, 1), "same", (1, 1))
    else:
        pre = x @ layer.kernel.numpy()
    expected = _complex_activation_reference("mod_relu", pre + layer.bias.numpy(), biases[0].numpy())
    expected = np.moveaxis(expected, -1, 1) if first else expected
    np.testing.assert_allclose(y, expected, atol=1e-4)
    clone = type(layer).from_config(layer.get_config())
    clone.build(shape)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(x).numpy(), y, atol=1e-6)
    inputs = keras.Input(shape[1:], dtype="complex64")
    model = keras.Model(inputs, layer(inputs))
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "m.keras")(x).numpy(), y, atol=1e-6)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.abs(layer(x)) ** 2)
    assert np.any(tape.gradient(loss, biases[0]).numpy() != 0)


def test_real_activation_on_complex_layer_is_split(rng):
    z = random_complex(rng, (2, 5, 2))
    np.testing.assert_allclose(layers.Activation("tanh", dtype="complex64")(z).numpy(),
                               np.tanh(z.real) + 1j * np.tanh(z.imag), atol=1e-6)
    with pytest.raises(ValueError, match="is complex-valued"):
        layers.Activation("mod_relu")(tf.zeros((2, 3)))


def _whitened_reference(z, axes, eps):
    """Per-channel 2x2 covariance whitening with scipy's matrix square root."""
    moved = np.moveaxis(z, -1, 0)
    out = np.empty_like(moved)
    for c in range(moved.shape[0]):
        values = moved[c]
        centred = values - values.mean(axis=axes, keepdims=True)
        pairs = np.stack([centred.real.reshape(-1), centred.imag.reshape(-1)])
        covariance = pairs @ pairs.T / pairs.shape[1] + eps * np.eye(2)
        whitened = scipy.linalg.inv(scipy.linalg.sqrtm(covariance)).real @ pairs
        out[c] = (whitened[0] + 1j * whitened[1]).reshape(values.shape)
    return np.moveaxis(out, 0, -1)


def test_complex_batch_norm_whitens_like_numpy(rng):
    mixing = np.array([[2.0, 0.0], [1.5, 0.5]])
    raw = rng.standard_normal((2, 64, 5, 5, 3))
    mixed = np.einsum("ij,j...->i...", mixing, raw)
    z = (mixed[0] + 1j * mixed[1] + (1 - 2j)).astype(np.complex128)
    layer = layers.BatchNormalization(dtype="complex128", momentum=0.0, center=False)
    y = layer(z, training=True).numpy()
    expected = _whitened_reference(z, axes=None, eps=1e-3) / math.sqrt(2)
    np.testing.assert_allclose(y, expected, atol=1e-8)
    # momentum=0: moving statistics are those of the batch, so inference reproduces the training output
    np.testing.assert_allclose(layer(z, training=False).numpy(), expected, atol=1e-8)


def test_complex_instance_and_layer_norm(rng):
    z = random_complex(rng, (2, 6, 6, 3), np.complex128) * (3 + 1j) + 2
    inst = layers.InstanceNormalization(dtype="complex128", epsilon=1e-6)(z).numpy() * math.sqrt(2)
    for b in range(2):
        np.testing.assert_allclose(inst[b], _whitened_reference(z[b][None], axes=None, eps=1e-6)[0], atol=1e-6)
    lay = layers.LayerNormalization(dtype="complex128", epsilon=1e-6)(z).numpy() * math.sqrt(2)
    for b in range(2):
        values = z[b].reshape(-1)
        reference_b = _whitened_reference(values[None, :, None], axes=None, eps=1e-6)[0, :, 0]
        np.testing.assert_allclose(lay[b].reshape(-1), reference_b, atol=1e-6)


def test_real_batch_norm_matches_keras(rng):
    import keras

    x = rng.standard_normal((8, 5, 5, 3)).astype("float32") * 3 + 1
    ours, theirs = layers.BatchNormalization(), keras.layers.BatchNormalization()
    np.testing.assert_allclose(ours(x, training=True).numpy(), theirs(x, training=True).numpy(), atol=1e-5)
    np.testing.assert_allclose(ours(x, training=False).numpy(), theirs(x, training=False).numpy(), atol=1e-5)


@pytest.mark.parametrize("cls,axes", [(layers.InstanceNormalization, (1, 2)), (layers.LayerNormalization, (1, 2, 3))])
def test_real_instance_and_layer_norm_values_and_gradient(rng, cls, axes):
    # Real instance/layer norm has a hand-written gradient: check values against NumPy and the
    # gradient against finite differences.
    x = rng.standard_normal((2, 5, 4, 3)) * 3 + 1
    layer = cls(dtype="float64", epsilon=1e-3, center=False, scale=False)
    mean, var = x.mean(axes, keepdims=True), x.var(axes, keepdims=True)
    np.testing.assert_allclose(layer(x).numpy(), (x - mean) / np.sqrt(var + 1e-3), atol=1e-10)
    weights = tf.constant(rng.standard_normal(x.shape))
    theoretical, numerical = tf.test.compute_gradient(lambda t: tf.reduce_sum(layer(t) ** 2 * weights), [x])
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-6)


@pytest.mark.parametrize("name,variance", [
    ("complex_glorot_uniform", 2 / (9 * 40 + 9 * 60)),
    ("complex_glorot_normal", 2 / (9 * 40 + 9 * 60)),
    ("complex_he_uniform", 2 / (9 * 40)),
    ("complex_he_normal", 2 / (9 * 40)),
    ("complex_lecun_uniform", 1 / (9 * 40)),
    ("complex_lecun_normal", 1 / (9 * 40)),
])
def test_complex_initializer_statistics(name, variance):
    from mrinets.layers import initializers

    w = initializers.get(name)((3, 3, 40, 60), "complex64").numpy().astype(np.complex128)
    assert w.dtype == np.complex128
    np.testing.assert_allclose(np.mean(np.abs(w) ** 2), variance, rtol=0.05)
    np.testing.assert_allclose(np.var(w.real), np.var(w.imag), rtol=0.1)  # real and imag drawn jointly, balanced
    assert abs(np.mean(w**2)) < 0.05 * variance  # circular: no preferred phase
    if name.endswith("uniform"):
        assert np.abs(w).max() <= math.sqrt(2 * variance) + 1e-6


def test_initializer_names_on_complex_layers():
    layer = layers.Conv2D(64, 3, dtype="complex64")  # default glorot_uniform -> its complex counterpart
    layer.build((1, 8, 8, 64))
    kernel = layer.kernel.numpy()
    np.testing.assert_allclose(np.mean(np.abs(kernel) ** 2), 2 / (9 * 128), rtol=0.1)
    ones = layers.Conv2D(2, 1, dtype="complex64", kernel_initializer="ones")
    ones.build((1, 4, 4, 2))
    np.testing.assert_array_equal(ones.kernel.numpy(), np.ones((1, 1, 2, 2)))
