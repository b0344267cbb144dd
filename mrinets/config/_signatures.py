"""What a registered class or function accepts: its ``Arguments``, read from signatures and annotations.

The ``__init__`` chain is followed through ``**kwargs`` forwarding (a Keras layer's base
arguments), ``config_fields`` add or override fields, and ``fixed_arguments`` (a
specialization's, such as ``Conv2D``'s rank) are left out.
"""

import functools
import inspect
import types
import typing
from collections.abc import Mapping, Sequence

from mrinets.config._fields import MISSING, Field, Ref


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
