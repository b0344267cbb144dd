"""The declarative specs of the config language: ``Field`` (a value), ``Ref`` (a registry reference), ``RefNode``.

``PositiveInt``, ``Rank`` and ``LayerRef`` are the ``typing.Annotated`` shorthands builders use
in their signatures.
"""

import typing

from mrinets import registry
from mrinets.config._yaml import ConfigDict


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
