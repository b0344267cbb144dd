"""Networks assembled from registered layers, described in YAML.

>>> from mrinets.networks import build
>>> model = build("type: UNet\\nrank: 2\\nbase_filters: 8\\ndepth: 2")     # a Keras model
>>> model = build("configs/varnet_quickstart.yaml")                          # a path works too

Image networks (``UNet``, ``CNN``) map ``(batch, *spatial, channels)`` images; reconstruction
networks (``VarNet``, ``Unrolled``, ``MoDL``, ``Cascade``) map the data pipeline's dict
``{"kspace", "mask", "num_low_frequencies"}`` to ``(batch, *spatial)`` magnitude images;
``NonCartesianUnrolled``, ``NonCartesianMoDL`` and ``NonCartesianVarNet`` map ``{"kspace", "trajectory", "density"}``
(``mrinets.data.noncartesian``) through the NUFFT.
"""

import keras

from mrinets import config
from mrinets.networks.cnn import CNN
from mrinets.networks.consistency import DATA_CONSISTENCY, CGDC, GradientDC, HardDC
from mrinets.networks.noncartesian import NETWORKS as NONCARTESIAN_NETWORKS
from mrinets.networks.noncartesian import NonCartesianMoDL, NonCartesianUnrolled, NonCartesianVarNet
from mrinets.networks.recon import NETWORKS as RECON_NETWORKS
from mrinets.networks.recon import Cascade, MoDL, ReconNetwork, Unrolled, VarNet, VarNetBlock
from mrinets.networks.unet import UNet

NETWORKS = {"UNet": UNet, "CNN": CNN, **RECON_NETWORKS, **NONCARTESIAN_NETWORKS}

#: top-level keys a network file may carry besides the network's arguments.
DOCUMENT_KEYS = ("schema_version",)


def _network_node(source):
    """Load ``source``; returns (network node, its YAML path, source name).

    A document's ``model:`` section is accepted.
    """
    document = config.load(source)
    name = getattr(document, "source", None)
    if "model" in document and "type" not in document:
        return document["model"], ("model",), name
    for key in DOCUMENT_KEYS:
        document.pop(key, None)
    return document, (), name


def validate(source):
    """Validate a network config (dict, YAML text or path) without building it.

    Returns the validated node; raises ``ConfigError`` listing every problem.
    """
    node, path, name = _network_node(source)
    return config.validate_node(node, "network", source=name, path=path)


def build_layer(source):
    """The network layer described by ``source`` (not wrapped in a model).

    A node ``validate`` returned (or a training config's validated ``model``) is built as it
    is: a config is validated once on its way to the layers.
    """
    node = source if isinstance(source, config.RefNode) and source.ref.kind == "network" else validate(source)
    return config.resolve(node)()


def model_inputs(network):
    """``keras.Input`` placeholders for ``network`` (a dict for reconstruction networks)."""
    if isinstance(network, ReconNetwork):
        return network.model_inputs()
    if hasattr(network, "in_channels") and hasattr(network, "rank"):
        dtype = getattr(network, "network_dtype", "float32")
        return keras.Input((None,) * network.rank + (network.in_channels,), dtype=dtype)
    raise ValueError(
        f"Cannot tell the inputs of network {type(network).__name__}: give it `rank` and `in_channels`, "
        "or derive it from mrinets.networks.ReconNetwork."
    )


def build(source, name=None):
    """A Keras model for a network config: a dict, a YAML string, a path or a validated node.

    Raises:
        ConfigError: every problem in the config, each with its YAML path and line.
    """
    network = build_layer(source)
    inputs = model_inputs(network)
    return keras.Model(inputs, network(inputs), name=name or type(network).__name__.lower())


__all__ = [
    "CGDC",
    "CNN",
    "Cascade",
    "DATA_CONSISTENCY",
    "GradientDC",
    "HardDC",
    "MoDL",
    "NETWORKS",
    "NonCartesianMoDL",
    "NonCartesianUnrolled",
    "NonCartesianVarNet",
    "ReconNetwork",
    "UNet",
    "Unrolled",
    "VarNet",
    "VarNetBlock",
    "build",
    "build_layer",
    "model_inputs",
    "validate",
]
