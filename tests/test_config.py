"""Tests for mrinets.config: safe YAML, registry-checked nodes, schemas, overrides."""

import re
import textwrap
import typing
import warnings

import keras
import pytest

import mrinets.registry
from mrinets import config
from mrinets.config import ConfigError, Field, Ref


# -- a tiny test plugin, independent of the real layers ---------------------
class _TinyBase(keras.layers.Layer):
    """A base that takes ``units`` and forwards the rest to ``Layer``."""

    def __init__(self, units, use_bias: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.use_bias = use_bias


class TinyDense(_TinyBase):
    """Args: units (positive int), scale (float), activation (str or None)."""

    def __init__(self, units: config.PositiveInt, scale: float = 1.0, activation=None, **kwargs):
        super().__init__(units, **kwargs)
        self.scale = scale
        self.activation = activation


class TinyConv(keras.layers.Layer):
    """Args: filters (positive int), kernel_size (int or list)."""

    def __init__(self, filters: config.PositiveInt, kernel_size: int | list = 3, padding: str = "same", **kwargs):
        super().__init__(**kwargs)
        if padding not in ("same", "valid"):
            raise ValueError(f"Invalid value for argument `padding`. Received: padding={padding!r}")
        self.filters = filters
        self.kernel_size = kernel_size
        self.padding = padding


def tiny_net(filters: list[config.PositiveInt], conv: config.LayerRef = "TinyConv", depth: int = 2, head=None):
    """A builder: one conv per entry of ``filters`` made by the ``conv`` factory."""
    conv = config.factory(conv, "layer")
    layers = [conv(filters=f) for f in filters]
    return {"layers": layers, "depth": depth, "head": head}


def open_net(name, **options):
    """A builder whose ``**options`` accepts anything."""
    return name, options


def weighted_net(parts, raw=None):
    """A builder that receives layer factories with weights and a raw config."""
    return [(part(), part.extra["weight"]) for part in parts], raw


weighted_net.config_fields = {
    "parts": Field(list, required=True, items=Field(ref=Ref("layer", extra={"weight": Field(float, default=1.0)}))),
    "raw": Field(ref=Ref("layer", build="config", partial=True), nullable=True),
}


class _TestPlugin:
    @mrinets.registry.hookimpl
    def register_layers(self, register):
        register(TinyDense)
        register(TinyConv)

    @mrinets.registry.hookimpl
    def register_networks(self, register):
        register(tiny_net, name="TinyNet")
        register(open_net, name="OpenNet")
        register(weighted_net, name="WeightedNet")


@pytest.fixture(scope="module", autouse=True)
def plugin():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mrinets.registry.PluginWarning)  # built-ins may be mid-development
        mrinets.registry.add_plugin(_TestPlugin(), "config-tests")
        mrinets.registry.names("layer")
    yield
    mrinets.registry.remove_plugin("config-tests")


def problems_of(call, *args, **kwargs):
    with pytest.raises(ConfigError) as info:
        call(*args, **kwargs)
    return info.value


def y(text):
    return config.load(textwrap.dedent(text))


# -- loading ------------------------------------------------------------------
def test_load_records_lines_and_accepts_dict_text_and_path(tmp_path):
    cfg = y(
        """\
        model:
          type: TinyNet
          filters: [8, 16]
        train: {steps: 10}
        """
    )
    assert cfg == {"model": {"type": "TinyNet", "filters": [8, 16]}, "train": {"steps": 10}}
    assert cfg.lines == {"model": 1, "train": 4}
    assert cfg["model"].lines == {"type": 2, "filters": 3}
    assert config.line_of(cfg["model"]["filters"], 1) == 3
    assert cfg.schema_version == config.SCHEMA_VERSION and cfg.source is None

    path = tmp_path / "net.yaml"
    path.write_text("schema_version: 1\nmodel: TinyNet\n", encoding="utf-8")
    for source in (path, str(path)):
        loaded = config.load(source)
        assert loaded == {"model": "TinyNet"} and loaded.source == str(path) and loaded.schema_version == 1

    from_dict = config.load({"a": [1, {"b": 2}]})
    assert from_dict == {"a": [1, {"b": 2}]} and isinstance(from_dict["a"][1], config.ConfigDict)
    assert config.to_plain(from_dict) == {"a": [1, {"b": 2}]} and type(config.to_plain(from_dict)) is dict


