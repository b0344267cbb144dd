"""``mrinets train``, ``mrinets evaluate``, ``mrinets predict`` and ``mrinets baseline``."""

import json
import os
import time

from mrinets.errors import UsageError


def _config_name(path):
    return os.path.splitext(os.path.basename(path))[0]


def _latest_run(name, root="runs"):
    if not os.path.isdir(root):
        return None
    runs = sorted(d for d in os.listdir(root) if d.startswith(f"{name}-") and os.path.isdir(os.path.join(root, d)))
    runs = [d for d in runs if os.path.exists(os.path.join(root, d, "checkpoints", "latest.npz"))]
    return os.path.join(root, runs[-1]) if runs else None


def resolve_run_dir(name, output, resume):
    """``(run_dir, resume)``: ``--output`` or ``runs/<name>-<timestamp>``; resume when ``latest`` exists there."""
    if output:
        run_dir = output
    elif resume:
        run_dir = _latest_run(name)
        if run_dir is None:
            raise UsageError(f"--resume: no run of {name!r} with a checkpoint under runs/; give --output RUN_DIR.")
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run_dir = os.path.join("runs", f"{name}-{stamp}")
        n = 1
        while os.path.exists(run_dir):
            n += 1
            run_dir = os.path.join("runs", f"{name}-{stamp}-{n}")
    latest = os.path.join(run_dir, "checkpoints", "latest.npz")
    if resume and not os.path.exists(latest):
        raise UsageError(f"--resume: {latest} does not exist; nothing to resume in {run_dir!r}.")
    return run_dir, os.path.exists(latest)


def _check_same_model(run_dir, cfg):
    from mrinets.config import load, to_plain

    path = os.path.join(run_dir, "config.yaml")
    if not os.path.exists(path):
        return
    stored = load(path)
    if to_plain(stored.get("model")) != to_plain(cfg["model"]):
        raise UsageError(
            f"Run directory {run_dir!r} was trained with a different `model:` (see {path}); "
            "resume with the same model or choose another --output."
        )


def cmd_train(args):
    from mrinets.data import data_errors
    from mrinets.train import checkpoint, schema, strategy, trainer

    path = schema.find_config(args.config)
    cfg = schema.load_config(path, overrides=args.set or (), seed=args.seed)
    name = _config_name(path)
    if args.dry_run:
        print(schema.to_yaml(cfg), end="")
        model = schema.build_model(cfg)
        steps = cfg["train"]["steps"] or f"{cfg['train']['epochs']} epochs"
        print(f"# valid: {model.count_params():,} parameters, {steps} steps; nothing was written (--dry-run)")
        return 0
    if not os.environ.get("MRINETS_DEBUG"):
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")  # e.g. the benign "casting complex64 to float32" of real->complex casts' gradients
    distribution = strategy.make_strategy(cfg["train"]["distribute"])
    run_dir, resume = resolve_run_dir(name, args.output, args.resume)
    chief = strategy.is_chief(distribution)
    lock = checkpoint.RunLock(run_dir) if chief else None
    if lock is not None:
        lock.acquire()
        checkpoint.remove_temporaries(run_dir)
    try:
        if resume:
            _check_same_model(run_dir, cfg)
        trainer_class = trainer.Trainer
        if cfg["model"].get("rank", 2) == 3:
            from mrinets.train.volumetric import VolumeTrainer as trainer_class
        with data_errors():
            return trainer_class(cfg, run_dir, distribution, resume=resume, log=_log).run()
    finally:
        if lock is not None:
            lock.release()


def _log(line):
    print(line, flush=True)


def locate(target, which="best"):
    """``(run_dir, checkpoint_path)`` for a run directory, a checkpoint file or a ``.keras`` file in a run."""
    from mrinets.train.checkpoint import CHECKPOINTS

    if os.path.isfile(target):
        folder = os.path.dirname(os.path.abspath(target))
        run_dir = os.path.dirname(folder) if os.path.basename(folder) == CHECKPOINTS else folder
        return run_dir, target
    if not os.path.isdir(target):
        raise FileNotFoundError(f"No run directory or checkpoint file {target!r}.")
    folder = os.path.join(target, CHECKPOINTS)
    order = [which, "latest"] if which == "best" else [which]
    for kind in order:
        path = os.path.join(folder, f"{kind}.npz")
        if os.path.exists(path):
            return target, path
    raise FileNotFoundError(f"Run directory {target!r} has no checkpoint {os.path.join(folder, which + '.npz')!r}.")


