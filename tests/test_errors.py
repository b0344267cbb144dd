"""The error family: one base the CLI prints, did-you-mean hints, and bugs that keep their traceback."""

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
