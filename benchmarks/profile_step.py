"""Where a VarNet training step goes: the step and its parts, timed in one run, per instruction set.

For each ``--config`` (a VarNet config) and each ``--isa`` (``native``, ``avx2``: an AVX2-only
machine, TensorFlow's Eigen kernels; see ``benchmarks.vs_fastmri.ISA_ENVIRONMENTS``) one worker
process times, as interleaved medians (``_timing.time_candidates``):

* the whole train step (forward, L1 loss, backward, Adam) and its forward pass alone;
* the network's parts, each forward + backward where the step differentiates it: coil maps
  (the sensitivity U-Net, or ACS maps), the CG-SENSE start, one cascade's regularizer U-Net,
  one cascade's ``S^H F^H`` / ``F S`` (two FFTs and the coil sums), the final IFFT + RSS, the
  Adam update, one batch of the training pipeline (configs with built-in data);
* every layer of the regularizer and sensitivity U-Nets at the shape it sees in the step,
  forward + backward, summed per layer type (conv 3x3, instance norm, ...), and the same
  operations in PyTorch (NCHW, as fastMRI's U-Net) at the same shapes, in a PyTorch worker
  under the same ISA. ``glue`` is the U-Net's time not in its layers (standardization, padding,
  concatenations, the complex <-> stacked (re, im) conversion).

``share_of_step`` is a part's time x its count per step over the whole step. ``--baseline PATH``
also times the train step with mrinets imported from another source tree (before a change):
``speedup`` is its step time over this tree's.
``configs``: ``varnet`` (fastMRI's default, 1 x 8 coils x 320x320 random k-space as in
``benchmarks.vs_fastmri``) and ``varnet_quickstart`` (its built-in training data). Output:
``benchmarks/results/profile_step.json``.

    python -m benchmarks.profile_step [--quick] [--config varnet varnet_quickstart] [--isa native avx2]
                                      [--baseline PATH]
"""

import argparse
import collections
import json
import os
import subprocess
import sys

from benchmarks._timing import THREADS, row, time_candidates, write_results

#: Synthetic input size of configs without built-in data or with ``--size`` (batch, coils, size).
SYNTHETIC = {"varnet": (1, 8, 320)}


def _synthetic_inputs(batch, coils, size):
    """Random 4x equispaced k-space with 8% centre, as ``benchmarks.vs_fastmri``."""
    from benchmarks.vs_fastmri import _inputs

    kspace, mask, low, target = _inputs("varnet", size, batch)
    kspace = kspace[:, :coils]
    return ({"kspace": kspace, "mask": mask.reshape(1, 1, 1, size), "num_low_frequencies": [low] * batch},
            target, None)


def _pipeline_inputs(cfg):
    from mrinets.config import to_plain
    from mrinets.data import build_dataset
    from mrinets.train.datasets import data_paths

    train_path, _ = data_paths(cfg)
    ds = build_dataset(train_path, mask=to_plain(cfg["mask"]), batch_size=cfg["train"]["batch_size"], shuffle=True,
                       seed=0, deterministic_masks=False, drop_remainder=True, num_parallel_calls=None, repeat=True)
    batches = iter(ds)
    inputs, target = next(batches)
    return inputs, target, batches


def step_inputs(config_name, cfg, size=None):
    """``(inputs, target, batches)`` of one train step of ``cfg``: tensors of synthetic k-space (``SYNTHETIC``
    configs, or any config with ``size``) or a batch of its training pipeline (``batches``: the rest of it;
    None for synthetic inputs)."""
    import tensorflow as tf

    if config_name in SYNTHETIC or size:
        batch, coils, default = SYNTHETIC.get(config_name, (cfg["train"]["batch_size"], 8, size))
        inputs, target, batches = _synthetic_inputs(batch, coils, size or default)
    else:
        inputs, target, batches = _pipeline_inputs(cfg)
    return {key: tf.convert_to_tensor(value) for key, value in inputs.items()}, tf.convert_to_tensor(target), batches


