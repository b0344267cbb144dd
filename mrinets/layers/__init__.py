"""Complex-valued Keras 3 layers.

Every layer is real by default (and then computes what the Keras layer of the
same name does) and complex with ``dtype="complex64"`` or ``"complex128"``.
Weights are float real/imaginary pairs; computation runs on the stacked real
form (see ``mrinets.layers._base``). Names are imported on first use, so
``import mrinets.layers`` alone does not import TensorFlow.

>>> import tensorflow as tf
>>> from mrinets.layers import Conv2D
>>> x = tf.complex(tf.random.normal((1, 32, 32, 2)), tf.random.normal((1, 32, 32, 2)))
>>> Conv2D(8, 3, padding="same", activation="mod_relu", dtype="complex64")(x).dtype
tf.complex64
"""

import importlib

#: public name -> the submodule defining it; submodules are imported on first use
#: (``mrinets.layers.lookup`` is then importable without TensorFlow).
_EXPORTS = {
    "Activation": "activations",
    "AveragePooling1D": "pooling",
    "AveragePooling2D": "pooling",
    "AveragePooling3D": "pooling",
    "BatchNormalization": "normalization",
    "Cardioid": "activations",
    "cardioid": "activations",
    "complex_relu": "activations",
    "ComplexConv": "conv",
    "ComplexConvTranspose": "conv",
    "ComplexGlorotNormal": "initializers",
    "ComplexGlorotUniform": "initializers",
    "ComplexHeNormal": "initializers",
    "ComplexHeUniform": "initializers",
    "ComplexLayer": "_base",
    "ComplexLecunNormal": "initializers",
    "ComplexLecunUniform": "initializers",
    "ComplexNormalization": "normalization",
    "ComplexPooling": "pooling",
    "ComplexReLU": "activations",
    "ComplexVarianceScaling": "initializers",
    "Conv1D": "conv",
    "Conv1DTranspose": "conv",
    "Conv2D": "conv",
    "Conv2DTranspose": "conv",
    "Conv3D": "conv",
    "Conv3DTranspose": "conv",
    "Dense": "dense",
    "from_stacked": "_base",
    "InstanceNormalization": "normalization",
    "LayerNormalization": "normalization",
    "MaxPooling1D": "pooling",
    "MaxPooling2D": "pooling",
    "MaxPooling3D": "pooling",
    "mod_relu": "activations",
    "ModReLU": "activations",
    "to_stacked": "_base",
    "UpSampling": "pooling",
    "UpSampling1D": "pooling",
    "UpSampling2D": "pooling",
    "UpSampling3D": "pooling",
    "ZReLU": "activations",
    "zrelu": "activations",
}
_SUBMODULES = ("activations", "conv", "dense", "initializers", "normalization", "pooling")

__all__ = [
    "Activation",
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "BatchNormalization",
    "Cardioid",
    "ComplexConv",
    "ComplexConvTranspose",
    "ComplexGlorotNormal",
    "ComplexGlorotUniform",
    "ComplexHeNormal",
    "ComplexHeUniform",
    "ComplexLayer",
    "ComplexLecunNormal",
    "ComplexLecunUniform",
    "ComplexNormalization",
    "ComplexPooling",
    "ComplexReLU",
    "ComplexVarianceScaling",
    "Conv1D",
    "Conv1DTranspose",
    "Conv2D",
    "Conv2DTranspose",
    "Conv3D",
    "Conv3DTranspose",
    "Dense",
    "InstanceNormalization",
    "LayerNormalization",
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
    "ModReLU",
    "UpSampling",
    "UpSampling1D",
    "UpSampling2D",
    "UpSampling3D",
    "ZReLU",
    "cardioid",
    "complex_relu",
    "from_stacked",
    "mod_relu",
    "to_stacked",
    "zrelu",
]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
