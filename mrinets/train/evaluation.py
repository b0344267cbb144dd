"""Validation: per-volume fastMRI metrics of a model next to classical baselines, and figures.

The baselines: for Cartesian data the registry entries of kind ``baseline`` (``evaluate.baselines``
in a training config; default zero-filled and CG-SENSE); for non-Cartesian data gridding (the
density-compensated adjoint, RSS) and non-Cartesian CG-SENSE (``ops.cg_sense_nc``).

Predictions and targets are put back in the files' units (times the pipeline's ``scale``)
and stacked per file (volume) before ``nmse``/``psnr``/``ssim`` (``maxval`` = the volume's max).
"""

import functools
import io
import os

import numpy as np
import tensorflow as tf

from mrinets import metrics, ops
from mrinets.ops import center_crop

DEFAULT_BASELINES = ("zero_filled", "cg_sense")
#: Baseline method -> its label in logs and figures (others are labelled by their name).
BASELINES = {"zero_filled": "zero-filled", "gridding": "gridding", "cg_sense": "CG-SENSE"}
METRIC_NAMES = ("nmse", "psnr", "ssim")


def predict_function(model):
    """A ``tf.function`` mapping pipeline inputs to float32 magnitude images."""

    @tf.function(reduce_retracing=True)
    def predict(inputs):
        return tf.cast(model(inputs, training=False), tf.float32)

    return predict


def baseline_functions(specs=DEFAULT_BASELINES, rank=2):
    """``{name: f(kspace, mask, num_low_frequencies) -> magnitude}`` (``tf.function``) of baseline specs.

    ``specs``: registered baseline names or ``{"type": name, **options}`` mappings; a name given
    twice gets a ``_2``, ``_3`` suffix. ``rank``: spatial axes of the k-space (3: 3D volumes).
    """
    from mrinets import registry

    functions = {}
    for spec in specs:
        options = {"type": spec} if isinstance(spec, str) else dict(spec)
        name = options.pop("type")
        baseline = registry.get("baseline", name)
        key, n = name, 1
        while key in functions:
            n += 1
            key = f"{name}_{n}"
        call = functools.partial(_call_baseline, baseline, {**options, "rank": rank})
        functions[key] = tf.function(call, reduce_retracing=True)
    return functions


def _call_baseline(baseline, options, kspace, mask, num_low):
    return tf.cast(baseline(kspace, mask, num_low_frequencies=num_low, **options), tf.float32)


@tf.function(reduce_retracing=True)
def _noncartesian_baselines(kspace, trajectory, density, shape):
    operator = ops.NUFFTOperator(trajectory[:, None], shape, tol=1e-4, dtype=kspace.dtype)
    density = density[:, None]  # (batch, 1, M) broadcasts over coils
    return (ops.gridding_reconstruction(kspace, operator, density),
            ops.cg_sense_nc(kspace, operator, density=density))


def collect(dataset, predict=None, baselines=True, max_slices=None):
    """Run over ``dataset`` (``return_metadata=True``); return ``{fname: {method: (slices, h, w)}}``.

    ``predict``: a function of the inputs (``None``: baselines only). ``baselines``: True (the
    defaults), False, or specs for ``baseline_functions``. Images are in file units.
    """
    if baselines is True:
        baselines = DEFAULT_BASELINES
    functions = baseline_functions(baselines or ())
    volumes = {}
    seen = 0
    for element in dataset:
        inputs, target, meta = element
        scale = meta["scale"].numpy()[:, None, None]
        shape = tf.shape(target)[-2:]
        images = {"target": target.numpy() * scale}
        if predict is not None:
            images["model"] = center_crop(predict(inputs), shape).numpy() * scale
        if baselines and "trajectory" in inputs:  # non-Cartesian: its own operator's baselines
            gridding, cg = _noncartesian_baselines(inputs["kspace"], inputs["trajectory"], inputs["density"],
                                                   tuple(int(n) for n in target.shape[-2:]))
            images.update({"gridding": gridding.numpy() * scale, "cg_sense": cg.numpy() * scale})
        elif baselines:
            for name, function in functions.items():
                image = function(inputs["kspace"], inputs["mask"], inputs["num_low_frequencies"])
                images[name] = center_crop(image, shape).numpy() * scale
        names = [n.decode() for n in meta["fname"].numpy()]
        slices = meta["slice"].numpy()
        for i, (name, index) in enumerate(zip(names, slices)):
            volume = volumes.setdefault(name, {})
            for key, value in images.items():
                volume.setdefault(key, {})[int(index)] = value[i]
        seen += len(names)
        if max_slices is not None and seen >= max_slices:
            break
    return {
        name: {key: np.stack([per[k] for k in sorted(per)]) for key, per in volume.items()}
        for name, volume in volumes.items()
    }


def methods_of(volumes):
    """The methods of ``volumes`` in order: the model first, then the baselines as collected."""
    keys = [k for k in next(iter(volumes.values()), {}) if k != "target"]
    return sorted(keys, key=lambda k: k != "model")


