"""Complex-valued Keras 3 layers.

Every layer is real by default (and then computes what the Keras layer of the
same name does) and complex with ``dtype="complex64"`` or ``"complex128"``.
Weights are float real/imaginary pairs; computation runs on the stacked real
form (see ``mrinets.layers._base``).

>>> import tensorflow as tf
>>> from mrinets.layers import Conv2D
>>> x = tf.complex(tf.random.normal((1, 32, 32, 2)), tf.random.normal((1, 32, 32, 2)))
>>> Conv2D(8, 3, padding="same", activation="mod_relu", dtype="complex64")(x).dtype
tf.complex64
"""

from mrinets.layers._base import ComplexLayer, from_stacked, to_stacked
from mrinets.layers.activations import (
    Activation,
    Cardioid,
    ComplexReLU,
    ModReLU,
    ZReLU,
    cardioid,
    complex_relu,
    mod_relu,
    zrelu,
)
from mrinets.layers.conv import (
    ComplexConv,
    ComplexConvTranspose,
    Conv1D,
    Conv1DTranspose,
    Conv2D,
    Conv2DTranspose,
    Conv3D,
    Conv3DTranspose,
)
from mrinets.layers.dense import Dense
from mrinets.layers.initializers import (
    ComplexGlorotNormal,
    ComplexGlorotUniform,
    ComplexHeNormal,
    ComplexHeUniform,
    ComplexLecunNormal,
    ComplexLecunUniform,
    ComplexVarianceScaling,
)
from mrinets.layers.normalization import (
    BatchNormalization,
    ComplexNormalization,
    InstanceNormalization,
    LayerNormalization,
)
from mrinets.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    AveragePooling3D,
    ComplexPooling,
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
    UpSampling,
    UpSampling1D,
    UpSampling2D,
    UpSampling3D,
)

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
