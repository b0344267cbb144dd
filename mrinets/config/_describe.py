"""What a registered entry or a config section accepts, read from the code.

Every key comes from the validator's own view (``arguments`` for registry
entries, ``Field`` specs for sections), so what is shown is what is checked.
One-line docs come from the ``Field`` ``doc`` or else from the ``Args:``
section of the docstrings along the class' MRO (or the function's docstring).

>>> from mrinets import config
>>> [key.name for key in config.describe("network", "CNN").keys][:3]
['rank', 'filters', 'depth']
"""

import dataclasses
import inspect
import itertools
import re

from mrinets import registry
from mrinets.config._fields import MISSING
from mrinets.config._signatures import arguments
from mrinets.errors import did_you_mean


@dataclasses.dataclass(frozen=True)
class Key:
    """One key a config node accepts: ``name``, ``type`` (short text), ``default``, ``doc``.

    ``default`` is ``MISSING`` when the key has none (``required`` tells whether it must be given).
    """

    name: str
    type: str
    default: object
    doc: str
    required: bool = False

    def default_yaml(self):
        """The default as a YAML flow value (``null``, ``[8, 16]``, ``{type: UNet}``); ``""`` when none."""
        if self.default is MISSING:
            return ""
        import yaml

        return yaml.safe_dump([_plain(self.default)], default_flow_style=True, width=float("inf")).strip()[1:-1]

    def to_dict(self):
        out = {"name": self.name, "type": self.type, "required": self.required, "doc": self.doc}
        if self.default is not MISSING:
            out["default"] = _plain(self.default)
        return out


@dataclasses.dataclass(frozen=True)
class Description:
    """What one registry entry (or config section) accepts.

    Attributes:
        kind: registry kind (``"network"``, ...) or ``"section"``.
        name: the registered name (or the section's dotted path).
        plugin: the plugin that registered it (``""`` for sections).
        summary: first line of its docstring.
        keys: ``Key`` per accepted argument, in signature order.
        accepts_any: unknown keys are accepted too (a function's ``**kwargs``).
    """

    kind: str
    name: str
    plugin: str
    summary: str
    keys: tuple
    accepts_any: bool = False

    def to_dict(self):
        return {
            "kind": self.kind,
            "name": self.name,
            "plugin": self.plugin,
            "summary": self.summary,
            "accepts_any": self.accepts_any,
            "keys": [key.to_dict() for key in self.keys],
        }


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


_TYPE_TEXT = {int: "int", float: "number", bool: "bool", str: "str", list: "list", tuple: "list", dict: "mapping"}


def type_text(field):
    """A ``Field``'s accepted values in a few characters, e.g. ``int > 0 | null``."""
    if field.ref is not None:
        text = field.ref.kind
    elif field.fields is not None:
        text = "mapping"
    elif field.choices is not None:
        text = " | ".join(repr(c) for c in field.choices)
    elif not field.types or object in field.types:
        text = "any"
    else:
        names = []
        for t in field.types:
            name = "number" if t is int and float in field.types else _TYPE_TEXT[t]
            if name == "list" and field.items is not None:
                name = f"list[{type_text(field.items)}]"
            if name not in names:
                names.append(name)
        bounds = ""
        if field.positive:
            bounds = " > 0"
        elif field.min is not None and field.max is not None:
            bounds = f" in [{field.min}, {field.max}]"
        elif field.min is not None:
            bounds = f" >= {field.min}"
        elif field.max is not None:
            bounds = f" <= {field.max}"
        if bounds:
            names = [n + bounds if n in ("int", "number") else n for n in names]
        text = " | ".join(names)
    if field.nullable and text != "any":
        text += " | null"
    return text


# -- docstrings ---------------------------------------------------------------
_NAMES = re.compile(r"^[\w*/ ]+(,[\w*/ ]+)*$")


def _names(header):
    """Argument names of an ``Args:`` entry header: ``k1, k2`` or ``kernel/bias initializer/constraint``."""
    header = re.sub(r"\([^)]*\)", "", header).replace("`", "")
    if not _NAMES.match(header.strip()):
        return None
    names = []
    for piece in header.split(","):
        words = piece.split()
        if not words or words[0].startswith("*"):
            continue
        for combination in itertools.product(*(word.split("/") for word in words)):
            names.append("_".join(combination))
    return names


