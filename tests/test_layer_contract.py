"""Every registered layer passes every check of ``mrinets.testing`` (a new layer cannot skip it)."""

import os
import re
import subprocess
import sys

import keras
import pytest
import tensorflow as tf

from mrinets import registry
from mrinets import testing
from mrinets.layers import ComplexLayer
from mrinets.layers._base import merge_stacked, split_stacked

CASES = {
    # name: (constructor arguments, input shape, call arguments)
    "Activation": ({"activation": {"type": "mod_relu", "bias": -0.2}}, (2, 6, 3), {}),
    "AveragePooling1D": ({}, (2, 8, 3), {}),
    "AveragePooling2D": ({"padding": "same"}, (2, 7, 6, 3), {}),
    "AveragePooling3D": ({}, (2, 4, 4, 4, 2), {}),
    "BatchNormalization": ({}, (4, 6, 6, 3), {"training": True}),
    "Cardioid": ({}, (2, 6, 3), {}),
    "ComplexConv": ({"rank": 2, "filters": 4, "kernel_size": 3}, (2, 8, 8, 3), {}),
    "ComplexConvTranspose": ({"rank": 1, "filters": 4, "kernel_size": 3, "strides": 2}, (2, 8, 3), {}),
    "ComplexNormalization": ({"statistics": "instance"}, (2, 6, 6, 3), {}),
    "ComplexPooling": ({"rank": 2, "pool_mode": "max"}, (2, 6, 6, 3), {}),
    "ComplexReLU": ({}, (2, 6, 3), {}),
    "Conv1D": ({"filters": 4, "kernel_size": 3, "activation": "complex_relu"}, (2, 10, 3), {}),
    "Conv1DTranspose": ({"filters": 4, "kernel_size": 3}, (2, 10, 3), {}),
    "Conv2D": ({"filters": 4, "kernel_size": 3, "groups": 2, "padding": "same"}, (2, 8, 8, 4), {}),
    "Conv2DTranspose": ({"filters": 4, "kernel_size": 2, "strides": 2}, (2, 5, 5, 3), {}),
    "Conv3D": ({"filters": 2, "kernel_size": 3}, (2, 6, 6, 6, 1), {}),
    "Conv3DTranspose": ({"filters": 2, "kernel_size": 2, "strides": 2}, (2, 3, 3, 3, 2), {}),
    "Dense": ({"units": 5, "activation": "zrelu"}, (16, 4), {}),  # zrelu passes a quarter: enough outputs to train
    "InstanceNormalization": ({}, (2, 6, 6, 3), {}),
    "LayerNormalization": ({}, (2, 6, 6, 3), {}),
    "MaxPooling1D": ({}, (2, 8, 3), {}),
    "MaxPooling2D": ({"padding": "same"}, (2, 7, 6, 3), {}),
    "MaxPooling3D": ({}, (2, 4, 4, 4, 2), {}),
    "ModReLU": ({"bias": -0.5}, (2, 6, 3), {}),
    "UpSampling": ({"rank": 2, "size": (2, 1)}, (2, 4, 4, 3), {}),
    "UpSampling1D": ({"size": 3}, (2, 4, 3), {}),
    "UpSampling2D": ({}, (2, 4, 4, 3), {}),
    "UpSampling3D": ({}, (2, 3, 3, 3, 2), {}),
    "ZReLU": ({}, (2, 6, 3), {}),
}

BUILTIN = sorted(e.name for e in registry.entries("layer") if e.plugin == "mrinets")
COMPLEX_ONLY = {"Cardioid", "ComplexReLU", "ModReLU", "ZReLU"}


def test_every_builtin_layer_has_a_case():
    assert sorted(CASES) == BUILTIN


def _complex_only(name, kwargs):
    activation = str(kwargs.get("activation"))
    return name in COMPLEX_ONLY or any(a in activation for a in registry.names("activation"))


@pytest.mark.parametrize("check", [c for c in testing.CHECKS if c != "registry"])
@pytest.mark.parametrize("name", BUILTIN)
@pytest.mark.parametrize("dtype", ["complex64", "float32"])
def test_layer_contract(dtype, name, check):
    kwargs, shape, call_kwargs = CASES[name]
    if dtype == "float32" and _complex_only(name, kwargs):
        pytest.skip("complex-only activation")
    testing.run_check(check, registry.get("layer", name), kwargs, shape, dtype=dtype, call_kwargs=call_kwargs)


@pytest.mark.parametrize("name", BUILTIN)
def test_layer_is_registered_and_configurable(name):
    testing.check_registry(registry.get("layer", name), CASES[name][0])


