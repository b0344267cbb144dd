"""The built-in plugin: registers everything mrinets ships.

It goes through the same hooks a third-party package implements (see
``mrinets.registry.hookspecs``), so built-in and plugin entries are looked up,
listed and validated the same way.
"""

from mrinets.registry import hookimpl


@hookimpl
def register_layers(register):
    from mrinets import layers

    for name in layers.__all__:
        obj = getattr(layers, name)
        if isinstance(obj, type) and issubclass(obj, layers.ComplexLayer) and obj is not layers.ComplexLayer:
            register(obj)


@hookimpl
def register_activations(register):
    from mrinets.layers import activations

    for name, fn in activations.COMPLEX_ACTIVATIONS.items():
        register(fn, name=name)


@hookimpl
def register_initializers(register):
    from mrinets.layers import initializers

    for name, cls in initializers.COMPLEX_INITIALIZERS.items():
        register(cls, name=name)


@hookimpl
def register_masks(register):
    from mrinets.data import masks

    for name, cls in masks.MASKS.items():
        register(cls, name=name)


@hookimpl
def register_datasets(register):
    from mrinets.data import builtin

    for name, fn in builtin.DATASETS.items():
        register(fn, name=name)


@hookimpl
def register_metrics(register):
    from mrinets import metrics

    for name, obj in metrics.METRICS.items():
        register(obj, name=name)


@hookimpl
def register_networks(register):
    from mrinets.networks import NETWORKS

    for name, cls in NETWORKS.items():
        register(cls, name=name)


@hookimpl
def register_data_consistency(register):
    from mrinets.networks import DATA_CONSISTENCY

    for name, cls in DATA_CONSISTENCY.items():
        register(cls, name=name)


@hookimpl
def register_losses(register):
    from mrinets.train.losses import LOSSES

    for name, cls in LOSSES.items():
        register(cls, name=name)
