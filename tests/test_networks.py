"""Networks from YAML: shipped configs, plugin layers in configs, config errors, DC blocks, parity counts."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from mrinets import config, configs, networks, ops, registry
from mrinets.train.losses import L1
from tests.conftest import random_complex


def recon_inputs(rng, rank=2, coils=4, size=16):
    spatial = (size,) * rank
    kspace = random_complex(rng, (1, coils) + spatial)
    mask = np.zeros((1, 1) + (1,) * (rank - 1) + (size,), "float32")
    mask[..., ::2] = 1
    mask[..., size // 2 - 2:size // 2 + 2] = 1
    return {"kspace": tf.constant(kspace * mask), "mask": tf.constant(mask),
            "num_low_frequencies": tf.constant([4], tf.int32)}


def noncartesian_inputs(rng, grid_shape, coils=2, views=8):
    """Random k-space on ``views`` radial spokes of ``grid_shape`` (the non-Cartesian pipeline's dict)."""
    trajectory = ops.radial_trajectory(grid_shape[0], views).reshape(1, -1, 2)
    return {"kspace": tf.constant(random_complex(rng, (1, coils, trajectory.shape[1]))),
            "trajectory": tf.constant(trajectory),
            "density": ops.estimate_density(trajectory, grid_shape)}


@pytest.mark.parametrize("name", configs.names())
def test_every_shipped_config_builds_and_runs(rng, name, shipped_model):
    model = shipped_model(name)
    network = model.get_layer(index=-1)
    rank = network.rank
    if getattr(network, "noncartesian", False):
        shape = network.grid_shape
        inputs = noncartesian_inputs(rng, shape)
    else:
        shape = (16 if rank == 2 else 8,) * rank
        inputs = recon_inputs(rng, rank=rank, size=shape[0], coils=2)
    output = model(inputs)
    assert output.shape == (1,) + tuple(shape) and output.dtype == tf.float32
    assert np.all(np.isfinite(output.numpy()))


def test_fastmri_varnet_parameter_count_matches_fastmri(shipped_model):
    """fastMRI's VarNet (12 cascades, NormUnet 18 ch / 4 pools, sens 8 ch / 4 pools) has 29,936,966 parameters.

    Count from its architecture: bias-free 3x3 convs, affine-free instance norms, bias-free 2x2
    transposed convs, a biased 1x1 output conv, one DC weight per cascade.
    """
    def fastmri_unet_parameters(chans, pools=4, in_chans=2, out_chans=2):
        total, ch = 9 * in_chans * chans + 9 * chans * chans, chans
        for _ in range(pools - 1):
            total += 9 * ch * 2 * ch + 9 * (2 * ch) ** 2
            ch *= 2
        total += 9 * ch * 2 * ch + 9 * (2 * ch) ** 2  # bottleneck
        for _ in range(pools):
            total += 4 * 2 * ch * ch + 9 * 2 * ch * ch + 9 * ch * ch
            ch //= 2
        return total + chans * out_chans + out_chans

    expected = 12 * (fastmri_unet_parameters(18) + 1) + fastmri_unet_parameters(8)
    assert expected == 29_936_966
    # The shipped config adds one learned scale per cascade on the regularizer term (regularizer_scale).
    assert shipped_model("varnet").count_params() == expected + 12


def test_plugin_layer_in_a_config(monkeypatch, rng):
    monkeypatch.syspath_prepend("examples/mrinets-example-plugin")
    import mrinets_example_plugin

    registry.add_plugin(mrinets_example_plugin, "example-test")
    try:
        model = networks.build({"type": "UNet", "base_filters": 4, "depth": 1,
                                "conv": {"type": "ResidualConv2D", "activation": "cardioid"}})
        x = random_complex(rng, (1, 8, 8, 1))
        assert model(x).shape == (1, 8, 8, 1)
        assert any(type(layer).__name__ == "ResidualConv2D" for layer in _sublayers(model))
    finally:
        registry.remove_plugin("example-test")


def _sublayers(model):
    return [layer for layer in model._flatten_layers(include_self=False)]


BAD_CONFIGS = [
    ("model: {type: VarNett}", r"model.type: unknown network 'VarNett'. Did you mean: VarNet"),
    ("model: {type: UNet, filtres: [8, 16]}", r"model.filtres: unknown argument 'filtres'.*Did you mean: filters"),
    ("model: {type: UNet, filters: [8, -3]}", r"model.filters\[1\]: expected a positive integer, got -3 \(line 1\)"),
    ("model:\n  type: UNet\n  depth: 0", r"model.depth: expected a positive integer, got 0 \(line 3\)"),
    ("model: {type: UNet, residual: maybe}", r"model.residual: expected a boolean"),
    ("model: {type: UNet, norm: BatchNorm}", r"model.norm: unknown layer 'BatchNorm'"),
    ("model: {type: VarNet, regularizer: {type: UNet, activation: relu, filter: 3}}",
     r"model.regularizer.filter: unknown argument 'filter'"),
    ("model: {type: Unrolled, data_consistency: SoftDC}", r"model.data_consistency: unknown data_consistency 'SoftDC'"),
    ("model: !!python/object/apply:os.system [echo hi]", r"python/object"),
    ("model: {type: UNet, in_channels: 1, out_channels: 2, residual: true}",
     r"model: building network UNet failed.*out_channels == in_channels"),
    ("model: {type: UNet, down: stride}", r"model: building network UNet failed.*argument `down`"),
]


@pytest.mark.parametrize("text,message", BAD_CONFIGS)
def test_invalid_configs_name_the_yaml_path(text, message):
    with pytest.raises(config.ConfigError, match=message):
        networks.build(text)


def test_all_problems_reported_at_once(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text("model:\n  type: UNet\n  filters: [8, 0]\n  conv: Conv2d\n  up: sideways\n  dropoutt: 0.1\n")
    with pytest.raises(config.ConfigError) as error:
        networks.validate(str(path))
    text = str(error.value)
    for expected in ("model.filters[1]", "model.conv: unknown layer 'Conv2d'", "model.dropoutt", "(line 6)"):
        assert expected in text
    assert text.count(str(path)) >= 3


def test_network_round_trip_save_load_and_fit(rng, tmp_path):
    model = networks.build({"type": "VarNet", "cascades": 1, "sensitivity": {"type": "UNet", "base_filters": 2,
                            "depth": 1, "dtype": "float32", "in_channels": 2},
                            "regularizer": {"type": "UNet", "base_filters": 4, "depth": 2, "norm": "InstanceNormalization",
                                            "activation": "mod_relu"}})
    inputs = recon_inputs(rng)
    reference = model(inputs).numpy()
    path = os.path.join(tmp_path, "varnet.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded(inputs).numpy(), reference, rtol=1e-5, atol=1e-5)
    layer = model.get_layer(index=-1)
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    target = tf.abs(ops.zero_filled(inputs["kspace"]))
    model.compile(optimizer="adam", loss=L1())
    history = model.fit(tf.data.Dataset.from_tensors((inputs, target)).repeat(2), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_regularizer_scale_gain_speeds_up_only_the_scales(rng):
    """With gain g, a stored scale v acts as g * v: same outputs as gain 1 with scale g * v, a
    gradient g times larger, so Adam's first step (about the learning rate) moves the scale g times
    as far; the regularizer's weights get the same gradients."""
    inputs = recon_inputs(rng)
    target = tf.abs(ops.zero_filled(inputs["kspace"]))

    def varnet(gain):
        keras.utils.set_random_seed(1)
        return networks.build({"type": "VarNet", "cascades": 2, "sensitivity": None, "start": "cg_sense",
                               "regularizer_scale": 0.0, "regularizer_scale_gain": gain,
                               "regularizer": {"type": "UNet", "dtype": "float32", "in_channels": 2,
                                               "filters": [4, 8], "normalize": True}})

    plain, fast = varnet(1.0), varnet(10.0)
    assert fast.get_layer(index=-1).get_config()["regularizer_scale_gain"] == 10.0
    for model, value in ((plain, 0.3), (fast, 0.03)):
        for variable in model.get_layer(index=-1).regularizer_scales:
            variable.assign(value)
    gradients = []
    for model in (plain, fast):
        with tf.GradientTape() as tape:
            output = model(inputs)
            loss = tf.reduce_mean(tf.abs(output - target))
        gradients.append((output, tape.gradient(loss, model.trainable_variables)))
    (out_plain, grad_plain), (out_fast, grad_fast) = gradients
    np.testing.assert_allclose(out_fast.numpy(), out_plain.numpy(), rtol=1e-5, atol=1e-6)
    names = [v.path for v in plain.trainable_variables]
    for name, g_plain, g_fast in zip(names, grad_plain, grad_fast):
        factor = 10.0 if "regularizer_scale" in name else 1.0
        np.testing.assert_allclose(g_fast.numpy(), factor * g_plain.numpy(), rtol=1e-4, atol=1e-7, err_msg=name)
    assert sum("regularizer_scale" in name for name in names) == 2
    with pytest.raises(Exception, match="regularizer_scale_gain"):
        varnet(0.0)


def test_complex_unet_converts_only_at_its_edges():
    """The traced graph of a complex U-Net has the same number of complex<->real conversions at any depth."""
    def conversions(depth):
        net = networks.UNet(rank=2, base_filters=4, depth=depth, norm="InstanceNormalization", activation="mod_relu")
        graph = tf.function(net).get_concrete_function(tf.TensorSpec((1, 16, 16, 1), tf.complex64)).graph
        return sum(op.type in ("Complex", "Real", "Imag", "Bitcast", "ComplexAbs") for op in graph.get_operations())

    assert conversions(1) == conversions(3) <= 4


def test_activation_with_arguments_in_yaml(rng):
    """``{type: mod_relu, bias: ...}`` names the activation (with its arguments), not a layer."""
    text = """
model:
  type: UNet
  filters: [4, 8]
  activation: {type: mod_relu, bias: -0.25}
  conv: {type: Conv2D, activation: {type: cardioid}}
"""
    net = networks.build(text)
    layers = {type(layer).__name__: layer for layer in net._flatten_layers()}
    activations = [layer.activation.serialize() for layer in net._flatten_layers() if type(layer).__name__ == "Activation"]
    assert {"type": "mod_relu", "bias": -0.25} in activations
    assert layers["Conv2D"].activation.serialize() == "cardioid"
    with pytest.raises(config.ConfigError, match=r"model.activation.bais: unknown argument 'bais' for "
                                                 r"activation mod_relu. Did you mean: bias\?"):
        networks.build(text.replace("bias", "bais"))


def test_unet_kernel_initializer_reaches_every_conv():
    from mrinets.networks.recon import TORCH_CONV_INITIALIZER

    net = networks.UNet(rank=2, filters=[16, 32], in_channels=2, dtype="float32", up="transpose",
                        kernel_initializer=TORCH_CONV_INITIALIZER)
    net(tf.zeros((1, 16, 16, 2)))
    kernels = [w for w in net.weights if "kernel" in w.path]
    assert len(kernels) == 2 * 2 + 1 + 2 + 1  # block convs, transpose conv, decoder block, output conv
    for kernel in kernels:
        value = kernel.numpy()
        # Keras' fan_in of a conv kernel (..., in, out) or a transposed one (..., out, in): receptive field x axis -2.
        fan_in = np.prod(value.shape[:-2]) * value.shape[-2]
        np.testing.assert_allclose(np.abs(value).max(), np.sqrt(1 / fan_in), rtol=0.2)  # uniform(+-sqrt(3 * 1/3 / fan_in))
    assert networks.UNet.from_config(net.get_config()).kernel_initializer == TORCH_CONV_INITIALIZER


def test_unet_3d_and_real_variants(rng):
    real = networks.UNet(rank=3, base_filters=2, depth=1, dtype="float32", in_channels=2)
    assert real(tf.random.normal((1, 8, 8, 8, 2))).shape == (1, 8, 8, 8, 2)
    complex_ = networks.UNet(rank=1, base_filters=2, depth=2, down="conv", up="upsample")
    assert complex_(random_complex(rng, (2, 12, 1))).dtype == tf.complex64


def _sense_problem(rng, coils=3, size=8):
    maps = random_complex(rng, (1, coils, size, size), np.complex128)
    maps /= np.sqrt(np.sum(np.abs(maps) ** 2, axis=1, keepdims=True))
    mask = (rng.random((1, 1, 1, size)) > 0.5).astype("float64")
    kspace = random_complex(rng, (1, coils, size, size), np.complex128) * mask
    image = random_complex(rng, (1, size, size), np.complex128)
    return image, kspace, mask, maps


def test_hard_dc_restores_the_measured_kspace(rng):
    image, kspace, mask, maps = _sense_problem(rng)
    out = networks.HardDC()(image, kspace, mask, maps)
    expected_coils = (1 - mask) * ops.fftn_np(maps * image[:, None]) + mask * kspace
    expected = np.sum(np.conj(maps) * ops.ifftn_np(expected_coils), axis=1)
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-10)


def test_gradient_dc_is_a_gradient_step(rng):
    image, kspace, mask, maps = _sense_problem(rng)
    out = networks.GradientDC(initial_weight=0.5, dtype="float64")(image, kspace, mask, maps)
    residual = mask * ops.fftn_np(maps * image[:, None]) - kspace
    gradient = np.sum(np.conj(maps) * ops.ifftn_np(mask * residual), axis=1)
    np.testing.assert_allclose(out.numpy(), image - 0.5 * gradient, atol=1e-10)


def test_cg_dc_solves_the_regularized_normal_equations(rng):
    image, kspace, mask, maps = _sense_problem(rng)
    out = networks.CGDC(initial_lambda=0.1, iterations=60, tolerance=1e-12, dtype="float64")(image, kspace, mask, maps)
    x = out.numpy()
    normal = np.sum(np.conj(maps) * ops.ifftn_np(mask * ops.fftn_np(maps * x[:, None])), axis=1) + 0.1 * x
    rhs = np.sum(np.conj(maps) * ops.ifftn_np(kspace), axis=1) + 0.1 * image
    np.testing.assert_allclose(normal, rhs, atol=1e-6)
