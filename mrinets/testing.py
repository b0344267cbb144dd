"""The checks every mrinets layer passes, for our own tests and for plugin authors' tests.

Each check is a function taking the layer class, its constructor arguments and an
input shape; it builds fresh layers, feeds them random inputs of ``dtype``
(complex Gaussian for a complex dtype) and raises ``AssertionError`` saying what
is wrong. Inputs and initial weights are seeded (``keras.utils.set_random_seed(0)``
before each layer is made), so a check passes or fails the same way every run.
``check_layer`` runs them all::

    from mrinets.testing import check_layer
    check_layer(MyConv, {"filters": 4, "kernel_size": 3}, input_shape=(2, 8, 8, 3))

or subclass ``LayerTestCase`` and let pytest run one test per check and dtype::

    class TestMyConv(LayerTestCase):
        layer_cls = MyConv
        init_kwargs = {"filters": 4, "kernel_size": 3}
        input_shape = (2, 8, 8, 3)

What a layer is expected to do (``CHECKS``, in order):

- ``call``: an eager call returns the shape and dtype ``compute_output_spec`` (from
  ``compute_output_shape``) gives, and that dtype is ``dtype`` (complex in, complex
  out); the outputs are finite and every weight is a real float variable (complex
  weights are real/imaginary pairs, so every Keras optimizer and ``tf.distribute`` works).
- ``symbolic``: in a functional model, with a fixed and with an unknown batch size,
  the symbolic output has the eager call's shape and dtype.
- ``config``: ``from_config(get_config())`` gives the same config and, with the same
  weights, the same outputs.
- ``saving``: a model holding the layer saves to ``.keras`` and loads back with the
  same outputs.
- ``training``: one ``fit`` step with a complex-safe loss (``mrinets.train.losses.MSE``;
  Keras' own losses drop imaginary parts) gives a finite loss and changes the
  trainable weights; for a layer without weights, a finite gradient reaches the input.
- ``mixed_precision``: under the global policy ``mixed_float16`` (what
  ``train.precision: mixed_float16`` sets) the layer builds and runs. A real layer
  (created without ``dtype``) keeps float32 variables, computes and returns float16,
  with outputs close to the float32 layer's given the same weights. A complex layer
  keeps float32 variables and returns ``dtype`` (complex64), computing its stacked
  form in half precision: outputs close to the float32 result. Gradients of the
  variables are float32 and finite.
- ``data_format``: a layer with a ``data_format`` (or a channel ``axis``) gives, with
  ``data_format="channels_first"`` (``axis=1``) and the same weights, the channels_last
  outputs with the channel axis moved, on every device (TF's CPU kernels without oneDNN
  are NHWC only). Layers with neither pass trivially.
- ``registry``: the class is registered under ``registry_kind`` (``"layer"``), so
  configs find it by name, and its constructor signature accepts every key of
  ``init_kwargs`` (the keys a YAML ``{type: Name, ...}`` node would carry).
"""

import contextlib
import os
import tempfile

import keras
import numpy as np
import tensorflow as tf

CHECKS = ("call", "symbolic", "config", "saving", "training", "mixed_precision", "data_format", "registry")


def random_input(shape, dtype="complex64", seed=0):
    """A random tensor of ``shape``: complex Gaussian for complex dtypes, Gaussian otherwise."""
    rng = np.random.default_rng(seed)
    values = rng.standard_normal(shape)
    if tf.as_dtype(dtype).is_complex:
        values = values + 1j * rng.standard_normal(shape)
    return tf.constant(values.astype(tf.as_dtype(dtype).as_numpy_dtype))


def _new(layer_cls, init_kwargs, dtype):
    keras.utils.set_random_seed(0)  # the same initial weights on every run: checks do not flake
    return layer_cls(**{"dtype": dtype, **init_kwargs})


def _run(layer_cls, init_kwargs, input_shape, dtype, call_kwargs):
    """A fresh layer, its input and its eager output."""
    layer = _new(layer_cls, init_kwargs, dtype)
    x = random_input(input_shape, dtype)
    return layer, x, layer(x, **(call_kwargs or {}))


def _close(actual, expected, message, atol=1e-5, rtol=1e-5):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), atol=atol, rtol=rtol, err_msg=message)


