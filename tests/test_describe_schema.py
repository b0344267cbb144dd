"""Config-author tools: `mrinets describe`, the JSON Schema of the config language, `mrinets init`, `validate`."""

import copy
import json
import os

import keras
import pytest

import mrinets
from mrinets import cli, config, configs, registry
from mrinets.train import documents
from mrinets.config import MISSING, arguments
from mrinets.config._describe import parse_args_section
from mrinets.train.schema import SCHEMA, validate_config

@pytest.fixture(scope="module")
def validator():
    jsonschema = pytest.importorskip("jsonschema")
    schema = documents.json_schema(builtin_only=True)
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def schema_errors(validator, document):
    return sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))


# -- a plugin, registered for one test at a time ------------------------------------------------
class Gate(keras.layers.Layer):
    """Multiplies by a learned gate.

    Args:
        units: number of gates.
        floor, ceiling: bounds of
            the gate value.
    """

    def __init__(self, units: int, floor: float = 0.0, ceiling: float = 1.0, **kwargs):
        super().__init__(**kwargs)


def tiny_net(depth: int, width: int = 4):
    """A plugin network built by a function.

    Args:
        depth: number of layers.
        width: channels.
    """


class Plugin:
    @mrinets.hookimpl
    def register_layers(self, register):
        register(Gate)

    @mrinets.hookimpl
    def register_networks(self, register):
        register(tiny_net, name="TinyNet")


@pytest.fixture
def plugin():
    registry.add_plugin(Plugin(), "describe-test")
    yield
    registry.remove_plugin("describe-test")


# -- describe --------------------------------------------------------------------------------------
def test_args_section_parser():
    doc = """Summary.

    Args:
        rank: 1, 2 or 3.
        filters, kernel_size, padding ("valid"/"same"),
        kernel/bias initializer: as in Keras;
        continued here.
        dtype: a dtype,
            on two lines.
        **kwargs: ignored.

    Input: not an argument.
    """
    docs = parse_args_section(doc)
    assert docs["rank"] == "1, 2 or 3."
    for name in ("filters", "kernel_size", "padding", "kernel_initializer", "bias_initializer"):
        assert docs[name] == "as in Keras; continued here."
    assert docs["dtype"] == "a dtype, on two lines."
    assert set(docs) == {"rank", "filters", "kernel_size", "padding", "kernel_initializer", "bias_initializer", "dtype"}
    assert parse_args_section("No sections.") == {}


def test_describe_reads_the_validator_fields_and_the_docstrings():
    unet = config.describe("network", "UNet")
    fields = arguments(mrinets.networks.UNet).fields
    assert [k.name for k in unet.keys] == list(fields)
    keys = {k.name: k for k in unet.keys}
    assert keys["base_filters"].type == "int > 0" and keys["base_filters"].default == 32
    assert keys["filters"].type == "list[int > 0] | null"
    assert keys["norm"].type == "layer | null" and keys["norm"].default_yaml() == "null"
    assert keys["rank"].doc.startswith("number of spatial dimensions")
    assert keys["base_filters"].doc == keys["depth"].doc == "used when `filters` is not given."
    assert keys["trainable"].doc.startswith("Boolean")  # from keras.layers.Layer, up the MRO
    conv = {k.name: k for k in config.describe("layer", "Conv2D").keys}
    assert conv["filters"].required and conv["filters"].default is MISSING
    assert conv["kernel_initializer"].doc and conv["stacked"].doc  # ComplexConv's and ComplexLayer's Args
    train = {k.name: k for k in config.describe_section("train", SCHEMA["train"]).keys}
    assert train["precision"].type == "'float32' | 'mixed_float16' | 'mixed_bfloat16' | 'auto'"
    assert train["batch_size"].doc == SCHEMA["train"].fields["batch_size"].doc


def test_describe_plugin_entries(plugin):
    gate = config.describe("layer", "Gate")
    assert gate.plugin == "describe-test" and gate.summary == "Multiplies by a learned gate."
    keys = {k.name: k for k in gate.keys}
    assert keys["units"].required and keys["units"].type == "int"
    assert keys["floor"].doc == keys["ceiling"].doc == "bounds of the gate value."
    tiny = config.describe("network", "TinyNet")
    assert [(k.name, k.required) for k in tiny.keys] == [("depth", True), ("width", False)]
    assert config.find_entries("Gate") == [("layer", "Gate")]


def test_describe_unknown_name_suggests():
    with pytest.raises(registry.UnknownNameError, match="Did you mean: Conv2D"):
        config.find_entries("Conv2d")
    assert config.find_entries("NMSE") == [("loss", "NMSE"), ("metric", "NMSE")]


