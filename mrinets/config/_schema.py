"""Declarative field specs and registry-driven validation.

Two things are validated with the same path-and-line errors:

* sections described by ``Field`` specs (a training config's ``train:`` block), and
* ``{type: Name, **kwargs}`` nodes whose ``Name`` is looked up in the registry and
  whose keys are checked against the target's signature (``arguments``).
"""

import functools
import inspect
import types
import typing
from collections.abc import Mapping, Sequence

from mrinets import registry
from mrinets.config._errors import ConfigError, Problems
from mrinets.config._yaml import ConfigDict, ConfigList, line_of
from mrinets.errors import did_you_mean


class _Missing:
    def __repr__(self):
        return "MISSING"

    def __bool__(self):
        return False


#: Marks "no default" in ``Field``.
MISSING = _Missing()
_INVALID = object()

#: Registry kind used for undeclared nested ``{type: ...}`` mappings in the
#: arguments of an entry of the key's kind (a network's ``conv: {type: ...}``).
NESTED_KINDS = {"network": "layer", "layer": "layer", "data_consistency": "layer"}
_BUILD_MODES = ("factory", "instance", "config")


class Ref:
    """Marks a value as a reference to a registered entry of ``kind``.

    The value is either a bare name (``Conv2D``, same as ``{type: Conv2D}``) or a
    mapping ``{type: Name, **kwargs}``. ``build`` says what ``resolve`` turns it
    into: ``"factory"`` (a ``Spec``, callable with extra keyword arguments),
    ``"instance"`` (the object built from it) or ``"config"`` (the validated dict).
    ``extra`` maps additional keys (not arguments of the target) to their ``Field``;
    they are kept out of the constructor call (``Spec.extra``).
    ``partial``: required arguments may be missing because the code that calls the
    factory supplies them (``True``: any of them; or an iterable of names).

    >>> LayerRef = typing.Annotated[object, Ref("layer", partial=True)]  # in a builder's signature
    """

    def __init__(self, kind, build="factory", extra=None, partial=False):
        if kind not in registry.KINDS:
            raise ValueError(f"Invalid value for argument `kind`. Expected one of {registry.KINDS}. Received: kind={kind!r}")
        if build not in _BUILD_MODES:
            raise ValueError(f"Invalid value for argument `build`. Expected one of {_BUILD_MODES}. Received: build={build!r}")
        extra = dict(extra or {})
        for key, spec in extra.items():
            if not isinstance(spec, Field):
                raise TypeError(f"Invalid value for argument `extra`. Expected Field values. Received: {key}={spec!r}")
        if extra and build == "instance":
            raise ValueError(
                "Invalid value for argument `extra`. Extra keys need build='factory' (read them from "
                f"`Spec.extra`) or build='config'. Received: extra={sorted(extra)} with build='instance'"
            )
        self.kind = kind
        self.build = build
        self.extra = extra
        self.partial = partial if isinstance(partial, bool) else frozenset(partial)

    def may_omit(self, name):
        """Whether the required argument ``name`` may be left to the caller."""
        return self.partial is True or (not isinstance(self.partial, bool) and name in self.partial)

    def __repr__(self):
        extra = f", extra={sorted(self.extra)}" if self.extra else ""
        partial = f", partial={self.partial!r}" if self.partial else ""
        return f"Ref({self.kind!r}, build={self.build!r}{extra}{partial})"


