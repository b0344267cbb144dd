"""Safe YAML loading that remembers where every key and item came from.

``load`` returns a ``ConfigDict``: a ``dict`` that also knows the line of each
of its keys (``lines``), its own line and the source file name, so that errors
found later can cite ``(line 14)``. Only plain YAML data is accepted: mappings,
sequences, strings, numbers, booleans and null. Tags that would construct Python
objects (``!!python/object``, ``!!python/name``, ...) or anything else
(``!!binary``, ``!!set``, custom ``!Tags``) are rejected with their line.
"""

import os
import pathlib
import re
from collections.abc import Mapping

import yaml

from mrinets.config._errors import ConfigError, Problem, Problems

#: Newest config schema version this mrinets understands; configs without
#: ``schema_version`` are read as this version.
SCHEMA_VERSION = 1
#: Largest config accepted, in bytes.
MAX_BYTES = 10 * 1024 * 1024
#: Deepest nesting of mappings/sequences accepted.
MAX_DEPTH = 64
#: Largest number of values after expanding YAML aliases (guards against "billion laughs").
MAX_NODES = 1_000_000
YAML_SUFFIXES = (".yaml", ".yml")

_CORE = "tag:yaml.org,2002:"
_ALLOWED_TAGS = {_CORE + t for t in ("null", "bool", "int", "float", "str", "seq", "map")}


