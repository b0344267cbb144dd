"""Checks every mrinets layer passes, for our tests and for plugin authors' tests.

>>> from mrinets.testing import check_layer
>>> check_layer(MyComplexConv, {"filters": 4, "kernel_size": 3}, input_shape=(2, 8, 8, 3))

``check_layer`` runs: eager call (shape and dtype against
``compute_output_shape``), symbolic call in a functional model,
``get_config``/``from_config`` round trip (same config, same outputs with the
same weights), ``.keras`` save/load, one ``fit`` step with a complex-safe loss
(``mrinets.train.losses.MSE``, which keeps imaginary parts) that must
change the trainable weights, and the registry entry.
"""

import os
import tempfile

import keras
import numpy as np
import tensorflow as tf


def random_input(shape, dtype="complex64", seed=0):
    """A random tensor of ``shape``: complex Gaussian for complex dtypes, Gaussian otherwise."""
    rng = np.random.default_rng(seed)
    values = rng.standard_normal(shape)
    if tf.as_dtype(dtype).is_complex:
        values = values + 1j * rng.standard_normal(shape)
    return tf.constant(values.astype(tf.as_dtype(dtype).as_numpy_dtype))


def check_layer(layer_cls, init_kwargs, input_shape, dtype="complex64", call_kwargs=None, train=True,
                registry_kind="layer"):
    """Run the standard layer checks; raises AssertionError naming the failed check."""
    call_kwargs = call_kwargs or {}
    kwargs = {"dtype": dtype, **init_kwargs}
    x = random_input(input_shape, dtype)
    layer = layer_cls(**kwargs)
    y = layer(x, **call_kwargs)
    expected_shape = tuple(layer.compute_output_shape(tuple(input_shape)))
    assert tuple(y.shape) == expected_shape, f"eager output shape {tuple(y.shape)} != compute_output_shape {expected_shape}"
    assert y.dtype == tf.as_dtype(dtype), f"output dtype {y.dtype.name} != {dtype}"

    inputs = keras.Input(input_shape[1:], batch_size=input_shape[0], dtype=dtype)
    symbolic = layer_cls(**kwargs)(inputs)
    assert tuple(symbolic.shape) == expected_shape, f"symbolic shape {symbolic.shape} != {expected_shape}"
    assert tf.as_dtype(symbolic.dtype) == tf.as_dtype(dtype), f"symbolic dtype {symbolic.dtype} != {dtype}"

    config = layer.get_config()
    clone = layer_cls.from_config(config)
    assert clone.get_config() == config, "get_config() changed after a from_config() round trip"
    clone.build(tuple(input_shape))
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(x, **call_kwargs).numpy(), y.numpy(), atol=1e-5,
                               err_msg="from_config() clone with the same weights gives other outputs")

    model = keras.Model(inputs, layer_cls(**kwargs)(inputs))
    reference = model(x).numpy()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded(x).numpy(), reference, atol=1e-5, err_msg=".keras save/load changed outputs")

    if train and model.trainable_weights:
        before = [w.numpy().copy() for w in model.trainable_weights]
        from mrinets.train.losses import MSE

        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=MSE())  # complex-safe, unlike Keras' MSE
        history = model.fit(x, tf.zeros_like(model(x)), epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0]), "training loss is not finite"
        assert any(not np.allclose(b, w.numpy()) for b, w in zip(before, model.trainable_weights)), \
            "a fit step did not change any trainable weight"

    if registry_kind:
        from mrinets import registry

        registered = [e.obj for e in registry.entries(registry_kind)]
        assert layer_cls in registered, f"{layer_cls.__name__} is not registered under kind {registry_kind!r}"