def test_describe_command(capsys):
    assert cli.main(["describe", "UNet", "--json"]) == 0
    [unet] = json.loads(capsys.readouterr().out)
    assert unet["kind"] == "network" and unet["keys"][1]["name"] == "filters"
    assert cli.main(["describe", "optimizer.schedule"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("optimizer.schedule (section)") and "warmup_steps" in out
    assert cli.main(["describe", "InstanceNorm"]) == 2
    assert "error: Unknown name 'InstanceNorm'" in capsys.readouterr().err
    assert cli.main(["describe", "UNet", "--kind", "layer"]) == 2
    assert "Unknown layer 'UNet'" in capsys.readouterr().err


# -- JSON Schema -------------------------------------------------------------------------------------
def test_schema_is_generated_into_the_cache_not_shipped(tmp_path, monkeypatch, capsys):
    assert not any(f.endswith(".json") for f in os.listdir(configs.FOLDER))
    monkeypatch.setenv("MRINETS_CACHE", str(tmp_path / "cache"))
    assert documents.schema_path() == str(tmp_path / "cache" / documents.SCHEMA_NAME)
    assert cli.main(["schema"]) == 0
    assert capsys.readouterr().out == f"wrote {documents.schema_path()}\n"
    with open(documents.schema_path()) as handle:
        assert handle.read() == documents.schema_text()


@pytest.mark.parametrize("name", configs.names())
def test_shipped_configs_validate_against_the_schema(validator, monkeypatch, name):
    path = configs.find(name)
    with open(path) as handle:
        first = handle.readline().strip()
    assert first == documents.SCHEMA_LINE + documents.SHIPPED_SCHEMA_PATH
    for variable in ("MRINETS_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(variable, raising=False)
    assert os.path.expanduser(first.split("=", 1)[1]) == documents.schema_path()  # the default cache folder
    assert schema_errors(validator, config.to_plain(config.load(path))) == []


def _with(document, path, value):
    document = copy.deepcopy(document)
    node = document
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return document


INVALID = {
    "unknown key": (("model", "regularizer", "filterz"), 8),
    "unknown section": (("trainer",), {}),
    "wrong type": (("train", "batch_size"), "four"),
    "null": (("train", "batch_size"), None),
    "unknown layer": (("model", "regularizer", "norm"), "InstanceNorm"),
    "layer of another kind": (("model", "regularizer", "conv"), "L1"),
    "unknown network": (("model", "type"), "VarNett"),
    "negative size": (("model", "regularizer", "filters"), [12, -24, 48]),
    "zero steps": (("train", "steps"), 0),
    "wrong enum": (("train", "precision"), "float16"),
    "nested unknown argument": (("model", "regularizer", "norm"), {"type": "InstanceNormalization", "centre": False}),
    "unknown mask argument": (("mask", "center_fraction"), 0.1),
    "missing required argument": (("loss",), {"type": "Combined"}),
    "wrong extra key type": (("loss",), {"type": "Combined", "losses": [{"type": "L1", "weight": "x"}]}),
    "unknown activation argument": (("model", "regularizer", "activation"), {"type": "mod_relu", "bais": -0.1}),
    "fixed argument": (("model", "regularizer", "conv"), {"type": "Conv2D", "rank": 3}),
    "rank out of range": (("model", "rank"), 4),
}
VALID = {
    "bare layer name": (("model", "regularizer", "norm"), "InstanceNormalization"),
    "combined loss": (("loss",), {"type": "Combined", "losses": [{"type": "L1", "weight": 0.5}, "SSIMLoss"]}),
    "null where nullable": (("train", "eval_batch_size"), None),
    "plain activation": (("model", "regularizer", "activation"), "cardioid"),
    "activation with arguments": (("model", "regularizer", "activation"), {"type": "mod_relu", "bias": -0.1}),
    "list of center fractions": (("mask",), {"type": "random", "center_fractions": [0.08, 0.04], "accelerations": [4, 8]}),
}


@pytest.fixture(scope="module")
def quickstart():
    return config.to_plain(config.load(configs.find("varnet_quickstart")))


@pytest.mark.parametrize("case", INVALID)
def test_schema_rejects_what_the_validator_rejects(validator, quickstart, case):
    path, value = INVALID[case]
    document = _with(quickstart, path, value)
    with pytest.raises(config.ConfigError):
        validate_config(config.load(json.dumps(document)))
    errors = schema_errors(validator, document)
    assert errors, f"the schema accepts a config with a {case}"
    import jsonschema

    best = list(jsonschema.exceptions.best_match(errors).absolute_path)
    assert tuple(best[: len(path) - 1]) == path[:-1]


@pytest.mark.parametrize("case", VALID)
def test_schema_accepts_what_the_validator_accepts(validator, quickstart, case):
    document = _with(quickstart, *VALID[case])
    validate_config(config.load(json.dumps(document)))
    assert schema_errors(validator, document) == []


def test_schema_includes_plugin_entries_unless_builtin_only(plugin):
    jsonschema = pytest.importorskip("jsonschema")
    schema = documents.json_schema()
    assert "layer.Gate" in schema["definitions"] and "network.TinyNet" in schema["definitions"]
    assert "layer.Gate" not in documents.json_schema(builtin_only=True)["definitions"]
    gate = schema["definitions"]["layer.Gate"]
    assert gate["additionalProperties"] is False and gate["properties"]["units"]["type"] == "integer"
    check = jsonschema.Draft7Validator(schema)
    good = {"type": "UNet", "conv": {"type": "Gate", "floor": 0.5}}  # units may be left to the U-Net
    assert config.check(good, config.Field(ref="network")) == [] and list(check.iter_errors(good)) == []
    bad = {"type": "UNet", "conv": {"type": "Gate", "floor": "low"}}
    assert config.check(bad, config.Field(ref="network")) and list(check.iter_errors(bad))
    missing = {"model": {"type": "TinyNet"}}  # `model:` must be complete: depth is required
    with pytest.raises(config.ConfigError, match="missing required argument 'depth'"):
        validate_config(config.load(json.dumps(missing)))
    assert list(check.iter_errors(missing))
    assert list(check.iter_errors({"model": {"type": "TinyNet", "depth": 2}})) == []


def test_schema_command_writes_the_file(tmp_path, capsys):
    out = tmp_path / "schema.json"
    assert cli.main(["schema", "--builtin-only", "--output", str(out)]) == 0
    assert out.read_text() == documents.schema_text(builtin_only=True)
    assert f"wrote {out}" in capsys.readouterr().out


# -- init and validate -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["varnet_quickstart", "UNet"])
def test_init_writes_a_config_that_validates(validator, tmp_path, capsys, name):
    out = tmp_path / "start.yaml"
    assert cli.main(["init", name, "--output", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    text = out.read_text()
    assert text.startswith(documents.SCHEMA_LINE + documents.schema_path() + "\n")
    assert cli.main(["validate", str(out)]) == 0
    assert "valid" in capsys.readouterr().out
    assert schema_errors(validator, config.to_plain(config.load(str(out)))) == []
    if name == "UNet":  # a generated network file: every argument, with its doc as a comment
        assert "\ntype: UNet\n" in text and "base_filters: 32" in text and "# used when `filters` is not given." in text
        assert set(config.load(str(out))) == {"type", *arguments(mrinets.networks.UNet).fields}
    else:
        shipped = open(configs.find(name)).read()
        assert text.split("\n", 1)[1] == shipped.split("\n", 1)[1]  # the shipped config, comments and all

    assert cli.main(["init", name, "--output", str(out)]) == 2  # no overwrite without --force
    assert "exists; pass --force" in capsys.readouterr().err
    out.write_text("changed")
    assert cli.main(["init", name, "--output", str(out), "--force"]) == 0
    assert out.read_text() == text
    assert os.listdir(tmp_path) == ["start.yaml"]  # no temporary file left behind


def test_init_plugin_network_and_unknown_name(plugin, tmp_path, capsys):
    name, text = documents.starter("tinynet")
    assert name == "tinynet.yaml" and "\ntype: TinyNet\n# depth:" in text and "width: 4 " in text
    assert cli.main(["init", "VarNett", "--output", str(tmp_path / "x.yaml")]) == 2
    assert "Did you mean: VarNet" in capsys.readouterr().err


def test_validate_checks_every_section_of_a_training_config(tmp_path, capsys):
    text = open(configs.find("varnet_quickstart")).read()
    bad = text.replace("batch_size: 4", "batch_size: -4").replace("precision: auto", "precision: fp32")
    bad = bad.replace("cascades: 6", "cascades: 6\n  cascadez: 2")
    path = tmp_path / "bad.yaml"
    path.write_text(bad)
    assert cli.main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    for problem in ("model.cascadez: unknown argument", "train.batch_size: expected a positive integer, got -4",
                    "train.precision: expected one of"):
        assert problem in err
    assert cli.main(["validate", "varnet_quickstart"]) == 0
    assert "valid training config (VarNet model)" in capsys.readouterr().out
