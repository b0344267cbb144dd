"""Complex 2D U-Net train step vs its real limit.

The same U-Net built from real convs with doubled channels (equal FLOPs) is the limit.
Goal <= 1.05x. (VarNet and U-Net against fastMRI's PyTorch models: ``benchmarks.vs_fastmri``.)

    python -m benchmarks.networks [--quick]
"""

import argparse

import keras
import tensorflow as tf

from benchmarks._timing import row, set_tf_threads, time_candidates, train_step, write_results
from mrinets import networks
from mrinets.train.losses import L1


def _train_step(model, inputs, target):
    step = train_step(model, keras.optimizers.Adam(1e-4), L1())
    return lambda: step(inputs, target).numpy()


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


def rows(results):
    unet = results["unet"]
    ratio = unet["ratio_complex_vs_real_limit"]
    return [row(f"complex 2D U-Net train step vs the same U-Net of real convs, doubled channels "
                f"({unet['input'][0]} x {unet['input'][1]}x{unet['input'][2]})", f"{ratio:.2f}x",
                f"<= {unet['goal']}x", ratio <= unet["goal"])]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller inputs and fewer repeats")
    args = parser.parse_args()
    threads = set_tf_threads()
    results = {"threads": threads, "unet": unet_ratio(args.quick)}
    path = write_results("networks", results, rows(results), quick=args.quick)
    print(f"complex U-Net: {results['unet']['ratio_complex_vs_real_limit']:.3f}x the real limit")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