def record_layer_inputs(network, image_network_input):
    """Run ``network`` once; returns ``[(layer, input shape)]`` for each leaf layer call, in order."""
    calls = []
    leaves = [layer for layer in network._flatten_layers(include_self=False, recursive=True)
              if not list(layer._flatten_layers(include_self=False, recursive=False))]
    originals = {}
    for layer in leaves:
        originals[id(layer)] = layer.call

        def recording(x, *args, _layer=layer, **kwargs):
            calls.append((_layer, tuple(int(d) for d in x.shape)))
            return originals[id(_layer)](x, *args, **kwargs)

        layer.call = recording
    try:
        network(image_network_input, training=True)
    finally:
        for layer in leaves:
            layer.call = originals[id(layer)]
    return calls


def layer_signature(layer, shape):
    """What a PyTorch worker needs to run the same operation: ``(kind, options, NHWC input shape)``."""
    name = type(layer).__name__
    if name in ("Conv2D", "Conv2DTranspose"):
        kind = "conv_transpose" if name.endswith("Transpose") else f"conv{layer.kernel_size[0]}x{layer.kernel_size[1]}"
        return kind, {"filters": layer.filters, "kernel": list(layer.kernel_size), "strides": list(layer.strides),
                      "bias": layer.use_bias}, shape
    if name == "InstanceNormalization":
        return "instance_norm", {"epsilon": layer.epsilon}, shape
    if name == "Activation":
        return f"activation {layer.get_config()['activation']}", {}, shape
    if name == "AveragePooling2D":
        return "average_pool", {}, shape
    if name == "MaxPooling2D":
        return "max_pool", {}, shape
    return name, {}, shape


def _tf_layer_timer(layer, shape):
    import tensorflow as tf

    x = tf.random.normal(shape)
    dy = tf.random.normal(layer.compute_output_shape(shape))

    @tf.function
    def forward_backward():
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
        return tape.gradient(y, [x] + layer.trainable_variables, output_gradients=dy)

    return lambda: forward_backward()[0].numpy()


def profile_layers(network, image_network_input, repeats, prefix):
    """Per layer type: ``{type: {"count", "ms" (all calls of the type, forward + backward)}}`` and the
    signatures (with counts) for the PyTorch worker."""
    calls = record_layer_inputs(network, image_network_input)
    counts = collections.Counter()
    unique = {}
    for layer, shape in calls:
        kind, options, shape = layer_signature(layer, shape)
        key = json.dumps([kind, options, shape])
        counts[key] += 1
        unique.setdefault(key, (layer, shape))
    times = time_candidates({key: _tf_layer_timer(*unique[key]) for key in unique}, repeats=repeats, warmup=1)
    per_type = collections.defaultdict(lambda: {"count": 0, "ms": 0.0})
    for key, seconds in times.items():
        kind = json.loads(key)[0]
        per_type[f"{prefix}{kind}"]["count"] += counts[key]
        per_type[f"{prefix}{kind}"]["ms"] += 1e3 * seconds * counts[key]
    signatures = [json.loads(key) + [counts[key]] for key in unique]
    return dict(per_type), signatures


