"""The built-in plugin: registers everything mrinets ships.

It goes through the same hooks a third-party package implements (see
``mrinets.registry.hookspecs``), so built-in and plugin entries are looked up,
listed and validated the same way. Modules are imported inside each hook, so
listing one kind does not import the others.
"""

import importlib

from mrinets.registry import hookimpl


def _register_table(register, module, table):
    """Register every ``name: object`` of ``module.table``."""
    for name, obj in getattr(importlib.import_module(module), table).items():
        register(obj, name=name)


@hookimpl
def register_layers(register):
    from mrinets import layers

    for name in layers.__all__:
        obj = getattr(layers, name)
        if isinstance(obj, type) and issubclass(obj, layers.ComplexLayer) and obj is not layers.ComplexLayer:
            register(obj)


@hookimpl
def register_activations(register):
    _register_table(register, "mrinets.layers.activations", "COMPLEX_ACTIVATIONS")


@hookimpl
def register_initializers(register):
    _register_table(register, "mrinets.layers.initializers", "COMPLEX_INITIALIZERS")


@hookimpl
def register_masks(register):
    _register_table(register, "mrinets.data.masks", "MASKS")


@hookimpl
def register_datasets(register):
    _register_table(register, "mrinets.data.builtin", "DATASETS")


@hookimpl
def register_metrics(register):
    _register_table(register, "mrinets.metrics", "METRICS")


@hookimpl
def register_networks(register):
    _register_table(register, "mrinets.networks", "NETWORKS")


@hookimpl
def register_data_consistency(register):
    _register_table(register, "mrinets.networks", "DATA_CONSISTENCY")


@hookimpl
def register_losses(register):
    _register_table(register, "mrinets.train.losses", "LOSSES")
