"""Classical toolkit: ESPIRiT vs sigpy, each baseline's quality at 4x/8x, CS speed vs sigpy.

On the built-in MNI152 data (8 coils, 128x128; ``mrinets.data.prepare_builtin``):

* ``espirit``: our ESPIRiT maps vs sigpy's ``EspiritCalib`` on the same fully sampled
  k-space (calib width 24, kernel 6, thresh 0.02, crop 0.95): per-pixel coherence
  ``|<s, s'>| / (|s| |s'|)`` inside the object (target > 10% of its max) and time per slice;
* ``baselines``: PSNR/SSIM/NMSE (fastMRI's per-volume metrics) of every registered baseline on
  the validation split with fastMRI's equispaced-fraction masks (4x: 8% centre, 8x: 4%), and
  seconds per slice; ``generalization``: the same on the generalization set (real brain,
  shoulder and abdomen images, 320x320, challenge layout with its own 4x/8x masks;
  ``mrinets data prepare generalization``); with ``--model RUN_DIR`` the run's model beside them
  (a model of the default pipeline inputs);
* ``cs_speed``: L1-wavelet reconstruction time per slice vs sigpy's ``L1WaveletRecon`` at the
  same lambda (absolute), iterations, db4 wavelet and coil maps, plain FISTA on both sides,
  with the PSNR each reaches.

``--choose-lambda`` instead scores a grid of ``lam`` (l1_wavelet, tv) and ``regularization``
(grappa) on slices of the *training* split (never the generalization set) at 4x and 8x, and
for grappa also with fastMRI's regular equispaced masks at 3x and 4x, and reports the best mean
PSNR: how the documented defaults were chosen.

    python -m benchmarks.classical [--quick] [--choose-lambda] [--model RUN_DIR]
"""

import argparse
import time

import numpy as np
import tensorflow as tf

from benchmarks._timing import row, set_tf_threads, time_candidates, write_results
from mrinets import data, metrics, ops, registry
from mrinets.train import evaluation

MASKS = {"4x": {"type": "equispaced_fraction", "center_fractions": 0.08, "accelerations": 4},
         "8x": {"type": "equispaced_fraction", "center_fractions": 0.04, "accelerations": 8}}
#: fastMRI's regular equispaced masks, where GRAPPA's kernel fits in 10 ACS lines.
REGULAR_MASKS = {"3x_regular": {"type": "equispaced", "center_fractions": 0.08, "accelerations": 3},
                 "4x_regular": {"type": "equispaced", "center_fractions": 0.08, "accelerations": 4}}
GRID = {"l1_wavelet": ("lam", (0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016), MASKS),
        "tv": ("lam", (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128), MASKS),
        "grappa": ("regularization", (0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0), {**MASKS, **REGULAR_MASKS})}


def coherence(a, b):
    return np.abs((a * b.conj()).sum(0)) / (np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0) + 1e-30)


def slices_of(path, mask, count):
    ds = data.build_dataset(path, mask=mask, batch_size=1, return_metadata=True)
    return [element for element, _ in zip(ds, range(count))]


def espirit_vs_sigpy(root, count, repeats):
    import sigpy.mri

    elements = slices_of(f"{root}/val", None, count)
    kspace = [e[0]["kspace"].numpy() for e in elements]
    targets = [e[1].numpy()[0] for e in elements]
    ours_fn = tf.function(lambda k: ops.estimate_coil_maps(k, num_low_frequencies=24, method="espirit"))
    worst, means = [], []
    for k, target in zip(kspace, targets):
        ours = ours_fn(tf.constant(k)).numpy()[0]
        theirs = sigpy.mri.app.EspiritCalib(k[0], calib_width=24, show_pbar=False).run()
        inside = (target > 0.1 * target.max()) & (np.linalg.norm(theirs, axis=0) > 0)
        c = coherence(ours, theirs)[inside]
        worst.append(float(c.min()))
        means.append(float(c.mean()))
    first = tf.constant(kspace[0])
    seconds = time_candidates({
        "mrinets": lambda: ours_fn(first).numpy(),
        "sigpy": lambda: sigpy.mri.app.EspiritCalib(kspace[0][0], calib_width=24, show_pbar=False).run(),
    }, repeats=repeats, warmup=1)
    return {"slices": count, "coherence_mean": float(np.mean(means)), "coherence_min": float(np.min(worst)),
            "seconds_per_slice": seconds, "speedup_vs_sigpy": seconds["sigpy"] / seconds["mrinets"]}


