"""Tests of the example plugin: the mrinets test kit, plus a value check of our own."""

import numpy as np

from mrinets.testing import LayerTestCase, random_input
from mrinets_example_plugin import ResidualConv2D


class TestResidualConv2D(LayerTestCase):
    """Every mrinets check (call, symbolic, config, saving, training, mixed precision, registry), real and complex."""

    layer_cls = ResidualConv2D
    init_kwargs = {"filters": 4}
    input_shape = (2, 8, 8, 3)


def test_zeroed_convs_leave_the_shortcut():
    """With both 3x3 convs zeroed, the block is its 1x1 complex projection: y = x @ W."""
    layer = ResidualConv2D(4, dtype="complex64")
    x = random_input((2, 8, 8, 3))
    layer(x)
    for conv in (layer.first, layer.second):
        conv.set_weights([np.zeros_like(w) for w in conv.get_weights()])
    w = layer.shortcut.kernel.numpy()[0, 0]  # the (3, 4) complex kernel
    np.testing.assert_allclose(layer(x).numpy(), np.einsum("bhwc,cf->bhwf", x.numpy(), w), atol=1e-5)
