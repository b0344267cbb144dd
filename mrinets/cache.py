"""The cache folder, where built-in data are prepared and ``mrinets schema`` writes the JSON Schema (a leaf: stdlib only)."""

import hashlib
import json
import os
import tempfile


def default_cache_dir(path=None):
    """The cache folder: ``path``, else ``$MRINETS_CACHE``, else ``$XDG_CACHE_HOME/mrinets`` or ``~/.cache/mrinets``."""
    if path:
        return os.path.abspath(os.path.expanduser(os.fspath(path)))
    env = os.environ.get("MRINETS_CACHE")
    if env:
        return os.path.abspath(os.path.expanduser(env))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "mrinets")


def prepared_folder(cache_dir, name, params):
    """``(root, manifest)`` of built-in data ``name`` prepared with ``params`` (JSON-able): the folder is named
    by a hash of ``params``, so other arguments prepare elsewhere; ``manifest`` exists once preparation ended."""
    key = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
    root = os.path.join(default_cache_dir(cache_dir), f"{name}-{key}")
    return root, os.path.join(root, "manifest.json")


def write_manifest(manifest, content):
    """Write ``content`` (JSON-able) to ``manifest`` atomically, under a unique temporary name first: two
    processes preparing the same data at once (parallel test workers, two runs) never see a half file."""
    fd, tmp = tempfile.mkstemp(prefix=".manifest-", suffix=".tmp", dir=os.path.dirname(manifest))
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(content, f, indent=2)
        os.replace(tmp, manifest)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
