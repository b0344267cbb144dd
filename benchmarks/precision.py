"""VarNet training step in half precision vs float32, and what ``train.precision: auto`` picks here.

For each ``--config`` one process builds the network under each policy (``float32`` and
``--policy``: ``mixed_bfloat16``, optionally ``mixed_float16``) with the same float32 weights and
times their train steps (forward, L1 loss, backward, Adam; each traced and run under its own
global policy) interleaved (``_timing.time_candidates``), on the
inputs of ``benchmarks.profile_step`` (``varnet``: 1 x 8 coils x 320x320 random k-space;
``varnet_quickstart``: a batch of its built-in training data). ``agreement`` is the relative
L2 difference of each policy's forward output from float32's at the same weights (the weights
that start at zero, the regularizer scales, set to 0.1 so that the U-Nets contribute). The goal applies
where bfloat16 is native (``train.precision: auto`` picks it only there): that it is faster. Output: ``benchmarks/results/precision.json``.

    python -m benchmarks.precision [--quick] [--config varnet varnet_quickstart] [--policy ...]
"""

import argparse

import numpy as np

from benchmarks._timing import print_rows, row, set_tf_threads, time_candidates, train_step, write_results

POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")


def compare(config_name, policies, repeats):
    """``{policy: {"step_ms", "speedup" (float32's step time over this one's), "agreement"}}``."""
    import keras

    from benchmarks.profile_step import step_inputs
    from mrinets.testing import global_policy
    from mrinets.train.schema import build_model, load_config

    cfg = load_config(config_name)
    inputs, target, _ = step_inputs(config_name, cfg)
    models, steps, outputs = {}, {}, {}
    for policy in policies:
        with global_policy(policy):
            models[policy] = build_model(cfg)
            models[policy](inputs, training=False)
            if policy == policies[0]:  # weights that start at zero (regularizer scales) at 0.1: the U-Nets count
                models[policy].set_weights([w if np.any(w) else np.full_like(w, 0.1)
                                            for w in models[policy].get_weights()])
            else:
                models[policy].set_weights(models[policies[0]].get_weights())
            outputs[policy] = np.asarray(models[policy](inputs, training=False), np.float32)
        optimizer = keras.optimizers.Adam(1e-4)
        if policy == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        steps[policy] = train_step(models[policy], optimizer)
    reference = outputs["float32"]
    results = {p: {"agreement": float(np.linalg.norm(outputs[p] - reference) / np.linalg.norm(reference))}
               for p in policies}

    def timed(policy):
        def run():
            with global_policy(policy):
                return float(steps[policy](inputs, target))

        return run

    seconds = time_candidates({p: timed(p) for p in policies}, repeats=repeats, warmup=2)
    for policy in policies:
        results[policy].update(step_ms=1e3 * seconds[policy], speedup=seconds["float32"] / seconds[policy])
    return results


def table_rows(configs, policies, native):
    """One row per config and half-precision policy: its speed-up over float32, with a goal (faster) where
    bfloat16 is native."""
    rows = []
    for name, results in configs.items():
        for policy in policies:
            r = results[policy]
            goal = "> 1.0x (auto picks it here)" if policy == "mixed_bfloat16" and native else ""
            rows.append(row(f"{name} train step, {policy} vs float32", f"{r['speedup']:.2f}x "
                            f"({r['step_ms']:.0f} vs {results['float32']['step_ms']:.0f} ms; output within "
                            f"{r['agreement']:.1e})", goal, r["speedup"] > 1.0 if goal else None))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--config", nargs="+", default=["varnet", "varnet_quickstart"])
    parser.add_argument("--policy", nargs="+", choices=POLICIES[1:], default=["mixed_bfloat16"],
                        help="half-precision policies to time against float32 (mixed_float16 is slow on CPUs)")
    args = parser.parse_args(argv)
    threads = set_tf_threads()

    from benchmarks.vs_fastmri import tf_onednn_enabled
    from mrinets.train.strategy import native_bfloat16, resolve_precision

    policies = ["float32", *args.policy]
    configs = {name: compare(name, policies, 3 if args.quick else 7) for name in args.config}
    native = native_bfloat16()
    rows = table_rows(configs, args.policy, native)
    print_rows(rows)
    path = write_results("precision", {"threads": threads, "onednn": tf_onednn_enabled(), "native_bfloat16": native,
                                       "auto": resolve_precision("auto"), "configs": configs}, rows, args.quick)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