def score(path, mask, specs, max_slices, skip=0, dataset=None, predict=None):
    """Per-volume metrics means and seconds per slice of each baseline spec (and of ``predict``, as
    "model") on ``path`` (after ``skip`` slices), or on ``dataset``."""
    if dataset is None:
        dataset = data.build_dataset(path, mask=mask, batch_size=1, shuffle=False, return_metadata=True)
    ds = dataset.skip(skip)
    results = {}
    if predict is not None:
        specs = [None, *specs]
    for spec in specs:
        start = time.perf_counter()
        if spec is None:
            volumes = evaluation.collect(ds, predict=predict, baselines=False, max_slices=max_slices)
        else:
            volumes = evaluation.collect(ds, baselines=[spec], max_slices=max_slices)
        seconds = time.perf_counter() - start
        name = "model" if spec is None else spec if isinstance(spec, str) else spec["type"]
        _, means = evaluation.volume_metrics(volumes)
        slices = sum(v["target"].shape[0] for v in volumes.values())
        results[name] = {"psnr": means[f"{name}_psnr"], "ssim": means[f"{name}_ssim"],
                         "nmse": means[f"{name}_nmse"], "seconds_per_slice": seconds / slices, "slices": slices}
    return results


def cs_vs_sigpy(root, count, iterations, repeats):
    import sigpy.mri

    element = slices_of(f"{root}/val", MASKS["4x"], count)[0]
    inputs, target = element[0], element[1].numpy()[0]
    kspace, mask, num_low = inputs["kspace"], inputs["mask"], inputs["num_low_frequencies"]
    maps = ops.estimate_coil_maps(kspace, num_low_frequencies=num_low)
    lam = 0.002
    peak = float(tf.reduce_max(tf.abs(ops.sense_adjoint(kspace, maps, mask))))
    ours_fn = tf.function(lambda k, m, s: ops.l1_wavelet_recon(k, m, maps=s, lam=lam, iterations=iterations,
                                                               monotone=False, return_complex=True))
    y, mps, weights = kspace.numpy()[0], maps.numpy()[0], np.broadcast_to(mask.numpy()[0], kspace.shape[1:])

    def sigpy_recon():
        return sigpy.mri.app.L1WaveletRecon(y, mps, lam * peak, weights=weights, wave_name="db4", max_iter=iterations,
                                            show_pbar=False).run()

    def magnitude(image):
        return np.abs(image) * np.sqrt((np.abs(mps) ** 2).sum(0))

    psnr = {"mrinets": metrics.psnr(target[None], magnitude(ours_fn(kspace, mask, maps).numpy()[0])[None]),
            "sigpy": metrics.psnr(target[None], magnitude(sigpy_recon())[None])}
    seconds = time_candidates({"mrinets": lambda: ours_fn(kspace, mask, maps).numpy(), "sigpy": sigpy_recon},
                              repeats=repeats, warmup=1)
    return {"lam_relative": lam, "lam_absolute": lam * peak, "iterations": iterations, "psnr": psnr,
            "seconds_per_slice": seconds, "speedup_vs_sigpy": seconds["sigpy"] / seconds["mrinets"]}


