"""The documents an editor and a new user get: the JSON Schema of the config language and starter configs.

``mrinets schema`` writes ``json_schema()`` (plugins included) to ``schema_path()`` in the cache
folder; ``mrinets init`` writes ``starter(name)``, whose first line points the YAML language
server at that file.
"""

import json
import os

from mrinets.errors import did_you_mean

#: The file name of the generated JSON Schema, written into the cache folder by ``mrinets schema``.
SCHEMA_NAME = "mrinets.schema.json"
#: The first line of a config that points the YAML language server at the schema.
SCHEMA_LINE = "# yaml-language-server: $schema="
#: The schema path the shipped configs name: ``SCHEMA_NAME`` in the default cache folder.
SHIPPED_SCHEMA_PATH = "~/.cache/mrinets/" + SCHEMA_NAME


def schema_path():
    """Where ``mrinets schema`` writes the schema by default: ``SCHEMA_NAME`` in the cache folder
    (``$MRINETS_CACHE``, else ``$XDG_CACHE_HOME/mrinets`` or ``~/.cache/mrinets``)."""
    from mrinets.cache import default_cache_dir

    return os.path.join(default_cache_dir(), SCHEMA_NAME)


def json_schema(builtin_only=False):
    """The JSON Schema of a config file: a training config, or a network file (``type:`` at the top).

    ``builtin_only`` leaves plugins' entries out.
    """
    from mrinets import config
    from mrinets.train.schema import SCHEMA

    builder = config.JsonSchemaBuilder(builtin_only=builtin_only)
    training = builder.section(SCHEMA)
    training["properties"]["model"] = {"anyOf": [
        training["properties"]["model"],
        {"type": "string", "pattern": r"(\.ya?ml$|/)", "description": "path of a network config file"},
    ]}
    network = builder.ref(config.Ref("network", build="config", extra={"schema_version": SCHEMA["schema_version"]}))
    root = {"if": {"type": "object", "required": ["type"]}, "then": network, "else": training}
    return builder.document(
        root,
        title="mrinets config",
        description="A training config (model, data, mask, loss, optimizer, train) or a network config (type: ...).",
    )


def schema_text(builtin_only=False):
    """``json_schema`` as the text ``mrinets schema`` writes."""
    return json.dumps(json_schema(builtin_only), indent=2) + "\n"


def _network_starter(name):
    from mrinets import config

    described = config.describe("network", name)
    lines = [
        f"# {name}: {described.summary}",
        f"# Every argument with its default (`mrinets describe {name}`); delete the ones you keep as they are.",
        "# Check it with `mrinets validate FILE`; train it from a training config as `model: FILE`.",
        "schema_version: 1",
        f"type: {name}",
    ]
    for key in described.keys:
        value = f"{key.name}: {key.default_yaml()}" if key.default is not config.MISSING else f"# {key.name}:"
        comment = key.doc + (" (required)" if key.required else "")
        lines.append(f"{value:<32} # {comment}" if comment.strip() else value)
    return "\n".join(lines) + "\n"


def shipped_config(name):
    """The shipped config called ``name`` (case-insensitive), or None; needs no registry (no TensorFlow)."""
    from mrinets import configs

    return {n.lower(): n for n in configs.names()}.get(name.lower())


def starter(name):
    """``(file name, YAML text)`` of a commented starter config for ``name``.

    ``name``: a shipped config (``unet2d``) or a registered network type (``VarNet``, a
    plugin's), case-insensitive. A network with a shipped config of its name gets that
    config; any other gets a network file listing every argument with its default and doc.
    The first line points the YAML language server at ``schema_path()`` (``mrinets schema`` writes it).

    Raises:
        UnknownNameError: neither; the message suggests close names.
    """
    from mrinets import configs, registry

    shipped = shipped_config(name)
    if shipped:
        file_name = shipped + ".yaml"
        with open(os.path.join(configs.FOLDER, file_name)) as handle:
            text = handle.read()
        lines = text.splitlines(keepends=True)
        body = lines[1:] if lines and lines[0].startswith(SCHEMA_LINE) else lines
        return file_name, SCHEMA_LINE + schema_path() + "\n" + "".join(body)
    networks = {n.lower(): n for n in registry.names("network")}
    if name.lower() in networks:
        file_name = name.lower() + ".yaml"
        return file_name, SCHEMA_LINE + schema_path() + "\n" + _network_starter(networks[name.lower()])
    candidates = configs.names() + registry.names("network")
    hint = did_you_mean(name, candidates)
    raise registry.UnknownNameError(
        f"No shipped config or network type {name!r}.{hint} Shipped configs: {', '.join(configs.names())}; "
        f"network types: {', '.join(registry.names('network'))}."
    )
