"""The configs shipped with mrinets (also at the repository's top-level ``configs/``)."""

import os

from mrinets.errors import did_you_mean

FOLDER = os.path.dirname(os.path.abspath(__file__))


def names():
    """Names of the shipped configs (file names without ``.yaml``), sorted."""
    return sorted(f[:-5] for f in os.listdir(FOLDER) if f.endswith(".yaml"))


def find(name_or_path):
    """A config file path from a path or a shipped config's name; raises FileNotFoundError naming both."""
    if os.path.exists(name_or_path):
        return name_or_path
    shipped = os.path.join(FOLDER, f"{name_or_path}.yaml")
    if os.path.isfile(shipped):
        return shipped
    hint = did_you_mean(name_or_path, names())
    raise FileNotFoundError(
        f"No config file {name_or_path!r} and no shipped config of that name.{hint} Shipped: {', '.join(names())}."
    )
