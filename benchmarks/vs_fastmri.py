"""Training step vs fastMRI's PyTorch models: time ratio and peak memory.

* ``varnet``: fastMRI's default VarNet (12 cascades, 18 channels, 4 pools, sensitivity
  network 8 channels / 4 pools; mrinets ``configs/varnet.yaml``) on one 8-coil 320x320 slice.
* ``unet``: fastMRI's ``Unet(in_chans=1, out_chans=1, chans=32, num_pool_layers=4)`` and the
  mrinets UNet of the same configuration (real, rank 2) on a batch of 4 x 320x320.

One step = forward, L1 loss, backward, Adam update. Each framework runs in its own
subprocess (``--worker``) so its peak RSS growth (from just before the model is built) is
its own; the subprocesses alternate, several rounds, and the ratio is of the medians over rounds of
each round's median step time (one disturbed round does not move it). Both
frameworks get the same number of threads (``benchmarks._timing.THREADS``). Goals:
mrinets time / fastMRI time <= 1.0 and peak memory <= fastMRI's.

``--isa`` picks the CPU instruction sets the workers may use (several: each in the same run,
alternating with the others): ``native`` (this machine: here AVX-512, TensorFlow's oneDNN
kernels on), ``avx2`` (an AVX2-only machine as TensorFlow and PyTorch see it: no AVX-512 or
VNNI, so TensorFlow leaves oneDNN off and runs its Eigen kernels; PyTorch's ATen and oneDNN
kernels limited to AVX2) and ``avx2-onednn`` (the same with TensorFlow's oneDNN kernels forced
on, ``TF_ENABLE_ONEDNN_OPTS=1``). TensorFlow's Eigen kernels are compiled for AVX only, so they
are the same code on both machines. Each worker reports what took effect.

``--baseline PATH`` adds a third worker, ``baseline``: the mrinets worker importing mrinets from
another source tree (e.g. ``git archive main | tar -x -C /tmp/base``), for before/after ratios
of a change measured in the same run.

    python -m benchmarks.vs_fastmri [--quick] [--isa native avx2] [--baseline PATH]

Output: ``benchmarks/results/vs_fastmri.json``; with other ``--isa`` than ``native`` alone,
``vs_fastmri_<isa>_....json`` (e.g. ``vs_fastmri_avx2_avx2-onednn.json``).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from benchmarks._timing import THREADS, current_rss_mb, peak_rss_mb, print_rows, row, write_results

MODELS = {
    # name: (full size, batch, timed steps per worker)
    "varnet": (320, 1, 3),
    "unet": (320, 4, 3),
}
QUICK_SIZE = 96
#: Environment of the workers per ``--isa``: what each framework sees on such a machine.
ISA_ENVIRONMENTS = {
    "native": {},
    "avx2": {"TF_ENABLE_ONEDNN_OPTS": "0", "ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"},
    "avx2-onednn": {"TF_ENABLE_ONEDNN_OPTS": "1", "ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"},
}


def _inputs(model, size, batch):
    """The same NumPy data for both frameworks: (masked k-space, mask, target) or (image, target)."""
    rng = np.random.default_rng(0)
    if model == "unet":
        return rng.standard_normal((batch, size, size)).astype("float32"), rng.random((batch, size, size), "float32")
    kspace = rng.standard_normal((batch, 8, size, size)) + 1j * rng.standard_normal((batch, 8, size, size))
    mask = np.zeros(size, "float32")
    mask[::4] = 1
    low = round(0.08 * size)
    mask[(size - low + 1) // 2:(size - low + 1) // 2 + low] = 1
    return (kspace * mask).astype("complex64"), mask, low, rng.random((batch, size, size), "float32")


def _mrinets_worker(model, size, batch, steps, code=None):
    if code:  # mrinets from another tree; this module is already imported from this one
        sys.path.insert(0, code)
    import keras
    import tensorflow as tf

    import mrinets

    from benchmarks._timing import set_tf_threads, train_step
    from mrinets import configs, networks
    from mrinets.networks.recon import fastmri_unet

    set_tf_threads()
    if model == "unet":
        image, target = _inputs(model, size, batch)
        inputs, target = tf.constant(image[..., None]), tf.constant(target[..., None])
        config = {**fastmri_unet(32), "in_channels": 1, "normalize": False}
    else:
        kspace, mask, low, target = _inputs(model, size, batch)
        inputs = {"kspace": tf.constant(kspace), "mask": tf.constant(mask.reshape(1, 1, 1, size)),
                  "num_low_frequencies": tf.constant([low] * batch, tf.int32)}
        target = tf.constant(target)
        config = configs.find("varnet")
    baseline = current_rss_mb()
    net = networks.build(config)
    step = train_step(net, keras.optimizers.Adam(1e-4))
    return {**_time_steps(lambda: step(inputs, target).numpy(), steps, baseline, net.count_params()),
            "isa": {"onednn": tf_onednn_enabled()}, "mrinets": os.path.dirname(mrinets.__file__)}


def _fastmri_worker(model, size, batch, steps):
    import fastmri.models
    import torch

    from benchmarks._timing import set_torch_threads

    set_torch_threads()
    if model == "unet":
        image, target = _inputs(model, size, batch)
        args = (torch.from_numpy(image[:, None]),)
        target = torch.from_numpy(target[:, None])
        build = lambda: fastmri.models.Unet(in_chans=1, out_chans=1, chans=32, num_pool_layers=4)  # noqa: E731
    else:
        kspace, mask, low, target = _inputs(model, size, batch)
        args = (torch.view_as_real(torch.from_numpy(kspace)).contiguous(),
                torch.from_numpy(mask.reshape(1, 1, 1, size, 1) > 0), low)
        target = torch.from_numpy(target)
        build = lambda: fastmri.models.VarNet(num_cascades=12, chans=18, pools=4, sens_chans=8, sens_pools=4)  # noqa: E731
    baseline = current_rss_mb()
    net = build()
    net.train()
    optimizer = torch.optim.Adam(net.parameters(), 1e-4)

    def step():
        optimizer.zero_grad()
        loss = torch.nn.functional.l1_loss(net(*args), target)
        loss.backward()
        optimizer.step()
        return loss.item()

    return {**_time_steps(step, steps, baseline, sum(p.numel() for p in net.parameters())),
            "isa": {"aten_cpu_capability": torch.backends.cpu.get_cpu_capability()}}


def _time_steps(step, steps, baseline, parameters):
    start = time.perf_counter()
    step()  # warm-up (TensorFlow traces its graph here)
    first = time.perf_counter() - start
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return {"step_seconds": times, "median_seconds": statistics.median(times), "first_step_seconds": first,
            "peak_rss_growth_mb": peak_rss_mb() - baseline, "peak_rss_mb": peak_rss_mb(),
            "parameters": int(parameters)}


def tf_onednn_enabled():
    """Whether TensorFlow runs its oneDNN kernels in this process (``TF_ENABLE_ONEDNN_OPTS``, the CPU)."""
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


def _run_worker(framework, model, size, batch, steps, isa="native", baseline=None):
    command = [sys.executable, "-m", "benchmarks.vs_fastmri", "--worker",
               "mrinets" if framework == "baseline" else framework, model,
               "--size", str(size), "--batch", str(batch), "--steps", str(steps),
               *(["--code", baseline] if framework == "baseline" else [])]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **ISA_ENVIRONMENTS[isa]})
    if done.returncode != 0:
        raise RuntimeError(f"{framework} {model} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(model, quick=False, rounds=None, size=None, isas=("native",), baseline=None):
    """Alternate the frameworks' workers, under each ISA, for ``rounds`` rounds; ratios of the medians.

    Returns ``{isa: {"mrinets": ..., "fastmri": ..., "time_ratio": ..., ...}}`` (with ``baseline``:
    also ``"baseline"`` and ``"speedup"``, its time over mrinets').
    """
    frameworks = ("mrinets", "fastmri", "baseline") if baseline else ("mrinets", "fastmri")
    full_size, batch, steps = MODELS[model]
    if quick:
        full_size, steps = QUICK_SIZE, 2
    size = size or full_size
    rounds = rounds or (1 if quick else 3)
    workers = [(isa, framework) for isa in isas for framework in frameworks]
    runs = {worker: [] for worker in workers}
    for r in range(rounds):
        for isa, framework in workers if r % 2 == 0 else reversed(workers):
            result = _run_worker(framework, model, size, batch, steps, isa, baseline)
            runs[isa, framework].append(result)
            print(f"  {model} [{isa}] round {r + 1} {framework}: {result['median_seconds']:.3f} s/step, "
                  f"+{result['peak_rss_growth_mb']:.0f} MB, {result['isa']}", flush=True)
    by_isa = {}
    for isa in isas:
        summary = {}
        for framework in frameworks:
            results = runs[isa, framework]
            summary[framework] = {
                "seconds_per_step": statistics.median(res["median_seconds"] for res in results),
                "peak_rss_growth_mb": statistics.median(res["peak_rss_growth_mb"] for res in results),
                "peak_rss_mb": statistics.median(res["peak_rss_mb"] for res in results),
                "first_step_seconds": statistics.median(res["first_step_seconds"] for res in results),
                "parameters": results[0]["parameters"],
                "isa": results[0]["isa"],
            }
        ours, theirs = summary["mrinets"], summary["fastmri"]
        by_isa[isa] = {
            "input": [batch, 8, size, size] if model == "varnet" else [batch, size, size],
            "environment": ISA_ENVIRONMENTS[isa], "rounds": rounds, "timed_steps_per_round": steps,
            "runs": {framework: runs[isa, framework] for framework in frameworks}, **summary,
            "time_ratio": ours["seconds_per_step"] / theirs["seconds_per_step"],
            "memory_ratio": ours["peak_rss_growth_mb"] / theirs["peak_rss_growth_mb"],
        }
        if baseline:
            by_isa[isa]["baseline_tree"] = baseline
            by_isa[isa]["speedup"] = summary["baseline"]["seconds_per_step"] / ours["seconds_per_step"]
    return by_isa


def rows(results):
    labels = {"varnet": "VarNet train step (12 casc., 18 ch, 4 pools; 1 x 8 coils x {s}x{s})",
              "unet": "U-Net train step (32 ch, 4 pools; 4 x {s}x{s})"}
    table = []
    for model, by_isa in results["models"].items():
        for isa, res in by_isa.items():
            label = labels[model].format(s=res["input"][-1]) + ("" if isa == "native" else f" [{isa}]")
            ours, theirs = res["mrinets"], res["fastmri"]
            table.append(row(f"{label}: time, mrinets / fastMRI (PyTorch)",
                             f"{res['time_ratio']:.2f}x ({ours['seconds_per_step']:.2f} s vs "
                             f"{theirs['seconds_per_step']:.2f} s)", "<= 1.0x", res["time_ratio"] <= 1.0))
            table.append(row(f"{label}: peak RSS growth, mrinets / fastMRI",
                             f"{res['memory_ratio']:.2f}x ({ours['peak_rss_growth_mb']:.0f} MB vs "
                             f"{theirs['peak_rss_growth_mb']:.0f} MB)", "<= 1.0x", res["memory_ratio"] <= 1.0))
            if "speedup" in res:
                table.append(row(f"{label}: speed-up over the baseline tree ({res['baseline_tree']})",
                                 f"{res['speedup']:.2f}x ({res['baseline']['seconds_per_step']:.2f} s before)"))
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SIZE}x{QUICK_SIZE} inputs, one round")
    parser.add_argument("--only", choices=sorted(MODELS), help="one model")
    parser.add_argument("--rounds", type=int, help="alternating rounds per framework (default 3, quick 1)")
    parser.add_argument("--isa", nargs="+", choices=list(ISA_ENVIRONMENTS), default=["native"],
                        help="instruction sets to run under, each in the same run (default: native)")
    parser.add_argument("--baseline", metavar="PATH", help="also time mrinets imported from this source tree")
    parser.add_argument("--code", help=argparse.SUPPRESS)
    parser.add_argument("--worker", nargs=2, metavar=("FRAMEWORK", "MODEL"), help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help="image size (default 320, quick 96)")
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        framework, model = args.worker
        if framework == "mrinets":
            print(json.dumps(_mrinets_worker(model, args.size, args.batch, args.steps, args.code)))
        else:
            print(json.dumps(_fastmri_worker(model, args.size, args.batch, args.steps)))
        return
    models = [args.only] if args.only else list(MODELS)
    isas = list(dict.fromkeys(args.isa))
    results = {"threads": THREADS, "loss": "L1", "optimizer": "Adam(1e-4)", "isas": isas,
               "models": {model: compare(model, args.quick, args.rounds, args.size, isas,
                                                  args.baseline and os.path.abspath(args.baseline)) for model in models}}
    table = rows(results)
    # Other instruction sets than this machine's go to their own file (vs_fastmri_avx2.json, ...).
    name = "_".join(["vs_fastmri"] + [isa for isa in isas if isa != "native"])
    path = write_results(name, results, table, quick=args.quick)
    print_rows(table)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