class Field:
    """One key of a config section.

    Args:
        type: expected Python type or tuple of types (``int``, ``float``, ``bool``,
            ``str``, ``list``, ``dict``); ``float`` accepts integers; ``None`` accepts anything.
        required: the key must be present.
        default: value filled in when the key is absent (``MISSING``: none, ``None`` is filled).
        nullable: ``null`` is accepted.
        positive: the number must be > 0.
        min, max: inclusive bounds for numbers.
        choices: allowed values.
        ref: a registry kind (``"network"``) or ``Ref``: the value is a ``{type: ...}`` node.
        items: ``Field`` every list item must satisfy.
        fields: ``{name: Field}`` of a nested section (the value must be a mapping).
        extra: the nested section accepts keys not in ``fields``.
        check: ``callable(value) -> str | None``; a returned string is reported as a problem.
        doc: one line of help.
    """

    def __init__(
        self,
        type=None,
        *,
        required=False,
        default=MISSING,
        nullable=False,
        positive=False,
        min=None,
        max=None,
        choices=None,
        ref=None,
        items=None,
        fields=None,
        extra=False,
        check=None,
        doc="",
    ):
        types_ = type if isinstance(type, tuple) else ((type,) if type is not None else ())
        for t in types_:
            if t not in _TYPE_NAMES:
                raise ValueError(
                    f"Invalid value for argument `type`. Expected one of {sorted(n.__name__ for n in _TYPE_NAMES)}. "
                    f"Received: type={t!r}"
                )
        if isinstance(ref, str):
            ref = Ref(ref)
        if ref is not None and not isinstance(ref, Ref):
            raise TypeError(f"Invalid value for argument `ref`. Expected a registry kind or a Ref. Received: ref={ref!r}")
        if items is not None and not isinstance(items, Field):
            raise TypeError(f"Invalid value for argument `items`. Expected a Field. Received: items={items!r}")
        if fields is not None:
            fields = dict(fields)
            for key, spec in fields.items():
                if not isinstance(spec, Field):
                    raise TypeError(f"Invalid value for argument `fields`. Expected Field values. Received: {key}={spec!r}")
        if required and default is not MISSING:
            raise ValueError("Invalid value for argument `default`. A required field cannot have a default.")
        self.types = types_
        self.required = required
        self.default = default
        self.nullable = nullable or default is None
        self.positive = positive
        self.min = min
        self.max = max
        self.choices = tuple(choices) if choices is not None else None
        self.ref = ref
        self.items = items
        self.fields = fields
        self.extra = extra
        self.check = check
        self.doc = doc

    def __repr__(self):
        parts = [", ".join(t.__name__ for t in self.types)] if self.types else []
        for name in ("required", "positive", "nullable", "extra"):
            if getattr(self, name):
                parts.append(f"{name}=True")
        for name in ("default", "min", "max", "choices", "ref", "items", "fields"):
            value = getattr(self, name)
            if value is not None and value is not MISSING:
                parts.append(f"{name}={value!r}")
        return f"Field({', '.join(parts)})"

    def describe(self):
        """What a valid value looks like, e.g. ``a positive integer``."""
        if self.ref is not None:
            return f"the name of a registered {self.ref.kind} or a mapping with `type:`"
        if self.fields is not None:
            return "a mapping"
        if self.choices is not None:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if not self.types:
            return "a value"
        if set(self.types) == {int}:
            noun = "integer"
        elif set(self.types) <= {int, float}:
            noun = "number"
        else:
            return " or ".join(_TYPE_NAMES[t] for t in self.types)
        bounds = []
        if self.min is not None:
            bounds.append(f">= {self.min}")
        if self.max is not None:
            bounds.append(f"<= {self.max}")
        text = f"a positive {noun}" if self.positive else ("an integer" if noun == "integer" else "a number")
        return text + (" " + " and ".join(bounds) if bounds else "")


_TYPE_NAMES = {
    int: "an integer",
    float: "a number",
    bool: "a boolean (true or false)",
    str: "a string",
    list: "a list",
    tuple: "a list",
    dict: "a mapping",
    object: "a value",
}

#: ``Annotated`` aliases for constructor signatures.
PositiveInt = typing.Annotated[int, Field(int, positive=True)]
Rank = typing.Annotated[int, Field(int, choices=(1, 2, 3), doc="number of spatial dimensions")]
LayerRef = typing.Annotated[object, Ref("layer", partial=True)]


