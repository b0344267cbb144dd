"""Reconstruction quality at equal budget: mrinets VarNet vs fastMRI's PyTorch VarNet.

Both models have the same architecture and parameter count: the quickstart VarNet's sizes
(``configs/varnet_quickstart.yaml``: 6 cascades, regularizer U-Net 12 channels / 2 pools) with
fastMRI's sensitivity network (8 channels, 2 pools), since fastMRI's VarNet always has one.
mrinets' model is the quickstart's (CG-SENSE start, regularizer terms scaled from zero: 6 more
scalar weights), its sensitivity network residual and initialized near zero so that the maps
start at the ACS maps (as ``configs/varnet.yaml``).
Both train for the same wall-clock time (``--minutes``, counted from the first step, so
TensorFlow's graph tracing is included) on the built-in MNI152 training split with the same
recipe: L1 loss, Adam 1e-3, batch 4, random line masks (centre fractions 0.08/0.04 at 4x/8x),
k-space and target divided by the max of the zero-filled RSS image.

* mrinets reads the h5 files through ``mrinets.data.build_dataset`` with ``RandomMask``;
* the PyTorch script reads the same files with h5py (held in memory) and draws masks with
  fastMRI's own ``RandomMaskFunc``; its VarNet finds the centre lines from the mask (its
  ``num_low_frequencies`` argument is one int for the whole batch), as in fastMRI's training.

The two trainings run at the same time, one thread each, so load from other processes hits
both alike. Both then reconstruct the same validation slices with the same masks (fixed per
slice, 4x and 8x) and the parent scores them with ``mrinets.metrics`` per volume (fastMRI's
definitions). Goal: mrinets >= fastMRI on PSNR/SSIM, <= on NMSE.

Both models also reconstruct the generalization set (``mrinets.data.generalization``: real
brain, shoulder and abdomen images never trained on, 320x320, other coil arrays, fastMRI's
challenge layout at 4x and 8x; needs ``mrinets[generalization]``), one file at a time; those
figures sit next to zero-filled and CG-SENSE, per file. Nothing is tuned on them.

    python -m benchmarks.quality [--quick] [--minutes 8]
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

from benchmarks._timing import row, write_results

BATCH = 4
LEARNING_RATE = 1e-3
TRAIN_MASK = {"center_fractions": [0.08, 0.04], "accelerations": [4, 8]}
EVAL = {"4x": (0.08, 4), "8x": (0.04, 8)}
SIZES = {"cascades": 6, "chans": 12, "pools": 2, "sens_chans": 8, "sens_pools": 2}
SENSITIVITY_INITIALIZER = {"class_name": "VarianceScaling",
                           "config": {"scale": 1e-3, "mode": "fan_in", "distribution": "uniform"}}
GENERALIZATION = {"gen4x": 4, "gen8x": 8}  # name -> acceleration of the challenge-layout files


def _generalization_sets(arrays):
    """Add the generalization set's challenge files (one slice each, coil counts differ) to ``arrays``;
    return the names added (none when the ``generalization`` extra is missing)."""
    from mrinets.data import read_volume
    from mrinets.data.generalization import challenge_folder, prepare_generalization
    from mrinets.ops.fft import ifftn_np

    try:
        root = prepare_generalization(progress=False)
    except ImportError as error:
        print(f"generalization set skipped: {error}", file=sys.stderr)
        return []
    for name, acceleration in GENERALIZATION.items():
        files = sorted(glob.glob(os.path.join(challenge_folder(root, acceleration), "*.h5")))
        for i, file in enumerate(files):
            test = read_volume(file)
            target = read_volume(os.path.join(root, "multicoil_val", os.path.basename(file)))["target"][0]
            kspace = test["kspace"][0]
            scale = _normalize(kspace)
            arrays.update({f"{name}/{i}/kspace": (kspace / scale).astype("complex64"),
                           f"{name}/{i}/mask": test["mask"].astype("float32"),
                           f"{name}/{i}/low": np.int32(test["attrs"]["num_low_frequency"]),
                           f"{name}/{i}/scale": scale, f"{name}/{i}/target": target,
                           f"{name}/{i}/zero_filled": np.sqrt((np.abs(ifftn_np(kspace / scale)) ** 2).sum(0)),
                           f"{name}/{i}/file": os.path.basename(file)})
        arrays[f"{name}/count"] = len(files)
    return list(GENERALIZATION)


def _normalize(kspace):
    """The pipeline's scale: max of the zero-filled RSS image."""
    from mrinets.ops.fft import ifftn_np

    return np.float32(max(float(np.sqrt((np.abs(ifftn_np(kspace)) ** 2).sum(0)).max()), 1e-12))


