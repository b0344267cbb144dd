"""The plugin manager and the typed registries it fills.

Plugins are loaded lazily on the first lookup: the built-in plugin
``mrinets.plugins`` first, then every entry point of the group ``mrinets``. Both are
loaded by name (the built-in plugin sits above the packages whose objects it registers,
so the registry never imports it statically). Activations and initializers are also
pushed into the layers' own tables (``mrinets.layers.lookup``), and the registry installs
the fallback that loads plugins when a layer meets a name it does not know.
A plugin that fails (import error, hook raises, registers something of the
wrong kind or a name that is already taken) is isolated: a warning names it
and the cause and everything else keeps working; ``MRINETS_STRICT_PLUGINS=1``
raises instead. A plugin slower than ``SLOW_IMPORT_SECONDS`` to import warns.

Environment variables:
    MRINETS_DISABLE_PLUGIN_AUTOLOAD: when set (non-empty), entry points are not loaded.
    MRINETS_DISABLED_PLUGINS: comma-separated entry-point names to block.
    MRINETS_STRICT_PLUGINS: when set, plugin failures raise ``PluginError``.
"""

import dataclasses
import fnmatch
import importlib
import importlib.metadata
import inspect
import os
import re
import threading
import time
import warnings

import pluggy

from mrinets._version import __version__
from mrinets.errors import DuplicateNameError, PluginError, UnknownNameError, unknown_name
from mrinets.layers import lookup
from mrinets.registry import hookspecs


BUILTIN_PLUGIN = "mrinets"
BUILTIN_PLUGIN_MODULE = "mrinets.plugins"
ENTRY_POINT_GROUP = "mrinets"
#: A plugin whose import takes longer than this (seconds) gets a warning with the time.
SLOW_IMPORT_SECONDS = 2.0


class PluginWarning(UserWarning):
    """A plugin failed and was isolated."""


@dataclasses.dataclass(frozen=True)
class Entry:
    """One registered object: ``kind``, ``name``, the object and its plugin."""

    kind: str
    name: str
    obj: object
    plugin: str


@dataclasses.dataclass
class PluginInfo:
    """What ``mrinets plugins`` shows about one plugin."""

    name: str
    distribution: str
    version: str
    status: str = "ok"
    error: str = ""
    registered: dict = dataclasses.field(default_factory=dict)

    def to_dict(self):
        return dataclasses.asdict(self)


def _is_layer_class(obj):
    import keras

    return inspect.isclass(obj) and issubclass(obj, keras.layers.Layer)


def _is_network(obj):
    return _is_layer_class(obj) or (callable(obj) and not inspect.isclass(obj))


_KIND_CHECKS = {
    "layer": (_is_layer_class, "a keras.layers.Layer subclass"),
    "network": (_is_network, "a keras.layers.Layer/Model subclass or a builder function"),
    "data_consistency": (_is_layer_class, "a keras.layers.Layer subclass"),
}
_DEFAULT_CHECK = (callable, "callable")
KINDS = tuple(hookspecs.HOOK_KINDS.values())


