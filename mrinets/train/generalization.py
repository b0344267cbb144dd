"""Scoring a model on the generalization set (``mrinets.data.generalization``): real anatomy
in fastMRI's challenge layout at 4x and 8x, the model next to zero-filled and CG-SENSE, per file.

Training reports these figures at each validation (``train.generalization: true``) and
``mrinets evaluate --generalization`` prints them; they never choose the best checkpoint.
"""

import json
import os

from mrinets.train import evaluation

ACCELERATIONS = (4, 8)


class GeneralizationScorer:
    """Scores predictions on the prepared set; the baselines are computed once and kept.

    Args:
        root: a prepared set (default: ``prepare_generalization()`` in ``cache_dir``).
        cache_dir: where to prepare it.
        accelerations: challenge layouts to score.
    """

    def __init__(self, root=None, cache_dir=None, accelerations=ACCELERATIONS, progress=True):
        from mrinets.data.generalization import prepare_generalization

        self.root = root or prepare_generalization(cache_dir=cache_dir, progress=progress)
        self.accelerations = tuple(accelerations)
        self.baselines = {}

    def score(self, predict):
        """``{acceleration: (rows, means)}`` (``evaluation.volume_metrics``) of ``predict``."""
        from mrinets.data.generalization import scored_dataset

        out = {}
        for acceleration in self.accelerations:
            cached = self.baselines.get(acceleration)
            volumes = evaluation.collect(scored_dataset(self.root, acceleration), predict, baselines=cached is None)
            if cached is None:
                cached = self.baselines[acceleration] = {
                    name: {k: v for k, v in vol.items() if k in ("zero_filled", "cg_sense")} for name, vol in volumes.items()
                }
            for name, volume in volumes.items():
                volume.update(cached[name])
            out[acceleration] = evaluation.volume_metrics(volumes)
        return out


def flat_means(results):
    """``{"gen4x_model_psnr": ..., ...}``: the mean of each method and metric per acceleration."""
    return {f"gen{acc}x_{key}": value for acc, (_, means) in results.items() for key, value in means.items()}


def summary_line(acceleration, means):
    """One log line: model, zero-filled and CG-SENSE PSNR / SSIM at ``acceleration``."""
    parts = [f"{label} {means[f'{method}_psnr']:.2f} dB / {means[f'{method}_ssim']:.4f}"
             for method, label in (("model", "model"), ("zero_filled", "zero-filled"), ("cg_sense", "CG-SENSE"))
             if f"{method}_psnr" in means]
    return f"generalization {acceleration}x (real anatomy, PSNR / SSIM): " + " | ".join(parts)


def write_report(path, results, step=None):
    """Append ``{"step", "<R>x": {"volumes", "mean"}}`` to the JSON list at ``path``."""
    from mrinets.train.checkpoint import atomic_write_text

    history = []
    if os.path.exists(path):
        with open(path) as handle:
            history = [r for r in json.load(handle) if step is None or r.get("step", -1) < step]
    history.append({"step": step, **{f"{acc}x": {"volumes": rows, "mean": means} for acc, (rows, means) in results.items()}})
    atomic_write_text(path, json.dumps(history, indent=2))
