"""Keras initializers on complex layers; the shipped VarNet configs' conv initialization."""

import keras
import numpy as np
import pytest

from mrinets import configs, layers, networks
from mrinets.config import load
from mrinets.layers.conv import ComplexConv

TORCH = {"class_name": "VarianceScaling", "config": {"scale": 1 / 3, "mode": "fan_in", "distribution": "uniform"}}


@pytest.mark.parametrize("initializer", [TORCH, keras.initializers.HeNormal(seed=3)], ids=["dict", "instance"])
def test_variance_scaling_draws_both_parts_with_half_the_variance(initializer):
    layer = layers.Conv2D(60, 3, dtype="complex64", kernel_initializer=initializer)
    layer.build((1, 8, 8, 40))
    kernel = layer.kernel.numpy().astype(np.complex128)
    fan_in = 3 * 3 * 40
    scale = 1 / 3 if isinstance(initializer, dict) else 2.0
    np.testing.assert_allclose(np.mean(np.abs(kernel) ** 2), scale / fan_in, rtol=0.05)  # E|w|^2 = scale / fan_in
    for part in (kernel.real, kernel.imag):
        np.testing.assert_allclose(np.var(part), scale / fan_in / 2, rtol=0.05)
    assert abs(np.corrcoef(kernel.real.ravel(), kernel.imag.ravel())[0, 1]) < 0.03  # independent parts
    if not isinstance(initializer, dict):  # a seeded initializer repeats its draw
        again = layers.Conv2D(60, 3, dtype="complex64", kernel_initializer=keras.initializers.HeNormal(seed=3))
        again.build((1, 8, 8, 40))
        np.testing.assert_array_equal(again.kernel.numpy(), layer.kernel.numpy())


def test_real_layer_keeps_the_keras_variance():
    layer = layers.Conv2D(60, 3, kernel_initializer=TORCH)
    layer.build((1, 8, 8, 40))
    np.testing.assert_allclose(np.var(layer.kernel.numpy()), 1 / 3 / 360, rtol=0.05)


@pytest.mark.parametrize("argument", ["kernel_initializer", "bias_initializer"])
@pytest.mark.parametrize("initializer", [{"class_name": "RandomNormal", "config": {"stddev": 0.1}}, "orthogonal"])
def test_real_only_random_initializer_is_refused_by_a_complex_layer(argument, initializer):
    with pytest.raises(ValueError, match=rf"Invalid value for argument `{argument}`\. Expected for a complex layer"):
        layers.Conv2D(4, 3, dtype="complex64", **{argument: initializer})
    layers.Conv2D(4, 3, **{argument: initializer})  # a real layer takes it


def test_constant_initializer_sets_the_real_part():
    layer = layers.Dense(3, dtype="complex64", kernel_initializer={"class_name": "Constant", "config": {"value": 2.0}})
    layer.build((1, 2))
    np.testing.assert_array_equal(layer.kernel.numpy(), np.full((2, 3), 2 + 0j))


@pytest.mark.parametrize("name", [n for n in configs.names() if load(configs.find(n))["model"]["type"] == "VarNet"])
def test_shipped_varnet_unets_use_pytorch_conv_init(name):
    """As the README says: fastMRI's NormUnets in the shipped VarNet configs use PyTorch's conv init.

    A residual sensitivity U-Net (``varnet``) is the exception: its small init starts the maps at the ACS maps.
    """
    model = networks.build_layer(load(configs.find(name))["model"])
    sensitivity = model.sensitivity_network
    unets = [model.blocks[0].regularizer] + ([sensitivity] if sensitivity and not sensitivity.residual else [])
    for unet in unets:
        convs = [layer for layer in unet._flatten_layers() if isinstance(layer, ComplexConv)]
        assert convs
        for conv in convs:
            init = conv.kernel_initializer
            assert isinstance(init, keras.initializers.VarianceScaling), (name, conv.name, init)
            assert (init.mode, init.distribution) == ("fan_in", "uniform") and abs(init.scale - 1 / 3) < 1e-6
