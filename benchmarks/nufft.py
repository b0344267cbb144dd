"""NUFFT accuracy vs FINUFFT; speed of type 1, type 2 and the Toeplitz normal operator vs torchkbnufft
and FINUFFT at equal accuracy.

Accuracy: relative l2 error against FINUFFT at ``eps=1e-12`` (complex128) of every library, for
type 2 ``A`` (``exp(-i k.x)``), type 1 ``A^H`` and the normal operator ``A^H A``. The issue's goal for
mrinets: error <= 10x tol at tol 1e-4 (complex64) and 1e-6 (complex128).

Equal accuracy: torchkbnufft runs with its defaults (Kaiser-Bessel, 6 points, 2x grid; type 2 by
table interpolation, type 1 with its precomputed sparse interpolation matrix (its table adjoint is
5-10x slower on CPU), ``ToepNufft`` for ``A^H A``). For each operator, mrinets uses the largest
``tol`` of a ladder whose error is at most torchkbnufft's, FINUFFT the largest ``eps`` likewise,
all complex64. Speed: the fastest of 5 round-robin repeats (on a loaded machine a call's median
time measures the scheduler: torchkbnufft's Toeplitz product took 3 to 700 ms) of planned
operators on a fixed trajectory (mrinets ``NUFFTOperator`` / ``ToeplitzOperator`` under
``tf.function``, and with ``jit_compile=True`` in brackets; FINUFFT ``Plan`` with ``setpts`` done
once; FINUFFT has no Toeplitz operator, its normal operator is a type 2 plus a type 1), single
coil, the same threads. Cases: a 256x256 grid with 402 radial spokes of 512 samples, and a 64^3
golden-means kooshball of 1000 spokes of 128 samples. Goal: faster than torchkbnufft (ratio < 1); the ratio to FINUFFT (native C++) is reported.

    python -m benchmarks.nufft [--quick]
"""

import argparse
import os

import numpy as np

from benchmarks._timing import THREADS, cpu, row, set_tf_threads, set_torch_threads, time_candidates, write_results

CASES = {
    # name: (grid shape, trajectory factory arguments)
    "2d_radial_256_402": ((256, 256), {"kind": "radial", "views": 402}),
    "3d_kooshball_64": ((64, 64, 64), {"kind": "kooshball", "views": 1000}),
}
QUICK = {
    "2d_radial_256_402": ((128, 128), {"kind": "radial", "views": 201}),
    "3d_kooshball_64": ((24, 24, 24), {"kind": "kooshball", "views": 300}),
}
TOLERANCES = ((1e-4, "complex64"), (1e-6, "complex128"))
#: Tolerances tried for equal accuracy (complex64 reaches about 1e-6 at best): mrinets' kernel width
#: changes at each decade only, FINUFFT's eps acts continuously.
LADDER = {"mrinets": (1e-2, 1e-3, 1e-4, 1e-5, 1e-6), "finufft": (1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6)}
OPERATORS = ("type_2", "type_1", "normal")


def trajectory(grid_shape, kind, views):
    from mrinets.ops import kooshball_trajectory, radial_trajectory

    points = (radial_trajectory(grid_shape[0], views, angle_range="half") if kind == "radial"
              else kooshball_trajectory(grid_shape[0], views))
    return points.reshape(-1, len(grid_shape)).astype(np.float64)


def relative_error(a, b):
    return float(np.linalg.norm(np.ravel(a) - np.ravel(b)) / np.linalg.norm(np.ravel(b)))


def finufft_plans(grid_shape, points, eps, dtype="complex64"):
    """``{op: callable}`` of FINUFFT plans (setpts once) at ``eps``: type 2 ``A``, type 1 ``A^H``, ``A^H A``."""
    import finufft

    real = np.float32 if dtype == "complex64" else np.float64
    plans = {}
    for name, kind, sign in (("type_2", 2, -1), ("type_1", 1, 1)):
        plan = finufft.Plan(kind, grid_shape, eps=eps, isign=sign, nthreads=THREADS, dtype=dtype)
        plan.setpts(*[np.ascontiguousarray(c, dtype=real) for c in points.T])
        plans[name] = plan
    return {"type_2": plans["type_2"].execute, "type_1": plans["type_1"].execute,
            "normal": lambda x: plans["type_1"].execute(plans["type_2"].execute(x))}


def mrinets_operators(grid_shape, points, tol, dtype="complex64", jit_compile=False):
    """``{op: callable}`` on NumPy arrays of a planned mrinets operator at ``tol`` (``tf.function``)."""
    import tensorflow as tf

    from mrinets.ops import NUFFTOperator

    operator = NUFFTOperator(points, grid_shape, tol=tol, dtype=dtype)
    functions = {name: tf.function(f, jit_compile=jit_compile) for name, f in
                 (("type_2", operator.forward), ("type_1", operator.adjoint), ("normal", operator.toeplitz().__call__))}
    return {name: (lambda x, f=f: f(tf.constant(x)).numpy()) for name, f in functions.items()}


def torchkbnufft_operators(grid_shape, points):
    """torchkbnufft's fastest CPU paths for a fixed trajectory (see the module docstring), or None."""
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

    def numpy_in_out(function):
        def call(x):
            with torch.no_grad():
                return function(torch.from_numpy(np.ascontiguousarray(x))[None, None]).numpy()[0, 0]
        return call

    return {"type_2": numpy_in_out(lambda x: forward(x, omega)),
            "type_1": numpy_in_out(lambda y: adjoint(y, omega, interp_mats=matrices)),
            "normal": numpy_in_out(lambda x: toeplitz(x, kernel))}


