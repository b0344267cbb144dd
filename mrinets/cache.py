"""The cache folder, where built-in data are prepared and ``mrinets schema`` writes the JSON Schema (a leaf: stdlib only)."""

import os


def default_cache_dir(path=None):
    """The cache folder: ``path``, else ``$MRINETS_CACHE``, else ``$XDG_CACHE_HOME/mrinets`` or ``~/.cache/mrinets``."""
    if path:
        return os.path.abspath(os.path.expanduser(os.fspath(path)))
    env = os.environ.get("MRINETS_CACHE")
    if env:
        return os.path.abspath(os.path.expanduser(env))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "mrinets")
