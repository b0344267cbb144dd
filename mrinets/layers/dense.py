"""Complex fully-connected layer."""

import keras
import tensorflow as tf

from mrinets.arguments import check_positive_int
from mrinets.layers._base import ComplexLayer, complex_value, merge_stacked
from mrinets.layers.conv import block_kernel


@keras.saving.register_keras_serializable(package="mrinets")
class Dense(ComplexLayer):
    """Densely-connected layer, real or complex, a drop-in for ``keras.layers.Dense``.

    Args: ``units``, ``activation``, ``use_bias``, kernel/bias
    initializer/regularizer/constraint, ``activity_regularizer`` as in Keras;
    ``dtype="complex64"`` makes it complex.

    Input: ``(..., in)``; output ``(..., units)``. Weights ``kernel (in, units)``
    and ``bias (units,)`` (float real/imag pairs when complex).
    """

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.units = check_positive_int(units, "units")
        self.set_weight_arguments(activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                                  bias_regularizer, kernel_constraint, bias_constraint)

    def build(self, input_shape):
        features = self.channels(input_shape)
        if features is None:
            raise ValueError(f"Layer '{self.name}' needs a known last dimension; received input_shape={input_shape}.")
        self._kernel = self.add_complex_weight("kernel", (features, self.units), self.kernel_initializer,
                                               self.kernel_regularizer, self.kernel_constraint)
        self._bias = (self.add_complex_weight("bias", (self.units,), self.bias_initializer, self.bias_regularizer,
                                              self.bias_constraint) if self.use_bias else [])
        self.build_activation(self.units)
        self.input_spec = keras.InputSpec(min_ndim=2, axes={-1: input_shape[-1]})

    @property
    def kernel(self):
        return self._kernel[0] if not self.is_complex else complex_value(self._kernel)

    @property
    def bias(self):
        if not self._bias:
            return None
        return self._bias[0] if not self.is_complex else complex_value(self._bias)

    def forward(self, x, training=None):
        kernel = self._kernel[0] if not self.is_complex else block_kernel(*self._kernel)
        y = tf.matmul(x, tf.cast(kernel, x.dtype)) if x.shape.rank == 2 else tf.tensordot(x, tf.cast(kernel, x.dtype), 1)
        if self.use_bias:
            y = y + tf.cast(self._bias[0] if not self.is_complex else merge_stacked(*self._bias), y.dtype)
        return self.apply_activation(y)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (self.units * (2 if self.stacked else 1),)

    def get_config(self):
        config = super().get_config()
        config.update({
            "units": self.units,
            **self.weight_arguments_config(),
        })
        return config
