"""JSON Schema (draft-07) from ``Field`` specs and the registry, for editors.

The schema says what the validator says, as far as JSON Schema can: types,
bounds, choices, required keys, ``additionalProperties: false`` where unknown
keys are rejected, and ``{type: Name, ...}`` nodes checked against the
arguments of the registered ``Name`` (an ``if``/``then`` per name). Checks that
are code (``Field.check``, cross-key rules) are left to ``mrinets validate``.
Draft-07 because the YAML language server (VS Code) implements that draft.

>>> from mrinets import config
>>> builder = config.JsonSchemaBuilder()
>>> schema = builder.document(builder.section({"model": config.Field(ref="network")}))
"""

import json

from mrinets import registry
from mrinets.registry._registry import BUILTIN_PLUGIN
from mrinets.config._describe import argument_docs, summary
from mrinets.config._fields import MISSING, NESTED_KINDS, Ref
from mrinets.config._signatures import arguments

DRAFT = "http://json-schema.org/draft-07/schema#"

_JSON_TYPES = {int: "integer", float: "number", bool: "boolean", str: "string", list: "array", tuple: "array",
               dict: "object"}


def _json_default(value):
    """``value`` as JSON data, or ``MISSING`` when it has no JSON form."""
    if isinstance(value, tuple):
        value = list(value)
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        return MISSING