class ConfigDict(dict):
    """A ``dict`` that remembers where it came from.

    Attributes:
        lines: key -> line number (1-based) of that key in the source.
        line: line of the mapping itself (``None`` when not from YAML).
        source: file name the config was read from, if any.
        schema_version: the top-level ``schema_version`` (set by ``load``).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lines = {}
        self.line = None
        self.source = None
        self.schema_version = None


class ConfigList(list):
    """A ``list`` that remembers the line of each item (``lines``) and its own (``line``)."""

    def __init__(self, *args):
        super().__init__(*args)
        self.lines = []
        self.line = None


def line_of(container, key=None):
    """Line of ``container[key]`` (or of ``container`` itself), ``None`` if unknown."""
    if key is not None:
        lines = getattr(container, "lines", None)
        if isinstance(lines, dict) and key in lines:
            return lines[key]
        if isinstance(lines, list) and isinstance(key, int) and 0 <= key < len(lines):
            return lines[key]
    return getattr(container, "line", None)


def to_plain(value):
    """Deep copy of a config as plain ``dict``/``list`` (e.g. for ``yaml.safe_dump``)."""
    if isinstance(value, Mapping):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    return value


def _show_tag(tag):
    return "!!" + tag[len(_CORE):] if tag.startswith(_CORE) else tag


class _LoadAbort(Exception):
    """Internal: stops composing (too deep); carries the problem."""

    def __init__(self, message, line):
        super().__init__(message)
        self.message = message
        self.line = line


_REPLACED_RESOLVERS = {_CORE + t for t in ("timestamp", "float", "int", "bool")}


class LineLoader(yaml.SafeLoader):
    """SafeLoader that records line numbers and rejects non-data tags.

    Plain scalars follow YAML 1.2 rather than PyYAML's YAML 1.1: only
    ``true``/``false`` are booleans (``on``, ``no`` are strings), ``1e-3`` is a
    float, ``010`` is ten (no octal), ``12:30`` and dates are strings.
    """

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag not in _REPLACED_RESOLVERS]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _LoadAbort(f"nesting is deeper than {MAX_DEPTH} levels", mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct_map(loader, node):
    data = ConfigDict()
    data.line = node.start_mark.line + 1
    yield data
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        data[key] = loader.construct_object(value_node, deep=False)
        data.lines[key] = key_node.start_mark.line + 1


def _construct_seq(loader, node):
    data = ConfigList()
    data.line = node.start_mark.line + 1
    yield data
    for item in node.value:
        data.append(loader.construct_object(item, deep=False))
        data.lines.append(item.start_mark.line + 1)


# YAML 1.1 floats need a dot (`1e-3` would be a string); accept YAML 1.2 style exponents too.
LineLoader.add_implicit_resolver(
    _CORE + "float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)
LineLoader.add_implicit_resolver(
    _CORE + "int",
    re.compile(r"^(?:[-+]?0b[01_]+|[-+]?0o[0-7_]+|[-+]?0x[0-9a-fA-F_]+|[-+]?[0-9][0-9_]*)$"),
    list("-+0123456789"),
)
LineLoader.add_implicit_resolver(
    _CORE + "bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _construct_int(loader, node):
    text = loader.construct_scalar(node).replace("_", "")
    sign = -1 if text.startswith("-") else 1
    text = text.lstrip("+-")
    for prefix, base in (("0b", 2), ("0o", 8), ("0x", 16)):
        if text.lower().startswith(prefix):
            return sign * int(text[2:], base)
    return sign * int(text, 10)


LineLoader.yaml_constructors = dict(yaml.SafeLoader.yaml_constructors)
LineLoader.add_constructor(_CORE + "int", _construct_int)
LineLoader.add_constructor(_CORE + "map", _construct_map)
LineLoader.add_constructor(_CORE + "seq", _construct_seq)


def _check_nodes(root, problems, loader):
    """Every tag, duplicate key and unhashable key in the composed tree, with paths."""
    seen = set()
    sizes = {}

    def size(node):
        key = id(node)
        if key not in sizes:
            sizes[key] = 0  # recursion guard for self-referencing aliases
            if isinstance(node, yaml.MappingNode):
                total = 1 + sum(size(k) + size(v) for k, v in node.value)
            elif isinstance(node, yaml.SequenceNode):
                total = 1 + sum(size(v) for v in node.value)
            else:
                total = 1
            sizes[key] = min(total, MAX_NODES + 1)
        return sizes[key]

    def walk(node, path):
        if id(node) in seen:
            return
        seen.add(id(node))
        line = node.start_mark.line + 1
        if node.tag not in _ALLOWED_TAGS:
            problems.add(
                path,
                f"the YAML tag {_show_tag(node.tag)} is not allowed: configs may only hold plain data "
                "(mappings, lists, strings, numbers, booleans, null)",
                line,
            )
            return
        if isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, path + (i,))
        elif isinstance(node, yaml.MappingNode):
            first = {}
            for key_node, value_node in node.value:
                key_line = key_node.start_mark.line + 1
                if key_node.tag == _CORE + "merge":
                    walk(value_node, path)
                    continue
                if not isinstance(key_node, yaml.ScalarNode):
                    problems.add(path, "mapping keys must be plain scalars, not lists or mappings", key_line)
                    continue
                if key_node.tag not in _ALLOWED_TAGS:
                    walk(key_node, path)
                    continue
                try:
                    key = loader.construct_object(key_node, deep=True)
                except (yaml.YAMLError, ValueError):
                    key = key_node.value
                if key in first:
                    problems.add(
                        path + (key,), f"duplicate key {key!r} (first defined at line {first[key]})", key_line
                    )
                else:
                    first[key] = key_line
                walk(value_node, path + (key,))

    walk(root, ())
    if size(root) > MAX_NODES:
        problems.add((), f"the config expands to more than {MAX_NODES} values (too many YAML aliases)", None)


def _decode(data, source, problems):
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        problems.add((), f"the config is not valid UTF-8: byte 0x{data[error.start]:02x} at offset {error.start}", line)
        problems.raise_if_any()


def _parse(text, source):
    problems = Problems(source)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        problems.add((), f"the config is larger than {MAX_BYTES} bytes")
        problems.raise_if_any()
    loader = LineLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except _LoadAbort as abort:
            problems.add((), abort.message, abort.line)
            problems.raise_if_any()
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            message = " ".join(str(m) for m in (error.context, error.problem) if m)
            problems.add((), f"invalid YAML: {message}", mark.line + 1 if mark else None)
            problems.raise_if_any()
        except yaml.YAMLError as error:
            problems.add((), f"invalid YAML: {error}")
            problems.raise_if_any()
        if node is None:
            return None
        _check_nodes(node, problems, loader)
        problems.raise_if_any()
        try:
            return loader.construct_document(node)
        except (yaml.YAMLError, TypeError, ValueError) as error:  # e.g. `!!int abc`, unhashable merged keys
            problems.add((), f"invalid YAML: {error}")
            problems.raise_if_any()
    finally:
        loader.dispose()


def _from_python(value, path, problems, depth=0):
    """Copy plain Python data into ConfigDict/ConfigList, checking the depth."""
    if depth > MAX_DEPTH:
        problems.add(path, f"nesting is deeper than {MAX_DEPTH} levels")
        return None
    if isinstance(value, Mapping):
        out = ConfigDict()
        out.line = getattr(value, "line", None)
        for k, v in value.items():
            out[k] = _from_python(v, path + (k,), problems, depth + 1)
            if line_of(value, k) is not None:
                out.lines[k] = line_of(value, k)
        return out
    if isinstance(value, (list, tuple)):
        out = ConfigList(_from_python(v, path + (i,), problems, depth + 1) for i, v in enumerate(value))
        out.line = getattr(value, "line", None)
        out.lines = [line_of(value, i) for i in range(len(value))]
        return out
    return value


def _read_file(path):
    problems = Problems(str(path))
    if path.suffix.lower() not in YAML_SUFFIXES:
        problems.add((), f"expected a .yaml or .yml file, got {path.name!r}")
    elif not path.is_file():
        problems.add((), "no such file" if not path.exists() else "not a file")
    else:
        size = path.stat().st_size
        if size > MAX_BYTES:
            problems.add((), f"the config file is {size} bytes, more than the limit of {MAX_BYTES} bytes")
    problems.raise_if_any()
    with open(path, "rb") as handle:
        data = handle.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise ConfigError(Problem((), f"the config file is larger than {MAX_BYTES} bytes"), str(path))
    return _decode(data, str(path), problems)


def _looks_like_path(text):
    if "\n" in text or len(text) > 4096:
        return False
    return text.strip().lower().endswith(YAML_SUFFIXES) or os.path.isfile(text)


def load(source):
    """Read a config from a dict, YAML text/bytes, or a path to a ``.yaml``/``.yml`` file.

    Returns a ``ConfigDict`` (top level must be a mapping). The top-level
    ``schema_version`` is checked, removed, and kept as ``config.schema_version``
    (``SCHEMA_VERSION`` when absent).

    Raises:
        ConfigError: unreadable or unsafe input, with every problem found.

    >>> load("train: {steps: 10}")["train"]["steps"]
    10
    """
    name = None
    if isinstance(source, Mapping):
        problems = Problems()
        data = _from_python(source, (), problems)
        problems.raise_if_any()
    else:
        if isinstance(source, os.PathLike) or (isinstance(source, str) and _looks_like_path(source)):
            path = pathlib.Path(source)
            name = str(path)
            text = _read_file(path)
        elif isinstance(source, (bytes, bytearray)):
            if len(source) > MAX_BYTES:
                raise ConfigError(Problem((), f"the config is larger than {MAX_BYTES} bytes"))
            text = _decode(bytes(source), None, Problems())
        elif isinstance(source, str):
            text = source
        else:
            raise TypeError(
                "Invalid value for argument `source`. Expected a mapping, YAML text or a path to a "
                f".yaml/.yml file. Received: source={source!r} of type {type(source).__name__}"
            )
        data = _parse(text, name)
    if data is None:
        raise ConfigError(Problem((), "the config is empty"), name)
    if not isinstance(data, Mapping):
        kind = "list" if isinstance(data, list) else type(data).__name__
        raise ConfigError(Problem((), f"the top level must be a mapping of keys to values, got a {kind}", 1), name)
    data.source = name
    data.schema_version = _pop_schema_version(data, name)
    return data


def _pop_schema_version(data, source):
    if "schema_version" not in data:
        return SCHEMA_VERSION
    line = line_of(data, "schema_version")
    version = data.pop("schema_version")
    data.lines.pop("schema_version", None)
    path = ("schema_version",)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ConfigError(Problem(path, f"expected a positive integer, got {version!r}", line), source)
    if version > SCHEMA_VERSION:
        from mrinets._version import __version__

        raise ConfigError(
            Problem(
                path,
                f"schema_version {version} is newer than this mrinets ({__version__}) understands "
                f"(up to {SCHEMA_VERSION}); upgrade mrinets to read this config",
                line,
            ),
            source,
        )
    return version
