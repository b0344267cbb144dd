"""The mrinets version (a leaf: the CLI's ``--version`` and the registry read it without importing the rest)."""

__version__ = "0.1.0"