def make_eval_set(root, path):
    """Masked, normalized validation slices at each acceleration, saved to ``path`` (npz)."""
    from mrinets.data import RandomMask
    from mrinets.ops.fft import ifftn_np

    arrays = {}
    for name, (fraction, acceleration) in EVAL.items():
        kspaces, masks, lows, scales, targets, volumes = [], [], [], [], [], []
        for v, file in enumerate(sorted(glob.glob(f"{root}/val/*.h5"))):
            with h5py.File(file) as f:
                kspace_volume, target_volume = f["kspace"][()], f["reconstruction_rss"][()]
            for s, (kspace, target) in enumerate(zip(kspace_volume, target_volume)):
                mask, low = RandomMask(fraction, acceleration)(kspace.shape, seed=1000 * v + s)
                masked = kspace * mask
                scale = _normalize(masked)
                kspaces.append(masked / scale)
                masks.append(mask.reshape(-1))
                lows.append(low)
                scales.append(scale)
                targets.append(target)
                volumes.append(v)
        zero_filled = np.sqrt((np.abs(ifftn_np(np.stack(kspaces))) ** 2).sum(1))
        arrays.update({f"{name}/kspace": np.stack(kspaces).astype("complex64"),
                       f"{name}/mask": np.stack(masks).astype("float32"), f"{name}/low": np.array(lows, "int32"),
                       f"{name}/scale": np.array(scales, "float32"), f"{name}/target": np.stack(targets),
                       f"{name}/volume": np.array(volumes), f"{name}/zero_filled": zero_filled.astype("float32")})
    _generalization_sets(arrays)
    np.savez(path, **arrays)


def _mrinets_worker(root, eval_path, seconds, out):
    import keras
    import tensorflow as tf
    import yaml

    from benchmarks._timing import set_tf_threads, train_step
    from mrinets import configs, data, networks
    from mrinets.networks.recon import fastmri_unet

    set_tf_threads()
    keras.utils.set_random_seed(0)
    with open(configs.find("varnet_quickstart")) as handle:
        config = yaml.safe_load(handle)
    # fastMRI's sensitivity network; with the quickstart's CG-SENSE start it has to start at the ACS
    # maps (as in configs/varnet.yaml): residual, the output conv's scale small. Same weights.
    config["model"]["sensitivity"] = {**fastmri_unet(SIZES["sens_chans"], depth=SIZES["sens_pools"]),
                                      "residual": True, "kernel_initializer": SENSITIVITY_INITIALIZER}
    model = networks.build(config)
    step = train_step(model, keras.optimizers.Adam(LEARNING_RATE))
    ds = data.build_dataset(f"{root}/train", mask={"type": "random", **TRAIN_MASK}, batch_size=BATCH,
                            shuffle=True, seed=0, repeat=True, drop_remainder=True)

    def predict(kspace, mask, low):
        return model({"kspace": tf.constant(kspace), "mask": tf.constant(mask[:, None, None, :]),
                      "num_low_frequencies": tf.constant(low)}, training=False).numpy()

    iterator = iter(ds)
    steps, losses, start = 0, [], time.perf_counter()
    while time.perf_counter() - start < seconds:
        inputs, target = next(iterator)
        losses.append(float(step(inputs, target)))
        steps += 1
    return _finish(predict, eval_path, out, steps, time.perf_counter() - start, losses, model.count_params())


