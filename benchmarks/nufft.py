"""NUFFT accuracy vs FINUFFT; speed of type 1, type 2 and the Toeplitz normal operator vs torchkbnufft and FINUFFT.

Accuracy: relative l2 error of ``mrinets.ops.nufft`` (type 1 and 2) against FINUFFT at
``eps=1e-12`` on the 2D radial case, at tol 1e-4 (complex64) and 1e-6 (complex128); goal
<= 10x tol. Speed: planned operators on a fixed trajectory (mrinets ``NUFFTOperator`` under
``tf.function``; torchkbnufft ``KbNufft`` (table interpolation), ``KbNufftAdjoint`` with its
precomputed sparse interpolation matrix and ``ToepNufft``, default kernel; FINUFFT ``Plan`` with
``setpts`` done once), complex64, single coil, the same threads. Cases: a 256x256 grid with 402
radial spokes of 512 samples, and a 32^3 golden-means kooshball of 1000 spokes. FINUFFT has no Toeplitz operator: its normal operator is a type 2 plus a type 1.
Goal: faster than torchkbnufft (ratio < 1) at equal or better accuracy; the ratio to FINUFFT
(native C++) is reported.

    python -m benchmarks.nufft [--quick]
"""

import argparse
import os

import numpy as np

from benchmarks._timing import THREADS, row, set_tf_threads, set_torch_threads, time_candidates, write_results

CASES = {
    # name: (grid shape, trajectory factory arguments)
    "2d_radial_256_402": ((256, 256), {"kind": "radial", "views": 402}),
    "3d_kooshball_32": ((32, 32, 32), {"kind": "kooshball", "views": 1000}),
}
QUICK = {
    "2d_radial_256_402": ((128, 128), {"kind": "radial", "views": 201}),
    "3d_kooshball_32": ((16, 16, 16), {"kind": "kooshball", "views": 250}),
}
TOLERANCES = ((1e-4, "complex64"), (1e-6, "complex128"))


def trajectory(grid_shape, kind, views):
    from mrinets.ops import kooshball_trajectory, radial_trajectory

    points = (radial_trajectory(grid_shape[0], views, angle_range="half") if kind == "radial"
              else kooshball_trajectory(grid_shape[0], views))
    return points.reshape(-1, len(grid_shape)).astype(np.float64)


def _finufft(rank):
    import finufft

    return finufft, {2: (finufft.nufft2d1, finufft.nufft2d2), 3: (finufft.nufft3d1, finufft.nufft3d2)}[rank]


def torchkbnufft_operators(grid_shape, points):
    """torchkbnufft's fastest CPU paths for a fixed trajectory, or None without it: type 2 by table
    interpolation (its default), type 1 with the precomputed sparse interpolation matrix (its
    table adjoint is 5-10x slower on CPU), the normal operator by its Toeplitz kernel."""
    try:
        import torch
        import torchkbnufft
    except ImportError:
        return None
    omega = torch.tensor(points.T.copy(), dtype=torch.float32)
    forward = torchkbnufft.KbNufft(im_size=grid_shape)
    adjoint = torchkbnufft.KbNufftAdjoint(im_size=grid_shape)
    matrices = torchkbnufft.calc_tensor_spmatrix(omega, im_size=grid_shape)
    toeplitz = torchkbnufft.ToepNufft()
    kernel = torchkbnufft.calc_toeplitz_kernel(omega, im_size=grid_shape)
    return (lambda x: forward(x, omega), lambda y: adjoint(y, omega, interp_mats=matrices),
            lambda x: toeplitz(x, kernel))


def accuracy(grid_shape, points, rng):
    """Relative errors of mrinets (and torchkbnufft) against FINUFFT at eps=1e-12."""
    import tensorflow as tf

    from mrinets.ops import nufft

    finufft, (type_1, type_2) = _finufft(len(grid_shape))
    coordinates = list(np.ascontiguousarray(points.T))
    image = rng.standard_normal(grid_shape) + 1j * rng.standard_normal(grid_shape)
    samples = rng.standard_normal(len(points)) + 1j * rng.standard_normal(len(points))
    exact_2 = type_2(*coordinates, image, isign=-1, eps=1e-12)
    exact_1 = type_1(*coordinates, samples, grid_shape, isign=1, eps=1e-12)
    error = lambda a, b: float(np.linalg.norm(a - b) / np.linalg.norm(b))  # noqa: E731
    out = {}
    for tol, dtype in TOLERANCES:
        result_2 = nufft(tf.constant(image, dtype), points, tol=tol).numpy()
        result_1 = nufft(tf.constant(samples, dtype), points, grid_shape, "type_1", "backward", tol=tol).numpy()
        out[f"mrinets_tol{tol:g}_{dtype}"] = {"type_2": error(result_2, exact_2), "type_1": error(result_1, exact_1)}
    peer = torchkbnufft_operators(grid_shape, points)
    if peer is not None:
        import torch

        forward, adjoint, _ = peer
        result_2 = forward(torch.tensor(image, dtype=torch.complex64)[None, None]).numpy().ravel()
        result_1 = adjoint(torch.tensor(samples, dtype=torch.complex64)[None, None]).numpy()[0, 0]
        out["torchkbnufft"] = {"type_2": error(result_2, exact_2), "type_1": error(result_1, exact_1)}
    return out


