"""Every registered layer passes ``mrinets.testing.check_layer`` (a new layer cannot skip it)."""

import pytest

from mrinets import registry
from mrinets.testing import check_layer

CASES = {
    # name: (constructor arguments, input shape, call arguments)
    "Activation": ({"activation": {"type": "mod_relu", "threshold": -0.1}}, (2, 6, 3), {}),
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
    "Dense": ({"units": 5, "activation": "zrelu"}, (2, 4), {}),
    "InstanceNormalization": ({}, (2, 6, 6, 3), {}),
    "LayerNormalization": ({}, (2, 6, 6, 3), {}),
    "MaxPooling1D": ({}, (2, 8, 3), {}),
    "MaxPooling2D": ({"padding": "same"}, (2, 7, 6, 3), {}),
    "MaxPooling3D": ({}, (2, 4, 4, 4, 2), {}),
    "ModReLU": ({"threshold": -0.5}, (2, 6, 3), {}),
    "UpSampling": ({"rank": 2, "size": (2, 1)}, (2, 4, 4, 3), {}),
    "UpSampling1D": ({"size": 3}, (2, 4, 3), {}),
    "UpSampling2D": ({}, (2, 4, 4, 3), {}),
    "UpSampling3D": ({}, (2, 3, 3, 3, 2), {}),
    "ZReLU": ({}, (2, 6, 3), {}),
}

BUILTIN = sorted(e.name for e in registry.entries("layer") if e.plugin == "mrinets")


def test_every_builtin_layer_has_a_case():
    assert sorted(CASES) == BUILTIN


@pytest.mark.parametrize("name", BUILTIN)
@pytest.mark.parametrize("dtype", ["complex64", "float32"])
def test_layer_contract(name, dtype):
    kwargs, shape, call_kwargs = CASES[name]
    layer_cls = registry.get("layer", name)
    complex_only = set(registry.names("activation"))
    if dtype == "float32" and (name in ("Cardioid", "ComplexReLU", "ModReLU", "ZReLU")
                               or any(a in str(kwargs.get("activation")) for a in complex_only)):
        pytest.skip("complex-only activation")
    check_layer(layer_cls, kwargs, shape, dtype=dtype, call_kwargs=call_kwargs)
