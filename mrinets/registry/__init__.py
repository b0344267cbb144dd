"""The mrinets registry: typed name tables filled by pluggy plugins.

>>> from mrinets import registry
>>> registry.names("layer", "Conv*D")
['Conv1D', 'Conv2D', 'Conv3D']
>>> Conv2D = registry.get("layer", "Conv2D")
"""

from mrinets.errors import DuplicateNameError, PluginError, RegistryError, UnknownNameError, suggest
from mrinets.layers import lookup
from mrinets.registry._registry import KINDS, Entry, PluginInfo, PluginWarning, Registry, natural_key
from mrinets.registry.hookspecs import hookimpl, hookspec

REGISTRY = Registry()
lookup.set_fallback(REGISTRY.fill_layer_tables)

get = REGISTRY.get
entry = REGISTRY.entry
names = REGISTRY.names
entries = REGISTRY.entries
plugins = REGISTRY.plugins
add_plugin = REGISTRY.add_plugin
remove_plugin = REGISTRY.remove_plugin

__all__ = [
    "KINDS",
    "REGISTRY",
    "DuplicateNameError",
    "Entry",
    "PluginError",
    "PluginInfo",
    "PluginWarning",
    "Registry",
    "RegistryError",
    "UnknownNameError",
    "add_plugin",
    "entries",
    "entry",
    "get",
    "hookimpl",
    "hookspec",
    "names",
    "natural_key",
    "plugins",
    "remove_plugin",
    "suggest",
]
