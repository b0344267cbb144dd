"""The ``mrinets`` command line.

User errors (every ``mrinets.errors.MrinetsError``: bad arguments, configs, unknown
names; and ``OSError`` for files) print one clear message and exit with status 2, no
traceback (``MRINETS_DEBUG=1`` shows it); anything else is a bug and raises.

Only argparse runs before a command: TensorFlow is imported by the commands that
need it, so ``mrinets --help`` and ``--version`` answer at once.
"""

import argparse
import json
import os
import sys

from mrinets._version import __version__
from mrinets.errors import MrinetsError, UsageError

__all__ = ["UsageError", "add_prepare_arguments", "build_parser", "main"]


def _user_errors():
    """Exception types that are the user's mistake, not a bug."""
    return (MrinetsError, OSError)


def _table(rows, headers):
    widths = [max(len(str(r[i])) for r in [headers] + rows) for i in range(len(headers))]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(headers, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def cmd_plugins(args):
    from mrinets import registry

    plugins = registry.plugins()
    if args.json:
        print(json.dumps([p.to_dict() for p in plugins], indent=2))
        return 0
    rows = []
    for p in plugins:
        what = ", ".join(f"{len(v)} {k}" for k, v in p.registered.items()) or "-"
        rows.append([p.name, p.distribution, p.version, p.status, what])
    print(_table(rows, ["plugin", "distribution", "version", "status", "registered"]))
    for p in plugins:
        if p.error:
            print(f"\n{p.name}: {p.error}")
    return 0


def cmd_layers(args):
    from mrinets import registry

    kinds = [args.kind] if args.kind else ["layer", "activation", "initializer"]
    rows = [[e.name, e.kind, e.plugin] for kind in kinds for e in registry.entries(kind)
            if not args.pattern or e.name in registry.names(kind, args.pattern)]
    if args.json:
        print(json.dumps([dict(zip(("name", "kind", "plugin"), r)) for r in rows], indent=2))
    else:
        print(_table(rows, ["name", "kind", "plugin"]))
    return 0


def cmd_configs(args):
    from mrinets import configs

    rows = []
    for name in configs.names():
        with open(os.path.join(configs.FOLDER, f"{name}.yaml")) as handle:
            lines = [line[1:].strip() for line in handle if line.startswith("#") and "$schema" not in line]
        rows.append([name, lines[0] if lines else ""])
    print(_table(rows, ["config", "description"]))
    return 0


def cmd_validate(args):
    from mrinets import config, configs, networks
    from mrinets.train.schema import load_config

    path = configs.find(args.config)
    document = config.load(path)
    if "type" not in document and set(document) - {"model", *networks.DOCUMENT_KEYS}:
        # A training config (data, train, ... or a misspelt section): every section is checked.
        cfg = load_config(path)
        print(f"{path}: valid training config ({cfg['model']['type']} model)")
        return 0
    node = networks.validate(path)
    print(f"{path}: valid {node['type']} config")
    return 0


def _descriptions(name, kind):
    from mrinets import config
    from mrinets.train.schema import SCHEMA

    sections = config.sections(SCHEMA)
    if kind == "section" or (kind is None and name in sections):
        if name not in sections:
            raise UsageError(f"Unknown config section {name!r}. Sections: {', '.join(sections)}.")
        return [config.describe_section(name, sections[name])]
    return [config.describe(k, n) for k, n in config.find_entries(name, kind)]


def cmd_describe(args):
    descriptions = _descriptions(args.name, args.kind)
    if args.json:
        print(json.dumps([d.to_dict() for d in descriptions], indent=2))
        return 0
    for i, d in enumerate(descriptions):
        origin = f"{d.kind}, plugin {d.plugin}" if d.plugin else d.kind
        print(("\n" if i else "") + f"{d.name} ({origin})")
        if d.summary:
            print(d.summary)
        rows = [[k.name, k.type, "(required)" if k.required else _clip(k.default_yaml(), 30), k.doc] for k in d.keys]
        print("\n" + _table(rows, ["key", "type", "default", "description"]))
        if d.accepts_any:
            print("Other keys are accepted too (passed on as keyword arguments).")
    return 0


def _clip(text, width):
    return text if len(text) <= width else text[: width - 3] + "..."


def cmd_schema(args):
    from mrinets.train import documents
    from mrinets.train.checkpoint import atomic_write_text

    text = documents.schema_text(builtin_only=args.builtin_only)
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    output = args.output or documents.schema_path()
    atomic_write_text(output, text)
    print(f"wrote {output}")
    return 0


def cmd_init(args):
    from mrinets.train import documents
    from mrinets.train.checkpoint import atomic_write_text

    if documents.shipped_config(args.name) is None:
        _quiet_tensorflow_import()  # a network's starter reads the registry
    file_name, text = documents.starter(args.name)
    path = args.output or file_name
    if os.path.exists(path) and not args.force:
        raise UsageError(f"{path} exists; pass --force to overwrite it, or --output another file")
    atomic_write_text(path, text)
    print(f"wrote {path}; check it with `mrinets validate {path}`")
    if not os.path.exists(documents.schema_path()):
        print(f"its first line names {documents.schema_path()}; `mrinets schema` writes that file (for editors)")
    return 0


def cmd_data_prepare(args):
    from mrinets.data import builtin

    return builtin.prepare_command(args)


def add_prepare_arguments(parser):
    """Add the ``mrinets data prepare`` options to an ``argparse`` parser."""
    parser.add_argument("name", nargs="?", default="mni152",
                        help="dataset to prepare: mni152 (default), shepp_logan or a plugin's (`mrinets layers --kind dataset`)")
    parser.add_argument("--cache-dir", default=None, help="cache folder (default $MRINETS_CACHE or ~/.cache/mrinets)")
    parser.add_argument("--matrix", type=int, default=None, help="k-space matrix size")
    parser.add_argument("--coils", type=int, default=None, help="number of coils")
    parser.add_argument("--force", action="store_true", help="rebuild even if already prepared")
    return parser


def cmd_data_convert(args):
    from mrinets.data import convert

    return convert.convert_command(args)


def build_parser():
    parser = argparse.ArgumentParser(prog="mrinets", description="Deep-learning MRI reconstruction with Keras 3.")
    parser.add_argument("--version", action="version", version=f"mrinets {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    plugins = commands.add_parser("plugins", help="list plugins and what they registered")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")
    plugins.set_defaults(run=cmd_plugins)

    layers = commands.add_parser("layers", help="list registered layers, activations and initializers")
    layers.add_argument("pattern", nargs="?", help="fnmatch pattern, e.g. 'Conv*'")
    layers.add_argument("--kind", help="one registry kind (layer, network, loss, mask, ...)")
    layers.add_argument("--json", action="store_true", help="machine-readable output")
    layers.set_defaults(run=cmd_layers)

    listing = commands.add_parser("configs", help="list the shipped configs")
    listing.set_defaults(run=cmd_configs, needs_tensorflow=False)

    validate = commands.add_parser("validate", help="check a training or network config without building it")
    validate.add_argument("config", help="a YAML file or a shipped config's name")
    validate.set_defaults(run=cmd_validate)

    describe = commands.add_parser("describe", help="the keys a registered layer/network/loss/... or a section accepts")
    describe.add_argument("name", help="a registered name (e.g. UNet, Conv2D, L1) or a config section (train, ...)")
    describe.add_argument("--kind", help="one registry kind (layer, network, loss, mask, ...) or 'section'")
    describe.add_argument("--json", action="store_true", help="machine-readable output")
    describe.set_defaults(run=cmd_describe)

    schema = commands.add_parser("schema", help="write the JSON Schema of the config language (for editors)")
    schema.add_argument("--output", help="file to write, '-' for standard output (default: mrinets.schema.json in the "
                        "cache folder, $MRINETS_CACHE or ~/.cache/mrinets, which `mrinets init` files name)")
    schema.add_argument("--builtin-only", action="store_true", help="leave out plugins' entries")
    schema.set_defaults(run=cmd_schema)

    init = commands.add_parser("init", help="write a commented starter config")
    init.add_argument("name", help="a shipped config (unet2d, varnet, ...) or a network type (UNet, VarNet, ...)")
    init.add_argument("--output", help="file to write (default: NAME.yaml here)")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(run=cmd_init, needs_tensorflow=False)  # a shipped config's starter needs no registry

    data = commands.add_parser("data", help="datasets")
    data_commands = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    prepare = data_commands.add_parser("prepare", help="prepare the built-in dataset into the cache")
    add_prepare_arguments(prepare)
    prepare.set_defaults(run=cmd_data_prepare)
    convert = data_commands.add_parser("convert", help="convert ISMRMRD or Siemens twix raw data to fastMRI-layout files")
    convert.add_argument("input", help="an ISMRMRD file (.h5/.mrd), a twix file (.dat) or a folder of them")
    convert.add_argument("output", help="folder for the fastMRI-layout files (same names, .h5)")
    convert.add_argument("--group", default="dataset", help="the ISMRMRD group inside the file (default: dataset)")
    convert.add_argument("--force", action="store_true", help="overwrite existing output files")
    convert.set_defaults(run=cmd_data_convert)

    from mrinets.train.commands import add_commands

    add_commands(commands)
    return parser


def _quiet_tensorflow_import():
    """Import TensorFlow and probe its devices with the C++ start-up chatter (absl, oneDNN, CUDA) sent to /dev/null."""
    if os.environ.get("MRINETS_DEBUG") or "tensorflow" in sys.modules:
        return
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow

            tensorflow.config.list_physical_devices()  # the driver probe ("failed call to cuInit" without a GPU)
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def main(argv=None):
    # TensorFlow turns its oneDNN kernels on by itself only on CPUs with AVX-512 VNNI/BF16 or AMX; on
    # AVX2-only ones it runs Eigen's, whose conv gradients make fastMRI's VarNet step 1.5x slower there
    # (8.4 vs 5.4 s: benchmarks/vs_fastmri.py --isa avx2 avx2-onednn). An explicit TF_ENABLE_ONEDNN_OPTS wins.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    if getattr(args, "needs_tensorflow", True):
        _quiet_tensorflow_import()
    try:
        return args.run(args) or 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if os.environ.get("MRINETS_DEBUG") or not isinstance(error, _user_errors()):
            raise
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