def _fastmri_worker(root, eval_path, seconds, out):
    import fastmri.models
    import torch
    from fastmri.data.subsample import RandomMaskFunc

    from benchmarks._timing import set_torch_threads

    set_torch_threads()
    torch.manual_seed(0)
    kspaces, targets = [], []
    for file in sorted(glob.glob(f"{root}/train/*.h5")):
        with h5py.File(file) as f:
            kspaces.extend(f["kspace"][()])
            targets.extend(f["reconstruction_rss"][()])
    model = fastmri.models.VarNet(num_cascades=SIZES["cascades"], chans=SIZES["chans"], pools=SIZES["pools"],
                                  sens_chans=SIZES["sens_chans"], sens_pools=SIZES["sens_pools"])
    optimizer = torch.optim.Adam(model.parameters(), LEARNING_RATE)
    mask_func = RandomMaskFunc(**TRAIN_MASK, seed=0)
    rng = np.random.default_rng(0)

    def example(i):
        kspace = torch.view_as_real(torch.from_numpy(kspaces[i]))
        mask, _ = mask_func(kspace.shape)  # (1, 1, W, 1), fastMRI's own mask function
        masked = kspace * mask + 0.0
        scale = _normalize(torch.view_as_complex(masked.contiguous()).numpy())
        return masked / scale, mask, torch.from_numpy(targets[i] / scale)

    def predict(kspace, mask, low):
        with torch.no_grad():
            kspace = torch.view_as_real(torch.from_numpy(kspace)).contiguous()
            mask = torch.from_numpy(mask[:, None, None, :, None] > 0)
            return model(kspace, mask).numpy()  # centre lines from the mask, per example

    order, position = rng.permutation(len(kspaces)), 0
    steps, losses, start = 0, [], time.perf_counter()
    model.train()
    while time.perf_counter() - start < seconds:
        if position + BATCH > len(order):
            order, position = rng.permutation(len(kspaces)), 0
        batch = [example(i) for i in order[position:position + BATCH]]
        position += BATCH
        kspace, mask, target = (torch.stack([b[0] for b in batch]), torch.stack([b[1] for b in batch]).bool(),
                                torch.stack([b[2] for b in batch]))
        optimizer.zero_grad()
        loss = torch.nn.functional.l1_loss(model(kspace, mask), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        steps += 1
    model.eval()
    return _finish(predict, eval_path, out, steps, time.perf_counter() - start, losses,
                   sum(p.numel() for p in model.parameters()))


def _finish(predict, eval_path, out, steps, seconds, losses, parameters):
    """Reconstruct every evaluation set (4 slices at a time), save them to ``out``; summary."""
    sets = np.load(eval_path)
    predictions = {}
    for name in EVAL:
        kspace, mask, low = sets[f"{name}/kspace"], sets[f"{name}/mask"], sets[f"{name}/low"]
        predictions[name] = np.concatenate([predict(kspace[i:i + BATCH], mask[i:i + BATCH], low[i:i + BATCH])
                                            for i in range(0, len(kspace), BATCH)])
    for name in GENERALIZATION:
        for i in range(int(sets[f"{name}/count"]) if f"{name}/count" in sets else 0):
            item = lambda key: sets[f"{name}/{i}/{key}"][None]  # noqa: E731
            predictions[f"{name}/{i}"] = predict(item("kspace"), item("mask"), item("low"))[0]
    np.savez(out, **predictions)
    tail = losses[-20:]
    return {"steps": steps, "train_seconds": seconds, "examples": steps * BATCH, "parameters": int(parameters),
            "final_loss_mean_last_20": float(np.mean(tail)) if tail else None}


def score(eval_path, predictions):
    """NMSE/PSNR/SSIM per validation volume (un-normalized), averaged over volumes."""
    from mrinets import metrics

    sets = np.load(eval_path)
    scores = {}
    for name in (n for n in EVAL if n in predictions):
        target, scale, volume = sets[f"{name}/target"], sets[f"{name}/scale"], sets[f"{name}/volume"]
        pred = predictions[name] * scale[:, None, None]
        per_volume = [(metrics.nmse(target[volume == v], pred[volume == v]),
                       metrics.psnr(target[volume == v], pred[volume == v]),
                       metrics.ssim(target[volume == v], pred[volume == v])) for v in np.unique(volume)]
        nmse, psnr, ssim = np.mean(per_volume, axis=0)
        scores[name] = {"nmse": float(nmse), "psnr": float(psnr), "ssim": float(ssim), "slices": int(len(target))}
    for name in GENERALIZATION:
        count = int(sets[f"{name}/count"]) if f"{name}/count" in sets else 0
        if not count or f"{name}/0" not in predictions:
            continue
        files = {}
        for i in range(count):
            target = sets[f"{name}/{i}/target"][None]
            pred = predictions[f"{name}/{i}"][None] * sets[f"{name}/{i}/scale"]
            files[str(sets[f"{name}/{i}/file"])] = {"nmse": float(metrics.nmse(target, pred)),
                                                   "psnr": float(metrics.psnr(target, pred)),
                                                   "ssim": float(metrics.ssim(target, pred))}
        scores[name] = {key: float(np.mean([f[key] for f in files.values()])) for key in ("nmse", "psnr", "ssim")}
        scores[name]["files"] = files
    return scores


def _generalization_baselines(eval_path):
    """Zero-filled and CG-SENSE (``mrinets.ops.cg_sense`` defaults) on the generalization set."""
    import tensorflow as tf

    from mrinets import ops

    sets = np.load(eval_path)
    out = {"zero_filled": {}, "cg_sense": {}}
    for name in GENERALIZATION:
        for i in range(int(sets[f"{name}/count"]) if f"{name}/count" in sets else 0):
            out["zero_filled"][f"{name}/{i}"] = sets[f"{name}/{i}/zero_filled"]
            kspace = tf.constant(sets[f"{name}/{i}/kspace"][None])
            mask = tf.constant(sets[f"{name}/{i}/mask"].reshape(1, 1, 1, -1))
            low = tf.constant([int(sets[f"{name}/{i}/low"])])
            out["cg_sense"][f"{name}/{i}"] = ops.cg_sense(kspace, mask, num_low_frequencies=low).numpy()[0]
    return out


def run(minutes, quick=False):
    from mrinets import data

    root = data.prepare_builtin(progress=False)
    with tempfile.TemporaryDirectory() as folder:
        eval_path = os.path.join(folder, "eval.npz")
        make_eval_set(root, eval_path)
        env = {**os.environ, "MRINETS_BENCH_THREADS": "1"}
        workers = {}
        for framework in ("mrinets", "fastmri"):
            command = [sys.executable, "-m", "benchmarks.quality", "--worker", framework, "--root", root,
                       "--eval", eval_path, "--seconds", str(minutes * 60), "--out",
                       os.path.join(folder, f"{framework}.npz")]
            workers[framework] = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                  text=True, env=env)
        results = {}
        for framework, process in workers.items():
            stdout, stderr = process.communicate()
            if process.returncode != 0:
                raise RuntimeError(f"{framework} worker failed:\n{stderr[-3000:]}")
            results[framework] = json.loads(stdout.strip().splitlines()[-1])
            predictions = np.load(os.path.join(folder, f"{framework}.npz"))
            results[framework]["metrics"] = score(eval_path, {name: predictions[name] for name in predictions.files})
        sets = np.load(eval_path)
        baselines = _generalization_baselines(eval_path)
        results["zero_filled"] = {"metrics": score(eval_path, {**{name: sets[f"{name}/zero_filled"] for name in EVAL},
                                                               **baselines["zero_filled"]})}
        if baselines["cg_sense"]:  # scored on the generalization set only
            results["cg_sense"] = {"metrics": score(eval_path, baselines["cg_sense"])}
    return {"minutes_per_model": minutes, "quick": quick, "threads": 1,
            "schedule": "both trainings at the same time, 1 thread each",
            "recipe": {"loss": "L1", "optimizer": f"Adam({LEARNING_RATE})", "batch_size": BATCH,
                       "train_mask": {"type": "random", **TRAIN_MASK}, "model": SIZES},
            "eval": {name: {"center_fraction": f, "acceleration": a} for name, (f, a) in EVAL.items()},
            **results}


