"""The validating walk: a config against ``Field`` specs and registry-checked ``{type: Name, **kwargs}`` nodes.

Two things are validated with the same path-and-line errors:

* sections described by ``Field`` specs (a training config's ``train:`` block), and
* ``{type: Name, **kwargs}`` nodes whose ``Name`` is looked up in the registry and
  whose keys are checked against the target's signature (``arguments``).

Every problem is collected, not just the first; ``validate`` raises them together.
"""

from collections.abc import Mapping

from mrinets import registry
from mrinets.config._errors import ConfigError, Problems, format_path
from mrinets.config._fields import _INVALID, MISSING, NESTED_KINDS, Field, Ref, RefNode
from mrinets.config._signatures import arguments
from mrinets.config._yaml import ConfigDict, ConfigList, line_of
from mrinets.errors import did_you_mean, unknown_name


def _kind_of(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__


def _matches(value, t):
    if t is object:
        return True
    if t is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if t is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t in (list, tuple):
        return isinstance(value, (list, tuple))
    if t is dict:
        return isinstance(value, Mapping)
    return isinstance(value, t)


def _short(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Walker:
    """One validation pass; collects every problem."""

    def __init__(self, source):
        self.problems = Problems(source)

    # -- plain values ------------------------------------------------------
    def value(self, value, field, path, line, nested_kind=None):
        if value is None:
            if field.nullable or (not field.types and field.ref is None and field.fields is None):
                return None
            self.problems.add(path, f"expected {field.describe()}, got null", line)
            return _INVALID
        if field.ref is not None:
            return self.ref(value, field.ref, path, line)
        if field.fields is not None:
            if not isinstance(value, Mapping):
                self.problems.add(path, f"expected a mapping, got {_kind_of(value)} {_short(value)}", line)
                return _INVALID
            return self.section(value, field.fields, field.extra, path)
        if field.types and not any(_matches(value, t) for t in field.types):
            got = f"{_kind_of(value)} {_short(value)}" if not isinstance(value, (Mapping, list)) else _kind_of(value)
            self.problems.add(path, f"expected {field.describe()}, got {got}", line)
            return _INVALID
        if field.choices is not None and value not in field.choices:
            hint = did_you_mean(value, [c for c in field.choices if isinstance(c, str)])
            self.problems.add(path, f"expected {field.describe()}, got {_short(value)}.{hint}".rstrip("."), line)
            return _INVALID
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            bad = (
                (field.positive and not value > 0)
                or (field.min is not None and value < field.min)
                or (field.max is not None and value > field.max)
            )
            if bad:
                self.problems.add(path, f"expected {field.describe()}, got {_short(value)}", line)
                return _INVALID
            if float in field.types and int not in field.types:
                value = float(value)
        if field.check is not None:
            message = field.check(value)
            if message:
                self.problems.add(path, str(message), line)
                return _INVALID
        if isinstance(value, (list, tuple)):
            return self.sequence(value, field.items, path, nested_kind)
        if isinstance(value, Mapping):
            return self.untyped(value, path, line, nested_kind)
        return value

    def sequence(self, value, items, path, nested_kind):
        out = ConfigList()
        out.line = getattr(value, "line", None)
        for i, item in enumerate(value):
            line = line_of(value, i)
            if items is not None:
                result = self.value(item, items, path + (i,), line, nested_kind)
            else:
                result = self.untyped(item, path + (i,), line, nested_kind)
            out.append(result)
            out.lines.append(line)
        return out

    def plain(self, value, path, nested_kind):
        out = ConfigDict()
        out.line = getattr(value, "line", None)
        for key, item in value.items():
            out[key] = self.untyped(item, path + (key,), line_of(value, key), nested_kind)
            out.lines[key] = line_of(value, key)
        return out

    def untyped(self, value, path, line, nested_kind):
        """A value without a spec: nested ``{type: ...}`` mappings are refs of ``nested_kind``.

        Inside a layer's or network's arguments, a ``{type: ...}`` naming a registered activation
        (``activation: {type: mod_relu, threshold: -0.1}``) is that activation's node instead.
        """
        if nested_kind and isinstance(value, Mapping) and "type" in value:
            kind, build = nested_kind, "factory"
            if nested_kind == "layer" and value["type"] in registry.names("activation"):
                kind, build = "activation", "config"
            return self.ref(value, Ref(kind, build=build, partial=True), path, line)
        if isinstance(value, (list, tuple)):
            return self.sequence(value, None, path, nested_kind)
        if isinstance(value, Mapping):
            return self.plain(value, path, nested_kind)
        return value

    # -- sections ------------------------------------------------------------
    def section(self, value, fields, extra, path):
        out = ConfigDict()
        out.line = getattr(value, "line", None)
        for key, item in value.items():
            line = line_of(value, key)
            if key not in fields:
                if extra:
                    out[key] = self.untyped(item, path + (key,), line, None)
                    out.lines[key] = line
                    continue
                hint = did_you_mean(key, list(fields))
                valid = ", ".join(fields) or "(none)"
                self.problems.add(path + (key,), f"unknown key {key!r}.{hint} Valid keys: {valid}", line)
                continue
            result = self.value(item, fields[key], path + (key,), line)
            if result is not _INVALID:
                out[key] = result
                out.lines[key] = line
        for key, spec in fields.items():
            if key in value:
                continue
            if spec.required:
                where = f" {_describe_where(path)}" if path else ""
                self.problems.add(path + (key,), f"missing required key {key!r}{where}", getattr(value, "line", None))
            elif spec.default is not MISSING:
                result = self.value(spec.default, spec, path + (key,), None)
                if result is not _INVALID:
                    out[key] = result
                    out.lines[key] = None
            elif spec.fields is not None:  # an absent section: its defaults (and its required keys)
                result = self.section(ConfigDict(), spec.fields, spec.extra, path + (key,))
                out[key] = result
                out.lines[key] = None
            else:
                out[key] = None
                out.lines[key] = None
        return out

    # -- registry references -------------------------------------------------
    def ref(self, value, ref, path, line):
        kind = ref.kind
        if isinstance(value, str):
            node = ConfigDict(type=value)
            node.line = line
            node.lines["type"] = line
        elif isinstance(value, Mapping):
            node = value
        else:
            self.problems.add(
                path,
                f"expected the name of a registered {kind} or a mapping with `type:`, got {_kind_of(value)} {_short(value)}",
                line,
            )
            return _INVALID
        node_line = getattr(node, "line", None) or line
        if "type" not in node:
            self.problems.add(path, f"missing `type:` (the name of a registered {kind})", node_line)
            return _INVALID
        name = node["type"]
        type_line = line_of(node, "type") or line
        type_path = tuple(path) if isinstance(value, str) else tuple(path) + ("type",)
        if not isinstance(name, str):
            self.problems.add(
                type_path, f"expected the name of a registered {kind}, got {_kind_of(name)} {_short(name)}", type_line
            )
            return _INVALID
        try:
            entry = registry.entry(kind, name)
        except registry.UnknownNameError:
            self.problems.add(type_path, unknown_name(kind, name, registry.names(kind)), type_line)
            return _INVALID
        args = arguments(entry.obj)
        nested_kind = NESTED_KINDS.get(kind)
        out = RefNode(type=name)
        out.line, out.ref, out.entry, out.path, out.source = node_line, ref, entry, tuple(path), self.problems.source
        out.lines["type"] = type_line
        ok = True
        for key, item in node.items():
            if key == "type":
                continue
            key_line = line_of(node, key) or line
            if key in ref.extra:
                result = self.value(item, ref.extra[key], path + (key,), key_line)
            elif key in args.fields:
                spec = args.fields[key]
                if spec.ref is None and spec.fields is None and nested_kind:
                    result = self.value(item, spec, path + (key,), key_line, nested_kind)
                else:
                    result = self.value(item, spec, path + (key,), key_line)
            elif args.accepts_any and isinstance(key, str):
                result = self.untyped(item, path + (key,), key_line, nested_kind)
            else:
                valid = sorted(set(args.fields) | set(ref.extra))
                hint = did_you_mean(key, valid)
                self.problems.add(
                    path + (key,),
                    f"unknown argument {key!r} for {kind} {name}.{hint} Valid arguments: {', '.join(valid) or '(none)'}",
                    key_line,
                )
                ok = False
                continue
            if result is _INVALID:
                ok = False
                continue
            out[key] = result
            out.lines[key] = key_line
        for key in sorted(args.required):
            if key not in node and not ref.may_omit(key):
                self.problems.add(path, f"missing required argument {key!r} for {kind} {name}", node_line)
                ok = False
        for key, spec in ref.extra.items():
            if key not in node and spec.default is not MISSING:
                out[key] = spec.default
                out.lines[key] = None
        return out if ok else _INVALID


def _describe_where(path):
    return f"in {format_path(path)}"


def _as_field(schema):
    if isinstance(schema, Field):
        return schema
    if isinstance(schema, Mapping):
        return Field(fields=schema)
    raise TypeError(f"Invalid value for argument `schema`. Expected a Field or a mapping of Fields. Received: {schema!r}")


def validate(config, schema, *, source=None, path=()):
    """Check ``config`` against ``schema`` (``{name: Field}`` or a ``Field``); return it resolved.

    Defaults are filled in, ``float`` fields converted, bare names of ``ref``
    fields expanded to ``RefNode`` mappings ``{type: Name, ...}``. Line numbers
    are kept on the returned ``ConfigDict``/``ConfigList``.

    Raises:
        ConfigError: listing every problem with its path and line.
    """
    field = _as_field(schema)
    walker = _Walker(source or getattr(config, "source", None))
    result = walker.value(config, field, tuple(path), getattr(config, "line", None))
    walker.problems.raise_if_any()
    if isinstance(result, ConfigDict) and isinstance(config, ConfigDict):
        result.source = config.source
        result.schema_version = config.schema_version
    return result


def validate_node(node, kind, *, source=None, path=()):
    """Validate one ``{type: Name, **kwargs}`` node (or a bare name) of registry ``kind``.

    ``kind`` is a registry kind or a ``Ref``. Returns a ``RefNode``.

    Raises:
        ConfigError: unknown ``type`` or arguments (with did-you-mean), wrong
            types, missing required arguments: all of them at once.
    """
    ref = kind if isinstance(kind, Ref) else Ref(kind)
    return validate(node, Field(ref=ref), source=source, path=path)


def check(config, schema, *, source=None):
    """The problems ``validate`` would raise, as a list (empty when valid)."""
    try:
        validate(config, schema, source=source)
    except ConfigError as error:
        return error.problems
    return []
