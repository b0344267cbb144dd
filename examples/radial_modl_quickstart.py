"""Radial MoDL on the built-in MNI152 anatomy, compared with gridding and CG-SENSE on the validation slab.

    python examples/radial_modl_quickstart.py [--steps 300] [--max-seconds 900] [--views 32] [--folder DIR]

Data: ``mrinets.data.noncartesian.prepare_radial_builtin`` (golden-angle radial spokes of a 64 x 64
grid, 8 coils, simulated on the 1 mm 240 x 240 grid, so no inverse crime). Model: ``NonCartesianMoDL``
(complex 5-layer CNN shared across 5 iterations, Toeplitz CG data consistency). Training stops
after ``--steps`` steps or ``--max-seconds`` seconds, whichever comes first. (``mrinets train``
does not read non-Cartesian data yet; this script uses Keras ``fit`` directly.)
"""

import argparse
import os
import time

import keras
import numpy as np

from mrinets import networks, ops
from mrinets.data import noncartesian
from mrinets.metrics import psnr, ssim

MODEL = {"type": "NonCartesianMoDL", "rank": 2, "grid_shape": [64, 64], "iterations": 5, "cg_iterations": 5,
         "regularizer": {"type": "CNN", "dtype": "complex64", "filters": 32, "depth": 5,
                         "activation": "complex_relu"}}


class TimeLimit(keras.callbacks.Callback):
    """Stop training once ``seconds`` have passed."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds, self.start = seconds, time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        if time.monotonic() - self.start > self.seconds:
            self.model.stop_training = True


def evaluate(model, files):
    """Mean PSNR/SSIM of the model, gridding and CG-SENSE against the targets of ``files``."""
    scores = {"model": [], "gridding": [], "cg_sense": []}
    for inputs, target in noncartesian.noncartesian_examples(files):
        batch = {key: value[None] for key, value in inputs.items()}
        operator = ops.NUFFTOperator(inputs["trajectory"], target.shape, tol=1e-4)
        predictions = {
            "model": model(batch).numpy()[0],
            "gridding": ops.gridding_reconstruction(batch["kspace"], operator, inputs["density"]).numpy()[0],
            "cg_sense": ops.cg_sense_nc(batch["kspace"], operator, density=inputs["density"]).numpy()[0],
        }
        for name, prediction in predictions.items():
            scores[name].append((psnr(target, prediction), ssim(target, prediction)))
    return {name: tuple(np.mean(values, axis=0)) for name, values in scores.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--max-seconds", type=float, default=900.0)
    parser.add_argument("--views", type=int, default=32)
    parser.add_argument("--folder", default=os.path.join(os.path.expanduser("~"), ".cache", "mrinets", "radial"))
    args = parser.parse_args()
    folder = os.path.join(args.folder, f"views{args.views}")
    if not os.path.exists(os.path.join(folder, "val")):
        noncartesian.prepare_radial_builtin(folder, matrix=64, views=args.views)
    train_files = [os.path.join(folder, "train", name) for name in sorted(os.listdir(os.path.join(folder, "train")))]
    val_files = [os.path.join(folder, "val", name) for name in sorted(os.listdir(os.path.join(folder, "val")))]
    keras.utils.set_random_seed(0)
    model = networks.build(MODEL)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mae")
    dataset = noncartesian.build_noncartesian_dataset(train_files, batch_size=2, shuffle=True, repeat=True)
    start = time.monotonic()
    model.fit(dataset, steps_per_epoch=args.steps, epochs=1, callbacks=[TimeLimit(args.max_seconds)], verbose=2)
    print(f"trained {time.monotonic() - start:.0f} s")
    for name, (p, s) in evaluate(model, val_files).items():
        print(f"{name:9s} PSNR {p:.2f} dB  SSIM {s:.4f}  (MNI152 radial validation slab, {args.views} spokes)")


if __name__ == "__main__":
    main()