def load_run(target, which="best"):
    """``(cfg, model, run_dir, checkpoint_path, state)`` of a trained run (float32 inference model).

    A ``.keras`` file inside the run directory is loaded with ``mrinets.load_model`` (safe mode).
    """
    from mrinets.train import checkpoint, schema

    run_dir, ckpt = locate(target, which)
    config_path = os.path.join(run_dir, "config.yaml")
    if not os.path.exists(config_path):
        raise FileNotFoundError(f"{config_path!r} does not exist: {target!r} is not inside a mrinets run directory.")
    cfg = schema.load_config(config_path)
    if ckpt.endswith(".keras"):
        from mrinets.saving import load_model

        return cfg, load_model(ckpt), run_dir, ckpt, {"step": "?"}
    model = schema.build_model(cfg)
    state = checkpoint.restore(ckpt, model)
    return cfg, model, run_dir, ckpt, state


def cmd_evaluate(args):
    from mrinets.config import to_plain
    from mrinets.data import build_dataset, data_errors
    from mrinets.train import checkpoint, evaluation
    from mrinets.train.datasets import data_paths, is_noncartesian, val_dataset
    from mrinets.train.schema import coil_compression_options

    cfg, model, run_dir, ckpt, state = load_run(args.target, args.checkpoint)
    if getattr(args, "generalization", False):
        return _evaluate_generalization(args, cfg, model, run_dir, ckpt, state)
    path = args.data or data_paths(cfg)[1]
    if cfg["model"].get("rank", 2) == 3:
        return _evaluate_volumes(args, cfg, model, run_dir, ckpt, state, path)
    if is_noncartesian(cfg):
        ds = val_dataset(cfg, path, batch_size=args.batch_size)
    else:
        ds = build_dataset(path, mask=cfg["mask"], batch_size=args.batch_size, shuffle=False,
                           crop=cfg["data"]["crop"] if not args.data else None, deterministic_masks=True,
                           return_metadata=True, **coil_compression_options(cfg))
    if len(ds.element_spec) != 3:
        from mrinets.data import DataError

        raise DataError(f"{path!r} holds test-style files (no target) that cannot be scored; use `mrinets predict`.")
    print(f"evaluating {ckpt} (step {state['step']}) on {path}", flush=True)
    baselines = args.baseline or to_plain(cfg["evaluate"]["baselines"])
    with data_errors():
        volumes = evaluation.collect(ds, evaluation.predict_function(model), baselines=baselines,
                                     max_slices=args.max_slices)
    rows, means = evaluation.volume_metrics(volumes)
    print(evaluation.format_table(rows, means))
    out = args.output or os.path.join(run_dir, f"evaluation-{os.path.splitext(os.path.basename(ckpt))[0]}")
    for name, volume in volumes.items():
        k = volume["target"].shape[0] // 2
        baseline = evaluation.first_baseline(volume)
        shown = volume[baseline] if baseline else 0 * volume["target"]
        png = evaluation.figure_png(shown[k], volume["model"][k], volume["target"][k],
                                    title=f"{name} slice {k}", baseline=evaluation.BASELINES.get(baseline, "none"))
        checkpoint.atomic_write(os.path.join(out, "figures", f"{os.path.splitext(name)[0]}.png"),
                                lambda handle, png=png: handle.write(png))
    report = {"checkpoint": ckpt, "step": state["step"], "data": path, "volumes": rows, "mean": means}
    checkpoint.atomic_write_text(os.path.join(out, "metrics.json"), json.dumps(report, indent=2))
    print(f"wrote {out}/metrics.json and {len(volumes)} figure(s)")
    return 0


def _evaluate_generalization(args, cfg, model, run_dir, ckpt, state):
    from mrinets.data import data_errors
    from mrinets.train import evaluation, generalization

    if args.data:
        raise UsageError("--generalization scores the generalization set; it takes no --data.")
    try:
        scorer = generalization.GeneralizationScorer(cache_dir=cfg["data"]["cache_dir"])
    except ImportError as error:
        raise UsageError(f"--generalization: {error}") from error
    print(f"evaluating {ckpt} (step {state['step']}) on the generalization set {scorer.root}", flush=True)
    with data_errors():
        results = scorer.score(evaluation.predict_function(model))
    for acceleration, (rows, means) in results.items():
        print(f"\n{acceleration}x, challenge layout (real anatomy never seen in training):")
        print(evaluation.format_table(rows, means))
    out = args.output or os.path.join(run_dir, f"evaluation-{os.path.splitext(os.path.basename(ckpt))[0]}")
    path = os.path.join(out, "generalization.json")
    generalization.write_report(path, results, state["step"] if isinstance(state["step"], int) else None)
    print(f"wrote {path}")
    return 0


