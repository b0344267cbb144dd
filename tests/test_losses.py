"""Complex-aware losses vs NumPy references: values, weights, reductions, gradients, fit."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from mrinets import config, registry
from mrinets.train import losses
from mrinets.train.losses import L1, LOSSES, MSE, NMSE, Combined, ComplexMSE, SSIMLoss


def rand_complex(rng, shape, dtype=np.complex64):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)


# -- NumPy references -----------------------------------------------------------
def np_l1(t, p):
    return np.abs(p - t).reshape(len(t), -1).mean(1)


def np_mse(t, p):
    return (np.abs(p - t) ** 2).reshape(len(t), -1).mean(1)


def np_nmse(t, p):
    return (np.abs(p - t) ** 2).reshape(len(t), -1).sum(1) / (np.abs(t) ** 2).reshape(len(t), -1).sum(1)


def np_ssim_loss(t, p, win=7, k1=0.01, k2=0.03):
    """1 - mean SSIM over valid windows, per example, written out window by window."""
    out = []
    def magnitude(a):  # complex images are compared by magnitude; real ones as they are
        return (np.abs(a) if np.iscomplexobj(a) else a).astype(np.float64)

    for x, y in zip(magnitude(p), magnitude(t)):
        x, y = x.reshape(x.shape[0], x.shape[1]), y.reshape(y.shape[0], y.shape[1])
        c1, c2 = (k1 * y.max()) ** 2, (k2 * y.max()) ** 2
        values = []
        for i in range(x.shape[0] - win + 1):
            for j in range(x.shape[1] - win + 1):
                a, b = x[i : i + win, j : j + win].ravel(), y[i : i + win, j : j + win].ravel()
                ma, mb = a.mean(), b.mean()
                va, vb = a.var(ddof=1), b.var(ddof=1)
                cov = ((a - ma) * (b - mb)).sum() / (a.size - 1)
                values.append((2 * ma * mb + c1) * (2 * cov + c2) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
        out.append(1 - np.mean(values))
    return np.array(out)


def reduce(values, weights=None, reduction="sum_over_batch_size"):
    values = values * (1 if weights is None else np.asarray(weights).reshape(values.shape))
    if reduction in ("none", None):
        return values
    if reduction == "sum":
        return values.sum()
    if reduction == "mean_with_sample_weight" and weights is not None:
        return values.sum() / np.sum(weights)
    return values.sum() / values.size


CASES = [(L1, np_l1), (MSE, np_mse), (ComplexMSE, np_mse), (NMSE, np_nmse)]


def test_keras_drops_the_imaginary_part_and_ours_does_not():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
        assert float(keras.losses.MeanSquaredError()(np.array([1j]), np.array([0j]))) == 0.0
    assert float(MSE()(np.array([1j]), np.array([0j]))) == pytest.approx(1.0)
    assert float(ComplexMSE()(np.array([[1j]]), np.array([[0j]]))) == pytest.approx(1.0)
    assert float(L1()(np.array([[3 + 4j]]), np.array([[0j]]))) == pytest.approx(5.0)


@pytest.mark.parametrize("cls, reference", CASES, ids=[c.__name__ for c, _ in CASES])
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none", "mean", "mean_with_sample_weight"])
def test_values_match_numpy_with_sample_weights(rng, cls, reference, reduction):
    t, p = rand_complex(rng, (4, 5, 6)), rand_complex(rng, (4, 5, 6))
    weights = rng.uniform(0.1, 2.0, size=4).astype(np.float32)
    expected = reference(t.astype(np.complex128), p.astype(np.complex128))
    loss = cls(reduction=reduction)
    np.testing.assert_allclose(loss(t, p), reduce(expected, reduction=reduction), rtol=1e-5)
    np.testing.assert_allclose(loss(t, p, sample_weight=weights), reduce(expected, weights, reduction), rtol=1e-5)
    np.testing.assert_allclose(loss(t, p, sample_weight=weights[:, None]), reduce(expected, weights, reduction), rtol=1e-5)


@pytest.mark.parametrize("cls, reference", [(L1, np_l1), (MSE, np_mse), (NMSE, np_nmse)])
def test_real_inputs_and_float64(rng, cls, reference):
    t, p = rng.standard_normal((3, 8)), rng.standard_normal((3, 8))
    np.testing.assert_allclose(cls()(t.astype("float32"), p.astype("float32")), reference(t, p).mean(), rtol=1e-5)
    out = cls(dtype="float64")(t, p)
    assert out.dtype == tf.float64
    np.testing.assert_allclose(out, reference(t, p).mean(), rtol=1e-12)
    out = cls(dtype="float64")(t.astype(np.complex128), (p + 1e-9j).astype(np.complex128))
    assert out.dtype == tf.float64


def test_real_target_complex_prediction_and_trailing_channel(rng):
    t = rng.standard_normal((2, 6, 6)).astype(np.float32)
    p = rand_complex(rng, (2, 6, 6, 1))
    np.testing.assert_allclose(MSE()(t, p), np_mse(t, p[..., 0]).mean(), rtol=1e-5)
    np.testing.assert_allclose(L1(reduction="none")(t[..., None], p[..., 0]), np_l1(t, p[..., 0]), rtol=1e-5)


@pytest.mark.parametrize("shape", [(3, 12, 14), (3, 12, 14, 1)])
def test_ssim_loss_matches_windowed_numpy_and_skimage(rng, shape):
    t = np.abs(rand_complex(rng, shape))
    p = t + 0.2 * rng.standard_normal(shape).astype(np.float32)
    expected = np_ssim_loss(t, p)
    np.testing.assert_allclose(SSIMLoss(reduction="none")(t, p), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(SSIMLoss()(t, p), expected.mean(), rtol=1e-4, atol=1e-5)
    skimage_metrics = pytest.importorskip("skimage.metrics")
    for i in range(shape[0]):
        a, b = t[i].reshape(shape[1:3]), p[i].reshape(shape[1:3])
        ref = 1 - skimage_metrics.structural_similarity(a, b, data_range=a.max(), win_size=7)
        assert float(SSIMLoss(reduction="none")(t[i : i + 1], p[i : i + 1])[0]) == pytest.approx(ref, abs=1e-5)


def test_ssim_loss_on_complex_uses_magnitudes_and_is_zero_for_equal_images(rng):
    t = rand_complex(rng, (2, 9, 9))
    phase = np.exp(1j * rng.uniform(0, 6, size=t.shape)).astype(np.complex64)
    assert float(SSIMLoss()(t, t * phase)) == pytest.approx(0.0, abs=1e-5)
    np.testing.assert_allclose(SSIMLoss(win_size=3, k1=0.02)(t, t[::-1]), np_ssim_loss(t, t[::-1], win=3, k1=0.02).mean(), rtol=1e-4)


def test_combined_is_the_weighted_sum_per_example(rng):
    t = np.abs(rand_complex(rng, (2, 10, 10)))
    p = t + 0.1 * rng.standard_normal(t.shape).astype(np.float32)
    weights = np.array([0.5, 2.0], np.float32)
    combined = Combined([{"type": "L1", "weight": 0.16}, {"type": "SSIMLoss", "weight": 0.84}], reduction="sum")
    expected = 0.16 * np_l1(t, p) + 0.84 * np_ssim_loss(t, p)
    np.testing.assert_allclose(combined(t, p, sample_weight=weights), (expected * weights).sum(), rtol=1e-4)
    same = Combined([L1(), "SSIMLoss"], weights=[0.16, 0.84], reduction="sum")
    np.testing.assert_allclose(same(t, p, sample_weight=weights), (expected * weights).sum(), rtol=1e-4)
    complex_mix = Combined(["ComplexMSE", {"type": "NMSE"}])
    tc, pc = rand_complex(rng, (2, 4)), rand_complex(rng, (2, 4))
    np.testing.assert_allclose(complex_mix(tc, pc), (np_mse(tc, pc) + np_nmse(tc, pc)).mean(), rtol=1e-5)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: L1(reduction="avg"), "argument `reduction`"),
        (lambda: MSE(dtype="int32"), "argument `dtype`"),
        (lambda: SSIMLoss(win_size=6), "argument `win_size`"),
        (lambda: SSIMLoss(k2=0), "argument `k2`"),
        (lambda: Combined([]), "argument `losses`"),
        (lambda: Combined(["L1"], weights=[1, 2]), "argument `weights`"),
        (lambda: Combined([{"type": "L1", "weight": 1}], weights=[1]), "give one or the other"),
        (lambda: Combined([{"type": "L1", "weight": -1}]), "numbers >= 0"),
        (lambda: Combined(["SSIMLos"]), "Unknown loss 'SSIMLos'. Did you mean: SSIMLoss"),
        (lambda: Combined([3]), r"losses\[0\]=3"),
    ],
)
def test_argument_errors_name_the_argument(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_input_errors():
    with pytest.raises(ValueError, match="ComplexMSE expects complex inputs"):
        ComplexMSE()(np.zeros((2, 3), np.float32), np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="ComplexMSE in Combined expects complex"):
        Combined(["ComplexMSE", "L1"])(np.zeros((2, 3), np.float32), np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"argument `y_pred`.*\(batch, H, W\)"):
        SSIMLoss()(np.ones((2, 8, 8, 2)), np.ones((2, 8, 8, 2)))
    with pytest.raises(ValueError, match="H and W >= win_size=7"):
        SSIMLoss()(np.ones((2, 5, 8)), np.ones((2, 5, 8)))


def test_gradients_match_finite_differences(rng):
    t = rand_complex(rng, (2, 8, 8), np.complex128)
    p = t + 0.3 * rand_complex(rng, (2, 8, 8), np.complex128)
    p[0, 0, 0] = t[0, 0, 0]  # an exact zero difference: L1's gradient must stay finite
    for loss in (L1(dtype="float64"), MSE(dtype="float64"), NMSE(dtype="float64"), SSIMLoss(dtype="float64"), Combined(["L1", "SSIMLoss"], dtype="float64")):
        re, im = tf.Variable(p.real), tf.Variable(p.imag)
        with tf.GradientTape() as tape:
            value = loss(t, tf.complex(re, im))
        g_re, g_im = tape.gradient(value, [re, im])
        assert np.all(np.isfinite(g_re)) and np.all(np.isfinite(g_im))
        for index in [(0, 1, 2), (1, 4, 5), (1, 7, 0)]:
            for grad, delta in ((g_re, 1e-6), (g_im, 1e-6j)):
                up, down = p.copy(), p.copy()
                up[index] += delta
                down[index] -= delta
                numeric = (float(loss(t, up)) - float(loss(t, down))) / 2e-6
                assert grad.numpy()[index] == pytest.approx(numeric, rel=1e-4, abs=1e-8), (loss.name, index)


@pytest.mark.parametrize("cls", sorted(LOSSES.values(), key=lambda c: c.__name__), ids=lambda c: c.__name__)
def test_serialization_round_trip(rng, cls):
    loss = cls(["L1", {"type": "MSE", "weight": 2.0}], reduction="sum", name="mix") if cls is Combined else cls(reduction="sum")
    config = loss.get_config()
    restored = cls.from_config(config)
    assert restored.get_config() == config
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert type(again) is cls and again.get_config() == config
    expected = cls.__name__ if cls.__name__.endswith("Loss") else cls.__name__ + "Loss"
    assert keras.saving.get_registered_name(cls) == f"mrinets>{expected}"
    t, p = rand_complex(rng, (2, 8, 8)), rand_complex(rng, (2, 8, 8))
    np.testing.assert_allclose(again(t, p), loss(t, p), rtol=1e-6)


class _ToComplex(keras.layers.Layer):
    def call(self, x):
        return tf.complex(x[..., 0], x[..., 1])


def test_compile_and_fit_learn_the_imaginary_part(rng, tmp_path):
    x = rng.standard_normal((64, 4)).astype(np.float32)
    w_re, w_im = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    y = (x @ w_re + 1j * (x @ w_im)).astype(np.complex64)
    inputs = keras.Input((4,))
    stacked = keras.layers.Reshape((3, 2))(keras.layers.Dense(6, use_bias=False)(inputs))
    model = keras.Model(inputs, _ToComplex()(stacked))
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=Combined([{"type": "MSE", "weight": 1.0}, {"type": "L1", "weight": 0.1}]))
    before = float(MSE()(y, model(x)))
    history = model.fit(x, y, batch_size=16, epochs=40, verbose=0)
    after = float(MSE()(y, model.predict(x, verbose=0)))
    assert after < 0.05 * before and history.history["loss"][-1] < history.history["loss"][0]
    assert np.abs(np.imag(model.predict(x, verbose=0)) - np.imag(y)).mean() < 0.2
    model.compile(optimizer=model.optimizer, loss=MSE())  # `.keras` saving of the compiled loss
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, custom_objects={"_ToComplex": _ToComplex})
    assert isinstance(loaded.loss, MSE)


@pytest.fixture
def loss_registry():
    """The losses under kind ``loss``: registered by a test plugin unless the built-in plugin does."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", registry.PluginWarning)
        missing = sorted(set(LOSSES) - set(registry.names("loss")))

    class Plugin:
        @registry.hookimpl
        def register_losses(self, register):
            for name in missing:
                register(LOSSES[name], name=name)

    registry.add_plugin(Plugin(), "losses-tests")
    yield
    registry.remove_plugin("losses-tests")


