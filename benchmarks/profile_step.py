"""Where a quickstart training step goes: the step and its pieces, timed in one run.

Pieces (batch 4, 8 coils, the quickstart's 128x128 built-in data, its VarNet): one batch from
the training pipeline as the trainer builds it, the whole train step, forward only, forward +
gradients, and the network's parts: FFT/IFFT of the batch, coil maps from the ACS lines,
CG-SENSE (the network's start), one regularizer U-Net forward and forward + backward, RSS.
Medians of interleaved repeats (``_timing.time_candidates``); ``share`` is a piece's time over
the whole step (pieces overlap: forward + backward contains the rest).

    python -m benchmarks.profile_step [--quick] [--config varnet_quickstart]
"""

import argparse

from benchmarks._timing import THREADS, row, set_tf_threads, time_candidates, train_step, write_results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--config", default="varnet_quickstart")
    args = parser.parse_args()
    set_tf_threads()
    import keras
    import tensorflow as tf

    from mrinets import ops
    from mrinets.config import to_plain
    from mrinets.data import build_dataset
    from mrinets.networks._blocks import apply_image_network
    from mrinets.train.schema import build_model, load_config
    from mrinets.train.trainer import data_paths

    cfg = load_config(args.config)
    train_path, _ = data_paths(cfg)
    batch = cfg["train"]["batch_size"]
    ds = build_dataset(train_path, mask=to_plain(cfg["mask"]), batch_size=batch, shuffle=True, seed=0,
                       deterministic_masks=False, drop_remainder=True, num_parallel_calls=None, repeat=True)
    batches = iter(ds)
    inputs, target = next(batches)
    model = build_model(cfg)
    optimizer = keras.optimizers.Adam(1e-3)
    step = train_step(model, optimizer)
    kspace, mask, num_low = inputs["kspace"], inputs["mask"], inputs["num_low_frequencies"]
    network = model.get_layer(index=-1) if hasattr(model, "get_layer") else model
    varnet = next(layer for layer in [network, *getattr(network, "_layers", [])] if hasattr(layer, "regularizers"))
    regularizer = varnet.regularizers[0]
    image = tf.reduce_sum(ops.ifftn(kspace), axis=1)

    @tf.function
    def forward():
        return model(inputs, training=True)

    @tf.function
    def forward_backward():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.abs(model(inputs, training=True) - target))
        return tape.gradient(loss, model.trainable_variables)

    @tf.function
    def fft_pair():
        return ops.fftn(ops.ifftn(kspace))

    @tf.function
    def coil_maps():
        return ops.estimate_coil_maps(kspace, mask=mask, num_low_frequencies=num_low)

    maps = coil_maps()

    @tf.function
    def cg():
        return ops.cg_sense(kspace, mask, maps=maps, return_complex=True)

    @tf.function
    def unet_forward():
        return apply_image_network(regularizer, image)

    @tf.function
    def unet_forward_backward():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.abs(apply_image_network(regularizer, image)))
        return tape.gradient(loss, regularizer.trainable_variables)

    @tf.function
    def rss():
        return ops.rss(ops.ifftn(kspace), axis=1)

    candidates = {
        "train step": lambda: float(step(inputs, target)),
        "data: one batch": lambda: next(batches),
        "forward": lambda: forward().numpy(),
        "forward + gradients": lambda: [g.numpy() for g in forward_backward() if g is not None][:1],
        "FFT + IFFT (B, C, H, W)": lambda: fft_pair().numpy(),
        "coil maps from ACS": lambda: coil_maps().numpy(),
        "CG-SENSE start (10 it.)": lambda: cg().numpy(),
        "U-Net forward (one cascade)": lambda: unet_forward().numpy(),
        "U-Net fwd + bwd (one cascade)": lambda: [g.numpy() for g in unet_forward_backward()][:1],
        "IFFT + RSS": lambda: rss().numpy(),
    }
    repeats = 3 if args.quick else 10
    times = time_candidates(candidates, repeats=repeats, warmup=2)
    whole = times["train step"]
    cascades = len(varnet.regularizers)
    print(f"{args.config}: batch {batch}, kspace {tuple(kspace.shape)}, {cascades} cascades, {THREADS} threads")
    rows, pieces = [], {}
    for name, seconds in times.items():
        pieces[name] = {"ms": round(seconds * 1e3, 2), "share_of_step": round(seconds / whole, 3)}
        print(f"  {name:32s} {seconds * 1e3:9.1f} ms  {seconds / whole:6.1%}")
        rows.append(row(f"profile: {name}", f"{seconds * 1e3:.1f} ms ({seconds / whole:.0%} of a step)"))
    estimate = cascades * (times["U-Net fwd + bwd (one cascade)"] + 2 * times["FFT + IFFT (B, C, H, W)"])
    print(f"  cascades x (U-Net fwd+bwd + 2 FFT pairs) = {estimate * 1e3:.1f} ms ({estimate / whole:.0%} of a step)")
    write_results("profile_step", {"config": args.config, "batch": batch, "kspace_shape": list(kspace.shape),
                                   "threads": THREADS, "pieces": pieces}, rows, quick=args.quick)


if __name__ == "__main__":
    main()