@pytest.mark.parametrize(
    "text, tag",
    [
        ("a: !!python/object/apply:os.system ['echo hi']\n", "!!python/object/apply:os.system"),
        ("a: 1\nb: !!python/name:os.system\n", "!!python/name:os.system"),
        ("a:\n  b: !!python/object:collections.OrderedDict {}\n", "!!python/object:collections.OrderedDict"),
        ("a: !custom 3\n", "!custom"),
        ("a: !!binary aGVsbG8=\n", "!!binary"),
        ("a: !!set {x, y}\n", "!!set"),
    ],
)
def test_tags_that_construct_objects_are_rejected_with_tag_and_line(text, tag):
    error = problems_of(config.load, text)
    line = text.count("\n", 0, text.index(tag.split(":")[0])) + 1
    assert len(error.problems) == 1
    assert tag in str(error) and f"(line {line})" in str(error) and "not allowed" in str(error)


def test_duplicate_keys_report_path_and_both_lines():
    error = problems_of(config.load, "model:\n  type: TinyNet\n  depth: 2\n  depth: 3\ntrain: 1\ntrain: 2\n")
    assert [str(p) for p in error.problems] == [
        "model.depth: duplicate key 'depth' (first defined at line 3) (line 4)",
        "train: duplicate key 'train' (first defined at line 5) (line 6)",
    ]


def test_non_utf8_bytes_and_files_are_rejected(tmp_path):
    error = problems_of(config.load, b"a: 1\nb: caf\xe9\n")
    assert "not valid UTF-8" in str(error) and "(line 2)" in str(error)
    path = tmp_path / "latin1.yml"
    path.write_bytes("a: 1\nname: Müller\n".encode("latin-1"))
    error = problems_of(config.load, path)
    assert str(error).startswith(f"{path}: <root>: the config is not valid UTF-8") and "(line 2)" in str(error)
    assert config.load(b"\xef\xbb\xbfa: caf\xc3\xa9\n") == {"a": "café"}  # BOM + UTF-8 is fine


def test_size_limit_and_bad_sources(tmp_path, monkeypatch):
    monkeypatch.setattr(config._yaml, "MAX_BYTES", 64)
    path = tmp_path / "big.yaml"
    path.write_text("a: " + "x" * 100 + "\n")
    assert "more than the limit of 64 bytes" in str(problems_of(config.load, path))
    assert "larger than 64 bytes" in str(problems_of(config.load, "a: " + "x" * 100))
    assert "no such file" in str(problems_of(config.load, str(tmp_path / "missing.yaml")))
    (tmp_path / "c.json").write_text("{}")
    assert "expected a .yaml or .yml file" in str(problems_of(config.load, tmp_path / "c.json"))
    with pytest.raises(TypeError, match="argument `source`"):
        config.load(42)
    assert "empty" in str(problems_of(config.load, "# only a comment\n"))
    assert "must be a mapping" in str(problems_of(config.load, "- 1\n- 2\n"))
    error = problems_of(config.load, "a: [1, 2\nb: 3\n")
    assert "invalid YAML" in str(error) and "(line" in str(error)


def test_excessive_nesting_and_alias_bombs_are_rejected(monkeypatch):
    assert "nesting is deeper than" in str(problems_of(config.load, "a: " + "[" * 200 + "]" * 200))
    nested = current = {}
    for _ in range(200):
        current["x"] = current = {}
    assert "nesting is deeper than" in str(problems_of(config.load, nested))
    monkeypatch.setattr(config._yaml, "MAX_NODES", 1000)
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for i, name in enumerate("bcd"):
        prev = "abc"[i]
        bomb += f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]\n"
    assert "too many YAML aliases" in str(problems_of(config.load, bomb))
    assert config.load("a: &x {k: 1}\nb: *x\nc: {<<: *x, j: 2}\n") == {"a": {"k": 1}, "b": {"k": 1}, "c": {"k": 1, "j": 2}}


