"""Reference pages generated from the code: the config language and the layer API.

    python -m mrinets.docs OUTPUT_DIR

writes the Markdown pages of ``pages()``. The MkDocs site (``mkdocs.yml``) runs the same
generator at build time (``docs/hooks.py``), so its reference always matches the
installed code, plugins included: keys, types and defaults come from what the config
validator checks (``mrinets.config.describe``), text from the docstrings.
"""

import argparse
import importlib
import inspect
import os
import re

from mrinets import config, registry

#: registry kind -> (page title, one-line introduction).
KIND_PAGES = {
    "network": ("Networks", "What a config's `model: {type: ...}` can build."),
    "layer": ("Layers", "Layers a network config names (`conv: Conv2D`, `norm: {type: InstanceNormalization}`)."),
    "data_consistency": ("Data consistency", "Blocks an unrolled network's `data_consistency:` names."),
    "loss": ("Losses", "The training config's `loss: {type: ...}`."),
    "mask": ("Masks", "The training config's `mask: {type: ...}`: k-space undersampling."),
    "trajectory": ("Trajectories", "The training config's `trajectory: {type: ...}`: non-Cartesian sampling "
                   "(instead of `mask`), on the data's `matrix` grid."),
    "activation": ("Activations", "Complex activations, usable as `activation: name` (Keras' own names work too)."),
    "initializer": ("Initializers", "Complex initializers, usable as `kernel_initializer: name`."),
    "metric": ("Metrics", "Evaluation metrics (`registry.get(\"metric\", name)`)."),
    "dataset": ("Datasets", "Dataset builders (`registry.get(\"dataset\", name)`); those mrinets prepares are a training config's `data.builtin`."),
    "schedule": ("Learning-rate schedules", "The training config's `optimizer.schedule: {type: ...}`."),
    "baseline": ("Baselines", "Classical reconstructions for `evaluate.baselines:` and `mrinets baseline NAME`."),
}


def _cell(text):
    """Table cell text: ``|`` escaped, except inside `code` spans (where Markdown keeps it as is)."""
    parts = str(text).replace("\n", " ").split("`")
    return "`".join(part if i % 2 else part.replace("|", "\\|") for i, part in enumerate(parts))


def table(rows, header):
    """A Markdown table of ``rows`` (lists of cells) under ``header``."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _anchor(name):
    return re.sub(r"[^a-z0-9_-]", "", name.lower().replace(" ", "-"))


def keys_table(description):
    """The ``key | type | default | description`` table of a ``config.Description``."""
    rows = [[f"`{k.name}`", k.type, "required" if k.required else (f"`{k.default_yaml()}`" if k.default_yaml() else ""),
             k.doc] for k in description.keys]
    text = table(rows, ["key", "type", "default", "description"])
    if description.accepts_any:
        text += "\nOther keys are accepted too (passed on as keyword arguments).\n"
    return text


def kind_page(kind):
    """The reference page of one registry kind: every entry's keys."""
    title, intro = KIND_PAGES[kind]
    out = [f"# {title}\n", f"{intro} Generated from the code; `mrinets describe NAME` prints the same.\n"]
    out.append(table([[f"[`{e.name}`](#{_anchor(e.name)})", e.plugin, config.describe(kind, e.name).summary]
                      for e in registry.entries(kind)], ["name", "plugin", "summary"]))
    for entry in registry.entries(kind):
        description = config.describe(kind, entry.name)
        out.append(f"\n## {entry.name}\n")
        if description.summary:
            out.append(description.summary + "\n")
        out.append(f"`{python_name(entry.obj)}`, plugin `{entry.plugin}`.\n")
        out.append(keys_table(description))
    return "\n".join(out)