def rows(results):
    table = []
    ours, theirs = results["mrinets"], results["fastmri"]
    budget = (f"{results['minutes_per_model']:g} min each, {ours['steps']} vs {theirs['steps']} steps, "
              f"{ours['parameters']:,} vs {theirs['parameters']:,} parameters")
    for name in EVAL:
        a, b = ours["metrics"][name], theirs["metrics"][name]
        passed = a["psnr"] >= b["psnr"] and a["ssim"] >= b["ssim"] and a["nmse"] <= b["nmse"]
        table.append(row(f"VarNet quality at equal time ({budget}), {name}: mrinets vs fastMRI",
                         f"PSNR {a['psnr']:.2f} vs {b['psnr']:.2f} dB, SSIM {a['ssim']:.4f} vs {b['ssim']:.4f}, "
                         f"NMSE {a['nmse']:.4f} vs {b['nmse']:.4f}", "mrinets >= fastMRI", passed))
    for name in GENERALIZATION:
        if name not in ours["metrics"] or name not in theirs["metrics"]:
            continue
        a, b = ours["metrics"][name], theirs["metrics"][name]
        cg, zf = results["cg_sense"]["metrics"][name], results["zero_filled"]["metrics"][name]
        table.append(row(f"generalization set (real anatomy never trained on), {name}: mrinets vs fastMRI "
                         "(CG-SENSE, zero-filled)",
                         f"PSNR {a['psnr']:.2f} vs {b['psnr']:.2f} ({cg['psnr']:.2f}, {zf['psnr']:.2f}) dB, SSIM "
                         f"{a['ssim']:.4f} vs {b['ssim']:.4f} ({cg['ssim']:.4f}, {zf['ssim']:.4f})",
                         "mrinets >= CG-SENSE", a["psnr"] >= cg["psnr"] and a["ssim"] >= cg["ssim"]))
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a 0.5-minute budget")
    parser.add_argument("--minutes", type=float, default=8.0, help="training wall-clock time per model")
    parser.add_argument("--worker", choices=("mrinets", "fastmri"), help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--eval", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker = _mrinets_worker if args.worker == "mrinets" else _fastmri_worker
        print(json.dumps(worker(args.root, args.eval, args.seconds, args.out)))
        return
    results = run(0.5 if args.quick else args.minutes, args.quick)
    table = rows(results)
    path = write_results("quality", results, table, quick=args.quick)
    for line in table:
        print(f"{line['comparison']}: {line['result']}")
    for name in EVAL:
        zf = results["zero_filled"]["metrics"][name]
        print(f"zero-filled {name}: PSNR {zf['psnr']:.2f} dB, SSIM {zf['ssim']:.4f}, NMSE {zf['nmse']:.4f}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
