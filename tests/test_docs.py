"""The documentation: generated pages follow the code (plugins included) and the MkDocs site builds offline."""

import glob
import os
import subprocess
import sys
import types

import keras
import pytest

import mrinets
from mrinets import docs, registry

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_docstring_markdown_fences_examples_and_lists_arguments():
    doc = '''Scale a tensor.

    Args:
        factor: the ``factor``, a float
            or an int.
        a, b,
        c: three names: one entry.

    >>> Scale(2)(x)
    4.0

    Raises:
        ValueError: when ``factor`` is 0.
    '''
    assert docs.docstring_markdown(doc) == (
        "Scale a tensor.\n\n**Args:**\n\n"
        "- factor: the `factor`, a float or an int.\n"
        "- a, b, c: three names: one entry.\n\n"
        "```python\n>>> Scale(2)(x)\n4.0\n```\n\n"
        "**Raises:**\n\n- ValueError: when `factor` is 0.\n"
    )


def test_tables_escape_pipes_outside_code():
    assert docs.table([["int | null", "`|y|` or |y|"]], ["type", "doc"]) == (
        "| type | doc |\n|---|---|\n| int \\| null | `|y|` or \\|y\\| |\n")


class Documented(keras.layers.Layer):
    """A documented plugin layer.

    Args:
        width: how wide, in pixels.
    """

    def __init__(self, width: int = 3, **kwargs):
        super().__init__(**kwargs)
        self.width = width


@pytest.fixture
def doc_plugin():
    plugin = types.ModuleType("doc_plugin")

    @mrinets.hookimpl
    def register_layers(register):
        register(Documented, name="DocumentedLayer")

    plugin.register_layers = register_layers
    registry.add_plugin(plugin, "doc-plugin")
    yield
    registry.remove_plugin("doc-plugin")


def test_reference_pages_cover_every_entry_and_plugins(doc_plugin):
    pages = docs.pages()
    for kind in registry.KINDS:
        page = pages[f"reference/{kind}.md"]
        for name in registry.names(kind):
            assert f"\n## {name}\n" in page, (kind, name)
    layer_page = pages["reference/layer.md"]
    assert "| `width` | int | `3` | how wide, in pixels. |" in layer_page
    assert "plugin `doc-plugin`" in layer_page
    api = pages["reference/layers-api.md"]
    assert f"{Documented.__module__}.Documented(width=3, **kwargs)" in api  # without annotations
    assert "mrinets.layers.Conv2D(filters, kernel_size, **kwargs)" in api
    from mrinets.train.schema import TRAIN_FIELDS

    training = pages["reference/training.md"]
    for key in TRAIN_FIELDS:
        assert f"| `{key}` |" in training


def test_generator_command_writes_the_pages(tmp_path, capsys):
    assert docs.main([str(tmp_path)]) == 0
    pages = docs.pages()
    written = {str(p.relative_to(tmp_path)): p.read_text() for p in tmp_path.rglob("*.md")}
    assert written == pages
    assert "wrote" in capsys.readouterr().out


def test_site_builds_offline_and_strict(tmp_path):
    site = tmp_path / "site"
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    for page in ("getting-started", "configs", "training", "plugins", "reference/training", "reference/network",
                 "reference/layer", "reference/layers-api", "benchmarks"):
        assert (site / page / "index.html").is_file(), page
    html = {page: (site / page / "index.html").read_text() for page in ("training", "reference/layers-api", "benchmarks")}
    assert "multi_worker" in html["training"] and "TF_CONFIG" in html["training"]
    for name in registry.names("layer"):
        assert f'id="{name.lower()}"' in html["reference/layers-api"], name
    # the tables of `python -m benchmarks`, one section per results file
    from benchmarks.__main__ import COMPARISONS

    results = [os.path.splitext(os.path.basename(p))[0] for p in glob.glob(os.path.join(ROOT, "benchmarks", "results", "*.json"))]
    for name in set(results) & set(COMPARISONS):
        assert f"<code>{name}.json</code>" in html["benchmarks"], name
    assert "cdnjs" not in (site / "index.html").read_text()  # nothing loaded from the network