def choose_lambda(root, max_slices, methods=tuple(GRID)):
    """PSNR of each grid value on the central slices of the first training file, per mask; the best
    mean over the fraction masks (4x, 8x) and, for grappa, over the regular ones too."""
    train = sorted(data.list_files(f"{root}/train"))[0]
    skip = max(data.read_metadata(train)["num_slices"] // 2 - max_slices // 2, 0)
    zero_filled = {acc: score(train, mask, ["zero_filled"], max_slices, skip)["zero_filled"]["psnr"]
                   for acc, mask in {**MASKS, **REGULAR_MASKS}.items()}
    table = {"zero_filled": zero_filled}
    for name in methods:
        key, values, masks = GRID[name]
        table[name] = {}
        for value in values:
            psnrs = {acc: score(train, mask, [{"type": name, key: value}], max_slices, skip)[name]["psnr"]
                     for acc, mask in masks.items()}
            psnrs["mean"] = float(np.mean([psnrs[acc] for acc in MASKS]))
            if name == "grappa":
                psnrs["mean_regular"] = float(np.mean([psnrs[acc] for acc in REGULAR_MASKS]))
            table[name][str(value)] = psnrs
            print(f"{name} {key}={value}: " + ", ".join(f"{acc} {v:.2f} dB" for acc, v in psnrs.items()), flush=True)
        for mean in ("mean", "mean_regular") if name == "grappa" else ("mean",):
            table[name]["best" + mean[4:]] = max(values, key=lambda v: table[name][str(v)][mean])
    return {"file": train, "slices": f"{skip}..{skip + max_slices - 1}", "grid": table}


def generalization_quality(specs, predict=None):
    """Each baseline (and the model) on the generalization set's challenge files at 4x and 8x."""
    from mrinets.data.generalization import prepare_generalization, scored_dataset

    root = prepare_generalization()
    return {f"{acceleration}x": score(None, None, specs, None, dataset=scored_dataset(root, acceleration),
                                      predict=predict) for acceleration in (4, 8)}, root


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few slices and repeats (results/quick/)")
    parser.add_argument("--choose-lambda", action="store_true", help="grid-search the defaults on the training split")
    parser.add_argument("--methods", nargs="+", choices=tuple(GRID), default=tuple(GRID),
                        help="the grids --choose-lambda scores (default: all)")
    parser.add_argument("--slices", type=int, help="slices per score (default: 12, --quick 4; half for --choose-lambda)")
    parser.add_argument("--model", metavar="RUN_DIR", help="a training run whose best model is scored beside them")
    args = parser.parse_args(argv)
    set_tf_threads()
    root = data.prepare_builtin()
    slices = args.slices or (4 if args.quick else 12)
    if args.choose_lambda:
        results = choose_lambda(root, args.slices or slices // 2, args.methods)
        path = write_results("classical_lambda", results, quick=args.quick)
        print(f"wrote {path}")
        return 0
    repeats = 2 if args.quick else 5
    predict = None
    if args.model:
        from mrinets.train.commands import load_run

        predict = evaluation.predict_function(load_run(args.model)[1])
    espirit = espirit_vs_sigpy(root, 2 if args.quick else 6, repeats)
    print(f"ESPIRiT vs sigpy: coherence mean {espirit['coherence_mean']:.6f} min {espirit['coherence_min']:.6f}; "
          f"{espirit['speedup_vs_sigpy']:.2f}x sigpy's speed", flush=True)
    baselines = registry.names("baseline")
    quality = {acc: score(f"{root}/val", mask, baselines, slices, predict=predict) for acc, mask in MASKS.items()}
    general, general_root = generalization_quality(baselines, predict)
    for where, results in (("MNI152 val", quality), ("generalization", general)):
        for acc, table in results.items():
            for name, m in table.items():
                print(f"{where} {acc} {name}: PSNR {m['psnr']:.2f} dB SSIM {m['ssim']:.4f} "
                      f"({m['seconds_per_slice']:.2f} s/slice)", flush=True)
    speed = cs_vs_sigpy(root, 1, 30, repeats)
    print(f"L1-wavelet vs sigpy L1WaveletRecon: {speed['speedup_vs_sigpy']:.2f}x, PSNR {speed['psnr']}", flush=True)
    rows = [row("ESPIRiT maps vs sigpy EspiritCalib (coherence inside the object, min)",
                f"{espirit['coherence_min']:.5f}", ">= 0.999", espirit["coherence_min"] >= 0.999),
            row("ESPIRiT speed vs sigpy (per slice)", f"{espirit['speedup_vs_sigpy']:.2f}x", ">= 1x",
                espirit["speedup_vs_sigpy"] >= 1),
            row("L1-wavelet (30 FISTA iterations) speed vs sigpy L1WaveletRecon", f"{speed['speedup_vs_sigpy']:.2f}x",
                ">= 1x", speed["speedup_vs_sigpy"] >= 1)]
    for where, results in (("the MNI152 validation split", quality), ("the generalization set", general)):
        for acc, table in results.items():
            rows += [row(f"{name} {acc} on {where}", f"{m['psnr']:.2f} dB / {m['ssim']:.4f}")
                     for name, m in table.items()]
    path = write_results("classical", {"espirit": espirit, "quality": quality, "generalization": general,
                                       "cs_speed": speed, "data": f"{root}/val", "generalization_data": general_root,
                                       "model": args.model}, rows, quick=args.quick)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