def test_losses_table_and_config_validation(rng, loss_registry):
    assert set(LOSSES) == {"L1", "MSE", "ComplexMSE", "NMSE", "SSIMLoss", "Combined"}
    assert losses.LOSSES is LOSSES
    args = config.arguments(Combined)
    assert args.required == {"losses"} and "weights" in args.fields
    assert config.arguments(SSIMLoss).fields["win_size"].default == 7

    text = "loss:\n  type: Combined\n  losses:\n    - {type: L1, weight: 0.16}\n    - {type: SSIMLoss, weight: 0.84, win_size: 5}\n"
    cfg = config.validate(config.load(text), {"loss": config.Field(ref="loss", required=True)})
    loss = config.build(cfg["loss"])
    assert isinstance(loss, Combined) and loss.weights == [0.16, 0.84] and loss.losses[1].win_size == 5
    t = np.abs(rand_complex(rng, (2, 9, 9)))
    np.testing.assert_allclose(loss(t, t[:, ::-1]), (0.16 * np_l1(t, t[:, ::-1]) + 0.84 * np_ssim_loss(t, t[:, ::-1], win=5)).mean(), rtol=1e-4)

    bad = "loss:\n  type: Combined\n  losses:\n    - {type: L1, wieght: 0.16}\n    - {type: SSIMLos}\n    - {type: SSIMLoss, weight: -1, win_size: 0.5}\n"
    with pytest.raises(config.ConfigError) as info:
        config.validate(config.load(bad), {"loss": config.Field(ref="loss", required=True)})
    assert [(config.format_path(p.path), p.line) for p in info.value.problems] == [
        ("loss.losses[0].wieght", 4),
        ("loss.losses[1].type", 5),
        ("loss.losses[2].weight", 6),
        ("loss.losses[2].win_size", 6),
    ]
    assert "Did you mean: weight?" in str(info.value) and "Did you mean: SSIMLoss?" in str(info.value)