def _mrinets_worker(config_name, size, quick, code=None, step_only=False):
    if code:  # mrinets from another tree; this module is already imported from this one
        sys.path.insert(0, code)
    from benchmarks._timing import set_tf_threads, train_step

    set_tf_threads()
    import keras
    import tensorflow as tf

    from benchmarks.vs_fastmri import tf_onednn_enabled
    from mrinets import ops
    from mrinets.networks._blocks import apply_image_network
    from mrinets.networks.recon import VarNet
    from mrinets.layers._base import to_stacked
    from mrinets.train.schema import build_model, load_config

    cfg = load_config(config_name)
    inputs, target, batches = step_inputs(config_name, cfg, size)
    model = build_model(cfg)
    varnet = next(layer for layer in model._flatten_layers(include_self=True, recursive=True)
                  if isinstance(layer, VarNet))
    optimizer = keras.optimizers.Adam(1e-4)
    step = train_step(model, optimizer)
    kspace, mask, num_low = inputs["kspace"], tf.cast(inputs["mask"], tf.float32), inputs["num_low_frequencies"]
    cmask, measured = tf.cast(mask, kspace.dtype), kspace * 0.5
    maps = tf.function(lambda: varnet.coil_maps(kspace, mask, num_low))()
    block = varnet.blocks[0]
    image = block.sens_reduce(kspace, maps)

    def gradients_of(fn, sources):
        @tf.function
        def run():
            with tf.GradientTape() as tape:
                tape.watch([source for source in sources if isinstance(source, tf.Tensor)])
                loss = tf.reduce_mean(tf.abs(fn()))
            return tape.gradient(loss, sources)

        return lambda: [g.numpy() for g in run() if g is not None][:1]

    @tf.function
    def forward():
        return model(inputs, training=True)

    @tf.function
    def adam_update():
        optimizer.apply_gradients(zip([tf.zeros_like(v) for v in model.trainable_variables],
                                      model.trainable_variables))

    repeats = 3 if quick else 7
    if step_only:
        seconds = time_candidates({"train step": lambda: float(step(inputs, target))}, repeats=repeats,
                                  warmup=2)["train step"]
        import mrinets

        return {"train_step_ms": round(seconds * 1e3, 2), "mrinets": os.path.dirname(mrinets.__file__)}
    regularizer = block.regularizer
    candidates = {
        "train step": lambda: float(step(inputs, target)),
        "forward": lambda: forward().numpy(),
        "regularizer U-Net fwd + bwd (one cascade)": gradients_of(lambda: apply_image_network(regularizer, image),
                                                                  [image] + regularizer.trainable_variables),
        "S^H F^H + F S fwd + bwd (one cascade)": gradients_of(
            lambda: block.sens_expand(block.sens_reduce(kspace, maps), maps), [kspace]),
        "data consistency term (one cascade)": tf.function(
            lambda: kspace - cmask * (kspace - measured) * tf.cast(block.dc_weight, kspace.dtype)),
        "FFT + IFFT (B, C, *S)": tf.function(lambda: ops.fftn(ops.ifftn(kspace))),
        "final IFFT + RSS fwd + bwd": gradients_of(lambda: ops.rss(ops.ifftn(kspace), axis=1), [kspace]),
        "Adam update": adam_update,
    }
    counts = {"regularizer U-Net fwd + bwd (one cascade)": varnet.cascades,
              "S^H F^H + F S fwd + bwd (one cascade)": varnet.cascades,
              "data consistency term (one cascade)": varnet.cascades}
    if varnet.sensitivity_network is not None:
        candidates["coil maps: sensitivity U-Net fwd + bwd"] = gradients_of(
            lambda: varnet.coil_maps(kspace, mask, num_low), varnet.sensitivity_network.trainable_variables)
    else:
        candidates["coil maps from ACS"] = tf.function(lambda: varnet.coil_maps(kspace, mask, num_low))
    if varnet.start == "cg_sense":
        candidates["CG-SENSE start"] = tf.function(
            lambda: ops.cg_sense(kspace, mask, maps=maps, rank=varnet.rank, return_complex=True))
    if batches is not None:
        candidates["data: one batch"] = lambda: next(batches)
    candidates = {name: (fn if name in ("train step", "data: one batch") or not hasattr(fn, "get_concrete_function")
                         else (lambda f=fn: tf.nest.map_structure(lambda t: t.numpy() if t is not None else t, f())))
                  for name, fn in candidates.items()}
    times = time_candidates(candidates, repeats=repeats, warmup=2)
    whole = times["train step"]
    parts = {name: {"ms": round(seconds * 1e3, 2), "count": counts.get(name, 1),
                    "share_of_step": round(seconds * counts.get(name, 1) / whole, 4)}
             for name, seconds in times.items()}

    layers, signatures = profile_layers(regularizer, to_stacked(image[..., None]), repeats, "regularizer: ")
    for name, entry in layers.items():
        entry["count_per_step"] = entry["count"] * varnet.cascades
        entry["share_of_step"] = round(entry["ms"] * varnet.cascades / 1e3 / whole, 4)
    sens_layers, sens_signatures = {}, []
    if varnet.sensitivity_network is not None:
        region = ops.acs_region(mask, num_low, kspace.shape.rank)
        coil_images = ops.ifftn(kspace * tf.cast(region, kspace.dtype))
        per_coil = tf.reshape(coil_images, [-1, *coil_images.shape[2:]])
        sens_layers, sens_signatures = profile_layers(varnet.sensitivity_network, to_stacked(per_coil[..., None]),
                                                      repeats, "sensitivity: ")
        for entry in sens_layers.values():
            entry["share_of_step"] = round(entry["ms"] / 1e3 / whole, 4)
    for entry in (*layers.values(), *sens_layers.values()):
        entry["ms"] = round(entry["ms"], 2)
    unet_ms = parts["regularizer U-Net fwd + bwd (one cascade)"]["ms"]
    glue = unet_ms - sum(entry["ms"] for entry in layers.values())
    layers["regularizer: glue (standardize, pad, concat, stacked <-> complex)"] = {
        "ms": round(glue, 2), "count": 1, "share_of_step": round(glue * varnet.cascades / 1e3 / whole, 4)}
    return {"config": config_name, "kspace_shape": list(kspace.shape), "cascades": varnet.cascades,
            "parameters": model.count_params(), "isa": {"onednn": tf_onednn_enabled()}, "parts": parts,
            "layers": {**layers, **sens_layers}, "signatures": {"regularizer": signatures,
                                                                 "sensitivity": sens_signatures}}


