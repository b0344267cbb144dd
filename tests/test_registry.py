"""The pluggy registry: lookups, entry-point discovery, isolation of broken plugins, collisions."""

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import mrinets
from mrinets import registry
from mrinets.registry import Registry

EXAMPLE = "examples/mrinets-example-plugin"


def make_distribution(root, dist_name, entry_name, module_name, source):
    """Write an importable module and a dist-info with an entry point into ``root`` (a sys.path entry)."""
    (root / f"{module_name}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist_name.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[mrinets]\n{entry_name} = {module_name}\n")


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("MRINETS_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("MRINETS_STRICT_PLUGINS", raising=False)
    return tmp_path


LAYER_PLUGIN = """
import keras, mrinets

class {cls}(keras.layers.Layer):
    def call(self, x):
        return 2 * x

@mrinets.hookimpl
def register_layers(register):
    register({cls})
"""


def test_lookup_and_names():
    assert registry.get("layer", "Conv2D") is mrinets.layers.Conv2D
    assert registry.names("layer", "Conv*D") == ["Conv1D", "Conv2D", "Conv3D"]
    assert registry.names("layer", "Conv*", exclude="*Transpose") == ["Conv1D", "Conv2D", "Conv3D"]
    assert "mod_relu" in registry.names("activation")
    assert registry.entry("layer", "Conv3D").plugin == "mrinets"


def test_unknown_name_suggests_close_matches():
    with pytest.raises(registry.UnknownNameError, match=r"Unknown layer 'Conv2d'. Did you mean: Conv2D"):
        registry.get("layer", "Conv2d")
    with pytest.raises(registry.UnknownNameError, match=r"Unknown registry kind 'layers'.*Did you mean: layer"):
        registry.names("layers")


def test_entry_point_plugin_is_discovered(site):
    make_distribution(site, "acme-layers", "acme", "acme_layers", LAYER_PLUGIN.format(cls="AcmeDouble"))
    fresh = Registry()
    layer = fresh.get("layer", "AcmeDouble")
    np.testing.assert_array_equal(layer()(np.ones(3, "float32")), [2, 2, 2])
    info = {p.name: p for p in fresh.plugins()}["acme"]
    assert (info.distribution, info.version, info.status) == ("acme-layers", "1.2.3", "ok")
    assert info.registered == {"layer": ["AcmeDouble"]}
    # registered names resolve through Keras deserialization
    assert keras.saving.get_custom_objects()["acme>AcmeDouble"] is layer


@pytest.mark.parametrize(
    "source,reason",
    [
        ("raise ImportError('no such module: tensorflow_mri')", "import failed: ImportError: no such module"),
        ("import mrinets\n@mrinets.hookimpl\ndef register_layers(register):\n    raise RuntimeError('boom')",
         "hook register_layers raised RuntimeError: boom"),
        ("import mrinets\n@mrinets.hookimpl\ndef register_layers(register):\n    register(len, name='NotALayer')",
         "registered 'NotALayer' as a layer, but it is not a keras.layers.Layer subclass"),
        ("import mrinets\n@mrinets.hookimpl\ndef register_layerz(register):\n    pass", "invalid hooks"),
    ],
)
def test_broken_plugin_is_isolated_with_a_warning(site, source, reason):
    make_distribution(site, "broken-dist", "broken", f"broken_plugin_{abs(hash(source))}", source)
    fresh = Registry()
    with pytest.warns(registry.PluginWarning, match=rf"'broken' \(distribution broken-dist 1.2.3\): {reason}"):
        assert fresh.get("layer", "Conv2D") is mrinets.layers.Conv2D
    info = {p.name: p for p in fresh.plugins()}["broken"]
    assert info.status == "failed" and reason.split(":")[0] in info.error


def test_strict_mode_raises(site, monkeypatch):
    make_distribution(site, "broken-dist", "broken", "broken_strict_plugin", "raise ImportError('nope')")
    monkeypatch.setenv("MRINETS_STRICT_PLUGINS", "1")
    with pytest.raises(registry.PluginError, match="'broken'.*import failed"):
        Registry().names("layer")


def test_duplicate_name_names_both_plugins(site, monkeypatch):
    make_distribution(site, "dup-dist", "dup", "dup_plugin", LAYER_PLUGIN.format(cls="Conv2D"))
    message = r"layer 'Conv2D' is registered twice: by plugin 'mrinets' .* and by plugin 'dup'"
    fresh = Registry()
    with pytest.warns(registry.PluginWarning, match=message):
        assert fresh.get("layer", "Conv2D") is mrinets.layers.Conv2D  # the first registration stays
    assert {p.name: p.status for p in fresh.plugins()}["dup"] == "failed"
    monkeypatch.setenv("MRINETS_STRICT_PLUGINS", "1")
    with pytest.raises(registry.DuplicateNameError, match=message):
        Registry().get("layer", "Conv2D")


def test_override_replaces_with_a_warning():
    class Custom(keras.layers.Layer):
        pass

    class Plugin:
        @mrinets.hookimpl
        def register_layers(self, register):
            register(Custom, name="Dense", override=True)

    fresh = Registry()
    fresh.add_plugin(Plugin(), "override-test")
    with pytest.warns(registry.PluginWarning, match="overrides the layer 'Dense' of plugin 'mrinets'"):
        assert fresh.get("layer", "Dense") is Custom
    fresh.remove_plugin("override-test")
    assert fresh.get("layer", "Dense") is mrinets.layers.Dense


def test_autoload_can_be_disabled_and_plugins_blocked(site, monkeypatch):
    make_distribution(site, "acme-layers", "acme", "acme_layers", LAYER_PLUGIN.format(cls="AcmeDouble"))
    monkeypatch.setenv("MRINETS_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert "AcmeDouble" not in Registry().names("layer")
    monkeypatch.delenv("MRINETS_DISABLE_PLUGIN_AUTOLOAD")
    monkeypatch.setenv("MRINETS_DISABLED_PLUGINS", "other, acme")
    fresh = Registry()
    assert "AcmeDouble" not in fresh.names("layer")
    assert {p.name: p.status for p in fresh.plugins()}["acme"] == "blocked"


def test_example_plugin_installs_as_a_distribution_and_is_used(tmp_path):
    """pip-install the example package into a target folder; a fresh process discovers it by entry point."""
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), EXAMPLE], check=True)
    script = textwrap.dedent("""
        import numpy as np, tensorflow as tf
        from mrinets import registry
        cls = registry.get("layer", "ResidualConv2D")
        info = {p.name: p for p in registry.plugins()}["example"]
        assert info.distribution == "mrinets-example-plugin" and info.status == "ok", info
        x = tf.complex(tf.ones((1, 8, 8, 2)), tf.zeros((1, 8, 8, 2)))
        y = cls(4, dtype="complex64")(x)
        assert y.shape == (1, 8, 8, 4) and y.dtype == tf.complex64
        print("plugin ok")
    """)
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}
    import os

    env = {**os.environ, **env}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "plugin ok" in result.stdout


def test_example_plugin_layer_passes_the_layer_checks(monkeypatch):
    monkeypatch.syspath_prepend(EXAMPLE)
    from mrinets.testing import check_layer
    from mrinets_example_plugin import ResidualConv2D

    check_layer(ResidualConv2D, {"filters": 4}, (2, 8, 8, 3), registry_kind=None)
