"""Complex vs real regularizers in the same VarNet, at equal parameters and equal wall-clock time.

Two VarNets that differ only in their regularizer U-Nets, both from shipped configs:

* ``real``: ``configs/varnet_quickstart.yaml``, fastMRI's real NormUnet on the stacked (re, im)
  channels, channels [12, 24, 48], 393,720 parameters;
* ``complex``: ``configs/varnet_complex_quickstart.yaml``, a complex U-Net on the complex image
  (complex convs, complex instance norm, cardioid), channels [8, 17, 34], 389,712 parameters.

Both start at CG-SENSE with each cascade's regularizer term scaled from zero (``start: cg_sense``,
``regularizer_scale: 0``), so both beat zero-filled from the first step. Every (setting, seed)
trains at the same time (one thread each, so machine load hits all alike) for ``--minutes`` of
wall-clock time counted after the first step (graph tracing, reported apart), on the quickstart's
training data (``mni152_random``: domain-randomized MNI152 slices, 320 columns) with one recipe:
L1 loss, Adam 1e-3, batch 4, random line masks (centre fractions 0.08/0.04 at 4x/8x), the seed
fixing weights, shuffling and masks. Two comparisons at equal parameters: *equal time* (each
model's weights when the budget ends) and *equal steps* (the faster model's weights after as many
steps as the slower one made in the budget; the slower one's final weights). All models
reconstruct the same validation slices with the same masks (``benchmarks.quality``'s evaluation
set: built-in validation split at 4x and 8x, and the generalization set, real anatomy never
trained on, when ``mrinets[generalization]`` is installed), scored with ``mrinets.metrics`` next
to CG-SENSE and zero-filled. Anchor: Cole et al. (MRM 2021) found complex networks better than
real ones at equal parameter count. Goal: complex >= real at equal time.

The run also times complex batch/instance normalization against the real one of the same size
(C complex channels vs 2C real ones, forward + backward). Goal: <= 1.5x.

    python -m benchmarks.complex_vs_real [--minutes 35] [--seeds 0 1 2] [--quick]
    python -m benchmarks.complex_vs_real --table benchmarks/results/complex_vs_real.json
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks._timing import cpu, print_rows, row, time_candidates, write_results
from benchmarks.quality import (BATCH, EVAL, GENERALIZATION, TRAIN_MASK, _finish, _generalization_baselines,
                                make_eval_set, score)

LEARNING_RATE = 1e-3
SETTINGS = {"real": "varnet_quickstart", "complex": "varnet_complex_quickstart"}
NORM_SHAPE = (4, 96, 96)  # batch, height, width of the normalization timing
NORM_CHANNELS = (8, 34)   # complex channels (the real norm gets twice as many)


def _worker(setting, root, eval_path, seconds, seed, out, steps_file=None):
    """Train ``setting`` for ``seconds`` after its first step and reconstruct the evaluation sets.

    With ``steps_file``, the worker keeps its weights after every step, writes its step count to
    ``steps_file.SETTING`` when its budget ends and waits for the other setting's; if it made more
    steps, it reconstructs again with the weights after as many steps as the other made (equal
    parameters and steps, to ``out`` + ``.steps.npz``).
    """
    import keras

    from benchmarks._timing import set_tf_threads, train_step
    from mrinets import configs, data, networks
    from mrinets.config import load

    set_tf_threads()
    keras.utils.set_random_seed(seed)
    model = networks.build(load(configs.find(SETTINGS[setting]))["model"])
    step = train_step(model, keras.optimizers.Adam(LEARNING_RATE))
    ds = data.build_dataset(f"{root}/train", mask={"type": "random", **TRAIN_MASK}, batch_size=BATCH,
                            shuffle=True, seed=seed, repeat=True, drop_remainder=True)

    def predict(kspace, mask, low):
        import tensorflow as tf

        return model({"kspace": tf.constant(kspace), "mask": tf.constant(mask[:, None, None, :]),
                      "num_low_frequencies": tf.constant(low)}, training=False).numpy()

    iterator = iter(ds)
    begin = time.perf_counter()
    inputs, target = next(iterator)
    losses, durations = [float(step(inputs, target))], []  # the first step traces the graph: not in the budget
    first_step_seconds, start = time.perf_counter() - begin, time.perf_counter()
    keep = bool(steps_file)
    history = [model.get_weights()] if keep else []
    while time.perf_counter() - start < seconds:
        inputs, target = next(iterator)
        begin = time.perf_counter()
        losses.append(float(step(inputs, target)))
        durations.append(time.perf_counter() - begin)
        if keep:
            history.append(model.get_weights())
    train_seconds = time.perf_counter() - start
    if keep:
        mine = f"{steps_file}.{setting}"
        with open(mine + ".part", "w") as handle:
            handle.write(str(len(losses)))
        os.replace(mine + ".part", mine)
    summary = _finish(predict, eval_path, out, len(losses), train_seconds, losses, model.count_params())
    summary["median_step_seconds"] = statistics.median(durations[5:] or durations)
    summary["first_step_seconds"] = first_step_seconds
    summary["losses"] = losses
    if keep:
        other = f"{steps_file}.{next(s for s in SETTINGS if s != setting)}"
        while not os.path.exists(other):
            time.sleep(5)
        with open(other) as handle:
            equal_steps = int(handle.read())
        if equal_steps < len(history):
            model.set_weights(history[equal_steps - 1])
            summary["equal_steps"] = _finish(predict, eval_path, out + ".steps.npz", equal_steps, None,
                                             losses[:equal_steps], model.count_params())
    return summary


def norm_speed(repeats=10):
    """Forward + backward time of complex batch/instance norm vs the real norm of the same size."""
    import tensorflow as tf

    from benchmarks._timing import set_tf_threads
    from mrinets import layers

    set_tf_threads()
    results = {}
    for kind in ("BatchNormalization", "InstanceNormalization"):
        for channels in NORM_CHANNELS:
            stacked = tf.random.normal(NORM_SHAPE + (2 * channels,))
            norms = {"complex": getattr(layers, kind)(dtype="complex64", stacked=True),
                     "real": getattr(layers, kind)()}

            def step(norm):
                @tf.function
                def run():
                    with tf.GradientTape() as tape:
                        tape.watch(stacked)
                        loss = tf.reduce_sum(norm(stacked, training=True) ** 2)
                    return tape.gradient(loss, [stacked] + norm.trainable_variables)

                return lambda: [g.numpy() for g in run()]

            times = time_candidates({name: step(norm) for name, norm in norms.items()}, repeats=repeats)
            results[f"{kind}/{channels}"] = {"complex_seconds": times["complex"], "real_seconds": times["real"],
                                             "ratio": times["complex"] / times["real"],
                                             "shape": list(NORM_SHAPE) + [channels], "real_channels": 2 * channels}
    return results


def _cg_sense(eval_path):
    """CG-SENSE (``mrinets.ops.cg_sense`` defaults; both VarNets start from it) on every evaluation set."""
    import tensorflow as tf

    from mrinets import ops

    sets = np.load(eval_path)
    out = _generalization_baselines(eval_path)["cg_sense"]
    for name in EVAL:
        kspace, mask, low = sets[f"{name}/kspace"], sets[f"{name}/mask"], sets[f"{name}/low"]
        out[name] = np.concatenate([ops.cg_sense(tf.constant(kspace[i:i + BATCH]),
                                                 tf.constant(mask[i:i + BATCH, None, None, :]),
                                                 num_low_frequencies=tf.constant(low[i:i + BATCH])).numpy()
                                    for i in range(0, len(kspace), BATCH)])
    return out


def run(minutes, seeds, quick=False, norms=None):
    from mrinets import data
    from mrinets.data.augment import prepare_randomized

    norms = norms or norm_speed(3 if quick else 10)
    root, train_root = data.prepare_builtin(progress=False), prepare_randomized(progress=False)
    runs = {}
    with tempfile.TemporaryDirectory() as folder:
        eval_path = os.path.join(folder, "eval.npz")
        make_eval_set(root, eval_path)
        env = {**os.environ, "MRINETS_BENCH_THREADS": "1"}
        workers = {}
        for seed in seeds:
            for setting in SETTINGS:  # each worker waits for the other's step count
                out = os.path.join(folder, f"{setting}-{seed}.npz")
                command = [sys.executable, "-m", "benchmarks.complex_vs_real", "--worker", setting, "--root", train_root,
                           "--eval", eval_path, "--seconds", str(minutes * 60), "--seed", str(seed), "--out", out,
                           "--steps-file", os.path.join(folder, f"steps-{seed}")]
                workers[setting, seed] = (subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                           text=True, env=env), out)
        sets = np.load(eval_path)  # the baselines while the workers train
        zero_filled = {**{name: sets[f"{name}/zero_filled"] for name in EVAL},
                       **_generalization_baselines(eval_path)["zero_filled"]}
        baselines = {"zero_filled": {"metrics": score(eval_path, zero_filled)},
                     "cg_sense": {"metrics": score(eval_path, _cg_sense(eval_path))}}
        for (setting, seed), (process, out) in workers.items():
            stdout, stderr = process.communicate()
            if process.returncode != 0:
                for other, _ in workers.values():
                    other.kill()
                raise RuntimeError(f"{setting} worker (seed {seed}) failed:\n{stderr[-3000:]}")
            result = json.loads(stdout.strip().splitlines()[-1])
            predictions = np.load(out)
            result["metrics"] = score(eval_path, {name: predictions[name] for name in predictions.files})
            if "equal_steps" in result:
                predictions = np.load(out + ".steps.npz")
                result["equal_steps"]["metrics"] = score(eval_path, {n: predictions[n] for n in predictions.files})
            runs.setdefault(setting, {})[str(seed)] = result
    return {"minutes_per_model": minutes, "seeds": list(seeds), "quick": quick, "cpu": cpu(), "threads": 1,
            "schedule": "every (setting, seed) trains at the same time, 1 thread each; the budget starts after "
                        "the first step (graph tracing, in first_step_seconds); equal steps: the faster model's "
                        "weights after as many steps as the slower one made in the budget",
            "recipe": {"loss": "L1", "optimizer": f"Adam({LEARNING_RATE})", "batch_size": BATCH,
                       "train_mask": {"type": "random", **TRAIN_MASK}, "configs": SETTINGS,
                       "train_data": "mni152_random training split (the quickstart's)"},
            "eval": {**{name: {"center_fraction": f, "acceleration": a, "data": "built-in MNI152 validation split"}
                        for name, (f, a) in EVAL.items()},
                     **{name: {"acceleration": a, "data": "generalization set (real anatomy, never trained on)"}
                        for name, a in GENERALIZATION.items()}},
            "runs": runs, **baselines, "norms": norms}


def _figures(metrics):
    return f"PSNR {metrics['psnr']:.2f} dB, SSIM {metrics['ssim']:.4f}, NMSE {metrics['nmse']:.4f}"


def rows(results):
    """One row per evaluation set and comparison (equal time, equal steps), each seed in the figure."""
    table = []
    real, complex_ = results["runs"]["real"], results["runs"]["complex"]
    names = [name for name in (*EVAL, *GENERALIZATION) if name in results["zero_filled"]["metrics"]]
    at_equal_steps = lambda run: run.get("equal_steps", run)["metrics"]  # noqa: E731
    comparisons = {"equal time": (lambda seed: complex_[seed]["metrics"], lambda seed: real[seed]["metrics"]),
                   "equal steps": (lambda seed: at_equal_steps(complex_[seed]), lambda seed: at_equal_steps(real[seed]))}
    for name in names:
        data = results["eval"][name]["data"]
        for comparison, (complex_metrics, real_metrics) in comparisons.items():
            means = {key: {metric: float(np.mean([m[name][metric] for m in values]))
                           for metric in ("psnr", "ssim", "nmse")}
                     for key, values in (("complex", [complex_metrics(s) for s in complex_]),
                                         ("real", [real_metrics(s) for s in real]))}
            per_seed = "; ".join(f"seed {s}: {complex_metrics(s)[name]['psnr']:.2f} vs "
                                 f"{real_metrics(s)[name]['psnr']:.2f}" for s in real)
            c, r = means["complex"], means["real"]
            table.append(row(f"VarNet complex vs real regularizers at {comparison} and equal parameters, {name} "
                             f"({data}; {results['minutes_per_model']:g} min, {len(real)} seeds, mean)",
                             f"complex {_figures(c)}; real {_figures(r)} (PSNR per seed complex vs real: {per_seed})",
                             "complex >= real", c["psnr"] >= r["psnr"] and c["ssim"] >= r["ssim"]))
        baselines = {key: results[key]["metrics"][name] for key in ("cg_sense", "zero_filled")}
        table.append(row(f"baselines, {name} ({data})",
                         f"CG-SENSE {_figures(baselines['cg_sense'])}; zero-filled {_figures(baselines['zero_filled'])}"))
    steps = {k: statistics.median(v["median_step_seconds"] for v in results["runs"][k].values()) for k in SETTINGS}
    counts = {k: ", ".join(str(v["steps"]) for v in results["runs"][k].values()) for k in SETTINGS}
    table.append(row("VarNet train step, complex vs real regularizers (batch 4, 1 thread, all trainings at once)",
                     f"{steps['complex'] * 1e3:.0f} vs {steps['real'] * 1e3:.0f} ms "
                     f"({steps['complex'] / steps['real']:.2f}x); steps in the budget: complex {counts['complex']}, "
                     f"real {counts['real']}"))
    for key, value in results["norms"].items():
        table.append(row(f"{key.replace('/', ' ')} complex channels vs the real norm on twice as many, fwd+bwd",
                         f"time {value['ratio']:.2f}x", "<= 1.5x", value["ratio"] <= 1.5))
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="0.5 minutes, one seed, results/quick/")
    parser.add_argument("--minutes", type=float, default=8.0, help="training wall-clock time per model and seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds (default %(default)s)")
    parser.add_argument("--norms-only", action="store_true", help="only the normalization timing")
    parser.add_argument("--norms-from", metavar="JSON", help="take the normalization timing from an earlier "
                        "--norms-only output instead of measuring it")
    parser.add_argument("--table", metavar="JSON", help="rebuild the table of a results file (rewrites it)")
    parser.add_argument("--worker", choices=sorted(SETTINGS), help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--eval", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--steps-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(args.worker, args.root, args.eval, args.seconds, args.seed, args.out,
                                 args.steps_file)))
        return
    if args.table:
        with open(args.table) as handle:
            results = json.load(handle)
        results["rows"] = table = rows(results)  # the machine and the figures as they were measured
        with open(args.table + ".tmp", "w") as handle:
            json.dump(results, handle, indent=2)
        os.replace(args.table + ".tmp", args.table)
        print_rows(table)
        return
    if args.norms_only:
        print(json.dumps({"cpu": cpu(), "norms": norm_speed()}, indent=2))
        return
    minutes, seeds = (0.5, args.seeds[:1]) if args.quick else (args.minutes, args.seeds)
    norms = None
    if args.norms_from:
        with open(args.norms_from) as handle:
            norms = json.load(handle)["norms"]
    results = run(minutes, seeds, args.quick, norms)
    write_results("complex_vs_real", results, quick=args.quick)  # the figures first, whatever the table does
    table = rows(results)
    path = write_results("complex_vs_real", results, table, quick=args.quick)
    print_rows(table)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