def _torch_worker(signatures_json, quick):
    """Forward + backward of each signature in PyTorch (NCHW); ``{type: ms}`` summed as the mrinets worker."""
    import torch
    import torch.nn.functional as F

    from benchmarks._timing import set_torch_threads

    set_torch_threads()
    signatures = json.loads(signatures_json)
    candidates = {}
    for index, (kind, options, shape, _count) in enumerate(signatures):
        n, h, w, c = shape
        x = torch.randn(n, c, h, w, requires_grad=True)
        if kind.startswith("conv"):
            transpose = kind == "conv_transpose"
            kernel_shape = (c, options["filters"]) if transpose else (options["filters"], c)
            weight = torch.randn(*kernel_shape, *options["kernel"], requires_grad=True)
            bias = torch.randn(options["filters"], requires_grad=True) if options["bias"] else None
            if transpose:
                fn = lambda x=x, weight=weight, bias=bias, s=options["strides"]: F.conv_transpose2d(  # noqa: E731
                    x, weight, bias, stride=s)
            else:
                fn = lambda x=x, weight=weight, bias=bias: F.conv2d(x, weight, bias, padding="same")  # noqa: E731
        elif kind == "instance_norm":
            fn = lambda x=x, eps=options["epsilon"]: F.instance_norm(x, eps=eps)  # noqa: E731
        elif kind.startswith("activation"):
            fn = lambda x=x: F.leaky_relu(x, 0.2)  # noqa: E731
        elif kind == "average_pool":
            fn = lambda x=x: F.avg_pool2d(x, 2)  # noqa: E731
        elif kind == "max_pool":
            fn = lambda x=x: F.max_pool2d(x, 2)  # noqa: E731
        else:
            continue
        dy = torch.randn_like(fn())

        def forward_backward(fn=fn, dy=dy):
            fn().backward(dy)

        candidates[index] = forward_backward
    times = time_candidates(candidates, repeats=3 if quick else 7, warmup=1)
    per_type = collections.defaultdict(float)
    for index, seconds in times.items():
        per_type[signatures[index][0]] += 1e3 * seconds * signatures[index][3]
    return {"ms": dict(per_type), "aten_cpu_capability": torch.backends.cpu.get_cpu_capability()}