def test_schema_version():
    assert config.load({"schema_version": 1, "a": 1}) == {"a": 1}
    error = problems_of(config.load, "a: 1\nschema_version: 7\n")
    assert re.search(r"schema_version: schema_version 7 is newer than .* \(up to 1\); upgrade mrinets .*\(line 2\)", str(error))
    assert "expected a positive integer, got '1'" in str(problems_of(config.load, "schema_version: '1'\n"))


# -- registry nodes -----------------------------------------------------------
def test_arguments_follow_the_keras_init_chain():
    args = config.arguments(TinyDense)
    assert {"units", "scale", "activation", "use_bias", "name", "dtype", "trainable"} <= set(args.fields)
    assert args.required == {"units"} and not args.accepts_any
    assert not {"input_shape", "kwargs"} & set(args.fields)
    assert config.arguments(open_net).accepts_any and config.arguments(open_net).required == {"name"}
    assert config.arguments(tiny_net).fields["conv"].ref.kind == "layer"
    assert config.arguments(keras.layers.Conv2D).required == {"filters", "kernel_size"}


def test_arguments_a_specialization_fixes_are_not_accepted():
    from mrinets.layers import Conv2D, MaxPooling3D

    assert "rank" not in config.arguments(Conv2D).fields and "filters" in config.arguments(Conv2D).required
    assert not {"rank", "pool_mode"} & set(config.arguments(MaxPooling3D).fields)
    error = problems_of(config.validate_node, {"type": "MaxPooling2D", "rank": 3, "pool_mode": "average"}, "layer")
    assert [p.path for p in error.problems] == [("rank",), ("pool_mode",)]


def test_valid_node_is_normalized_and_built():
    node = config.validate_node({"type": "TinyDense", "units": 4, "scale": 2, "name": "d"}, "layer")
    assert node == {"type": "TinyDense", "units": 4, "scale": 2.0, "name": "d"}
    assert isinstance(node["scale"], float) and node.entry.obj is TinyDense
    layer = config.build(node)
    assert isinstance(layer, TinyDense) and (layer.units, layer.scale, layer.name) == (4, 2.0, "d")
    assert isinstance(config.build("TinyConv", "layer", filters=2), TinyConv)


def test_unknown_argument_suggests_valid_keys():
    error = problems_of(config.validate_node, {"type": "TinyDense", "units": 4, "scael": 2.0}, "layer")
    (problem,) = error.problems
    assert problem.path == ("scael",)
    assert "unknown argument 'scael' for layer TinyDense. Did you mean: scale?" in problem.message
    assert "Valid arguments:" in problem.message and "use_bias" in problem.message


def test_layer_kwargs_are_not_a_catch_all():
    error = problems_of(config.validate_node, {"type": "TinyConv", "filters": 2, "input_shape": [3], "foo": 1}, "layer")
    assert [p.path for p in error.problems] == [("input_shape",), ("foo",)]


def test_unknown_type_suggests_registered_names():
    error = problems_of(config.validate_node, "TinyDnse", "layer")
    (problem,) = error.problems
    assert problem.path == () and re.match(r"unknown layer 'TinyDnse'\. Did you mean: TinyDense\b.*\? Registered: ", problem.message)
    error = problems_of(config.validate_node, {"type": "TinyDnse", "units": 2}, "layer")
    assert [p.path for p in error.problems] == [("type",)]
    error = problems_of(config.validate_node, {"units": 3}, "layer")
    assert "missing `type:`" in str(error)
    assert "expected the name of a registered layer" in str(problems_of(config.validate_node, {"type": 3}, "layer"))


def test_wrong_types_and_missing_required():
    text = """\
    type: TinyDense
    scale: fast
    use_bias: 1
    activation: [relu]
    """
    error = problems_of(config.validate_node, y(text), "layer")
    assert [str(p) for p in error.problems] == [
        "scale: expected a number, got a string 'fast' (line 2)",
        "use_bias: expected a boolean (true or false), got an integer 1 (line 3)",
        "<root>: missing required argument 'units' for layer TinyDense (line 1)",
    ]
    assert "activation" not in str(error)  # un-annotated, default None: anything goes
    error = problems_of(config.validate_node, {"type": "TinyConv", "filters": 2.5, "kernel_size": "3", "padding": 1}, "layer")
    assert [p.message for p in error.problems] == [
        "expected a positive integer, got a number 2.5",
        "expected an integer or a list, got a string '3'",
        "expected a string, got an integer 1",
    ]


