import keras
import numpy as np
import pytest
import tensorflow as tf

from mrinets import layers
from mrinets.train.losses import ComplexMSE
from tests import reference
from tests.conftest import random_complex

CONV = {1: layers.Conv1D, 2: layers.Conv2D, 3: layers.Conv3D}
CONV_T = {1: layers.Conv1DTranspose, 2: layers.Conv2DTranspose, 3: layers.Conv3DTranspose}
SPATIAL = {1: (11,), 2: (9, 8), 3: (6, 7, 5)}

GRID = [
    # rank, kernel, strides, padding, dilation, groups
    (1, 3, 1, "valid", 1, 1),
    (1, 4, 2, "same", 1, 2),
    (1, 3, 1, "same", 2, 1),
    (2, 3, 1, "same", 1, 1),
    (2, (3, 2), (2, 1), "valid", 1, 1),
    (2, 3, 1, "valid", (2, 1), 2),
    (2, 2, 2, "same", 1, 1),
    (3, 3, 1, "same", 1, 1),
    (3, 2, (1, 2, 2), "valid", 1, 2),
    (3, 3, 1, "valid", 2, 1),
]


def _tuple(value, rank):
    return (value,) * rank if isinstance(value, int) else tuple(value)


@pytest.mark.parametrize("rank,kernel,strides,padding,dilation,groups", GRID)
@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_complex_conv_matches_numpy(rng, rank, kernel, strides, padding, dilation, groups, dtype):
    x = random_complex(rng, (2, *SPATIAL[rank], 4), np.complex128)
    layer = CONV[rank](6, kernel, strides=strides, padding=padding, dilation_rate=dilation, groups=groups,
                       dtype=dtype, bias_initializer="complex_glorot_normal")
    y = layer(tf.constant(x.astype(dtype))).numpy()
    expected = reference.conv(x, layer.kernel.numpy().astype(np.complex128), _tuple(strides, rank), padding,
                              _tuple(dilation, rank), groups) + layer.bias.numpy()
    assert y.dtype == np.dtype(dtype)
    assert y.shape == layer.compute_output_shape(x.shape)
    np.testing.assert_allclose(y, expected, rtol=1e-4 if dtype == "complex64" else 1e-10,
                               atol=1e-4 if dtype == "complex64" else 1e-10)


@pytest.mark.parametrize("rank,kernel,strides,padding,dilation,groups", GRID)
def test_real_conv_is_keras_conv(rng, rank, kernel, strides, padding, dilation, groups):
    x = rng.standard_normal((2, *SPATIAL[rank], 4)).astype("float32")
    ours = CONV[rank](6, kernel, strides=strides, padding=padding, dilation_rate=dilation, groups=groups,
                      activation="relu")
    theirs = getattr(keras.layers, f"Conv{rank}D")(6, kernel, strides=strides, padding=padding,
                                                   dilation_rate=dilation, groups=groups, activation="relu")
    ours.build(x.shape)
    theirs.build(x.shape)
    theirs.set_weights(ours.get_weights())
    assert [w.shape for w in ours.weights] == [w.shape for w in theirs.weights]
    np.testing.assert_array_equal(ours(x).numpy(), theirs(x).numpy())
    assert ours.compute_output_shape(x.shape) == tuple(theirs.compute_output_shape(x.shape))


@pytest.mark.parametrize("data_format", ["channels_first", "channels_last"])
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_channels_first_matches_channels_last(rng, rank, data_format):
    x = random_complex(rng, (2, *SPATIAL[rank], 3))
    last = CONV[rank](4, 3, padding="same", dtype="complex64")
    expected = last(x).numpy()
    layer = CONV[rank](4, 3, padding="same", dtype="complex64", data_format=data_format)
    x_in = x if data_format == "channels_last" else np.moveaxis(x, -1, 1)
    layer.build(x_in.shape)
    layer.set_weights(last.get_weights())
    y = layer(x_in).numpy()
    y = y if data_format == "channels_last" else np.moveaxis(y, 1, -1)
    np.testing.assert_allclose(y, expected, atol=1e-5)


TRANSPOSE_GRID = [
    (1, 3, 2, "valid", None),
    (1, 4, 2, "same", None),
    (2, 3, 2, "same", None),
    (2, (3, 2), (2, 1), "valid", (1, 0)),
    (3, 2, 2, "same", None),
    (3, 3, 1, "valid", None),
]