def _run(arguments, isa):
    from benchmarks.vs_fastmri import ISA_ENVIRONMENTS

    done = subprocess.run([sys.executable, "-m", "benchmarks.profile_step", *arguments], capture_output=True,
                          text=True, env={**os.environ, **ISA_ENVIRONMENTS[isa]})
    if done.returncode != 0:
        raise RuntimeError(f"worker {arguments} [{isa}] failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def profile(config_name, isa, size=None, quick=False, with_torch=True, baseline=None):
    """One config under one ISA: the mrinets worker, then PyTorch on the same layer shapes (and the
    baseline tree's train step)."""
    flags = ["--quick"] if quick else []
    worker = ["--worker", "mrinets", "--config", config_name, *(["--size", str(size)] if size else []), *flags]
    result = _run(worker, isa)
    if baseline:
        before = _run([*worker, "--code", baseline], isa)
        result["baseline"] = {**before, "tree": baseline}
        result["speedup"] = before["train_step_ms"] / result["parts"]["train step"]["ms"]
    if with_torch:
        for network, signatures in result["signatures"].items():
            if signatures:
                torch_times = _run(["--worker", "torch", "--signatures", json.dumps(signatures), *flags], isa)
                result.setdefault("torch", {})[network] = torch_times
                for kind, ms in torch_times["ms"].items():
                    entry = result["layers"].get(f"{network}: {kind}")
                    if entry:
                        entry["pytorch_ms"] = round(ms, 2)
                        entry["mrinets_over_pytorch"] = round(entry["ms"] / ms, 2)
    return result


def _print(result, isa):
    whole = result["parts"]["train step"]["ms"]
    print(f"{result['config']} [{isa}, oneDNN {'on' if result['isa']['onednn'] else 'off'}]: kspace "
          f"{tuple(result['kspace_shape'])}, {result['cascades']} cascades, {THREADS} threads, step {whole:.0f} ms")
    for name, part in result["parts"].items():
        print(f"  {name:44s} {part['ms']:9.1f} ms x{part['count']:<3d} {part['share_of_step']:7.1%}")
    for name, entry in result["layers"].items():
        torch_ms = f"  PyTorch {entry['pytorch_ms']:8.1f} ms ({entry['mrinets_over_pytorch']:.2f}x)" \
            if "pytorch_ms" in entry else ""
        print(f"  {name:58s} {entry['ms']:8.1f} ms {entry['share_of_step']:7.1%}{torch_ms}")


def main(argv=None):
    from benchmarks.vs_fastmri import ISA_ENVIRONMENTS

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--config", nargs="+", default=["varnet", "varnet_quickstart"])
    parser.add_argument("--isa", nargs="+", choices=list(ISA_ENVIRONMENTS), default=["native", "avx2"])
    parser.add_argument("--size", type=int, help="synthetic k-space of this size instead of the config's data")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch per-layer reference")
    parser.add_argument("--baseline", metavar="PATH", help="also time the train step of mrinets from this tree")
    parser.add_argument("--code", help=argparse.SUPPRESS)
    parser.add_argument("--worker", choices=["mrinets", "torch"], help=argparse.SUPPRESS)
    parser.add_argument("--signatures", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker == "mrinets":
        print(json.dumps(_mrinets_worker(args.config[0], args.size, args.quick, args.code, bool(args.code))))
        return
    if args.worker == "torch":
        print(json.dumps(_torch_worker(args.signatures, args.quick)))
        return
    profiles, rows = {}, []
    for config_name in args.config:
        for isa in args.isa:
            result = profile(config_name, isa, args.size, args.quick, not args.no_torch,
                             args.baseline and os.path.abspath(args.baseline))
            result.pop("signatures")
            profiles.setdefault(config_name, {})[isa] = result
            _print(result, isa)
            sys.stdout.flush()
            whole = result["parts"]["train step"]["ms"]
            rows.append(row(f"profile {config_name} [{isa}]: train step", f"{whole:.0f} ms"))
            if "speedup" in result:
                rows.append(row(f"profile {config_name} [{isa}]: train step speed-up over {args.baseline}",
                                f"{result['speedup']:.2f}x ({result['baseline']['train_step_ms']:.0f} ms before)",
                                ">= 1.0x", result["speedup"] >= 1.0))
                print(f"  speed-up over the baseline tree: {result['speedup']:.2f}x")
            for name, part in result["parts"].items():
                if name != "train step":
                    rows.append(row(f"profile {config_name} [{isa}]: {name} x{part['count']}",
                                    f"{part['ms']:.1f} ms ({part['share_of_step']:.0%} of a step)"))
            # after every profile: a run cut short keeps what it measured
            path = write_results("profile_step", {"threads": THREADS, "profiles": profiles}, rows, quick=args.quick)
            print(f"wrote {path}", flush=True)


if __name__ == "__main__":
    main()