# The kit itself: each check rejects the layer bug it is there for.
class Scale(ComplexLayer):
    """``y = w * x + offset``, one weight per channel."""

    def __init__(self, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.offset = offset

    def build(self, input_shape):
        self.w = self.add_complex_weight("w", (self.channels(input_shape),), "ones")

    def forward(self, x, training=None):
        if not self.is_complex:
            return x * self.w[0] + self.offset
        real, imag = split_stacked(x)
        return merge_stacked(real * self.w[0] - imag * self.w[1] + self.offset, real * self.w[1] + imag * self.w[0])

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "offset": self.offset}


class ForgetsOffset(Scale):
    def get_config(self):
        config = super().get_config()
        config.pop("offset")
        return config


class WrongShape(Scale):
    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (1,)


class DropsImaginary(Scale):
    def call(self, inputs, training=None):
        return tf.math.real(super().call(inputs))


class ComplexVariable(keras.layers.Layer):
    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", dtype="complex64")

    def call(self, x):
        return x * self.w


class Float32Output(Scale):
    def call(self, inputs, training=None):
        return tf.cast(super().call(inputs), tf.float32)


SHAPE = (2, 5, 3)
KWARGS = {Scale: {"offset": 0.5}, ForgetsOffset: {"offset": 0.5}}


def test_kit_accepts_a_correct_layer():
    for dtype in ("complex64", "float32"):
        testing.check_layer(Scale, KWARGS[Scale], SHAPE, dtype=dtype, registry_kind=None, skip=("saving", "training"))


@pytest.mark.parametrize(
    "layer_cls,dtype,check,message",
    [
        (ForgetsOffset, "complex64", "config", "clone with the same weights gives other outputs"),
        (WrongShape, "complex64", "call", r"eager output shape \(2, 5, 3\) != compute_output_shape \(2, 5, 1\)"),
        (DropsImaginary, "complex64", "call", "eager output dtype float32 != complex64"),
        (ComplexVariable, "complex64", "call", "must be real/imaginary float pairs"),
        (Float32Output, "float32", "mixed_precision", "under mixed_float16: output dtype float32 != float16"),
        (Scale, "complex64", "registry", "Scale is not registered under kind 'layer'"),
    ],
)
def test_kit_rejects_a_broken_layer(layer_cls, dtype, check, message):
    with pytest.raises(AssertionError, match=message):
        testing.run_check(check, layer_cls, KWARGS.get(layer_cls, {}), SHAPE, dtype=dtype)
    with pytest.raises(AssertionError, match=f"{layer_cls.__name__} failed check '{check}'"):
        testing.check_layer(layer_cls, KWARGS.get(layer_cls, {}), SHAPE, dtype=dtype,
                            skip=[c for c in testing.CHECKS if c != check])


def test_kit_names_the_check_an_exception_came_from():
    # Scale is not registered with Keras' serialization, so a saved model cannot be loaded.
    with pytest.raises(AssertionError, match=r"(?s)Scale failed check 'saving' \(dtype complex64\): TypeError: .*Could not locate class 'Scale'"):
        testing.check_layer(Scale, {}, SHAPE, skip=[c for c in testing.CHECKS if c != "saving"])


def test_kit_rejects_unknown_check_names():
    with pytest.raises(ValueError, match=r"Invalid value for argument `skip`.*Received: skip=\('fitting',\)"):
        testing.check_layer(Scale, {}, SHAPE, skip=("fitting",))
    with pytest.raises(ValueError, match=r"Invalid value for argument `name`"):
        testing.run_check("fitting", Scale, {}, SHAPE)


def test_registry_check_names_unknown_constructor_keys():
    with pytest.raises(AssertionError, match=r"\{type: Conv2D\}` cannot set \['filter'\]"):
        testing.check_registry(registry.get("layer", "Conv2D"), {"filter": 3})


def test_example_plugin_suite_passes_with_the_kit(tmp_path):
    """The example plugin, installed like a user would, passes its own suite (``LayerTestCase`` included)."""
    example = os.path.abspath("examples/mrinets-example-plugin")
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), example], check=True)
    env = {**os.environ, "PYTHONPATH": str(target), "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", example, os.path.join(example, "tests")],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    # one test per check and dtype, the registry check (it found the entry point) and the plugin's own test
    expected = 2 * (len(testing.CHECKS) - 1) + 1 + 1
    assert re.search(rf"\b{expected} passed\b", result.stdout), result.stdout[-1000:]
