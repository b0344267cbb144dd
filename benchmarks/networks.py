"""Network benchmarks: complex U-Net vs its real limit; fastMRI-sized VarNet train step.

1. Complex 2D U-Net forward+backward vs the same U-Net built from real convs with doubled
   channels (the real limit: equal FLOPs). Goal <= 1.05x.
2. fastMRI's default VarNet (configs/varnet.yaml) train step (L1 loss, Adam) on one 8-coil
   320x320 slice: seconds per step and peak memory (process RSS growth on CPU, TF's peak on GPU).

    python -m benchmarks.networks [--quick]
"""

import argparse
import resource

import keras
import numpy as np
import tensorflow as tf

from benchmarks._timing import time_candidates, write_results
from mrinets import configs, networks
from mrinets.train.losses import L1


def _train_step(model, inputs, target):
    optimizer = keras.optimizers.Adam(1e-4)
    loss_fn = L1()

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = loss_fn(target, model(inputs, training=True))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    return lambda: step().numpy()


def unet_ratio(quick):
    size, batch, base = (64, 2, 8) if quick else (128, 4, 16)
    common = {"rank": 2, "base_filters": base, "depth": 3, "activation": "relu", "down": "average"}
    complex_net = networks.build({"type": "UNet", **common, "dtype": "complex64"})
    real_net = networks.build({"type": "UNet", **common, "base_filters": 2 * base, "in_channels": 2,
                               "dtype": "float32"})
    z = tf.complex(tf.random.normal((batch, size, size, 1)), tf.random.normal((batch, size, size, 1)))
    x = tf.random.normal((batch, size, size, 2))
    times = time_candidates({
        "real_limit": _train_step(real_net, x, tf.zeros_like(x)),
        "mrinets_complex": _train_step(complex_net, z, tf.zeros_like(z)),
    }, repeats=5 if quick else 10)
    return {"input": [batch, size, size], "base_filters": base, "seconds": times,
            "parameters": {"complex": complex_net.count_params(), "real_limit": real_net.count_params()},
            "ratio_complex_vs_real_limit": times["mrinets_complex"] / times["real_limit"], "goal": 1.05}


def varnet_step(quick):
    size = 128 if quick else 320
    model = networks.build(configs.find("varnet"))
    rng = np.random.default_rng(0)
    kspace = (rng.standard_normal((1, 8, size, size)) + 1j * rng.standard_normal((1, 8, size, size)))
    mask = np.zeros((1, 1, 1, size), "float32")
    mask[..., ::4] = 1
    mask[..., size // 2 - 13:size // 2 + 13] = 1
    inputs = {"kspace": tf.constant((kspace * mask).astype("complex64")), "mask": tf.constant(mask),
              "num_low_frequencies": tf.constant([26], tf.int32)}
    target = tf.random.uniform((1, size, size))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    step = _train_step(model, inputs, target)
    times = time_candidates({"varnet_train_step": step}, repeats=2 if quick else 5, warmup=1)
    result = {"input": [1, 8, size, size], "parameters": model.count_params(),
              "seconds_per_step": times["varnet_train_step"],
              "peak_rss_growth_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024}
    if tf.config.list_physical_devices("GPU"):
        result["gpu_peak_mb"] = tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller inputs and fewer repeats")
    args = parser.parse_args()
    results = {"unet": unet_ratio(args.quick), "varnet": varnet_step(args.quick)}
    path = write_results("networks", results)
    print(f"complex U-Net: {results['unet']['ratio_complex_vs_real_limit']:.3f}x the real limit")
    print(f"fastMRI VarNet train step ({results['varnet']['input']}): {results['varnet']['seconds_per_step']:.2f} s, "
          f"peak RSS growth {results['varnet']['peak_rss_growth_mb']:.0f} MB")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