def test_negative_size_reports_path_and_line():
    error = problems_of(config.validate_node, y("type: TinyNet\nfilters: [8, 16, -3]\n"), "network")
    assert str(error) == "filters[2]: expected a positive integer, got -3 (line 2)"
    assert [p.path for p in error.problems] == [("filters", 2)] and error.problems[0].line == 2
    error = problems_of(config.validate_node, {"type": "TinyNet", "filters": [True]}, "network")
    assert str(error) == "filters[0]: expected a positive integer, got a boolean True"


def test_nested_layer_refs_deep_paths_and_all_errors_at_once(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            model:
              type: TinyNet
              filters: [8, 0]
              conv:
                type: TinyConv
                kernal_size: 3
              head:
                type: TinyDense
                units: 2
                extra:
                  inner: {type: TinyConv, filters: -1}
              depht: 3
            train:
              steps: 0
              batch_size: two
              learnig_rate: 0.1
            """
        )
    )
    schema = {
        "model": Field(ref="network", required=True),
        "train": Field(
            fields={
                "steps": Field(int, positive=True, required=True),
                "batch_size": Field(int, positive=True, default=1),
                "learning_rate": Field(float, positive=True, default=1e-3),
            }
        ),
    }
    error = problems_of(config.validate, config.load(path), schema)
    got = [(config.format_path(p.path), p.line) for p in error.problems]
    assert got == [
        ("model.filters[1]", 3),
        ("model.conv.kernal_size", 6),
        ("model.head.extra", 10),
        ("model.depht", 12),
        ("train.steps", 14),
        ("train.batch_size", 15),
        ("train.learnig_rate", 16),
    ]
    lines = str(error).splitlines()
    assert len(lines) == 7 and all(line.startswith(f"{path}: ") for line in lines)
    assert f"{path}: model.filters[1]: expected a positive integer, got 0 (line 3)" == lines[0]
    assert "Did you mean: kernel_size?" in lines[1] and "Did you mean: depth?" in lines[3]
    assert "Did you mean: learning_rate?" in lines[6]


def test_nested_refs_of_undeclared_arguments_are_checked_deeply():
    node = {"type": "OpenNet", "name": "n", "blocks": [{"type": "TinyConv", "filters": 2}, {"stage": {"type": "TinyConv", "filters": -2}}]}
    error = problems_of(config.validate_node, node, "network")
    assert [p.path for p in error.problems] == [("blocks", 1, "stage", "filters")]
    node["blocks"][1]["stage"]["filters"] = 4
    spec = config.resolve(node, "network")
    name, options = spec()
    assert name == "n" and isinstance(options["blocks"][0], config.Spec) and options["blocks"][1]["stage"].kwargs == {"filters": 4}


def test_network_builder_gets_layer_factories():
    for conv in ("TinyConv", {"type": "TinyConv", "kernel_size": 5}):
        spec = config.resolve({"type": "TinyNet", "filters": [2, 4], "conv": conv}, "network")
        assert isinstance(spec.kwargs["conv"], config.Spec) and spec.kwargs["conv"].obj is TinyConv
        net = spec()
        assert [layer.filters for layer in net["layers"]] == [2, 4]
        assert all(layer.kernel_size == (5 if isinstance(conv, dict) else 3) for layer in net["layers"])
        assert spec.to_config()["conv"]["type"] == "TinyConv"
    net = config.build({"type": "TinyNet", "filters": [3]}, "network")  # default conv name resolved by the builder
    assert isinstance(net["layers"][0], TinyConv)
    error = problems_of(config.validate_node, {"type": "TinyNet", "filters": [2], "conv": "TinyConvv"}, "network")
    assert error.problems[0].path == ("conv",) and "Did you mean: TinyConv" in str(error)


def test_build_errors_cite_the_node():
    error = problems_of(config.build, y("model:\n  type: TinyConv\n  filters: 2\n  padding: full\n")["model"], "layer")
    assert "building layer TinyConv failed: ValueError: Invalid value for argument `padding`" in str(error)
    assert error.problems[0].line == 2 and isinstance(error.__cause__, ValueError)
    nested = y("type: TinyNet\nfilters: [2]\nconv:\n  type: TinyConv\n  padding: full\n")
    error = problems_of(config.build, nested, "network")
    assert str(error).startswith("conv: building layer TinyConv failed: ValueError: Invalid value for argument `padding`")
    assert error.problems[0].line == 4


def test_schema_fills_defaults_and_resolves_refs():
    schema = {
        "model": Field(ref="network", required=True),
        "optimizer": Field(fields={"type": Field(str, default="adam", choices=("adam", "sgd")), "learning_rate": Field(float, default=1e-3, positive=True)}),
        "train": Field(
            fields={
                "steps": Field(int, positive=True, required=True),
                "batch_size": Field(int, positive=True, default=1),
                "seed": Field(int),
                "layer": Field(ref=Ref("layer", build="instance"), default=None),
            }
        ),
    }
    cfg = config.validate(y("model: TinyNet\ntrain: {steps: 5}\n") | {"model": {"type": "TinyNet", "filters": [1]}}, schema)
    assert config.to_plain(cfg) == {
        "model": {"type": "TinyNet", "filters": [1]},
        "optimizer": {"type": "adam", "learning_rate": 0.001},
        "train": {"steps": 5, "batch_size": 1, "seed": None, "layer": None},
    }
    assert isinstance(cfg["model"], config.RefNode)
    error = problems_of(config.validate, {"model": "TinyNet", "optimizer": {"type": "adamw"}}, schema)
    assert [config.format_path(p.path) for p in error.problems] == ["model", "optimizer.type", "train.steps"]
    assert "missing required argument 'filters' for network TinyNet" in str(error)
    assert "expected one of 'adam', 'sgd', got 'adamw'. Did you mean: adam?" in str(error)
    assert "train.steps: missing required key 'steps' in train" in str(error)
    assert config.check({"model": {"type": "TinyNet", "filters": [1]}, "train": {"steps": 1}}, schema) == []


def test_ref_build_modes_and_extra_keys():
    weighted = Ref("layer", extra={"weight": Field(float, default=1.0, min=0)})
    schema = {"parts": Field(list, items=Field(ref=weighted), required=True), "raw": Field(ref=Ref("layer", build="config", partial=True))}
    cfg = config.validate({"parts": [{"type": "TinyConv", "filters": 1, "weight": 0.5}, {"type": "TinyConv", "filters": 3}], "raw": {"type": "TinyDense", "units": 2}}, schema)
    assert [part["weight"] for part in cfg["parts"]] == [0.5, 1.0]
    spec = config.resolve(cfg["parts"][0])  # the extra key is not passed to the constructor
    assert spec.extra == {"weight": 0.5} and spec().filters == 1
    assert spec.to_config() == {"type": "TinyConv", "filters": 1, "weight": 0.5}
    error = problems_of(config.validate, {"parts": [{"type": "TinyConv", "filters": 1, "weight": -1}, "TinyConv"]}, schema)
    assert [str(p) for p in error.problems] == [
        "parts[0].weight: expected a number >= 0, got -1",
        "parts[1]: missing required argument 'filters' for layer TinyConv",
    ]

    class Holder:
        config_fields = {"parts": schema["parts"], "raw": schema["raw"]}

        def __init__(self, parts, raw=None):
            self.parts, self.raw = parts, raw

    args = config.arguments(Holder)
    assert args.required == {"parts"} and args.fields["parts"] is schema["parts"]
    spec = config.resolve({"type": "TinyNet", "filters": [1], "head": {"type": "TinyDense", "units": 2}}, "network")
    assert isinstance(spec.kwargs["head"], config.Spec) and spec.kwargs["head"].kwargs == {"units": 2}
    instance_ref = Ref("network", build="instance")
    out = config.resolve({"type": "OpenNet", "name": "x", "sub": {"type": "TinyConv", "filters": 2}}, instance_ref)
    assert isinstance(out.kwargs["sub"], config.Spec)  # undeclared nested refs are factories
    assert config.validate({"raw": "TinyDense", "parts": []}, schema)["raw"] == {"type": "TinyDense"}
    parts, raw = config.build({"type": "WeightedNet", "parts": [{"type": "TinyConv", "filters": 2, "weight": 3}], "raw": "TinyDense"}, "network")
    (layer, weight), = parts
    assert isinstance(layer, TinyConv) and layer.filters == 2 and weight == 3.0
    assert raw == {"type": "TinyDense"} and type(raw) is dict
    with pytest.raises(ValueError, match="argument `extra`"):
        Ref("loss", build="instance", extra={"weight": Field(float)})


def test_yaml_1_2_scalars():
    cfg = config.load("a: 1e-3\nb: 010\nc: no\non: 1\nd: 12:30\ne: 2020-01-01\nf: 0x10\ng: True\nh: .5\n")
    assert cfg == {"a": 0.001, "b": 10, "c": "no", "on": 1, "d": "12:30", "e": "2020-01-01", "f": 16, "g": True, "h": 0.5}


def test_field_arguments_are_checked():
    with pytest.raises(ValueError, match="argument `type`"):
        Field(set)
    with pytest.raises(ValueError, match="argument `kind`"):
        Ref("layers")
    with pytest.raises(ValueError, match="required field cannot have a default"):
        Field(int, required=True, default=1)
    with pytest.raises(TypeError, match="argument `fields`"):
        Field(fields={"a": int})


def test_custom_check_and_choices():
    schema = {"mode": Field(str, choices=("train", "eval"), default="train"), "even": Field(int, check=lambda v: None if v % 2 == 0 else f"expected an even number, got {v}")}
    assert config.validate({"even": 2}, schema) == {"even": 2, "mode": "train"}
    error = problems_of(config.validate, y("mode: trian\neven: 3\n"), schema)
    assert [str(p) for p in error.problems] == [
        "mode: expected one of 'train', 'eval', got 'trian'. Did you mean: train? (line 1)",
        "even: expected an even number, got 3 (line 2)",
    ]


# -- overrides ------------------------------------------------------------------
def test_apply_overrides_types_values_and_keeps_original():
    cfg = y("model:\n  type: TinyNet\n  filters: [8, 16]\ntrain:\n  steps: 100\n")
    out = config.apply_overrides(cfg, ["train.steps=10", "model.filters[0]=4", "model.filters[-1]=32", "train.lr=1e-3", "model.conv={type: TinyConv, kernel_size: 5}", "new.section.flag=true", "train.name=null"])
    assert out == {
        "model": {"type": "TinyNet", "filters": [4, 32], "conv": {"type": "TinyConv", "kernel_size": 5}},
        "train": {"steps": 10, "lr": 1e-3, "name": None},
        "new": {"section": {"flag": True}},
    }
    assert cfg["train"]["steps"] == 100 and cfg["model"]["filters"] == [8, 16]
    assert out["model"].lines["type"] == 2 and out["train"].lines["steps"] is None
    assert config.apply_overrides({"a": 1}, "a=x") == {"a": "x"}


def test_apply_overrides_reports_every_bad_override():
    cfg = {"model": {"filters": [8, 16]}, "train": {"steps": 1}}
    error = problems_of(
        config.apply_overrides,
        cfg,
        ["model.filters[5]=1", "steps", "train.steps.x=1", "missing[0]=1", "a..b=1", "x=!!python/name:os.system", "y=[1"],
    )
    messages = str(error).splitlines()
    assert len(messages) == 7
    assert "index 5 is out of range for model.filters (a list of 2 items)" in messages[0]
    assert "expected KEY.PATH=VALUE" in messages[1]
    assert "train.steps is int 1, not a mapping" in messages[2]
    assert "missing does not exist" in messages[3]
    assert "malformed key path 'a..b'" in messages[4]
    assert "!!python/name:os.system is not allowed" in messages[5]
    assert "bad value" in messages[6]
    assert config.parse_path("model.blocks[2].filters") == ("model", "blocks", 2, "filters")
    with pytest.raises(ValueError, match="must start with a key"):
        config.parse_path("[0].a")
