"""3D training, evaluation and prediction: random readout slabs to train, whole volumes to evaluate.

``mrinets train`` uses ``VolumeTrainer`` for a rank-3 model (data in ``mrinets.data.volumes``'
layout, e.g. ``data: {builtin: mni152_3d}``). The baselines are ``evaluate.baselines`` (registry
kind ``baseline``, called with ``rank=3``), as in 2D. Figures: the trainer's ky-kz panel of the
first validation volume plus ``figures/step_<n>_planes.png``, the three orthogonal planes through
its centre for the baselines, the model and the reference.
"""

import os

import numpy as np
import tensorflow as tf

from mrinets import metrics
from mrinets.errors import UsageError
from mrinets.train import checkpoint, evaluation
from mrinets.train.datasets import epoch_seed
from mrinets.train.trainer import Trainer

#: the per-volume table's count column: a 3D file's first axis is the readout.
COUNT = "readout_positions"


def collect_volumes(dataset, predict=None, baselines=True):
    """Run over a ``build_volume_dataset(..., return_metadata=True)``; return
    ``{fname: {"target", "model", <baseline>: (x, z, y) float32}}`` in file units.

    ``baselines``: True (``evaluation.DEFAULT_BASELINES``), False, or specs for
    ``evaluation.baseline_functions`` (registered names or ``{type: name, **options}``).
    """
    if baselines is True:
        baselines = evaluation.DEFAULT_BASELINES
    functions = evaluation.baseline_functions(baselines or (), rank=3)
    volumes = {}
    for inputs, target, meta in dataset:
        scale = float(meta["scale"].numpy()[0])
        volume = {"target": target.numpy()[0] * scale}
        if predict is not None:
            volume["model"] = predict(inputs).numpy()[0] * scale
        for name, function in functions.items():
            image = function(inputs["kspace"], inputs["mask"], inputs["num_low_frequencies"])
            volume[name] = image.numpy()[0] * scale
        volumes[meta["fname"].numpy()[0].decode()] = volume
    return volumes


def predict_volume(predict, path, mask):
    """The `(x, z, y)` reconstruction of one 3D file, in file units."""
    from mrinets.data.volumes import build_volume_dataset

    inputs, _, meta = next(iter(build_volume_dataset(path, mask=mask, with_target=False)))
    return predict(inputs).numpy()[0] * float(meta["scale"].numpy()[0])


def planes_png(volume, title=""):
    """PNG bytes: the three orthogonal planes through the centre (columns) of each method (rows)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    target = volume["target"]
    baselines = [key for key in volume if key not in ("model", "target")]
    methods = [(key, evaluation.BASELINES.get(key, key)) for key in baselines]
    methods += [(key, label) for key, label in (("model", "model"), ("target", "reference")) if key in volume]
    vmax = float(np.percentile(target, 99.5)) or 1.0
    centre = [n // 2 for n in target.shape]
    planes = (lambda v: v[centre[0]], lambda v: v[:, centre[1]], lambda v: v[:, :, centre[2]])
    names = ("z-y plane (phase encodings)", "x-y plane (x: readout)", "x-z plane")
    fig, axes = plt.subplots(len(methods), 3, figsize=(9, 2.6 * len(methods)), squeeze=False)
    for row, (key, label) in enumerate(methods):
        psnr = "" if key == "target" else f" {metrics.psnr(target, volume[key]):.2f} dB"
        for col, plane in enumerate(planes):
            ax = axes[row, col]
            ax.imshow(plane(volume[key]), cmap="gray", vmin=0, vmax=vmax, aspect="equal")
            ax.set_title(f"{label}{psnr}: {names[col]}" if col == 0 else names[col], fontsize=8)
            ax.axis("off")
    return evaluation.png_bytes(fig, title)


def write_planes(path, volumes, title):
    """Write ``planes_png`` of the first volume of ``volumes`` to ``path``."""
    name = sorted(volumes)[0]
    png = planes_png(volumes[name], title=f"{title}: {name}")
    checkpoint.atomic_write(path, lambda handle: handle.write(png))


class VolumeTrainer(Trainer):
    """``Trainer`` for rank-3 models: random readout slabs of ``data.slab`` positions to train,
    whole validation volumes (with ``evaluate.baselines`` in 3D) to evaluate."""

    volumetric = True

    def count_examples(self):
        from mrinets.data import list_files, read_metadata
        from mrinets.data.volumes import count_slabs, is_volume_file

        for path in list_files(self.train_path):
            if not is_volume_file(read_metadata(path)):
                raise UsageError(f"model.rank: 3 (a 3D network) needs 3D data: data.builtin: mni152_3d, or files in "
                                   f"the layout of mrinets.data.volumes; {path!r} holds 2D slices.")
        return count_slabs(self.train_path, self.cfg["data"]["slab"])

    def dataset(self, epoch, skip):
        from mrinets.data.volumes import build_slab_dataset

        ds = build_slab_dataset(self.train_path, mask=self.cfg["mask"], slab=self.cfg["data"]["slab"],
                                batch_size=self.global_batch, seed=epoch_seed(self.cfg["train"]["seed"], epoch))
        if skip:
            ds = ds.skip(skip)
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        options.deterministic = True
        return self.strategy.experimental_distribute_dataset(ds.with_options(options))

    def val_dataset(self):
        from mrinets.data.volumes import build_volume_dataset

        return build_volume_dataset(self.val_path, mask=self.cfg["mask"])

    def collect(self, max_slices, baselines):
        self.volumes = collect_volumes(self.val_ds, self.predict, baselines=baselines)
        return self.volumes

    def evaluate(self, train_loss):
        record = super().evaluate(train_loss)
        if self.chief:
            step = self.state["step"]
            write_planes(os.path.join(self.run_dir, "figures", f"step_{step:07d}_planes.png"), self.volumes,
                         f"step {step}")
        return record