def parse_args_section(doc):
    """``{argument: one-line doc}`` from a Google-style ``Args:`` section of ``doc``."""
    lines = inspect.cleandoc(doc or "").splitlines()
    out = {}
    for start, line in enumerate(lines):
        if line.strip() == "Args:":
            break
    else:
        return out
    outer = len(line) - len(line.lstrip())
    entries = []  # [names, texts]
    header = None  # a name list continued on the next line (no colon yet)
    indent = None
    for line in lines[start + 1:]:
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip())
        if depth <= outer:
            break
        indent = depth if indent is None else indent
        text = line.strip()
        if depth > indent or (header is None and entries and ":" not in text and not text.endswith(",")):
            if entries:
                entries[-1][1].append(text)
            continue
        continued = header is not None
        if continued:
            text = header + " " + text
            header = None
        before, colon, after = text.partition(":")
        names = _names(before) if colon else None
        if names is None:
            if not colon and (continued or text.endswith(",")) and _names(text.rstrip(",")) is not None:
                header = text
            elif entries:
                entries[-1][1].append(text)
            continue
        entries.append([names, [after.strip()]])
    for names, texts in entries:
        text = re.sub(r"\s+", " ", " ".join(texts)).strip().replace("``", "`")
        for name in names:
            out.setdefault(name, text)
    return out


def _docstrings(obj):
    """Docstrings to read argument docs from, most specific first."""
    if inspect.isclass(obj):
        for klass in obj.__mro__:
            if klass is object:
                continue
            yield klass.__dict__.get("__doc__")
            init = klass.__dict__.get("__init__")
            if init is not None:
                yield getattr(init, "__doc__", None)
    else:
        yield getattr(obj, "__doc__", None)


def argument_docs(obj):
    """``{argument: one-line doc}`` from the ``Args:`` sections of ``obj``'s docstrings."""
    docs = {}
    for doc in _docstrings(obj):
        for name, text in parse_args_section(doc).items():
            docs.setdefault(name, text)
    return docs


def summary(obj):
    """First paragraph of ``obj``'s docstring (inherited ones included) on one line, ``""`` if none."""
    paragraph = (inspect.getdoc(obj) or "").strip().split("\n\n")[0]
    return re.sub(r"\s+", " ", paragraph).strip().replace("``", "`")


# -- descriptions -------------------------------------------------------------
def keys_of(fields, docs=None, required=()):
    """``Key`` per ``{name: Field}`` item; ``docs`` fills in where a field has no ``doc``."""
    docs = docs or {}
    return tuple(
        Key(
            name=name,
            type=type_text(field),
            default=field.default,
            doc=field.doc or docs.get(name, ""),
            required=field.required or name in required,
        )
        for name, field in fields.items()
    )


def describe(kind, name):
    """The ``Description`` of the registry entry ``name`` of ``kind`` (plugins' included).

    Raises:
        UnknownNameError: with the registry's did-you-mean.
    """
    entry = registry.entry(kind, name)
    args = arguments(entry.obj)
    keys = keys_of(args.fields, argument_docs(entry.obj), args.required)
    return Description(kind, name, entry.plugin, summary(entry.obj), keys, args.accepts_any)


def describe_section(name, field):
    """The ``Description`` of a config section: a ``Field`` with ``fields`` (``train``, ...)."""
    if field.fields is None:
        raise ValueError(f"Invalid value for argument `field`. Expected a Field with `fields`. Received: field={field!r}")
    return Description("section", name, "", field.doc, keys_of(field.fields), field.extra)


def sections(schema, prefix=""):
    """``{dotted path: Field}`` of every nested section (a ``Field`` with ``fields``) in ``schema``."""
    out = {}
    for key, field in schema.items():
        if field.fields is not None:
            path = f"{prefix}{key}"
            out[path] = field
            out.update(sections(field.fields, path + "."))
    return out


def find_entries(name, kind=None):
    """Registry entries called ``name`` (of ``kind``, or of every kind), as ``(kind, name)`` pairs.

    Raises:
        UnknownNameError: no kind has it; the message suggests close names.
    """
    if kind is not None:
        return [(kind, registry.entry(kind, name).name)]
    found = [(k, name) for k in registry.KINDS if name in registry.names(k)]
    if found:
        return found
    every = sorted({n for k in registry.KINDS for n in registry.names(k)}, key=registry.natural_key)
    hint = did_you_mean(name, every)
    raise registry.UnknownNameError(
        f"Unknown name {name!r}: no layer, network, loss, ... of that name is registered.{hint} "
        "List them with `mrinets layers --kind KIND` or `mrinets plugins`."
    )