def check_call(layer_cls, init_kwargs, input_shape, dtype="complex64", call_kwargs=None):
    """Eager call: shape and dtype of ``compute_output_spec``, dtype ``dtype``, finite values, real float weights."""
    layer, _, y = _run(layer_cls, init_kwargs, input_shape, dtype, call_kwargs)
    spec = layer.compute_output_spec(keras.KerasTensor(tuple(input_shape), dtype=dtype), **(call_kwargs or {}))
    assert tuple(y.shape) == tuple(spec.shape), f"eager output shape {tuple(y.shape)} != compute_output_shape {tuple(spec.shape)}"
    assert y.dtype == tf.as_dtype(dtype), f"eager output dtype {y.dtype.name} != {dtype}"
    assert tf.as_dtype(spec.dtype) == y.dtype, f"compute_output_spec dtype {spec.dtype} != eager output dtype {y.dtype.name}"
    assert np.all(np.isfinite(np.abs(y.numpy()))), "eager outputs are not finite"
    for weight in layer.weights:
        assert tf.as_dtype(weight.dtype).is_floating, (
            f"weight {weight.path} has dtype {weight.dtype}; complex weights must be real/imaginary float pairs"
        )


def check_symbolic(layer_cls, init_kwargs, input_shape, dtype="complex64", call_kwargs=None):
    """Symbolic outputs (fixed and unknown batch size) have the eager output's shape and dtype."""
    _, _, y = _run(layer_cls, init_kwargs, input_shape, dtype, call_kwargs)
    for batch_size in (input_shape[0], None):
        inputs = keras.Input(input_shape[1:], batch_size=batch_size, dtype=dtype)
        symbolic = _new(layer_cls, init_kwargs, dtype)(inputs, **(call_kwargs or {}))
        expected = (batch_size,) + tuple(y.shape[1:])
        assert tuple(symbolic.shape) == expected, f"symbolic shape {tuple(symbolic.shape)} != {expected} (batch_size={batch_size})"
        assert tf.as_dtype(symbolic.dtype) == y.dtype, f"symbolic dtype {symbolic.dtype} != eager dtype {y.dtype.name}"


def check_config(layer_cls, init_kwargs, input_shape, dtype="complex64", call_kwargs=None):
    """``from_config(get_config())`` keeps the config and, with the same weights, the outputs."""
    layer, x, y = _run(layer_cls, init_kwargs, input_shape, dtype, call_kwargs)
    config = layer.get_config()
    clone = layer_cls.from_config(config)
    assert clone.get_config() == config, "get_config() changed after a from_config() round trip"
    clone.build(tuple(input_shape))
    clone.set_weights(layer.get_weights())
    _close(clone(x, **(call_kwargs or {})), y, "from_config() clone with the same weights gives other outputs")


def _model(layer_cls, init_kwargs, input_shape, dtype):
    inputs = keras.Input(input_shape[1:], batch_size=input_shape[0], dtype=dtype)
    return keras.Model(inputs, _new(layer_cls, init_kwargs, dtype)(inputs))


def check_saving(layer_cls, init_kwargs, input_shape, dtype="complex64", call_kwargs=None):
    """A model holding the layer survives ``.keras`` save/load with the same outputs."""
    model = _model(layer_cls, init_kwargs, input_shape, dtype)
    x = random_input(input_shape, dtype)
    reference = model(x)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    _close(loaded(x), reference, ".keras save/load changed the outputs")


def check_training(layer_cls, init_kwargs, input_shape, dtype="complex64", call_kwargs=None):
    """One ``fit`` step with a complex-safe loss: finite loss, trainable weights change (weightless: input gradient)."""
    from mrinets.train.losses import MSE

    model = _model(layer_cls, init_kwargs, input_shape, dtype)
    x = random_input(input_shape, dtype)
    if not model.trainable_weights:  # nothing to fit: gradients must still reach the input
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = MSE()(tf.zeros_like(model(x)), model(x))
        grad = tape.gradient(loss, x)
        assert grad is not None and np.all(np.isfinite(np.abs(grad.numpy()))), "no finite gradient reaches the input"
        return
    before = [w.numpy().copy() for w in model.trainable_weights]
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=MSE())
    history = model.fit(x, tf.zeros_like(model(x)), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0]), "training loss is not finite"
    assert any(not np.allclose(b, w.numpy()) for b, w in zip(before, model.trainable_weights)), \
        "a fit step did not change any trainable weight"


