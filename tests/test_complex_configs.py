"""The complex-valued quickstart: the real quickstart's size, complex all through its regularizers."""

from mrinets.layers import ComplexLayer


def test_complex_quickstart_has_the_quickstart_parameter_count_within_10_percent(shipped_model):
    real, complex_ = shipped_model("varnet_quickstart"), shipped_model("varnet_complex_quickstart")
    assert abs(complex_.count_params() / real.count_params() - 1) < 0.10, (complex_.count_params(), real.count_params())
    varnet = complex_.layers[-1]
    regularizer = varnet.blocks[0].regularizer
    assert regularizer.is_complex and not real.layers[-1].blocks[0].regularizer.is_complex
    inner = [layer for layer in regularizer._flatten_layers() if isinstance(layer, ComplexLayer)]
    assert inner and all(layer.is_complex for layer in inner)
    kinds = {type(layer).__name__ for layer in inner}
    assert {"Conv2D", "InstanceNormalization", "Activation"} <= kinds, kinds