def training_page():
    """The reference page of the training config's sections."""
    from mrinets.train.schema import SCHEMA

    out = ["# Training config\n",
           "The sections of a training config (`mrinets train CONFIG`), generated from its schema. "
           "`model`, `mask` and `loss` are `{type: ...}` nodes: see [Networks](network.md), [Masks](mask.md) and "
           "[Losses](loss.md).\n"]
    top = config.describe_section("", config.Field(fields={k: f for k, f in SCHEMA.items() if f.fields is None}))
    out.append("## Top level\n")
    out.append(keys_table(top))
    for path, field in config.sections(SCHEMA).items():
        out.append(f"\n## {path}\n")
        out.append(keys_table(config.describe_section(path, field)))
    return "\n".join(out)


# -- docstrings to Markdown -----------------------------------------------------------
_SECTION = re.compile(r"^(Args|Arguments|Raises|Returns|Attributes|Example|Examples):\s*(.*)$")
_ENTRY = re.compile(r"^[\w*/, `()\"'.=-]+:(\s|$)")  # "name: text", "a, b: text"
_OPEN_ENTRY = re.compile(r"^[\w*/, `()\"'.=-]+,$")  # "a, b, c," (the names go on)


def _section_items(lines):
    """Bullet items of an indented ``Args:``-style block: an item starts at the base indent with its names."""
    base = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
    items = []
    for line in lines:
        text = line.strip()
        starts = len(line) - len(line.lstrip()) == base and (_ENTRY.match(text) or _OPEN_ENTRY.match(text))
        if items and (":" not in items[-1] or not starts):
            items[-1] += " " + text
        else:
            items.append(text)
    return [f"- {item}" for item in items]


def docstring_markdown(doc):
    """A Google-style docstring as Markdown: ``code`` spans, ``>>>`` examples fenced, sections as lists."""
    lines = inspect.cleandoc(doc or "").replace("``", "`").splitlines()
    out, i = [], 0
    while i < len(lines):
        line = lines[i]
        section = _SECTION.match(line)
        if line.startswith(">>>"):
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i])
                i += 1
            out += ["```python", *block, "```"]
            continue
        if section:
            block = []
            i += 1
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith(" ")):
                block.append(lines[i])
                i += 1
            while block and not block[-1].strip():
                block.pop()
            out.append(f"**{section.group(1)}:** {section.group(2)}".rstrip())
            if block:
                out += ["", *_section_items(block), ""]
            continue
        out.append(line)
        i += 1
    return "\n".join(out).strip() + "\n"


def python_name(obj):
    """``obj``'s import path, through its package when the package exports it (``mrinets.layers.Conv2D``)."""
    module = obj.__module__
    parent = module.rsplit(".", 1)[0]
    if parent != module and getattr(importlib.import_module(parent), obj.__name__, None) is obj:
        module = parent
    return f"{module}.{obj.__name__}"


def signature(obj):
    """``obj``'s call signature without annotations: ``(filters, kernel_size, strides=1, **kwargs)``."""
    parameters = [p.replace(annotation=inspect.Parameter.empty) for p in inspect.signature(obj).parameters.values()]
    return str(inspect.Signature(parameters))


def layers_page():
    """The layer API reference: signature and docstring of every registered layer."""
    out = ["# Layer API\n",
           "Every registered layer (plugins' included), generated from the docstrings. Built-in layers are "
           "importable from `mrinets.layers`; the same names work in configs ([Layers](layer.md) lists their "
           "config keys). All take `dtype=\"complex64\"` to be complex and `stacked=True` for the stacked form.\n"]
    for entry in registry.entries("layer"):
        out.append(f"\n## {entry.name}\n")
        out.append(f"```python\n{python_name(entry.obj)}{signature(entry.obj)}\n```\n")
        out.append(docstring_markdown(inspect.getdoc(entry.obj)))
    return "\n".join(out)


def pages():
    """``{relative path: Markdown}`` of every generated reference page."""
    out = {"reference/training.md": training_page(), "reference/layers-api.md": layers_page()}
    for kind in KIND_PAGES:
        out[f"reference/{kind}.md"] = kind_page(kind)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m mrinets.docs", description=__doc__.splitlines()[0])
    parser.add_argument("output", help="folder to write the pages into")
    args = parser.parse_args(argv)
    for path, text in pages().items():
        target = os.path.join(args.output, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w") as handle:
            handle.write(text)
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
