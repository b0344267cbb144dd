"""Canaries: Keras/TensorFlow behaviours mrinets is built around, checked on the installed release.

Each test asserts today's behaviour of the framework itself (not of mrinets). When a
release changes one of them, the test fails and says which part of mrinets to revisit,
so CI finds it before a user does.
"""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run_without_onednn(code_or_args):
    """Run python (``-c code`` or ``-m ...`` args) with oneDNN off: TF's plain, NHWC-only CPU kernels."""
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0", "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    args = ["-c", code_or_args] if isinstance(code_or_args, str) else code_or_args
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_adam_still_updates_only_the_real_part_of_complex_variables():
    variable = keras.Variable(np.array([1 + 1j], np.complex64), dtype="complex64")
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.abs(variable.value) ** 2)
    keras.optimizers.Adam(0.1).apply_gradients(zip(tape.gradient(loss, [variable.value]), [variable]))
    value = variable.numpy()[0]
    assert value.real < 0.95, "Adam no longer moves complex variables at all"
    assert abs(value.imag - 1.0) < 1e-4, (  # the real part moved by the learning rate, the imaginary one not
        f"Keras {keras.__version__}: Adam now updates the imaginary part of a complex variable ({value}). "
        "mrinets stores complex weights as float32 real/imaginary pairs (ComplexLayer.add_complex_weight) "
        "because it did not; revisit that choice and the README's 'Complex layers' section."
    )


def test_keras_losses_still_drop_imaginary_parts():
    y_true = tf.constant([1 + 2j, 3 - 1j], tf.complex64)
    y_pred = tf.constant([1 + 0j, 3 + 0j], tf.complex64)
    loss = float(keras.losses.MeanSquaredError()(y_true, y_pred))
    assert loss == 0.0, (
        f"Keras {keras.__version__}: MeanSquaredError now sees imaginary parts (loss {loss}, was 0). "
        "mrinets.train.losses exists because Keras losses dropped them; check they still agree."
    )


def test_lambda_still_infers_float32_for_complex_outputs():
    inputs = keras.Input((4,), dtype="complex64")
    outputs = keras.layers.Lambda(lambda z: z * 2)(inputs)
    assert outputs.dtype == "float32", (
        f"Keras {keras.__version__}: Lambda now infers {outputs.dtype} for a complex output. "
        "mrinets networks avoid Lambda for complex tensors because of this; Lambda could be allowed again."
    )


def test_tensorflow_cpu_conv_is_still_nhwc_only_without_onednn():
    code = textwrap.dedent("""
        import numpy as np, keras
        x = np.ones((1, 2, 5, 5), "float32")
        try:
            keras.ops.conv(x, np.ones((3, 3, 2, 1), "float32"), padding="same", data_format="channels_first")
        except Exception as error:
            print("RAISES", type(error).__name__)
        else:
            print("WORKS")
    """)
    result = _run_without_onednn(code)
    assert "RAISES" in result.stdout or "WORKS" in result.stdout, result.stderr[-3000:]
    assert "RAISES" in result.stdout, (
        "TensorFlow's CPU conv now takes channels_first without oneDNN: mrinets.layers.conv and pooling "
        "transpose to channels_last at their boundary only because it did not; that transpose may go."
    )


def test_channels_first_layers_work_on_nhwc_only_cpu_kernels():
    """The contract's data_format check for every registered layer, with oneDNN off (as on AVX2-only CPUs)."""
    result = _run_without_onednn(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "data_format",
                                  "tests/test_layer_contract.py"])
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert " passed" in result.stdout, result.stdout[-2000:]