class JsonSchemaBuilder:
    """Collects ``definitions`` while turning ``Field`` specs and ``Ref`` nodes into JSON Schema.

    Args:
        builtin_only: leave out entries registered by plugins other than mrinets itself.
    """

    def __init__(self, builtin_only=False):
        self.builtin_only = builtin_only
        self.definitions = {}

    def _entries(self, kind):
        entries = registry.entries(kind)
        if self.builtin_only:
            entries = [e for e in entries if e.plugin == BUILTIN_PLUGIN]
        return entries

    # -- values ----------------------------------------------------------------
    def field(self, field, nested_kind=None, doc=""):
        """The schema of one ``Field``; ``nested_kind``: kind of untyped ``{type: ...}`` mappings in it."""
        if field.ref is not None:
            schema = self.ref(field.ref)
        elif field.fields is not None:
            schema = self.section(field.fields, field.extra)
        else:
            schema = self._plain(field, nested_kind)
        if field.nullable and field.ref is None and field.fields is None:
            if "enum" in schema:
                schema["enum"] = schema["enum"] + [None]
            elif "type" in schema:
                schema["type"] = [*([schema["type"]] if isinstance(schema["type"], str) else schema["type"]), "null"]
        elif field.nullable and (field.ref is not None or field.fields is not None):
            schema = {"anyOf": [schema, {"type": "null"}]}
        description = field.doc or doc
        default = _json_default(field.default) if field.default is not MISSING else MISSING
        if "$ref" in schema and (description or default is not MISSING):
            schema = {"allOf": [schema]}  # draft-07 ignores keywords next to $ref
        if description:
            schema["description"] = description
        if default is not MISSING:
            schema["default"] = default
        return schema

    def _plain(self, field, nested_kind):
        schema = {}
        types = [] if object in field.types else list(dict.fromkeys(_JSON_TYPES[t] for t in field.types))
        if "number" in types and "integer" in types:
            types.remove("integer")
        if field.choices is not None:
            schema["enum"] = list(field.choices)
        elif types:
            schema["type"] = types[0] if len(types) == 1 else types
        if field.positive:
            schema["exclusiveMinimum"] = 0
        if field.min is not None:
            schema["minimum"] = field.min
        if field.max is not None:
            schema["maximum"] = field.max
        if field.items is not None:
            schema["items"] = self.field(field.items, nested_kind)
        if nested_kind and (not types or "object" in types or "array" in types):
            nested = {"if": {"type": "object", "required": ["type"]}, "then": self.nested(nested_kind)}
            if not types or "object" in types:
                schema.update(nested)
            if field.items is None and (not types or "array" in types):
                schema["items"] = nested
        return schema

    def nested(self, kind):
        """An untyped argument's ``{type: ...}`` mapping: a ``kind`` node, or (among layers) an activation's."""
        if kind != "layer":
            return self.ref(Ref(kind, partial=True))
        if "layer-or-activation" not in self.definitions:  # as the validator reads `{type: mod_relu, threshold: -0.1}`
            self.definitions["layer-or-activation"] = {
                "anyOf": [self.ref(Ref("layer", partial=True)), self.ref(Ref("activation", build="config", partial=True))]
            }
        return {"$ref": "#/definitions/layer-or-activation"}

    def section(self, fields, extra=False, docs=None):
        """An object schema for ``{name: Field}``: required keys, no unknown keys unless ``extra``."""
        docs = docs or {}
        schema = {
            "type": "object",
            "properties": {name: self.field(spec, doc=docs.get(name, "")) for name, spec in fields.items()},
        }
        required = [name for name, spec in fields.items() if spec.required]
        if required:
            schema["required"] = required
        if not extra:
            schema["additionalProperties"] = False
        return schema

    # -- registry references -------------------------------------------------------
    def ref(self, ref):
        """A ``$ref`` to the definition of ``ref``'s nodes: a name or a ``{type: Name, ...}`` mapping."""
        kind = ref.kind
        entries = self._entries(kind)
        enforced = {e.name: sorted(r for r in arguments(e.obj).required if not ref.may_omit(r)) for e in entries}
        key = kind
        if any(enforced.values()):
            key += ".strict" if ref.partial is False else ".without-" + "-".join(sorted(ref.partial))
        if ref.extra:
            key += "+" + "+".join(sorted(ref.extra))
        if key not in self.definitions:
            self.definitions[key] = {}  # placeholder: entries may refer back to this kind
            branches = []
            for e in entries:
                then = {"$ref": self.entry(kind, e.name, ref.extra)}
                if enforced[e.name]:
                    then = {"allOf": [then, {"required": enforced[e.name]}]}
                branches.append({"if": {"required": ["type"], "properties": {"type": {"const": e.name}}}, "then": then})
            names = [e.name for e in entries]
            node = {
                "type": "object",
                "required": ["type"],
                "properties": {"type": {"enum": names, "description": f"a registered {kind}"}},
                "allOf": branches,
            }
            bare = [name for name in names if not enforced[name]]
            choices = [{"type": "string", "enum": bare}, node] if bare else [node]
            self.definitions[key] = {
                "description": f"a registered {kind}: its name or a mapping with `type:` and its arguments",
                "anyOf": choices,
            }
        return {"$ref": f"#/definitions/{key}"}

    def entry(self, kind, name, extra=None):
        """The definition of one registered entry's mapping; returns its ``$ref`` target."""
        extra = dict(extra or {})
        key = f"{kind}.{name}" + ("+" + "+".join(sorted(extra)) if extra else "")
        target = f"#/definitions/{key}"
        if key in self.definitions:
            return target
        self.definitions[key] = {}
        obj = registry.get(kind, name)
        args = arguments(obj)
        docs = argument_docs(obj)
        nested_kind = NESTED_KINDS.get(kind)
        properties = {"type": {"const": name}}
        for arg, spec in args.fields.items():
            untyped = spec.ref is None and spec.fields is None
            properties[arg] = self.field(spec, nested_kind if untyped else None, doc=docs.get(arg, ""))
        for arg, spec in extra.items():
            properties[arg] = self.field(spec)
        schema = {"type": "object", "required": ["type"], "properties": properties}
        text = summary(obj)
        if text:
            schema["description"] = text
        if not args.accepts_any:
            schema["additionalProperties"] = False
        self.definitions[key] = schema
        return target

    def document(self, root, title=None, description=None):
        """A complete schema: ``root`` plus every definition, every registered entry of every kind included."""
        for kind in registry.KINDS:
            self.ref(Ref(kind, partial=True))
        head = {"$schema": DRAFT}
        if title:
            head["title"] = title
        if description:
            head["description"] = description
        return {**head, **root, "definitions": dict(sorted(self.definitions.items()))}


def json_schema(schema, *, title=None, description=None, builtin_only=False):
    """The JSON Schema of documents described by ``schema`` (``{name: Field}`` or a ``Field``)."""
    builder = JsonSchemaBuilder(builtin_only=builtin_only)
    root = builder.section(schema) if isinstance(schema, dict) else builder.field(schema)
    return builder.document(root, title=title, description=description)