def _evaluate_volumes(args, cfg, model, run_dir, ckpt, state, path):
    """``mrinets evaluate`` of a rank-3 model: whole 3D volumes, figures of three planes."""
    from mrinets.config import to_plain
    from mrinets.data import DataError, data_errors
    from mrinets.data.volumes import build_volume_dataset
    from mrinets.train import checkpoint, evaluation, volumetric

    print(f"evaluating {ckpt} (step {state['step']}) on {path}", flush=True)
    baselines = args.baseline or to_plain(cfg["evaluate"]["baselines"])
    with data_errors():
        ds = build_volume_dataset(path, mask=cfg["mask"])
        if ds.element_spec[1].shape[-1] == 0:  # the target's shape (0, 0, 0): files without one
            raise DataError(f"{path!r} holds test-style 3D files (no target) that cannot be scored; "
                            "use `mrinets predict`.")
        volumes = volumetric.collect_volumes(ds, evaluation.predict_function(model), baselines=baselines)
    rows, means = evaluation.volume_metrics(volumes, count=volumetric.COUNT)
    print(evaluation.format_table(rows, means, count=volumetric.COUNT))
    out = args.output or os.path.join(run_dir, f"evaluation-{os.path.splitext(os.path.basename(ckpt))[0]}")
    for name, volume in volumes.items():
        volumetric.write_planes(os.path.join(out, "figures", f"{os.path.splitext(name)[0]}.png"), {name: volume},
                                f"step {state['step']}")
    report = {"checkpoint": ckpt, "step": state["step"], "data": path, "volumes": rows, "mean": means}
    checkpoint.atomic_write_text(os.path.join(out, "metrics.json"), json.dumps(report, indent=2))
    print(f"wrote {out}/metrics.json and {len(volumes)} figure(s)")
    return 0


def write_submission(files, mask, reconstruct, output, dataset_options=None, volumetric=False, cfg=None):
    """Reconstruct every slice of ``files`` with ``reconstruct(inputs)`` and write fastMRI submission files.

    Each volume is cropped to its target's shape, else to the header's reconstruction matrix
    (fastMRI test files), and written under ``output`` with the input's name; ``volumetric``:
    3D files, reconstructed whole (``mrinets.train.volumetric``); ``cfg``: a training config whose
    ``trajectory`` makes the files non-Cartesian (read through its pipeline). Returns the count.
    """
    import numpy as np

    from mrinets.data import data_errors, noncartesian
    from mrinets.ops import center_crop
    from mrinets.train import evaluation
    from mrinets.train.datasets import is_noncartesian, val_dataset

    written = 0
    for path in files:
        if volumetric:
            from mrinets.train.volumetric import predict_volume

            with data_errors():
                volume = predict_volume(reconstruct, path, mask)
            evaluation.write_reconstructions({os.path.basename(path): volume}, output)
            written += 1
            print(f"  {os.path.basename(path)}: reconstruction {volume.shape}", flush=True)
            continue
        if cfg is not None and is_noncartesian(cfg):
            ds, crop = val_dataset(cfg, path, batch_size=1), noncartesian.read_matrix(path)
        else:
            ds, crop = _cartesian_file(path, mask, dataset_options)
        slices = {}
        with data_errors():
            for element in ds:
                inputs, info = element[0], element[-1]
                image = center_crop(reconstruct(inputs), crop).numpy() * info["scale"].numpy()[:, None, None]
                slices[int(info["slice"].numpy()[0])] = image[0]
        volume = np.stack([slices[k] for k in sorted(slices)])
        evaluation.write_reconstructions({os.path.basename(path): volume}, output)
        written += 1
        print(f"  {os.path.basename(path)}: reconstruction {volume.shape}", flush=True)
    return written


def cmd_predict(args):
    from mrinets.data import list_files
    from mrinets.train import evaluation
    from mrinets.train.schema import coil_compression_options

    cfg, model, run_dir, ckpt, state = load_run(args.target, args.checkpoint)
    predict = evaluation.predict_function(model)
    files = list_files(args.data)
    print(f"reconstructing {len(files)} file(s) with {ckpt} (step {state['step']})", flush=True)
    written = write_submission(files, cfg["mask"], predict, args.output, coil_compression_options(cfg),
                               volumetric=cfg["model"].get("rank", 2) == 3, cfg=cfg)
    print(f"wrote {written} file(s) to {args.output}")
    return 0


#: The undersampling of ``mrinets baseline`` for fully sampled files (the training config's default).
DEFAULT_MASK = {"type": "equispaced_fraction", "center_fractions": 0.08, "accelerations": 4}


def _parse_options(items, flag):
    import yaml

    options = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag}: expected KEY=VALUE, got {item!r}.")
        options[key] = yaml.safe_load(value)
    return options


