"""Run the benchmark suite: every comparison in its own subprocess, then the results table.

    python -m benchmarks [--quick] [--only NAME ...] [--threads N]

Writes ``benchmarks/results/<name>.json`` (``results/quick/`` with ``--quick``) and
``README.md`` beside them: one Markdown table of ratios, goals and pass/fail, with the
machine and date of each comparison. ``--only`` re-runs some comparisons; the table is
rebuilt from every JSON file present. Peers: ``bash benchmarks/install_peers.sh``.
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import time

from benchmarks._timing import THREADS, results_folder

#: name -> (module, what it compares)
COMPARISONS = {
    "conv": ("benchmarks.conv", "complex conv vs the real-conv limit, 4 real convs and cvnn"),
    "networks": ("benchmarks.networks", "complex U-Net vs its real limit; 3D VarNet gradient checkpointing on vs off"),
    "vs_fastmri": ("benchmarks.vs_fastmri", "VarNet and U-Net train steps vs fastMRI (PyTorch): time, memory"),
    "quality": ("benchmarks.quality", "VarNet quality at equal training time vs fastMRI"),
    "data": ("benchmarks.data", "input pipeline vs training consumption"),
    "nufft": ("benchmarks.nufft", "NUFFT accuracy vs FINUFFT; type 1/2 and Toeplitz speed vs torchkbnufft, FINUFFT"),
    "complex_vs_real": ("benchmarks.complex_vs_real", "VarNet with complex vs real regularizers; complex norm speed"),
    "classical": ("benchmarks.classical", "ESPIRiT vs sigpy, every baseline's quality at 4x/8x, L1-wavelet speed vs sigpy"),
    "profile_step": ("benchmarks.profile_step", "where a VarNet train step goes, per instruction set, vs PyTorch per layer"),
    "precision": ("benchmarks.precision", "VarNet train step in mixed_bfloat16 / mixed_float16 vs float32; what precision auto picks"),
}


def run(names, quick, threads):
    env = {**os.environ, "MRINETS_BENCH_THREADS": str(threads), "TF_CPP_MIN_LOG_LEVEL": "2"}
    failed = []
    for name in names:
        module, what = COMPARISONS[name]
        print(f"== {name}: {what}", flush=True)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", module] + (["--quick"] if quick else []), env=env)
        print(f"== {name}: {'ok' if done.returncode == 0 else f'FAILED ({done.returncode})'} "
              f"in {time.perf_counter() - start:.0f} s", flush=True)
        if done.returncode != 0:
            failed.append(name)
    return failed


def _mark(passed):
    return "n/a" if passed is None else "yes" if passed else "**no**"


def _cpu(cpu):
    """``", CPU <model> (AVX-512 yes/no), load average <at start> -> <at end>"`` of a result's ``cpu`` entry."""
    if not cpu:
        return ""
    load = cpu.get("load_average")
    load = "" if not isinstance(load, list) else f", load average {load[0]:.1f}" + (
        f" -> {cpu['load_average_at_end'][0]:.1f}" if "load_average_at_end" in cpu else "")
    return f", CPU {cpu['model']} (AVX-512 {'yes' if cpu.get('avx512') else 'no'}){load}"


def table(folder):
    """The Markdown report of every ``<name>.json`` in ``folder``."""
    lines = ["# Benchmark results", "",
             "Written by `python -m benchmarks`; ratios are medians of interleaved, warmed-up repeats.",
             "Both frameworks get the same CPU threads; see each JSON file for every figure.", ""]
    # <name>.json, then its variants <name>_<what>.json (e.g. vs_fastmri_avx2_avx2-onednn.json)
    found = [(name, path) for name in COMPARISONS
             for path in glob.glob(os.path.join(folder, f"{name}.json")) + sorted(glob.glob(os.path.join(folder, f"{name}_*.json")))]
    for name, path in found:
        file = os.path.basename(path)[: -len(".json")]
        with open(path) as handle:
            results = json.load(handle)
        m = results["machine"]
        threads = results.get("threads", m.get("threads", "?"))
        machine = (f"{m['date'][:10]}, {m['cpus']} CPUs ({m['processor']}), {threads} threads per framework"
                   f"{', GPU ' + ', '.join(m['gpus']) if m['gpus'] else ''}, TensorFlow {m['tensorflow']}"
                   f"{', torch ' + m['torch'] if 'torch' in m else ''}{_cpu(results.get('cpu') or m.get('cpu'))}")
        lines += [f"## {file}: {COMPARISONS[name][1]}", "", f"{machine}. `{file}.json`", "",
                  "| comparison | result | goal | met |", "|---|---|---|---|"]
        lines += [f"| {r['comparison']} | {r['result']} | {r['goal']} | {_mark(r['pass'])} |"
                  for r in results.get("rows", [])]
        if name in ("quality", "complex_vs_real"):
            zero = results["zero_filled"]["metrics"]
            lines += ["", "Zero-filled reference: " + "; ".join(
                f"{acc} PSNR {v['psnr']:.2f} dB, SSIM {v['ssim']:.4f}, NMSE {v['nmse']:.4f}" for acc, v in zero.items())
                + f". Schedule: {results['schedule']}."]
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats (results/quick/)")
    parser.add_argument("--only", nargs="+", choices=sorted(COMPARISONS), metavar="NAME",
                        help=f"run only these: {', '.join(COMPARISONS)}")
    parser.add_argument("--threads", type=int, default=THREADS, help="CPU threads per framework (default %(default)s)")
    parser.add_argument("--table-only", action="store_true", help="rebuild README.md from the JSON files")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"Invalid value for argument `--threads`. Expected a strictly positive integer. "
                     f"Received: --threads={args.threads}")
    failed = [] if args.table_only else run(args.only or list(COMPARISONS), args.quick, args.threads)
    folder = results_folder(args.quick)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "README.md")
    with open(path, "w") as handle:
        handle.write(table(folder))
    print(f"wrote {path}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