def speed(grid_shape, points, rng, repeats):
    """Median seconds of type 2, type 1 and the normal operator for each library."""
    import tensorflow as tf

    from mrinets.ops import NUFFTOperator

    rank = len(grid_shape)
    image = (rng.standard_normal(grid_shape) + 1j * rng.standard_normal(grid_shape)).astype(np.complex64)
    samples = (rng.standard_normal(len(points)) + 1j * rng.standard_normal(len(points))).astype(np.complex64)
    operator = NUFFTOperator(points, grid_shape, tol=1e-4, dtype=tf.complex64)
    normal = operator.toeplitz()
    x, y = tf.constant(image[None]), tf.constant(samples[None])
    ours = {"type_2": tf.function(operator.forward), "type_1": tf.function(operator.adjoint),
            "normal": tf.function(normal.__call__)}
    candidates = {f"mrinets_{name}": (lambda f=f, a=(x if name != "type_1" else y): f(a).numpy())
                  for name, f in ours.items()}
    finufft, _ = _finufft(rank)
    plans = {}
    for name, kind, sign in (("type_2", 2, -1), ("type_1", 1, 1)):
        plan = finufft.Plan(kind, grid_shape, eps=1e-4, isign=sign, nthreads=THREADS, dtype="complex64")
        plan.setpts(*[np.ascontiguousarray(c, dtype=np.float32) for c in points.T])
        plans[name] = plan
    candidates["finufft_type_2"] = lambda: plans["type_2"].execute(image)
    candidates["finufft_type_1"] = lambda: plans["type_1"].execute(samples)
    candidates["finufft_normal"] = lambda: plans["type_1"].execute(plans["type_2"].execute(image))
    seconds = time_candidates(candidates, repeats=repeats, warmup=2)
    peer = torchkbnufft_operators(grid_shape, points)
    if peer is not None:  # seconds per call: fewer repeats
        import torch

        forward, adjoint, normal = peer
        xt, yt = torch.tensor(image)[None, None], torch.tensor(samples)[None, None]
        with torch.no_grad():
            seconds.update(time_candidates({"torchkbnufft_type_2": lambda: forward(xt),
                                            "torchkbnufft_type_1": lambda: adjoint(yt),
                                            "torchkbnufft_normal": lambda: normal(xt)},
                                           repeats=max(2, repeats // 3), warmup=1))
    return seconds


def cpu():
    """CPU model, whether it has AVX-512, and the load average when the run started (Linux)."""
    with open("/proc/cpuinfo") as handle:
        info = handle.read()
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    return {"model": model, "avx512": "avx512f" in info, "load_average": list(os.getloadavg())}


def run(quick=False):
    threads = set_tf_threads()
    try:
        set_torch_threads()
    except ImportError:
        pass
    rng = np.random.default_rng(0)
    results = {"threads": threads, "cpu": cpu(), "cases": {}}
    for name, (grid_shape, spec) in (QUICK if quick else CASES).items():
        points = trajectory(grid_shape, **spec)
        case = {"grid_shape": list(grid_shape), "points": len(points), "trajectory": spec,
                "accuracy_vs_finufft": accuracy(grid_shape, points, rng),
                "seconds": speed(grid_shape, points, rng, repeats=3 if quick else 10)}
        seconds = case["seconds"]
        for op in ("type_2", "type_1", "normal"):
            if f"torchkbnufft_{op}" in seconds:
                case[f"ratio_{op}_vs_torchkbnufft"] = seconds[f"mrinets_{op}"] / seconds[f"torchkbnufft_{op}"]
            case[f"ratio_{op}_vs_finufft"] = seconds[f"mrinets_{op}"] / seconds[f"finufft_{op}"]
        results["cases"][name] = case
    return results


def rows(results):
    table = []
    for name, case in results["cases"].items():
        for key, errors in case["accuracy_vs_finufft"].items():
            if not key.startswith("mrinets"):
                continue
            tol = float(key.split("_")[1][3:])
            table.append(row(f"{name}: relative error vs FINUFFT, {key} (type 2 / type 1)",
                             f"{errors['type_2']:.2e} / {errors['type_1']:.2e}", f"<= {10 * tol:g}",
                             max(errors.values()) <= 10 * tol))
        reference = case["accuracy_vs_finufft"].get("torchkbnufft")
        for op in ("type_2", "type_1", "normal"):
            key = f"ratio_{op}_vs_torchkbnufft"
            if key in case:
                accuracy_note = f" (its error {reference[op]:.1e})" if reference and op in reference else ""
                table.append(row(f"{name}: {op} time, mrinets tol 1e-4 / torchkbnufft{accuracy_note}",
                                 f"{case[key]:.3f}x", "< 1x", case[key] < 1))
            table.append(row(f"{name}: {op} time, mrinets / FINUFFT (eps 1e-4, native)",
                             f"{case[f'ratio_{op}_vs_finufft']:.2f}x", "reported", None))
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller grids and fewer repeats")
    args = parser.parse_args()
    results = run(quick=args.quick)
    path = write_results("nufft", results, rows(results), quick=args.quick)
    for entry in rows(results):
        print(f"{entry['comparison']}: {entry['result']} (goal {entry['goal']})")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
