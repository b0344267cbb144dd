"""The package graph: every import (inside functions too) points down the allowed order, and nothing cycles."""

import ast
import os
import subprocess
import sys

import mrinets

ROOT = os.path.dirname(mrinets.__file__)

#: Top to bottom; a package may import only packages on a lower level.
ORDER = (
    ("__main__",),
    ("cli", "plugins", "docs", "testing"),  # the command line, the built-in plugin, tools for plugin authors
    ("mrinets", "train"),  # the top-level package re-exports `hookimpl` and `load_model`
    ("networks", "data", "saving"),
    ("config",),
    ("registry",),
    ("layers", "ops", "metrics", "configs"),
    ("errors", "arguments", "_version", "cache"),  # leaves: the error family, argument checks, the version, the cache folder
)
LEVEL = {package: level for level, packages in enumerate(ORDER) for package in packages}


def _module_name(path):
    parts = os.path.relpath(path, os.path.dirname(ROOT))[: -len(".py")].split(os.sep)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts), parts[-1] == "__init__"


def _package(module):
    """``mrinets.config._schema`` -> ``config``; ``mrinets`` -> ``mrinets``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _imports(path):
    module, is_package = _module_name(path)
    with open(path) as handle:
        tree = ast.parse(handle.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            if target == "mrinets":  # from mrinets import config, registry
                yield from (f"mrinets.{alias.name}" for alias in node.names)
            else:
                yield target


def package_graph():
    """``{package: {imported package, ...}}`` over every module under ``mrinets/``."""
    graph = {}
    for folder, _, files in os.walk(ROOT):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                source = _package(_module_name(path)[0])
                targets = {_package(t) for t in _imports(path) if t and (t == "mrinets" or t.startswith("mrinets."))}
                graph.setdefault(source, set()).update(targets - {source})
    return graph


def test_every_package_has_a_place_in_the_order():
    assert set(package_graph()) <= set(LEVEL), set(package_graph()) - set(LEVEL)


def test_imports_point_down_only():
    upward = [f"{a} -> {b}" for a, targets in package_graph().items() for b in sorted(targets) if LEVEL[b] <= LEVEL[a]]
    assert upward == []


def test_package_graph_has_no_cycle():
    graph = package_graph()
    state = {}

    def visit(package, stack):
        state[package] = "open"
        for target in graph.get(package, ()):
            if state.get(target) == "open":
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(target):] + [target]))
            if target not in state:
                visit(target, stack + [target])
        state[package] = "done"

    for package in graph:
        if package not in state:
            visit(package, [package])


def test_help_does_not_import_tensorflow():
    code = ("import runpy, sys\nsys.argv = ['mrinets', '--help']\ntry:\n    runpy.run_module('mrinets', run_name='__main__')\n"
            "except SystemExit:\n    pass\nprint('tensorflow' in sys.modules, 'keras' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "False False"


def test_init_of_a_shipped_config_does_not_import_tensorflow(tmp_path):
    code = ("import runpy, sys\nsys.argv = ['mrinets', 'init', 'unet2d', '--output', sys.argv[1]]\ntry:\n"
            "    runpy.run_module('mrinets', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "u.yaml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "False False" and (tmp_path / "u.yaml").read_text().startswith("# yaml")


def test_layers_with_builtin_names_load_no_plugin():
    code = (
        "import sys\nfrom mrinets.layers import Conv2D\nfrom mrinets.registry import REGISTRY\n"
        "Conv2D(8, 3)\nConv2D(8, 3, activation='mod_relu', kernel_initializer='complex_he_normal', dtype='complex64')\n"
        "Conv2D(8, 3, activation='relu', kernel_initializer='he_normal', dtype='complex64')\n"
        "print(REGISTRY._pm is None, 'mrinets.plugins' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "True False"


class _ActivationPlugin:
    @staticmethod
    def doubled(z):
        return 2 * z

    @mrinets.hookimpl
    def register_activations(self, register):
        register(self.doubled, name="doubled")


def test_an_unknown_name_loads_plugins_through_the_registry_fallback():
    import numpy as np

    from mrinets import layers, registry
    from mrinets.layers import lookup

    registry.add_plugin(_ActivationPlugin(), "doubling")
    try:
        assert lookup.find("activation", "doubled") is None  # the layers' table is refilled on demand
        layer = layers.Activation("doubled", dtype="complex64")
        assert lookup.find("activation", "doubled") is _ActivationPlugin.doubled
        z = np.array([[1 + 2j, -3j]], np.complex64)
        np.testing.assert_allclose(np.asarray(layer(z)), 2 * z)
    finally:
        registry.remove_plugin("doubling")
    assert lookup.find("activation", "doubled") is None