@contextlib.contextmanager
def global_policy(policy):
    """Set Keras' global dtype policy inside the block; the previous one is restored after."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def check_mixed_precision(layer_cls, init_kwargs, input_shape, dtype="complex64", call_kwargs=None,
                          policy="mixed_float16"):
    """Under the global ``policy`` the layer runs with float32 variables and sensible output dtypes.

    Real layers follow the policy (outputs in its compute dtype, close to float32);
    complex layers keep their complex dtype and compute their stacked form in the policy's
    compute dtype (outputs close to float32).
    """
    call_kwargs = call_kwargs or {}
    is_complex = tf.as_dtype(dtype).is_complex
    reference, x, expected = _run(layer_cls, init_kwargs, input_shape, dtype, call_kwargs)

    def make():
        # A real layer takes the global policy when no dtype is given, as in a network built under it.
        return _new(layer_cls, init_kwargs, dtype) if is_complex else layer_cls(**init_kwargs)

    with global_policy(policy):
        layer = make()
        layer.build(tuple(input_shape))
        layer.set_weights(reference.get_weights())
        compute_dtype = tf.as_dtype(keras.mixed_precision.global_policy().compute_dtype)
        out_dtype = tf.as_dtype(dtype) if is_complex else compute_dtype
        with tf.GradientTape() as tape:
            y = layer(x, **call_kwargs)
            loss = tf.reduce_sum(tf.abs(tf.cast(y, tf.complex64)) ** 2)
        symbolic = make()(keras.Input(input_shape[1:], batch_size=input_shape[0], dtype=dtype), **call_kwargs)
    assert y.dtype == out_dtype, f"under {policy}: output dtype {y.dtype.name} != {out_dtype.name}"
    assert tf.as_dtype(symbolic.dtype) == out_dtype, f"under {policy}: symbolic dtype {symbolic.dtype} != {out_dtype.name}"
    for weight in layer.weights:
        assert weight.dtype == "float32", f"under {policy}: weight {weight.path} has dtype {weight.dtype}, not float32"
    scale = max(1.0, float(np.max(np.abs(expected.numpy()))))
    _close(tf.cast(y, expected.dtype), expected, f"under {policy}: outputs far from float32 ones",
           atol=2e-2 * scale, rtol=2e-2)
    grads = tape.gradient(loss, layer.trainable_weights)
    for weight, grad in zip(layer.trainable_weights, grads):
        assert grad is not None, f"under {policy}: no gradient for weight {weight.path}"
        assert grad.dtype == tf.float32, f"under {policy}: gradient of {weight.path} has dtype {grad.dtype.name}"
        assert np.all(np.isfinite(tf.convert_to_tensor(grad).numpy())), f"under {policy}: gradient of {weight.path} is not finite"


def check_data_format(layer_cls, init_kwargs, input_shape, dtype="complex64", call_kwargs=None):
    """``channels_first`` (or ``axis=1``) with the same weights gives the channels_last outputs, transposed."""
    layer, x, y = _run(layer_cls, init_kwargs, input_shape, dtype, call_kwargs)
    config = layer.get_config()
    if "data_format" in config:
        first_kwargs = {**init_kwargs, "data_format": "channels_first"}
    elif "axis" in config and len(input_shape) > 2:
        first_kwargs = {**init_kwargs, "axis": 1}
    else:
        return
    first = _new(layer_cls, first_kwargs, dtype)
    axis = first.channel_axis
    x_first = tf.constant(np.moveaxis(x.numpy(), -1, axis))
    first.build(tuple(x_first.shape))
    first.set_weights(layer.get_weights())
    y_first = first(x_first, **(call_kwargs or {}))
    _close(np.moveaxis(y_first.numpy(), axis, -1), y, f"{first_kwargs} gives other outputs than channels_last")


def check_registry(layer_cls, init_kwargs=None, kind="layer"):
    """``layer_cls`` is registered under ``kind`` and its signature accepts every key of ``init_kwargs``."""
    from mrinets import config, registry

    names = [e.name for e in registry.entries(kind) if e.obj is layer_cls]
    assert names, f"{layer_cls.__name__} is not registered under kind {kind!r} (see `mrinets plugins`)"
    accepted = config.arguments(layer_cls)
    unknown = sorted(set(init_kwargs or {}) - set(accepted.fields)) if not accepted.accepts_any else []
    assert not unknown, f"config nodes `{{type: {names[0]}}}` cannot set {unknown}: not in the signature"


_CHECK_FUNCTIONS = {
    "call": check_call,
    "symbolic": check_symbolic,
    "config": check_config,
    "saving": check_saving,
    "training": check_training,
    "mixed_precision": check_mixed_precision,
    "data_format": check_data_format,
}


def run_check(name, layer_cls, init_kwargs, input_shape, dtype="complex64", call_kwargs=None, registry_kind="layer"):
    """Run the check called ``name`` (one of ``CHECKS``)."""
    if name not in CHECKS:
        raise ValueError(f"Invalid value for argument `name`. Expected one of {CHECKS}. Received: name={name!r}")
    if name == "registry":
        check_registry(layer_cls, init_kwargs, kind=registry_kind)
    else:
        _CHECK_FUNCTIONS[name](layer_cls, init_kwargs, input_shape, dtype=dtype, call_kwargs=call_kwargs)


def check_layer(layer_cls, init_kwargs, input_shape, dtype="complex64", call_kwargs=None, registry_kind="layer",
                skip=()):
    """Run every check of ``CHECKS`` but those in ``skip``; ``registry_kind=None`` skips ``registry`` too.

    Raises:
        AssertionError: the first failed check, named (exceptions the layer raises included).
    """
    unknown = sorted(set(skip) - set(CHECKS))
    if unknown:
        raise ValueError(f"Invalid value for argument `skip`. Expected names from {CHECKS}. Received: skip={tuple(skip)!r}")
    for name in CHECKS:
        if name in skip or (name == "registry" and registry_kind is None):
            continue
        try:
            run_check(name, layer_cls, init_kwargs, input_shape, dtype, call_kwargs, registry_kind)
        except Exception as error:
            cause = str(error) if isinstance(error, AssertionError) else f"{type(error).__name__}: {error}"
            raise AssertionError(f"{layer_cls.__name__} failed check {name!r} (dtype {dtype}): {cause}") from error


class LayerTestCase:
    """Base of a pytest test class: one test per check in ``CHECKS`` and per dtype in ``dtypes``.

    Subclass it in a test module under a name pytest collects (``TestMyLayer``) and set
    ``layer_cls``, ``init_kwargs`` and ``input_shape``; optionally ``dtypes`` (default
    complex64 and float32), ``call_kwargs``, ``registry_kind`` (``None``: the class is
    not registered) and ``skip`` (check names to leave out, e.g. ``("training",)``).
    """

    layer_cls = None
    init_kwargs = {}
    input_shape = None
    dtypes = ("complex64", "float32")
    call_kwargs = {}
    registry_kind = "layer"
    skip = ()

    def pytest_generate_tests(self, metafunc):
        if "dtype" in metafunc.fixturenames:
            metafunc.parametrize("dtype", self.dtypes)

    def _check(self, name, dtype):
        if self.layer_cls is None or self.input_shape is None:
            raise TypeError(f"{type(self).__name__} must set `layer_cls` and `input_shape`.")
        if name in self.skip or (name == "registry" and self.registry_kind is None):
            import pytest

            pytest.skip(f"{name!r} is skipped by {type(self).__name__}")
        run_check(name, self.layer_cls, self.init_kwargs, self.input_shape, dtype, self.call_kwargs, self.registry_kind)

    def test_call(self, dtype):
        self._check("call", dtype)

    def test_symbolic(self, dtype):
        self._check("symbolic", dtype)

    def test_config(self, dtype):
        self._check("config", dtype)

    def test_saving(self, dtype):
        self._check("saving", dtype)

    def test_training(self, dtype):
        self._check("training", dtype)

    def test_mixed_precision(self, dtype):
        self._check("mixed_precision", dtype)

    def test_data_format(self, dtype):
        self._check("data_format", dtype)

    def test_registry(self):
        self._check("registry", None)
