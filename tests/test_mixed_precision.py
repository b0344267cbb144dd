"""``train.precision: mixed_*`` runs every conv of every shipped network in half precision.

The train step is traced (not executed) under the global policy and its graph read: every
convolution op, forward and backward, has ``T`` float16/bfloat16, while the FFTs stay complex64
and the variables and the loss float32.
"""

import keras
import pytest
import tensorflow as tf

from mrinets import configs, networks
from mrinets.config import load
from mrinets.testing import global_policy

HALF = {"mixed_float16": tf.float16, "mixed_bfloat16": tf.bfloat16}


def _small(node):
    """The shipped network with one cascade / iteration: every layer kind, a fraction of the trace time."""
    node = dict(node)
    for key in ("cascades", "iterations"):
        if key in node:
            node[key] = 1
    return node


def _specs(model, rank):
    spatial = (16,) * rank
    inputs = {"kspace": tf.TensorSpec((1, 2) + spatial, tf.complex64),
              "mask": tf.TensorSpec((1, 1) + (1,) * (rank - 1) + spatial[-1:], tf.float32),
              "num_low_frequencies": tf.TensorSpec((1,), tf.int32)}
    return inputs, tf.TensorSpec((1,) + spatial, tf.float32)


def traced_train_step(model, optimizer, rank):
    """GraphDef of one train step (forward, loss scaling, gradients, update), traced only."""

    @tf.function
    def step(inputs, target):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.abs(tf.cast(model(inputs, training=True), tf.float32) - target))
            scaled = optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return step.get_concrete_function(*_specs(model, rank)).graph.as_graph_def()


def graph_ops(graph_def):
    """Every node of the graph and of its function library (loop bodies, gradients)."""
    yield from graph_def.node
    for function in graph_def.library.function:
        yield from function.node_def


def _dtype(node, attr):
    return tf.as_dtype(node.attr[attr].type)


#: (config, policy) traced by default; the other shipped configs are slow to trace (opt-in: -m slow).
FAST = [("cascade", "mixed_float16"), ("varnet_quickstart", "mixed_bfloat16")]
CASES = FAST + [pytest.param(name, "mixed_float16", marks=pytest.mark.slow)
                for name in configs.names() if (name, "mixed_float16") not in FAST]


@pytest.mark.parametrize("name,policy", CASES)
def test_every_conv_computes_in_half_precision(name, policy):
    node = load(configs.find(name))["model"]
    with global_policy(policy):
        model = networks.build(_small(node))
        optimizer = keras.optimizers.Adam()
        if policy == "mixed_float16":  # as mrinets.train.trainer.build_optimizer
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        graph_def = traced_train_step(model, optimizer, node.get("rank", 2))
    convs = [node for node in graph_ops(graph_def) if node.op.startswith("Conv")]
    forward = [node for node in convs if "Backprop" not in node.op]
    assert forward and len(convs) > len(forward), f"{name}: no conv ops (forward and backward) in the traced step"
    full = sorted({f"{node.op}:{_dtype(node, 'T').name}" for node in convs if _dtype(node, "T") != HALF[policy]})
    assert not full, f"{name} under {policy}: convolutions not in {HALF[policy].name}: {full}"
    ffts = [node for node in graph_ops(graph_def) if "FFT" in node.op]
    assert ffts and all(_dtype(node, "Tcomplex") == tf.complex64 for node in ffts), f"{name}: FFTs left complex64"
    assert all(variable.dtype == "float32" for variable in model.variables)
    # LossScaleOptimizer skips steps with non-finite (scaled) gradients: its IsFinite checks are in the step.
    scaled = any(node.op == "IsFinite" for node in graph_ops(graph_def))
    assert scaled == (policy == "mixed_float16"), f"{name}: loss scaling {'missing' if not scaled else 'unexpected'}"