class RefNode(ConfigDict):
    """A validated ``{type: Name, ...}`` node; knows its ``ref``, registry ``entry``, ``path`` and ``source`` file."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ref = None
        self.entry = None
        self.path = ()


class Arguments:
    """What a registered object accepts as keyword arguments.

    Attributes:
        fields: argument name -> ``Field`` (from annotations, defaults and ``config_fields``).
        required: names that must be given.
        accepts_any: ``**kwargs`` accepts unknown names (not so for Keras layers).
    """

    def __init__(self, fields, required, accepts_any):
        self.fields = fields
        self.required = frozenset(required)
        self.accepts_any = accepts_any

    def __repr__(self):
        return f"Arguments({sorted(self.fields)}, required={sorted(self.required)}, accepts_any={self.accepts_any})"


def _is_layer_class(obj):
    import keras

    return inspect.isclass(obj) and issubclass(obj, keras.layers.Layer)


def _init_chain(cls):
    """``__init__`` functions to read for ``cls``, most derived first, and whether the chain ends open."""
    if _is_layer_class(cls):
        import keras

        chain = []
        for klass in cls.__mro__:
            if not issubclass(klass, keras.layers.Layer) or "__init__" not in klass.__dict__:
                continue
            chain.append(klass.__dict__["__init__"])
            if klass is keras.layers.Layer:
                break
        # Keras' base Layer rejects unknown **kwargs itself: the chain is closed.
        return chain, False
    chain = [k.__dict__["__init__"] for k in cls.__mro__ if "__init__" in k.__dict__ and k is not object]
    return chain, True


def arguments(obj):
    """The ``Arguments`` of a registered class (its ``__init__`` chain) or function.

    A Keras layer's ``**kwargs`` is followed up the ``__init__`` chain to the base
    ``Layer`` (``name``, ``dtype``, ``trainable``, ...); anything else is rejected.
    For other callables ``**kwargs`` accepts any key. A class attribute
    ``config_fields = {name: Field}`` adds or overrides fields; ``fixed_arguments = {name: value}``
    (a rank specialization's ``{"rank": 2}``) removes them.
    """
    try:
        hash(obj)
    except TypeError:
        return _arguments(obj)
    return _cached_arguments(obj)


def _arguments(obj):
    if inspect.isclass(obj):
        chain, open_end = _init_chain(obj)
        skip_first = True
    else:
        chain, open_end, skip_first = [obj], True, False
    fields, required = {}, set()
    accepts_any = False
    for depth, function in enumerate(chain):
        try:
            signature = inspect.signature(function)
        except (TypeError, ValueError):
            accepts_any = True
            break
        try:
            hints = typing.get_type_hints(function, include_extras=True)
        except Exception:  # unresolvable forward references: no annotation checks
            hints = {}
        parameters = list(signature.parameters.values())[1 if skip_first else 0 :]
        forwards = False
        for p in parameters:
            if p.kind is p.VAR_KEYWORD:
                forwards = True
                continue
            if p.kind in (p.VAR_POSITIONAL, p.POSITIONAL_ONLY) or p.name in fields:
                continue
            fields[p.name] = _field_from_parameter(p, hints.get(p.name, p.empty))
            # Required only where the most derived __init__ says so: bases may be filled in by it.
            if depth == 0 and p.default is p.empty:
                required.add(p.name)
        if not forwards:
            break
    else:
        accepts_any = open_end and bool(chain)
    for name in getattr(obj, "fixed_arguments", None) or {}:  # fixed by a specialization (Conv2D's rank)
        fields.pop(name, None)
        required.discard(name)
    for name, spec in (getattr(obj, "config_fields", None) or {}).items():
        if isinstance(spec, Ref):
            spec = Field(ref=spec)
        if not isinstance(spec, Field):
            raise TypeError(f"{obj!r}.config_fields[{name!r}] must be a Field or Ref, got {spec!r}")
        fields[name] = spec
        if spec.required:
            required.add(name)
    return Arguments(fields, required, accepts_any)


_cached_arguments = functools.lru_cache(maxsize=512)(_arguments)


def _field_from_parameter(p, hint):
    default = MISSING if p.default is p.empty else p.default
    if hint is not p.empty:
        field = _field_from_annotation(hint)
        if field is not None:
            field.default = default
            field.nullable = field.nullable or default is None
            return field
    if isinstance(default, bool):
        return Field(bool, default=default)
    if isinstance(default, int):
        return Field((int, float, list), default=default)
    if isinstance(default, float):
        return Field((int, float), default=default)
    if isinstance(default, str):
        return Field((str, dict), default=default, nullable=True)
    return Field(default=default, nullable=True)


def _field_from_annotation(hint):
    """A fresh ``Field`` for an annotation, or ``None`` when it says nothing cheap to check."""
    origin = typing.get_origin(hint)
    if origin is typing.Annotated:
        base, *markers = typing.get_args(hint)
        field = _field_from_annotation(base) or Field()
        for marker in markers:
            if isinstance(marker, Ref):
                field = Field(ref=marker, nullable=field.nullable)
            elif isinstance(marker, Field):
                field = _copy_field(marker)
        return field
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        nullable = type(None) in args
        rest = [a for a in args if a is not type(None)]
        fields = [_field_from_annotation(a) for a in rest]
        if len(fields) == 1 and fields[0] is not None:
            fields[0].nullable = fields[0].nullable or nullable
            return fields[0]
        if fields and all(f is not None and f.types and not f.ref and not f.fields for f in fields):
            items = next((f.items for f in fields if f.items is not None), None)  # `float | list[float]`
            return Field(tuple(t for f in fields for t in f.types), items=items, nullable=nullable)
        return Field(nullable=True) if nullable else None
    if origin in (list, tuple, Sequence) or hint in (list, tuple, Sequence):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        item_fields = {id(f): f for f in (_field_from_annotation(a) for a in args) if f is not None}
        items = next(iter(item_fields.values())) if len(args) >= 1 and len(item_fields) == 1 else None
        if items is not None and len(set(args)) > 1:
            items = None
        return Field(list, items=items)
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        return Field(dict)
    if hint in (int, float, bool, str):
        return Field(hint)
    return None


def _copy_field(field):
    new = Field.__new__(Field)
    new.__dict__.update(field.__dict__)
    return new


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
            known = registry.names(kind)
            listed = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "") if known else "(none)"
            self.problems.add(
                type_path, f"unknown {kind} {name!r}.{did_you_mean(name, known)} Registered: {listed}", type_line
            )
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
    from mrinets.config._errors import format_path

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