@pytest.mark.parametrize("rank,kernel,strides,padding,output_padding", TRANSPOSE_GRID)
def test_complex_conv_transpose_matches_numpy(rng, rank, kernel, strides, padding, output_padding):
    spatial = tuple(max(2, s // 2) for s in SPATIAL[rank])
    x = random_complex(rng, (2, *spatial, 3), np.complex128)
    layer = CONV_T[rank](5, kernel, strides=strides, padding=padding, output_padding=output_padding,
                         dtype="complex128", bias_initializer="complex_glorot_normal")
    y = layer(x).numpy()
    assert y.shape == layer.compute_output_shape(x.shape)
    expected = reference.conv_transpose(x, layer.kernel.numpy(), _tuple(strides, rank), padding,
                                        (1,) * rank, y.shape[1:-1]) + layer.bias.numpy()
    np.testing.assert_allclose(y, expected, atol=1e-10)


@pytest.mark.parametrize("rank,kernel,strides,padding,output_padding", TRANSPOSE_GRID)
def test_real_conv_transpose_is_keras(rng, rank, kernel, strides, padding, output_padding):
    x = rng.standard_normal((2, *SPATIAL[rank], 3)).astype("float32")
    ours = CONV_T[rank](5, kernel, strides=strides, padding=padding, output_padding=output_padding)
    theirs = getattr(keras.layers, f"Conv{rank}DTranspose")(5, kernel, strides=strides, padding=padding,
                                                            output_padding=output_padding)
    ours.build(x.shape)
    theirs.build(x.shape)
    theirs.set_weights(ours.get_weights())
    np.testing.assert_array_equal(ours(x).numpy(), theirs(x).numpy())
    assert ours.compute_output_shape(x.shape) == tuple(theirs.compute_output_shape(x.shape))


def test_transpose_is_adjoint_of_conv(rng):
    """<conv(x), y> == <x, conv_transpose(y)> with the same complex kernel (no bias)."""
    conv = layers.Conv2D(3, 3, strides=2, padding="same", use_bias=False, dtype="complex128")
    x = random_complex(rng, (1, 8, 8, 2), np.complex128)
    conv_x = conv(x).numpy()
    adjoint = layers.Conv2DTranspose(2, 3, strides=2, padding="same", use_bias=False, dtype="complex128")
    y = random_complex(rng, conv_x.shape, np.complex128)
    adjoint.build(y.shape)
    kernel = np.conj(conv.kernel.numpy())  # (k, k, out=2, in=3) is the conv layout (k, k, in=2, out=3)
    adjoint.set_weights([kernel.real, kernel.imag])
    lhs = np.vdot(y, conv_x)
    rhs = np.vdot(adjoint(y).numpy(), x)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-10)


def test_extra_batch_dimensions():
    x = tf.complex(tf.random.normal((4, 7, 10, 10, 10, 1)), tf.random.normal((4, 7, 10, 10, 10, 1)))
    layer = layers.Conv3D(2, 3, dtype="complex64")
    y = layer(x)
    assert y.shape == (4, 7, 8, 8, 8, 2)
    np.testing.assert_allclose(y[1, 3].numpy(), layer(x[1:2, 3]).numpy()[0], atol=1e-5)
    assert layers.Conv3D(2, 3)(tf.random.normal((4, 7, 10, 10, 10, 1))).shape == (4, 7, 8, 8, 8, 2)


def test_gradients_match_finite_differences(rng):
    x = random_complex(rng, (1, 5, 5, 2), np.complex128)
    layer = layers.Conv2D(2, 3, padding="same", dtype="complex128", groups=2)
    weights = rng.standard_normal((1, 5, 5, 2)) + 1j * rng.standard_normal((1, 5, 5, 2))

    def loss(kernel_real, kernel_imag, inputs):
        y = reference.conv(inputs, kernel_real + 1j * kernel_imag, (1, 1), "same", (1, 1), groups=2)
        return np.real(np.sum(np.conj(weights) * y))

    xt = tf.Variable(x)
    with tf.GradientTape() as tape:
        y = layer(xt)
        value = tf.math.real(tf.reduce_sum(tf.math.conj(tf.constant(weights)) * y))
    grad_kr, grad_ki, grad_x = tape.gradient(value, [layer._kernel[0], layer._kernel[1], xt])
    kr, ki = (v.numpy() for v in layer._kernel)
    eps = 1e-6
    for index in [(0, 0, 0, 0), (1, 2, 0, 1), (2, 1, 0, 0)]:
        for which, grad in ((0, grad_kr), (1, grad_ki)):
            plus = [kr.copy(), ki.copy()]
            minus = [kr.copy(), ki.copy()]
            plus[which][index] += eps
            minus[which][index] -= eps
            numeric = (loss(*plus, x) - loss(*minus, x)) / (2 * eps)
            np.testing.assert_allclose(grad.numpy()[index], numeric, rtol=1e-6, atol=1e-8)
    # Gradient w.r.t. a complex input: TF returns conj(dL/dz) convention d/dRe + i d/dIm.
    for index in [(0, 0, 0, 0), (0, 3, 2, 1)]:
        for part in (1, 1j):
            plus, minus = x.copy(), x.copy()
            plus[index] += eps * part
            minus[index] -= eps * part
            numeric = (loss(kr, ki, plus) - loss(kr, ki, minus)) / (2 * eps)
            got = grad_x.numpy()[index]
            np.testing.assert_allclose(got.real if part == 1 else got.imag, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize(
    "kwargs,pattern",
    [
        ({"padding": "causal"}, r"Invalid value for argument `padding`.*Received: padding='causal'"),
        ({"strides": 2, "dilation_rate": 2}, r"strides.*dilation_rate"),
        ({"kernel_size": 0}, r"Invalid value for argument `kernel_size`.*Received: kernel_size=0"),
        ({"filters": 5, "groups": 2}, r"argument `filters`.*multiple of groups=2.*filters=5"),
        ({"filters": 0}, r"argument `filters`.*filters=0"),
        ({"kernel_size": (3, 3)}, r"argument `kernel_size`.*tuple of 3"),
        ({"data_format": "NHWC"}, r"argument `data_format`"),
    ],
)
def test_argument_errors(kwargs, pattern):
    args = {"filters": 4, "kernel_size": 3, **kwargs}
    with pytest.raises(ValueError, match=pattern):
        layers.Conv3D(**args, dtype="complex64")


def test_input_errors():
    layer = layers.Conv2D(4, 3, groups=2, dtype="complex64")
    with pytest.raises(ValueError, match=r"expected a tensor of rank >= 4.*input_shape=\(8, 8, 3\)"):
        layer.build((8, 8, 3))
    with pytest.raises(ValueError, match=r"argument `groups`.*groups=2.*3 channels"):
        layer.build((1, 8, 8, 3))
    built = layers.Conv2D(4, 3, dtype="complex64")
    built(tf.zeros((1, 8, 8, 3), tf.complex64))
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 3"):
        built(tf.zeros((1, 8, 8, 2), tf.complex64))
    with pytest.raises(AttributeError, match="no kernel until it is built"):
        layers.Conv2D(4, 3).kernel


def test_stacked_form_chains_without_conversion(rng):
    x = random_complex(rng, (2, 8, 8, 3))
    first = layers.Conv2D(4, 3, padding="same", dtype="complex64", activation="cardioid")
    second = layers.Conv2D(2, 3, padding="same", dtype="complex64")
    expected = second(first(x)).numpy()
    first_s = layers.Conv2D(4, 3, padding="same", dtype="complex64", activation="cardioid", stacked=True)
    second_s = layers.Conv2D(2, 3, padding="same", dtype="complex64", stacked=True)
    stacked = layers.to_stacked(tf.constant(x))
    first_s.build(stacked.shape)
    first_s.set_weights(first.get_weights())
    hidden = first_s(stacked)
    assert hidden.dtype == tf.float32 and hidden.shape[-1] == 8
    second_s.build(hidden.shape)
    second_s.set_weights(second.get_weights())
    np.testing.assert_allclose(layers.from_stacked(second_s(hidden)).numpy(), expected, atol=1e-5)
    with pytest.raises(ValueError, match="stacked=True and expects float inputs"):
        second_s(tf.zeros((1, 4, 4, 8), tf.complex64))
    with pytest.raises(ValueError, match="argument `stacked`"):
        layers.Conv2D(2, 3, stacked=True)


def test_complex_weights_are_float_pairs_and_read_only():
    layer = layers.Conv2D(3, 3, dtype="complex64")
    layer.build((1, 8, 8, 2))
    assert [w.name for w in layer.trainable_weights] == ["kernel_real", "kernel_imag", "bias_real", "bias_imag"]
    assert all(w.dtype == "float32" for w in layer.weights)
    assert layer.kernel.dtype == tf.complex64 and layer.kernel.shape == (3, 3, 2, 3)
    with pytest.raises(AttributeError):
        layer.kernel = None
    double = layers.Conv1D(3, 3, dtype="complex128")
    double.build((1, 8, 2))
    assert all(w.dtype == "float64" for w in double.weights)


def test_adam_fit_converges_to_least_squares(rng):
    x = random_complex(rng, (256, 4))
    w_true = random_complex(rng, (4, 2))
    y = x @ w_true + 0.05 * random_complex(rng, (256, 2))
    expected = np.linalg.lstsq(x.astype(np.complex128), y.astype(np.complex128), rcond=None)[0]
    inputs = keras.Input((4,), dtype="complex64")
    model = keras.Model(inputs, layers.Dense(2, use_bias=False, dtype="complex64", kernel_initializer="zeros")(inputs))
    schedule = keras.optimizers.schedules.ExponentialDecay(0.05, decay_steps=150, decay_rate=0.5)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=ComplexMSE())
    model.fit(tf.data.Dataset.from_tensors((x, y)).repeat(1200), epochs=1, verbose=0)  # full-batch steps
    np.testing.assert_allclose(model.layers[-1].kernel.numpy(), expected, atol=5e-3)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_xla_compiled_matches_eager(rng, data_format):
    """Under jit_compile the complex<->stacked conversion takes its XLA-safe path; results agree."""
    x = tf.Variable(random_complex(rng, (2, 6, 6, 3) if data_format == "channels_last" else (2, 3, 6, 6)))
    layer = layers.Conv2D(4, 3, padding="same", dtype="complex64", activation="mod_relu", data_format=data_format)

    def step():
        with tf.GradientTape() as tape:
            y = layer(x)
            loss = tf.reduce_sum(tf.abs(y) ** 2)
        return y, tape.gradient(loss, [x] + layer.trainable_weights)

    eager_y, eager_grads = step()
    xla_y, xla_grads = tf.function(step, jit_compile=True)()
    np.testing.assert_allclose(xla_y.numpy(), eager_y.numpy(), atol=1e-5)
    for got, expected in zip(xla_grads, eager_grads):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-4, atol=1e-4)
