"""The built-in plugin: registers everything mrinets ships.

It goes through the same hooks a third-party package implements (see
``mrinets.registry.hookspecs``), so built-in and plugin entries are looked up,
listed and validated the same way. Modules are imported inside each hook, so
listing one kind does not import the others. It sits at the top of the package graph
(it imports layers, networks, data, metrics and train); the registry loads it by name.
"""

from mrinets.registry import hookimpl


def _register_table(register, table):
    """Register every ``name: object`` of ``table``."""
    for name, obj in table.items():
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
    from mrinets.layers.activations import COMPLEX_ACTIVATIONS

    _register_table(register, COMPLEX_ACTIVATIONS)


@hookimpl
def register_initializers(register):
    from mrinets.layers.initializers import COMPLEX_INITIALIZERS

    _register_table(register, COMPLEX_INITIALIZERS)


@hookimpl
def register_masks(register):
    from mrinets.data.masks import MASKS
    from mrinets.data.masks3d import MASKS_3D

    _register_table(register, MASKS)
    _register_table(register, MASKS_3D)


@hookimpl
def register_datasets(register):
    from mrinets.data.builtin import DATASETS
    from mrinets.data.builtin3d import DATASETS_3D

    _register_table(register, DATASETS)
    _register_table(register, DATASETS_3D)


@hookimpl
def register_trajectories(register):
    from mrinets.data.noncartesian import TRAJECTORIES

    _register_table(register, TRAJECTORIES)


@hookimpl
def register_metrics(register):
    from mrinets.metrics import METRICS

    _register_table(register, METRICS)


@hookimpl
def register_networks(register):
    from mrinets.networks import NETWORKS

    _register_table(register, NETWORKS)


@hookimpl
def register_data_consistency(register):
    from mrinets.networks import DATA_CONSISTENCY

    _register_table(register, DATA_CONSISTENCY)


@hookimpl
def register_schedules(register):
    from mrinets.train.optimization import SCHEDULES

    _register_table(register, SCHEDULES)


@hookimpl
def register_losses(register):
    from mrinets.train.losses import LOSSES

    _register_table(register, LOSSES)


@hookimpl
def register_baselines(register):
    from mrinets.ops.baselines import BASELINES

    _register_table(register, BASELINES)
