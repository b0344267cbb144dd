"""Hook specifications: what a mrinets plugin may implement.

Every hook receives a ``register`` callback; call ``register(obj)`` (the name
defaults to ``obj.__name__``) or ``register(obj, name="...")`` once per entry.
"""

import pluggy

hookspec = pluggy.HookspecMarker("mrinets")
hookimpl = pluggy.HookimplMarker("mrinets")

#: hook name -> registry kind it fills.
HOOK_KINDS = {
    "register_layers": "layer",
    "register_activations": "activation",
    "register_initializers": "initializer",
    "register_networks": "network",
    "register_data_consistency": "data_consistency",
    "register_losses": "loss",
    "register_metrics": "metric",
    "register_masks": "mask",
    "register_datasets": "dataset",
    "register_schedules": "schedule",
    "register_baselines": "baseline",
    "register_trajectories": "trajectory",
}


@hookspec
def register_layers(register):
    """Register Keras layer classes (complex or real) usable by name in configs."""


@hookspec
def register_activations(register):
    """Register activation functions usable as ``activation="name"``."""


@hookspec
def register_initializers(register):
    """Register weight initializers usable as ``kernel_initializer="name"``."""


@hookspec
def register_networks(register):
    """Register network classes or builders usable as a config's ``type:``."""


@hookspec
def register_data_consistency(register):
    """Register data-consistency blocks for unrolled networks."""


@hookspec
def register_losses(register):
    """Register training losses."""


@hookspec
def register_metrics(register):
    """Register evaluation metrics."""


@hookspec
def register_masks(register):
    """Register k-space sampling mask functions."""


@hookspec
def register_datasets(register):
    """Register dataset builders."""


@hookspec
def register_schedules(register):
    """Register learning-rate schedules ``f(learning_rate, total_steps, warmup_steps, decay_steps, alpha, decay_rate)``
    (the ``optimizer.schedule`` keys) returning a rate or a Keras ``LearningRateSchedule``."""


@hookspec
def register_baselines(register):
    """Register classical reconstructions ``f(kspace, mask, num_low_frequencies=None, rank=2, **options)``
    returning the `(batch, *spatial)` magnitude image."""


@hookspec
def register_trajectories(register):
    """Register non-Cartesian trajectories ``f(base_resolution, **options) -> (M, rank)`` radians (a training
    config's ``trajectory: {type: ...}``)."""
