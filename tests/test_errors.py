"""The error family: one base the CLI prints, did-you-mean hints, and bugs that keep their traceback."""

import numpy as np
import pytest

from mrinets import cli, config, errors, registry, saving
from mrinets.data import fastmri
from mrinets.train import checkpoint


def test_every_user_error_is_a_mrinets_error_defined_once():
    assert config.ConfigError is errors.ConfigError and config.Problem is errors.Problem
    assert registry.UnknownNameError is errors.UnknownNameError and registry.DuplicateNameError is errors.DuplicateNameError
    assert registry.RegistryError is errors.RegistryError and registry.PluginError is errors.PluginError
    assert fastmri.DataError is errors.DataError and checkpoint.CheckpointError is errors.CheckpointError
    assert saving.ModelFileError is errors.ModelFileError and cli.UsageError is errors.UsageError
    for cls in (errors.UsageError, errors.ConfigError, errors.UnknownNameError, errors.DuplicateNameError,
                errors.PluginError, errors.DataError, errors.CheckpointError, errors.ModelFileError):
        assert issubclass(cls, errors.MrinetsError)
    for cls in (errors.ConfigError, errors.UnknownNameError, errors.DataError, errors.CheckpointError):
        assert issubclass(cls, ValueError)  # `except ValueError` keeps working


def test_did_you_mean():
    assert errors.did_you_mean("Conv2d", ["Conv2D", "Conv3D", "Dense"]) == " Did you mean: Conv2D, Conv3D?"
    assert errors.did_you_mean("zzz", ["Conv2D"]) == ""
    assert errors.did_you_mean(3, ["3"]) == ""  # only names get suggestions


def _bad_argument(size=1):
    raise ValueError(f"Invalid value for argument `size`. Expected a positive integer. Received: size={size}")


def _buggy(size=1):
    return {}["missing"]


def test_spec_wraps_argument_errors_only():
    spec = config.Spec("layer", "Bad", _bad_argument, {"size": 0}, path=("model", "conv"), line=4, source="f.yaml")
    with pytest.raises(config.ConfigError) as info:
        spec()
    assert str(info.value) == ("f.yaml: model.conv: building layer Bad failed: ValueError: Invalid value for argument "
                               "`size`. Expected a positive integer. Received: size=0 (line 4)")
    with pytest.raises(KeyError):  # a bug in a constructor is not the user's config error
        config.Spec("layer", "Buggy", _buggy, path=("model",))()


def test_cli_prints_user_errors_and_raises_bugs(monkeypatch, capsys):
    def user_mistake(args):
        raise errors.UsageError("no such run")

    def missing_file(args):
        raise FileNotFoundError("No config file 'x.yaml'.")

    def bug(args):
        raise ValueError("an internal invariant broke")

    for command, message in ((user_mistake, "error: no such run"), (missing_file, "error: No config file 'x.yaml'.")):
        monkeypatch.setattr(cli, "cmd_configs", command)
        assert cli.main(["configs"]) == 2
        assert capsys.readouterr().err.strip() == message
    monkeypatch.setattr(cli, "cmd_configs", bug)
    with pytest.raises(ValueError, match="internal invariant"):
        cli.main(["configs"])


@pytest.mark.parametrize("name", ["InstanceNormalization", "LayerNormalization"])
def test_fixed_arguments_of_a_specialization_are_rejected_at_validation(name):
    for key, value in (("statistics", "batch"), ("momentum", 0.9)):
        with pytest.raises(config.ConfigError) as info:
            config.validate_node({"type": name, key: value}, "layer")
        assert [p.path for p in info.value.problems] == [(key,)] and "unknown argument" in str(info.value)
    config.validate_node({"type": "BatchNormalization", "momentum": 0.9}, "layer")
    with pytest.raises(config.ConfigError, match="unknown argument 'statistics'"):
        config.validate_node({"type": "BatchNormalization", "statistics": "layer"}, "layer")


def test_one_argument_check_serves_layers_ops_networks_and_data():
    from mrinets import arguments, layers, ops

    for call, message in (
        (lambda: layers.Conv2D(0, 3), "Invalid value for argument `filters`. Expected a strictly positive integer. Received: filters=0"),
        (lambda: layers.Dense(True), "Invalid value for argument `units`. Expected a strictly positive integer. Received: units=True"),
        (lambda: ops.fftn(np.ones((2, 4), np.complex64), rank=4), "Invalid value for argument `rank`. Expected 1, 2 or 3. Received: rank=4"),
        (lambda: arguments.check_int(-1, "gap", 0), "Invalid value for argument `gap`. Expected an integer >= 0. Received: gap=-1"),
    ):
        with pytest.raises(ValueError) as info:
            call()
        assert str(info.value) == message
    assert arguments.check_rank(np.int64(2)) == 2 and type(arguments.check_rank(np.int64(2))) is int


def test_center_crop_with_static_and_run_time_sizes():
    import tensorflow as tf

    from mrinets import ops

    x = np.arange(2 * 6 * 5).reshape(2, 6, 5)
    expected = x[:, 1:4, 1:3]  # fastMRI's start (n - m) // 2
    np.testing.assert_array_equal(ops.center_crop(tf.constant(x), (3, 2)), expected)
    crop = tf.function(ops.center_crop, input_signature=[tf.TensorSpec((None, None, None), tf.int64),
                                                          tf.TensorSpec((2,), tf.int32)])
    np.testing.assert_array_equal(crop(tf.constant(x), tf.constant([3, 2])), expected)
