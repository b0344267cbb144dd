"""Names that ``activation=`` and ``kernel_initializer=`` accept beyond mrinets' and Keras' own.

One table per kind (``"activation"``, ``"initializer"``) maps a name to its object. The
layers own the tables and never query the registry: the registry pushes every plugin's
entries in (``set_entries``) when it loads plugins, and installs a ``fallback`` that a
lookup calls once for a name that neither mrinets, the table nor Keras knows (it loads
the plugins, which fill the table). A built-in or Keras name therefore never loads a
plugin. Pure Python: importing this module imports no TensorFlow.
"""

KINDS = ("activation", "initializer")

_tables = {kind: {} for kind in KINDS}
_fallback = None


def _check_kind(kind):
    if kind not in KINDS:
        raise ValueError(f"Invalid value for argument `kind`. Expected one of {KINDS}. Received: kind={kind!r}")


def set_entries(kind, entries):
    """Replace the ``kind`` table by ``entries`` (a ``name -> object`` mapping)."""
    _check_kind(kind)
    _tables[kind] = dict(entries)


def set_fallback(callback):
    """Install ``callback(kind)``, called before a lookup of an unknown name gives up; returns the previous one."""
    global _fallback
    previous, _fallback = _fallback, callback
    return previous


def find(kind, name):
    """The object named ``name`` in the ``kind`` table, or None (without calling the fallback)."""
    _check_kind(kind)
    return _tables[kind].get(name) if isinstance(name, str) else None


def load(kind):
    """Call the fallback for ``kind`` (the registry loads the plugins and fills the table); no-op without one."""
    _check_kind(kind)
    if _fallback is not None:
        _fallback(kind)
