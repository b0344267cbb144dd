"""Input pipeline throughput vs what a VarNet-sized training step consumes.

Measures, in one process on the built-in MNI152 training split (8 coils, 128x128,
random 4x masks drawn per example, batch 4):

* ``pipeline``: examples/s that ``mrinets.data.build_dataset`` delivers (read, mask,
  normalize, shuffle, batch, prefetch), iterated on its own;
* ``train_step``: examples/s of a training step (L1 loss, Adam, ``tf.function``) of the
  VarNet the quickstart trains (``configs/varnet_quickstart.yaml``).

Goal: pipeline >= 5x the train step. Writes ``benchmarks/results/data.json``.

    python -m benchmarks.data [--quick]
"""

import argparse
import time

import keras
import tensorflow as tf

from benchmarks._timing import row, set_tf_threads, train_step, write_results
from mrinets import configs, data, networks

BATCH = 4


def measure_pipeline(ds, batches):
    iterator = iter(ds)
    for _ in range(3):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * BATCH / (time.perf_counter() - start)


def measure_train(ds, steps):
    model = networks.build(configs.find("varnet_quickstart"))
    step = train_step(model, keras.optimizers.Adam(1e-3))
    inputs, target = next(iter(ds))

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
    threads = set_tf_threads()
    root = data.prepare_builtin(progress=False)
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
            "train_step": "configs/varnet_quickstart.yaml VarNet, L1, Adam",
            "train_step_parameters": params,
            "threads": threads,
        },
    }
    table = [row("data pipeline examples/s vs quickstart VarNet train step consumption",
                 f"{ratio:.1f}x ({pipeline:.0f} vs {train:.1f} ex/s)", ">= 5x", ratio >= 5.0)]
    path = write_results("data", results, table, quick=args.quick)
    print(f"pipeline {pipeline:.1f} ex/s, train step {train:.1f} ex/s, ratio {ratio:.1f}x -> {path}")
    return results


if __name__ == "__main__":
    main()
