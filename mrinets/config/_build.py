"""Turn validated ``{type: Name, **kwargs}`` nodes into registry objects and instances."""

from collections.abc import Mapping

from mrinets.config._errors import ConfigError, Problem
from mrinets.config._fields import Ref, RefNode
from mrinets.config._validate import validate_node
from mrinets.config._yaml import to_plain
from mrinets.errors import MrinetsError

#: What a constructor raises for a bad argument (Keras: ``ValueError``/``TypeError`` at construction).
ARGUMENT_ERRORS = (ValueError, TypeError, MrinetsError)


class Spec:
    """A resolved registry reference: ``obj`` (class or function) plus its keyword arguments.

    Calling it builds the object: ``spec(**overrides)`` is ``obj(**kwargs, **overrides)``
    (``extra`` holds a ``Ref``'s extra keys, e.g. a loss ``weight``, not passed on).
    What constructors raise for a bad argument (``ValueError``/``TypeError``, as Keras
    layers do, and mrinets' own errors such as an unknown activation name) comes back as
    ``ConfigError`` citing the node's path and line; any other exception is a bug and
    propagates unchanged. A network builder receives nested ``conv: Conv2D`` as a ``Spec``
    and calls ``conv(filters=32)`` once per block.
    """

    def __init__(self, kind, name, obj, kwargs=None, *, extra=None, path=(), line=None, source=None):
        if not callable(obj):
            raise TypeError(f"Invalid value for argument `obj`. Expected a class or function. Received: obj={obj!r}")
        self.kind = kind
        self.name = name
        self.obj = obj
        self.kwargs = dict(kwargs or {})
        self.extra = dict(extra or {})
        self.path = tuple(path)
        self.line = line
        self.source = source

    def __call__(self, **overrides):
        kwargs = {**self.kwargs, **overrides}
        try:
            return self.obj(**kwargs)
        except ConfigError:
            raise  # a nested Spec already named its own node
        except ARGUMENT_ERRORS as error:
            raise ConfigError(
                Problem(self.path, f"building {self.kind} {self.name} failed: {type(error).__name__}: {error}", self.line),
                self.source,
            ) from error

    def partial(self, **kwargs):
        """A new ``Spec`` with ``kwargs`` added (they win over existing ones)."""
        return Spec(
            self.kind, self.name, self.obj, {**self.kwargs, **kwargs}, extra=self.extra, path=self.path, line=self.line, source=self.source
        )

    def to_config(self):
        """``{type: name, **kwargs}`` as plain data (nested specs included), e.g. for ``get_config``."""
        return {"type": self.name, **{k: _unresolve(v) for k, v in self.kwargs.items()}, **_unresolve(self.extra)}

    def __eq__(self, other):
        return isinstance(other, Spec) and (self.kind, self.name, self.obj, self.kwargs) == (
            other.kind,
            other.name,
            other.obj,
            other.kwargs,
        )

    __hash__ = None

    def __repr__(self):
        args = "".join(f", {k}={v!r}" for k, v in self.kwargs.items())
        return f"Spec({self.kind!r}, {self.name!r}{args})"


def _unresolve(value):
    if isinstance(value, Spec):
        return value.to_config()
    if isinstance(value, Mapping):
        return {k: _unresolve(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_unresolve(v) for v in value]
    return value


def _convert(value, source):
    """Replace nested ``RefNode`` values by what their ``Ref.build`` asks for."""
    if isinstance(value, RefNode):
        mode = value.ref.build
        if mode == "config":
            return to_plain(value)
        spec = _spec(value, source)
        return spec() if mode == "instance" else spec
    if isinstance(value, Mapping):
        return {k: _convert(v, source) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_convert(v, source) for v in value]
    return value


def _spec(node, source):
    extra = node.ref.extra
    kwargs = {k: _convert(v, source) for k, v in node.items() if k != "type" and k not in extra}
    extras = {k: to_plain(v) for k, v in node.items() if k in extra}
    return Spec(node.ref.kind, node["type"], node.entry.obj, kwargs, extra=extras, path=node.path, line=node.line, source=source)


def resolve(node, kind=None, *, source=None):
    """Validate ``node`` (a name or ``{type: Name, **kwargs}``) as ``kind`` and return a ``Spec``.

    A ``RefNode`` from ``validate`` is not validated again; ``kind`` defaults to its own.
    Nested references become ``Spec`` objects (or instances/configs, per their ``Ref``).

    Raises:
        ConfigError: every problem in the node.
    """
    source = source or getattr(node, "source", None)
    if not (isinstance(node, RefNode) and (kind is None or node.ref.kind == _kind_name(kind))):
        if kind is None:
            raise ValueError("Invalid value for argument `kind`. Expected a registry kind for an unvalidated node. Received: kind=None")
        node = validate_node(node, kind, source=source)
    return _spec(node, source)


def build(node, kind=None, *, source=None, **overrides):
    """``resolve(node, kind)(**overrides)``: the built object (e.g. a layer or a network).

    Required arguments given in ``overrides`` may be missing from ``node``.
    """
    if overrides and not isinstance(node, RefNode):
        if kind is None:
            raise ValueError("Invalid value for argument `kind`. Expected a registry kind for an unvalidated node. Received: kind=None")
        base = kind if isinstance(kind, Ref) else Ref(kind)
        node = validate_node(node, Ref(base.kind, base.build, base.extra, partial=overrides), source=source)
    return resolve(node, kind, source=source)(**overrides)


def factory(value, kind):
    """Anything a builder may be handed for a ``kind`` argument, as a ``Spec``.

    Accepts a ``Spec``, a name, a ``{type: ...}`` mapping (required arguments may be
    missing: the caller supplies them), or the class/function itself.
    """
    if isinstance(value, Spec):
        return value
    if isinstance(value, (str, Mapping)):
        return resolve(value, kind if isinstance(kind, Ref) else Ref(kind, partial=True))
    if callable(value):
        name = getattr(value, "__name__", type(value).__name__)
        return Spec(_kind_name(kind), name, value)
    raise TypeError(
        f"Invalid value for argument `value`. Expected a {_kind_name(kind)} name, a mapping with `type:`, "
        f"a Spec or a callable. Received: value={value!r}"
    )


def _kind_name(kind):
    return kind.kind if isinstance(kind, Ref) else kind

