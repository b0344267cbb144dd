"""Input pipeline throughput vs what a VarNet-sized training step consumes.

Measures, in one process on the built-in MNI152 training split (8 coils, 128x128,
random 4x masks drawn per example, batch 4):

* ``pipeline``: examples/s that ``mrinets.data.build_dataset`` delivers (read, mask,
  normalize, shuffle, batch, prefetch), iterated on its own;
* ``train_step``: examples/s of a stand-in VarNet training step (no VarNet exists in
  mrinets yet): 6 cascades, each a small U-Net-like CNN of plain ``keras.layers.Conv2D``
  on 2x channels (real/imag) plus soft k-space data consistency with ACS coil maps,
  Adam update, all under ``tf.function``.

Goal: pipeline >= 5x the train step. Writes ``benchmarks/results/data.json``.

    python -m benchmarks.data [--quick]
"""

import argparse
import time

import keras
import tensorflow as tf

from benchmarks._timing import write_results
from mrinets import data, ops

BATCH = 4


class Cascade(keras.layers.Layer):
    """One VarNet-like cascade: soft data consistency plus a small U-Net refinement."""

    def __init__(self, chans=18, **kwargs):
        super().__init__(**kwargs)
        conv = lambda c: keras.layers.Conv2D(c, 3, padding="same", activation="relu")  # noqa: E731
        self.down = [conv(chans), conv(chans)]
        self.bottom = [conv(2 * chans), conv(2 * chans)]
        self.up = [conv(chans), conv(chans)]
        self.out = keras.layers.Conv2D(2, 1)
        self.pool = keras.layers.AveragePooling2D(2)
        self.upsample = keras.layers.UpSampling2D(2)
        self.dc_weight = self.add_weight(shape=(), initializer="ones", name="dc_weight")

    def call(self, kspace, reference, mask, maps):
        image = ops.sense_adjoint(kspace, maps)  # (B, H, W) complex
        x = tf.stack([tf.math.real(image), tf.math.imag(image)], axis=-1)
        skip = x
        for layer in self.down:
            x = layer(x)
        low = self.pool(x)
        for layer in self.bottom:
            low = layer(low)
        x = tf.concat([x, self.upsample(low)], axis=-1)
        for layer in self.up:
            x = layer(x)
        x = self.out(x) + skip
        refined = tf.complex(x[..., 0], x[..., 1])
        soft_dc = ops.apply_mask(kspace - reference, mask) * tf.cast(self.dc_weight, tf.complex64)
        return kspace - soft_dc - ops.sense_forward(refined, maps) + ops.sense_forward(image, maps)


class StandIn(keras.Model):
    def __init__(self, cascades=6, **kwargs):
        super().__init__(**kwargs)
        self.cascades = [Cascade() for _ in range(cascades)]

    def call(self, inputs):
        reference, mask = inputs["kspace"], inputs["mask"]
        maps = ops.estimate_coil_maps(reference, mask=mask)
        kspace = reference
        for cascade in self.cascades:
            kspace = cascade(kspace, reference, mask, maps)
        return ops.zero_filled(kspace)


def measure_pipeline(ds, batches):
    iterator = iter(ds)
    for _ in range(3):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * BATCH / (time.perf_counter() - start)


def measure_train(ds, steps):
    model = StandIn()
    optimizer = keras.optimizers.Adam(1e-3)
    inputs, target = next(iter(ds))

    @tf.function
    def step(inputs, target):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.abs(model(inputs) - target))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    for _ in range(2):
        step(inputs, target)
    start = time.perf_counter()
    for _ in range(steps):
        loss = step(inputs, target)
    float(loss)
    params = sum(int(tf.size(v)) for v in model.trainable_variables)
    return steps * BATCH / (time.perf_counter() - start), params


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer batches/steps")
    args = parser.parse_args(argv)
    root = data.prepare_builtin()
    ds = data.build_dataset(
        f"{root}/train", mask=data.RandomMask(0.08, 4), batch_size=BATCH, shuffle=True, seed=0, repeat=True
    )
    pipeline = measure_pipeline(ds, 10 if args.quick else 40)
    train, params = measure_train(ds, 3 if args.quick else 10)
    ratio = pipeline / train
    results = {
        "pipeline_examples_per_s": round(pipeline, 2),
        "train_step_examples_per_s": round(train, 2),
        "ratio": round(ratio, 2),
        "goal_ratio": 5.0,
        "meets_goal": ratio >= 5.0,
        "setup": {
            "data": "built-in MNI152 train split, 8 coils, 128x128, random 4x masks per example",
            "batch_size": BATCH,
            "train_step": "stand-in VarNet: 6 cascades of a small Conv2D U-Net (18/36 channels) + soft DC, Adam",
            "train_step_parameters": params,
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        },
    }
    path = write_results("data", results)
    print(f"pipeline {pipeline:.1f} ex/s, train step {train:.1f} ex/s, ratio {ratio:.1f}x -> {path}")
    return results


if __name__ == "__main__":
    main()