def natural_key(name):
    """Sort key that orders ``Conv2D`` before ``Conv10D``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def _env_flag(name):
    return bool(os.environ.get(name, "").strip())


class Registry:
    """A pluggy PluginManager plus the per-kind name tables its hooks fill."""

    def __init__(self):
        self._lock = threading.RLock()
        self._pm = None
        self._tables = None
        self._plugins = {}

    # -- loading -----------------------------------------------------------
    def _fail(self, info, message):
        info.status = "failed"
        info.error = message if not info.error else f"{info.error}; {message}"
        text = f"mrinets plugin {info.name!r} (distribution {info.distribution} {info.version}): {message}"
        if _env_flag("MRINETS_STRICT_PLUGINS"):
            raise PluginError(text)
        warnings.warn(text, PluginWarning, stacklevel=4)

    def _plugin_manager(self):
        with self._lock:
            if self._pm is None:
                pm = pluggy.PluginManager("mrinets")
                pm.add_hookspecs(hookspecs)
                self._pm = pm
                self._add_plugin(
                    importlib.import_module(BUILTIN_PLUGIN_MODULE), BUILTIN_PLUGIN,
                    PluginInfo(BUILTIN_PLUGIN, "mrinets", __version__),
                )
                if not _env_flag("MRINETS_DISABLE_PLUGIN_AUTOLOAD"):
                    self._load_entry_points()
            return self._pm

    def _add_plugin(self, plugin, name, info):
        self._plugins[name] = info
        try:
            self._pm.register(plugin, name=name)
            self._pm.check_pending()
        except Exception as error:  # pluggy validation errors: bad hook names or signatures
            if self._pm.is_registered(plugin):
                self._pm.unregister(plugin)
            self._fail(info, f"invalid hooks: {error}")
        self._invalidate()

    def _load_entry_points(self):
        blocked = {n.strip() for n in os.environ.get("MRINETS_DISABLED_PLUGINS", "").split(",") if n.strip()}
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in self._plugins:
                continue
            dist = getattr(ep, "dist", None)
            info = PluginInfo(ep.name, dist.name if dist else "?", dist.version if dist else "?")
            if ep.name in blocked:
                info.status = "blocked"
                self._plugins[ep.name] = info
                continue
            started = time.perf_counter()
            try:
                plugin = ep.load()
            except Exception as error:
                self._plugins[ep.name] = info
                self._fail(info, f"import failed: {type(error).__name__}: {error}")
                continue
            seconds = time.perf_counter() - started
            if seconds > SLOW_IMPORT_SECONDS:
                warnings.warn(f"mrinets plugin {info.name!r} (distribution {info.distribution} {info.version}) took "
                              f"{seconds:.1f} s to import; MRINETS_DISABLED_PLUGINS={info.name} skips it.",
                              PluginWarning, stacklevel=3)
            self._add_plugin(plugin, ep.name, info)

    def add_plugin(self, plugin, name):
        """Register a plugin object (module or instance with hookimpls) directly.

        Meant for tests and notebooks; installed packages use the entry point.
        """
        with self._lock:
            self._plugin_manager()
            if name in self._plugins:
                raise DuplicateNameError(f"A plugin named {name!r} is already registered.")
            self._add_plugin(plugin, name, PluginInfo(name, "(added at run time)", "-"))

    def remove_plugin(self, name):
        """Unregister a plugin added with ``add_plugin``."""
        with self._lock:
            pm = self._plugin_manager()
            plugin = pm.get_plugin(name)
            if plugin is not None:
                pm.unregister(plugin)
            self._plugins.pop(name, None)
            self._invalidate()

    def _invalidate(self):
        """Forget the collected tables (a plugin came or went); the next lookup collects again."""
        self._tables = None
        for kind in lookup.KINDS:
            lookup.set_entries(kind, {})

    def fill_layer_tables(self, kind):
        """Collect the plugins' entries, which pushes ``kind`` into ``mrinets.layers.lookup`` (its fallback)."""
        self._table(kind)

    def _collect(self):
        pm = self._plugin_manager()
        tables = {kind: {} for kind in KINDS}
        for info in self._plugins.values():
            info.registered = {}
        for hook_name, kind in hookspecs.HOOK_KINDS.items():
            impls = getattr(pm.hook, hook_name).get_hookimpls()
            # Built-in first, then plugins in load order, so collisions name the later plugin.
            order = list(self._plugins)
            impls = sorted(impls, key=lambda impl: order.index(impl.plugin_name) if impl.plugin_name in order else 0)
            for impl in impls:
                info = self._plugins[impl.plugin_name]
                register = self._register_callback(tables[kind], kind, info)
                try:
                    impl.function(**({"register": register} if "register" in impl.argnames else {}))
                except DuplicateNameError:
                    raise
                except Exception as error:
                    self._fail(info, f"hook {hook_name} raised {type(error).__name__}: {error}")
        for kind in lookup.KINDS:
            lookup.set_entries(kind, {name: entry.obj for name, entry in tables[kind].items()})
        return tables

    def _register_callback(self, table, kind, info):
        check, expected = _KIND_CHECKS.get(kind, _DEFAULT_CHECK)

        def register(obj, name=None, override=False):
            name = name or getattr(obj, "__name__", None)
            if not isinstance(name, str) or not name:
                self._fail(info, f"registered a {kind} without a name: {obj!r}")
                return
            if not check(obj):
                self._fail(info, f"registered {name!r} as a {kind}, but it is not {expected}: {obj!r}")
                return
            if name in table:
                previous = table[name]
                if not override:
                    message = (
                        f"The {kind} {name!r} is registered twice: by plugin {previous.plugin!r} "
                        f"({_where(previous.obj)}) and by plugin {info.name!r} ({_where(obj)}). "
                        f"Rename one, or pass override=True to register()."
                    )
                    if _env_flag("MRINETS_STRICT_PLUGINS"):
                        raise DuplicateNameError(message)
                    self._fail(info, message + " The second registration is ignored.")
                    return
                warnings.warn(
                    f"Plugin {info.name!r} overrides the {kind} {name!r} of plugin {previous.plugin!r}.",
                    PluginWarning,
                    stacklevel=2,
                )
            table[name] = Entry(kind, name, obj, info.name)
            info.registered.setdefault(kind, []).append(name)
            if kind in ("layer", "data_consistency", "network") and inspect.isclass(obj):
                _make_keras_serializable(obj, info.name)

        return register

    def _table(self, kind):
        if kind not in KINDS:
            raise UnknownNameError(_unknown_message("registry kind", kind, KINDS))
        with self._lock:
            if self._tables is None:
                self._tables = self._collect()
            return self._tables[kind]

    # -- lookups -----------------------------------------------------------
    def get(self, kind, name):
        """The object registered as ``name`` under ``kind``; raises ``UnknownNameError``."""
        return self.entry(kind, name).obj

    def entry(self, kind, name):
        """The ``Entry`` for ``name`` under ``kind``."""
        table = self._table(kind)
        if name not in table:
            raise UnknownNameError(_unknown_message(kind, name, table))
        return table[name]

    def names(self, kind, pattern=None, exclude=None):
        """Sorted names under ``kind``, filtered by fnmatch ``pattern``(s) and ``exclude``(s)."""
        names = list(self._table(kind))
        if pattern:
            patterns = [pattern] if isinstance(pattern, str) else list(pattern)
            names = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
        if exclude:
            excludes = [exclude] if isinstance(exclude, str) else list(exclude)
            names = [n for n in names if not any(fnmatch.fnmatchcase(n, p) for p in excludes)]
        return sorted(names, key=natural_key)

    def entries(self, kind):
        """All entries under ``kind``, sorted by name."""
        table = self._table(kind)
        return [table[n] for n in self.names(kind)]

    def plugins(self):
        """``PluginInfo`` for every plugin, built-in first."""
        for kind in KINDS:
            self._table(kind)
        return list(self._plugins.values())


def _where(obj):
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__name__)}"


def _unknown_message(kind, name, candidates):
    text = unknown_name(kind, name, sorted(candidates, key=natural_key), limit=30)
    return text[0].upper() + text[1:] + "."


def _make_keras_serializable(cls, plugin_name):
    """Let ``keras.saving`` find a plugin's class when a saved model is loaded."""
    import keras

    if keras.saving.get_registered_object(keras.saving.get_registered_name(cls)) is cls:
        return
    keras.saving.get_custom_objects()[f"{plugin_name}>{cls.__name__}"] = cls