def cmd_baseline(args):
    import yaml

    from mrinets import config
    from mrinets.data import list_files
    from mrinets.train import evaluation

    options = _parse_options(args.set, "--set")
    mask = yaml.safe_load(args.mask) if args.mask else DEFAULT_MASK
    ref = config.Ref("baseline", build="config", partial=("kspace", "mask"))
    node = config.validate_node({"type": args.name, **options}, ref)
    reconstruct = evaluation.baseline_functions([config.to_plain(node)])[args.name]
    files = list_files(args.data)
    print(f"reconstructing {len(files)} file(s) with baseline {args.name}", flush=True)

    def run(inputs):
        return reconstruct(inputs["kspace"], inputs["mask"], inputs["num_low_frequencies"])

    written = write_submission(files, mask, run, args.output)
    print(f"wrote {written} file(s) to {args.output}")
    return 0


def _cartesian_file(path, mask, dataset_options=None):
    """``(dataset, crop)`` of one fastMRI-layout file for ``write_submission``."""
    from mrinets.data import build_dataset, read_metadata

    meta = read_metadata(path)
    ds = build_dataset(path, mask=mask, batch_size=1, shuffle=False, deterministic_masks=True,
                       return_metadata=True, **(dataset_options or {}))
    h, w = meta["kspace_shape"][-2:]
    if meta["target_shape"] is not None:
        return ds, meta["target_shape"]
    if meta.get("recon_size"):  # fastMRI test files: the header's reconstruction matrix
        return ds, (min(meta["recon_size"][0], h), min(meta["recon_size"][1], w))
    return ds, (h, w)


def add_commands(subparsers):
    """Register ``train``, ``evaluate``, ``predict`` and ``baseline`` on the ``mrinets`` sub-command parser."""
    train = subparsers.add_parser("train", help="train a network from a training config")
    train.add_argument("config", help="a YAML file or a shipped config's name (e.g. varnet_quickstart)")
    train.add_argument("--set", action="append", metavar="KEY.PATH=VALUE",
                       help="override a config value, e.g. --set train.steps=100 (repeatable)")
    train.add_argument("--output", "-o", help="run directory (default runs/<config>-<timestamp>)")
    train.add_argument("--resume", action="store_true",
                       help="continue from the run's latest checkpoint (default run: the newest runs/<config>-*)")
    train.add_argument("--seed", type=int, help="overrides train.seed")
    train.add_argument("--dry-run", action="store_true", help="validate and print the resolved config; train nothing")
    train.set_defaults(run=cmd_train)

    evaluate = subparsers.add_parser("evaluate", help="score a trained run against zero-filled (Cartesian) or "
                                     "gridding (non-Cartesian) and CG-SENSE")
    evaluate.add_argument("target", metavar="RUN_DIR_OR_CHECKPOINT")
    evaluate.add_argument("--data", help="files with targets, fastMRI or (for a run with a `trajectory`) "
                          "non-Cartesian layout (default: the run's validation split)")
    evaluate.add_argument("--checkpoint", choices=["best", "latest"], default="best", help="which checkpoint of a run dir")
    evaluate.add_argument("--output", help="folder for metrics.json and figures (default <run>/evaluation-<ckpt>)")
    evaluate.add_argument("--batch-size", type=int, default=1)
    evaluate.add_argument("--max-slices", type=int, default=None, help="stop after this many slices")
    evaluate.add_argument("--generalization", action="store_true",
                          help="score the generalization set (real anatomy, 4x and 8x challenge layout) instead")
    evaluate.add_argument("--baseline", action="append", metavar="NAME",
                          help="a baseline to score (repeatable; default: the config's evaluate.baselines)")
    evaluate.set_defaults(run=cmd_evaluate)

    predict = subparsers.add_parser("predict", help="write reconstructions in fastMRI's submission layout")
    predict.add_argument("target", metavar="RUN_DIR_OR_CHECKPOINT")
    predict.add_argument("--data", required=True, help="h5 files: fastMRI layout (test files with a `mask` work), or "
                         "non-Cartesian files for a run with a `trajectory`")
    predict.add_argument("--output", required=True, help="folder for the reconstruction files (same names)")
    predict.add_argument("--checkpoint", choices=["best", "latest"], default="best")
    predict.set_defaults(run=cmd_predict)

    baseline = subparsers.add_parser("baseline", help="write a classical reconstruction in fastMRI's submission layout")
    baseline.add_argument("name", help="a registered baseline (zero_filled, cg_sense, grappa, l1_wavelet, tv, ...)")
    baseline.add_argument("--data", required=True, help="fastMRI-layout h5 files (test files with a `mask` work)")
    baseline.add_argument("--output", required=True, help="folder for the reconstruction files (same names)")
    baseline.add_argument("--mask", help="undersampling of fully sampled files, YAML, e.g. "
                          "'{type: random, center_fractions: 0.08, accelerations: 8}' (default: equispaced_fraction 4x)")
    baseline.add_argument("--set", action="append", metavar="OPTION=VALUE",
                          help="a baseline option, e.g. --set lam=0.003 (repeatable; `mrinets describe NAME` lists them)")
    baseline.set_defaults(run=cmd_baseline)
    return subparsers

