"""Meta-tests: every registered complex activation and every shipped config's image network is
nonlinear at initialization (a modReLU with a zero bias is the identity, so a "deep" network of it is linear)."""

import numpy as np
import pytest
import tensorflow as tf

from mrinets import configs, networks, registry
from mrinets.config import load
from mrinets.networks._blocks import apply_image_network
from tests.conftest import random_complex


def superposition_error(function, x, y, a=0.7, b=-1.3):
    """``|f(a x + b y) - a f(x) - b f(y)| / |a f(x) + b f(y)|``: 0 for a linear ``f`` (real ``a``, ``b``)."""
    combined = a * function(x).numpy() + b * function(y).numpy()
    return np.linalg.norm(function(a * x + b * y).numpy() - combined) / np.linalg.norm(combined)


@pytest.mark.parametrize("name", registry.names("activation"))
def test_registered_activation_is_nonlinear_with_its_defaults(rng, name):
    activation = registry.get("activation", name)
    x, y = random_complex(rng, (4, 64)), random_complex(rng, (4, 64))
    assert superposition_error(activation, tf.constant(x), tf.constant(y)) > 1e-2


def test_superposition_error_is_zero_for_a_linear_map(rng):
    x, y = random_complex(rng, (4, 64)), random_complex(rng, (4, 64))
    assert superposition_error(lambda z: 2j * z + tf.math.conj(z), tf.constant(x), tf.constant(y)) < 1e-6


def _image_networks(name):
    node = load(configs.find(name))["model"]
    model = networks.build_layer(node)
    regularizer = model.blocks[0].regularizer if hasattr(model, "blocks") else model.regularizers[0]
    found = [regularizer, getattr(model, "sensitivity_network", None)]
    return model.rank, [network for network in found if network is not None]


@pytest.mark.parametrize("name", configs.names())
def test_shipped_image_networks_are_nonlinear_at_initialization(rng, name):
    rank, image_networks = _image_networks(name)
    shape = (1,) + (8 if rank == 3 else 16,) * rank
    x, y = tf.constant(random_complex(rng, shape)), tf.constant(random_complex(rng, shape))
    for network in image_networks:
        error = superposition_error(lambda image: apply_image_network(network, image), x, y)
        assert error > 1e-2, f"{name}: {network.name} is (nearly) linear at initialization: error {error:.1e}"
