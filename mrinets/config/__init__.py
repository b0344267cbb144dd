"""The mrinets config language: safe YAML, registry-checked ``{type: ...}`` nodes, schemas.

>>> from mrinets import config
>>> cfg = config.load("model: {type: UNet, filters: 8}\\ntrain: {steps: 10}")
>>> cfg = config.validate(cfg, {
...     "model": config.Field(ref="network", required=True),
...     "train": config.Field(fields={"steps": config.Field(int, positive=True, required=True),
...                                   "batch_size": config.Field(int, positive=True, default=1)}),
... })
>>> net = config.build(cfg["model"])          # the registered UNet, built with filters=8

Every error is a ``ConfigError`` that lists all problems, one per line::

    unet.yaml: model.filters: expected a positive integer, got -3 (line 4)
    unet.yaml: model.conv.type: unknown layer 'Conv2d'. Did you mean: Conv2D? ... (line 5)
"""

from mrinets.config._build import Spec, build, factory, resolve
from mrinets.config._describe import Description, Key, argument_docs, describe, describe_section, find_entries, sections
from mrinets.config._errors import ConfigError, Problem, Problems, format_path
from mrinets.config._fields import MISSING, NESTED_KINDS, Field, LayerRef, PositiveInt, Rank, Ref, RefNode
from mrinets.config._jsonschema import JsonSchemaBuilder, json_schema
from mrinets.config._overrides import apply_overrides, parse_path
from mrinets.config._signatures import Arguments, arguments
from mrinets.config._validate import check, validate, validate_node
from mrinets.config._yaml import (
    MAX_BYTES,
    MAX_DEPTH,
    MAX_NODES,
    SCHEMA_VERSION,
    ConfigDict,
    ConfigList,
    LineLoader,
    line_of,
    load,
    to_plain,
)

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "MISSING",
    "NESTED_KINDS",
    "SCHEMA_VERSION",
    "Arguments",
    "ConfigDict",
    "ConfigError",
    "ConfigList",
    "Description",
    "Field",
    "JsonSchemaBuilder",
    "Key",
    "LayerRef",
    "LineLoader",
    "PositiveInt",
    "Rank",
    "Problem",
    "Problems",
    "Ref",
    "RefNode",
    "Spec",
    "apply_overrides",
    "argument_docs",
    "arguments",
    "build",
    "check",
    "describe",
    "describe_section",
    "factory",
    "find_entries",
    "format_path",
    "json_schema",
    "line_of",
    "load",
    "parse_path",
    "resolve",
    "sections",
    "to_plain",
    "validate",
    "validate_node",
]
