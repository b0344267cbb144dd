"""Datasets and learning-rate schedules go through the registry: a config names them, validation checks them."""

import argparse
import os

import pytest

from mrinets import cli, config, registry
from mrinets.data.builtin import prepare_command
from mrinets.data.prepared import PreparedDataset
from mrinets.train.datasets import data_paths
from mrinets.train.optimization import Schedule, build_optimizer
from mrinets.train.schema import load_config

CALLS = []


def prepare_tiny(cache_dir=None, matrix=8, num_coils=1):
    """A plugin's dataset: records its arguments and returns its folder."""
    if matrix > 64:
        raise ValueError(f"Invalid value for argument `matrix`. Expected at most 64. Received: matrix={matrix}")
    CALLS.append({"cache_dir": cache_dir, "matrix": matrix, "num_coils": num_coils})
    return os.path.join(cache_dir, f"tiny-{matrix}-{num_coils}")


def half_rate(learning_rate, total_steps, warmup_steps=0, decay_steps=None, alpha=0.0, decay_rate=0.5):
    """A plugin's schedule: half the configured rate."""
    return learning_rate / 2


class Plugin:
    @registry.hookimpl
    def register_datasets(self, register):
        register(PreparedDataset(prepare_tiny), name="tiny")

    @registry.hookimpl
    def register_schedules(self, register):
        register(half_rate, name="half")


@pytest.fixture
def plugin():
    registry.add_plugin(Plugin(), "data-registry-tests")
    yield
    registry.remove_plugin("data-registry-tests")
    CALLS.clear()


def _config(data, schedule="{type: cosine, warmup_steps: 10}"):
    return f"model: {{type: UNet, filters: [4]}}\ndata:\n{data}\noptimizer:\n  schedule: {schedule}\n"


def test_a_plugin_dataset_from_yaml_is_prepared_with_its_options(plugin, tmp_path):
    cfg = load_config(_config(f"  builtin: tiny\n  options: {{matrix: 16}}\n  cache_dir: {tmp_path}"))
    assert cfg["data"]["builtin"] == "tiny" and cfg["data"].dataset == {"type": "tiny", "matrix": 16}
    train, val = data_paths(cfg)
    assert CALLS == [{"cache_dir": str(tmp_path), "matrix": 16, "num_coils": 1}]
    assert (train, val) == (os.path.join(str(tmp_path), "tiny-16-1", "train"), os.path.join(str(tmp_path), "tiny-16-1", "val"))
    # The mapping form is the same dataset; the resolved config lists its arguments under `options`.
    again = load_config(_config(f"  builtin: {{type: tiny, num_coils: 2}}\n  cache_dir: {tmp_path}"))
    assert again["data"]["builtin"] == "tiny" and again["data"]["options"] == {"num_coils": 2}


def test_a_plugin_dataset_error_names_the_options_and_line(plugin, tmp_path):
    with pytest.raises(config.ConfigError, match=r"data\.options\.matrx: unknown argument 'matrx' for dataset tiny\. "
                                                 r"Did you mean: matrix\?.*\(line 4\)"):
        load_config(_config("  builtin: tiny\n  options: {matrx: 16}"))
    cfg = load_config(_config(f"  builtin: tiny\n  options: {{matrix: 128}}\n  cache_dir: {tmp_path}"))
    with pytest.raises(config.ConfigError, match=r"data\.options: building dataset tiny failed: ValueError: .*matrix=128"):
        data_paths(cfg)


def test_a_misspelt_dataset_is_a_validation_error_with_path_and_line():
    with pytest.raises(config.ConfigError, match=r"data\.builtin: unknown dataset 'mni15'\. Did you mean: mni152\b.*\(line 3\)"):
        load_config(_config("  builtin: mni15"))
    with pytest.raises(config.ConfigError, match=r"data\.builtin: dataset 'fastmri' reads existing files .*\(line 3\)"):
        load_config(_config("  builtin: fastmri"))
    # With `data.path`, the files are read and nothing is prepared.
    cfg = load_config(_config("  builtin: fastmri\n  path: a\n  val_path: b"))
    assert cfg["data"].dataset is None and data_paths(cfg) == ("a", "b")


def test_a_misspelt_schedule_is_a_validation_error_with_path_and_line():
    with pytest.raises(config.ConfigError, match=r"optimizer\.schedule\.type: unknown schedule 'cosin'\. "
                                                 r"Did you mean: cosine\?.*\(line 5\)"):
        load_config(_config("  builtin: shepp_logan", schedule="{type: cosin}"))
    with pytest.raises(config.ConfigError, match=r"optimizer\.schedule\.warmup_steps: expected an integer >= 0"):
        load_config(_config("  builtin: shepp_logan", schedule="{type: cosine, warmup_steps: -1}"))


def test_the_schedule_is_built_from_the_validated_node(plugin):
    cfg = load_config(_config("  builtin: shepp_logan"))
    optimizer, schedule = build_optimizer(cfg, total_steps=110)
    assert optimizer._learning_rate is schedule  # the schedule the optimizer steps with
    assert isinstance(schedule, Schedule) and schedule.get_config()["warmup_steps"] == 10
    assert schedule.get_config()["decay"] == "cosine" and schedule.get_config()["total_steps"] == 110
    cfg = load_config(_config("  builtin: shepp_logan", schedule="{type: half}"))
    assert float(build_optimizer(cfg, total_steps=10)[0].learning_rate) == pytest.approx(5e-4)


def test_data_prepare_resolves_the_name_through_the_registry(plugin, tmp_path, capsys):
    parser = cli.add_prepare_arguments(argparse.ArgumentParser())
    assert prepare_command(parser.parse_args(["tiny", "--cache-dir", str(tmp_path), "--matrix", "16"])) == 0
    assert capsys.readouterr().out.strip() == os.path.join(str(tmp_path), "tiny-16-1")
    with pytest.raises(registry.UnknownNameError, match=r"Unknown dataset 'mni15'\. Did you mean: mni152\b"):
        prepare_command(parser.parse_args(["mni15"]))
    with pytest.raises(registry.UnknownNameError, match=r"dataset 'fastmri' reads existing files.*prepares: .*tiny"):
        prepare_command(parser.parse_args(["fastmri"]))
