"""Complex 2D U-Net train step vs its real limit; 3D VarNet with and without gradient checkpointing.

The same U-Net built from real convs with doubled channels (equal FLOPs) is the limit.
Goal <= 1.05x. (VarNet and U-Net against fastMRI's PyTorch models: ``benchmarks.vs_fastmri``.)

The 3D VarNet of ``varnet3d_quickstart`` on a whole 64^3 volume (8 coils): step time with
``train.gradient_checkpointing`` on vs off (interleaved, same process), and the peak resident
memory of a fresh process running the steps each way (``--memory-probe``), less its memory
before the first step (what the training step itself adds).

    python -m benchmarks.networks [--quick]
"""

import argparse
import json
import subprocess
import sys

import keras
import tensorflow as tf

from benchmarks._timing import current_rss_mb, row, set_tf_threads, time_candidates, train_step, write_results
from mrinets import networks
from mrinets.data import masks
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


def _varnet3d(quick):
    """The quickstart's 3D VarNet, its (checkpointable) network layer, and one slab's inputs and target."""
    from mrinets.train.schema import load_config

    coils, slab, size = (4, 16, 32) if quick else (8, 64, 64)
    cfg = load_config("varnet3d_quickstart")
    model = networks.build(cfg["model"])
    network = next(layer for layer in model.layers if isinstance(layer, networks.ReconNetwork))
    mask = masks.PoissonDiscMask(acceleration=8, calibration=(12, 12))((size, size), seed=0)[0]
    mask = tf.constant(mask.reshape(1, 1, 1, size, size))
    shape = (1, coils, slab, size, size)
    kspace = tf.complex(tf.random.normal(shape, seed=1), tf.random.normal(shape, seed=2)) * tf.cast(mask, tf.complex64)
    inputs = {"kspace": kspace, "mask": mask, "num_low_frequencies": tf.constant([12])}
    return model, network, inputs, tf.zeros(shape[:1] + shape[2:]), cfg["model"]["cascades"]


def _checkpointing_step(model, network, inputs, target, on):
    step = train_step(model, keras.optimizers.Adam(1e-4), L1())

    def run():
        network.gradient_checkpointing = on  # read when the step is traced (first call)
        return step(inputs, target).numpy()

    return run


def memory_probe(on, quick, steps=2):
    """Memory of 3D VarNet train steps in this (fresh) process, MiB: the step is traced first
    (without running); ``added_mb`` is the process's peak RSS over ``steps`` steps less its RSS
    before them (graph optimization and the step's transient tensors)."""
    model, network, inputs, target, _ = _varnet3d(quick)
    step = train_step(model, keras.optimizers.Adam(1e-4), L1())
    network.gradient_checkpointing = on
    step.get_concrete_function(inputs, target)
    before = current_rss_mb()
    for _ in range(steps):
        step(inputs, target).numpy()
    peak = _peak_rss_of_this_program_mb()
    return {"rss_before_mb": before, "peak_rss_mb": peak, "added_mb": peak - before}


def _peak_rss_of_this_program_mb():
    """``VmHWM``: the peak RSS since this program started, in MiB (Linux). Unlike ``ru_maxrss`` it does
    not carry over the parent's peak through fork + exec."""
    with open("/proc/self/status") as handle:
        return int(next(line for line in handle if line.startswith("VmHWM:")).split()[1]) / 1024


def varnet3d_checkpointing(quick):
    model, network, inputs, target, cascades = _varnet3d(quick)
    times = time_candidates({
        "off": _checkpointing_step(model, network, inputs, target, False),
        "on": _checkpointing_step(model, network, inputs, target, True),
    }, repeats=3 if quick else 5, warmup=2)
    memory = {}
    for on in (False, True):
        done = subprocess.run([sys.executable, "-m", "benchmarks.networks", "--memory-probe", "on" if on else "off"]
                              + (["--quick"] if quick else []), capture_output=True, text=True, check=True)
        memory["on" if on else "off"] = json.loads(done.stdout.strip().splitlines()[-1])
    return {"input": list(inputs["kspace"].shape), "cascades": cascades, "seconds": times,
            "time_ratio_on_vs_off": times["on"] / times["off"], "memory_mb": memory,
            "added_memory_ratio_on_vs_off": memory["on"]["added_mb"] / max(memory["off"]["added_mb"], 1e-9)}


def rows(results):
    unet = results["unet"]
    ratio = unet["ratio_complex_vs_real_limit"]
    out = [row(f"complex 2D U-Net train step vs the same U-Net of real convs, doubled channels "
               f"({unet['input'][0]} x {unet['input'][1]}x{unet['input'][2]})", f"{ratio:.2f}x",
               f"<= {unet['goal']}x", ratio <= unet["goal"])]
    v3 = results.get("varnet3d_checkpointing")
    if v3:
        shape = "x".join(str(n) for n in v3["input"][1:])
        memory = v3["memory_mb"]
        out.append(row(f"3D VarNet ({v3['cascades']} cascades, slab {shape}) train step, gradient checkpointing "
                       f"on vs off: time", f"{v3['time_ratio_on_vs_off']:.2f}x ({v3['seconds']['off']:.2f} s off)"))
        out.append(row(f"3D VarNet ({v3['cascades']} cascades, slab {shape}) train step, gradient checkpointing "
                       f"on vs off: memory of running the step (peak RSS less RSS once traced)",
                       f"{v3['added_memory_ratio_on_vs_off']:.2f}x ({memory['on']['added_mb']:.0f} vs "
                       f"{memory['off']['added_mb']:.0f} MiB)", "< 1x", v3["added_memory_ratio_on_vs_off"] < 1))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller inputs and fewer repeats")
    parser.add_argument("--memory-probe", choices=["on", "off"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    threads = set_tf_threads()
    if args.memory_probe:
        print(json.dumps(memory_probe(args.memory_probe == "on", args.quick)))
        return
    results = {"threads": threads, "unet": unet_ratio(args.quick)}
    print(f"complex U-Net: {results['unet']['ratio_complex_vs_real_limit']:.3f}x the real limit")
    results["varnet3d_checkpointing"] = v3 = varnet3d_checkpointing(args.quick)
    print(f"3D VarNet, checkpointing on vs off: time {v3['time_ratio_on_vs_off']:.2f}x, memory added by the step "
          f"{v3['memory_mb']['on']['added_mb']:.0f} vs {v3['memory_mb']['off']['added_mb']:.0f} MiB")
    path = write_results("networks", results, rows(results), quick=args.quick)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