def volume_metrics(volumes, methods=None, count="slices"):
    """Per-volume rows ``{"volume", count, "<method>_<metric>"}`` and their means (a dict).

    ``methods``: default ``methods_of(volumes)``. ``count``: the name of the column counting the
    first axis (2D: ``"slices"``; 3D volumes: ``"readout_positions"``).
    """
    methods = methods_of(volumes) if methods is None else methods
    rows = []
    for name in sorted(volumes):
        volume = volumes[name]
        gt = volume["target"]
        row = {"volume": name, count: int(gt.shape[0])}
        for method in methods:
            if method in volume:
                row[f"{method}_nmse"] = metrics.nmse(gt, volume[method])
                row[f"{method}_psnr"] = metrics.psnr(gt, volume[method])
                row[f"{method}_ssim"] = metrics.ssim(gt, volume[method])
        rows.append(row)
    means = {}
    for key in rows[0] if rows else ():
        if key not in ("volume", count):
            means[key] = float(np.mean([r[key] for r in rows]))
    return rows, means


def first_baseline(volume):
    """The first of ``BASELINES`` (zero-filled or gridding) that ``volume`` holds, or None."""
    return next((method for method in BASELINES if method in volume), None)


def panel(volumes, index=None):
    """``(name, slice, baseline, model, target)`` of the first volume (its middle slice by default); the
    baseline is the first of ``BASELINES`` the volume holds (zeros without one)."""
    name = sorted(volumes)[0]
    volume = volumes[name]
    k = volume["target"].shape[0] // 2 if index is None else index
    baseline = volume.get(first_baseline(volume), volume["target"] * 0)
    return name, k, baseline[k], volume["model"][k], volume["target"][k]


def png_bytes(fig, title=""):
    """PNG bytes of a matplotlib figure, titled ``title``; the figure is closed."""
    import matplotlib.pyplot as plt

    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return buffer.getvalue()


def figure_png(zero_filled, recon, target, title="", baseline="zero-filled"):
    """PNG bytes of the baseline (``zero_filled``, labelled ``baseline``) | reconstruction | reference |
    error map (x5)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    vmax = float(np.percentile(target, 99.5)) or 1.0
    fig, axes = plt.subplots(1, 4, figsize=(12, 3.4))
    zf_psnr = metrics.psnr(target, zero_filled)
    rc_psnr = metrics.psnr(target, recon)
    items = [
        (zero_filled, f"{baseline} ({zf_psnr:.2f} dB)", "gray", vmax),
        (recon, f"reconstruction ({rc_psnr:.2f} dB)", "gray", vmax),
        (target, "reference", "gray", vmax),
        (np.abs(recon - target), "|error| x5", "inferno", vmax / 5),
    ]
    for ax, (image, label, cmap, top) in zip(axes, items):
        ax.imshow(image, cmap=cmap, vmin=0, vmax=top)
        ax.set_title(label, fontsize=9)
        ax.axis("off")
    return png_bytes(fig, title)


def panel_image(zero_filled, recon, target):
    """A ``(1, h, 4w, 1)`` float image in [0, 1] for ``tf.summary.image``."""
    vmax = float(np.percentile(target, 99.5)) or 1.0
    error = np.abs(recon - target) * 5
    row = np.concatenate([zero_filled, recon, target, error], axis=-1) / vmax
    return np.clip(row, 0, 1)[None, :, :, None].astype(np.float32)


def format_table(rows, means, methods=None, count="slices"):
    """A text table: one line per volume and a mean line, NMSE/PSNR/SSIM per method (default: all in ``rows``).

    ``count``: the rows' counting column (``volume_metrics``'), headed with its words.
    """
    if methods is None:
        methods = [k[: -len("_psnr")] for k in (rows[0] if rows else ()) if k.endswith("_psnr")]
    methods = [m for m in methods if rows and f"{m}_psnr" in rows[0]]
    headers = ["volume", count.replace("_", " ")] + [f"{m} {k.upper()}" for m in methods for k in METRIC_NAMES]

    def cells(row):
        out = []
        for m in methods:
            out += [f"{row[f'{m}_nmse']:.4f}", f"{row[f'{m}_psnr']:.2f}", f"{row[f'{m}_ssim']:.4f}"]
        return out

    table = [[r["volume"], str(r[count])] + cells(r) for r in rows]
    table.append(["mean", str(sum(r[count] for r in rows))] + cells(means))
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(t, widths)) for t in table]
    return "\n".join(line.rstrip() for line in lines)


def write_reconstructions(volumes, folder):
    """Write ``{fname: (slices, h, w)}`` as fastMRI submission files (``reconstruction`` dataset)."""
    import h5py

    from mrinets.train.checkpoint import atomic_write

    os.makedirs(folder, exist_ok=True)
    paths = []
    for name, images in sorted(volumes.items()):
        path = os.path.join(folder, name)

        def write(handle, images=images):
            buffer = io.BytesIO()
            with h5py.File(buffer, "w") as f:
                f.create_dataset("reconstruction", data=np.asarray(images, np.float32))
            handle.write(buffer.getvalue())

        atomic_write(path, write)
        paths.append(path)
    return paths
