"""MkDocs hook: adds the generated pages: the reference (``mrinets.docs``) and the benchmark tables."""

import os
import sys

from mkdocs.structure.files import File

from mrinets import docs


def on_files(files, config):
    root = os.path.dirname(config.config_file_path)
    for path, text in docs.pages().items():
        files.append(File.generated(config, path, content=text))
    sys.path.insert(0, root)  # the repository's benchmarks package, not installed with mrinets
    try:
        from benchmarks.__main__ import table
    finally:
        sys.path.remove(root)
    files.append(File.generated(config, "benchmarks.md", content=table(os.path.join(root, "benchmarks", "results"))))
    return files