def inputs(grid_shape, points, rng):
    image = rng.standard_normal(grid_shape) + 1j * rng.standard_normal(grid_shape)
    samples = rng.standard_normal(len(points)) + 1j * rng.standard_normal(len(points))
    return {"type_2": image, "type_1": samples, "normal": image}


def errors(operators, data, exact, dtype="complex64"):
    return {op: relative_error(operators[op](data[op].astype(dtype)), exact[op]) for op in OPERATORS}


def run_case(grid_shape, points, rng, repeats):
    """Errors of every library and tolerance, the equal-accuracy choice, and the timings."""
    data = inputs(grid_shape, points, rng)
    exact = {op: f(data[op]) for op, f in finufft_plans(grid_shape, points, 1e-12, "complex128").items()}
    accuracy = {f"mrinets_tol{tol:g}_{dtype}": errors(mrinets_operators(grid_shape, points, tol, dtype), data, exact,
                                                      dtype) for tol, dtype in TOLERANCES}
    peer = torchkbnufft_operators(grid_shape, points)
    if peer is not None:
        accuracy["torchkbnufft"] = errors(peer, data, exact)
    factories = {"mrinets": mrinets_operators, "finufft": finufft_plans}
    ladder = {library: {f"{tol:g}": errors(factories[library](grid_shape, points, tol), data, exact)
                        for tol in LADDER[library]} for library in factories}
    chosen = {}
    for op in OPERATORS:
        # The goal error: torchkbnufft's, or without it the tol 1e-4.
        goal = accuracy["torchkbnufft"][op] if peer is not None else 1e-4
        chosen[op] = {"goal_error": goal}
        for library in ("mrinets", "finufft"):
            tried = LADDER[library]
            meeting = [tol for tol in tried if ladder[library][f"{tol:g}"][op] <= goal] or [tried[-1]]
            chosen[op][f"{library}_tol"] = meeting[0]
            chosen[op][f"{library}_error"] = ladder[library][f"{meeting[0]:g}"][op]
    seconds = {}
    for op in OPERATORS:
        x = data[op].astype(np.complex64)
        ours = mrinets_operators(grid_shape, points, chosen[op]["mrinets_tol"])[op]
        compiled = mrinets_operators(grid_shape, points, chosen[op]["mrinets_tol"], jit_compile=True)[op]
        native = finufft_plans(grid_shape, points, chosen[op]["finufft_tol"])[op]
        candidates = {f"mrinets_{op}": lambda f=ours: f(x), f"mrinets_xla_{op}": lambda f=compiled: f(x),
                      f"finufft_{op}": lambda f=native: f(x)}
        if peer is not None:
            candidates[f"torchkbnufft_{op}"] = lambda f=peer[op]: f(x)
        seconds.update(time_candidates(candidates, repeats=repeats, warmup=1, reduce=min))
    return {"accuracy_vs_finufft": accuracy, "ladder": ladder, "equal_accuracy": chosen, "seconds": seconds}


def run(quick=False, done=None):
    """All cases; ``done(results)`` after each (to write what is finished)."""
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
                **run_case(grid_shape, points, rng, repeats=3 if quick else 5)}
        seconds = case["seconds"]
        for op in OPERATORS:
            for ours in ("mrinets", "mrinets_xla"):
                tag = "_xla" if ours.endswith("xla") else ""
                if f"torchkbnufft_{op}" in seconds:
                    case[f"ratio_{op}{tag}_vs_torchkbnufft"] = seconds[f"{ours}_{op}"] / seconds[f"torchkbnufft_{op}"]
                case[f"ratio_{op}{tag}_vs_finufft"] = seconds[f"{ours}_{op}"] / seconds[f"finufft_{op}"]
        results["cases"][name] = case
        results["cpu"]["load_average_at_end"] = list(os.getloadavg())
        if done is not None:
            done(results)
    return results


def rows(results):
    table = []
    for name, case in results["cases"].items():
        for key, found in case["accuracy_vs_finufft"].items():
            if not key.startswith("mrinets"):
                continue
            tol = float(key.split("_")[1][3:])
            table.append(row(f"{name}: relative error vs FINUFFT, {key} (type 2 / type 1 / normal)",
                             " / ".join(f"{found[op]:.2e}" for op in OPERATORS), f"<= {10 * tol:g}",
                             max(found[op] for op in ("type_2", "type_1")) <= 10 * tol))
        for op in OPERATORS:
            chosen = case["equal_accuracy"][op]
            accuracy = (f"errors {chosen['mrinets_error']:.1e} (tol {chosen['mrinets_tol']:g}) vs "
                        f"{chosen['goal_error']:.1e}")
            key = f"ratio_{op}_vs_torchkbnufft"
            xla = lambda peer, digits: (f" (XLA {case[f'ratio_{op}_xla_vs_{peer}']:.{digits}f}x)"  # noqa: E731
                                        if f"ratio_{op}_xla_vs_{peer}" in case else "")
            if key in case:
                table.append(row(f"{name}: {op} time at equal accuracy, mrinets / torchkbnufft ({accuracy})",
                                 f"{case[key]:.3f}x{xla('torchkbnufft', 3)}", "< 1x", case[key] < 1))
            table.append(row(f"{name}: {op} time at equal accuracy, mrinets / FINUFFT (native; FINUFFT eps "
                             f"{chosen['finufft_tol']:g}, error {chosen['finufft_error']:.1e})",
                             f"{case[f'ratio_{op}_vs_finufft']:.2f}x{xla('finufft', 2)}", "reported", None))
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller grids and fewer repeats")
    args = parser.parse_args()
    results = run(quick=args.quick, done=lambda partial: write_results("nufft", partial, rows(partial), args.quick))
    path = write_results("nufft", results, rows(results), quick=args.quick)
    for entry in rows(results):
        print(f"{entry['comparison']}: {entry['result']} (goal {entry['goal']})")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
