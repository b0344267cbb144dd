"""Complex conv forward+backward vs the real-conv limit, the 4-real-conv method and cvnn.

The limit is ONE real conv of 2C -> 2F channels on the same spatial shape: what
a complex conv must cost at least. Two mrinets variants are timed:
``stacked`` (inside a network: float stacked input/output) and ``complex_io``
(complex64 at the boundary, converting in and out). Goals: stacked <= 1.05x,
complex_io <= 1.25x the limit; the 4-real-conv method and cvnn's ``ComplexConvND``
(also four real convs; skipped when cvnn does not import) >= 1.3x slower than ours.

    python -m benchmarks.conv [--quick]
"""

import argparse

import keras
import tensorflow as tf

from benchmarks._timing import row, set_tf_threads, time_candidates, write_results
from mrinets.layers import Conv1D, Conv2D, Conv3D

CASES = {
    # rank: (layer, input shape (batch, *spatial, C), filters)
    1: (Conv1D, (16, 2048, 32), 32),
    2: (Conv2D, (4, 128, 128, 16), 16),
    3: (Conv3D, (2, 24, 24, 24, 8), 8),
}


def _step(layer_fn, variables, inputs):
    @tf.function
    def step():
        with tf.GradientTape() as tape:
            outputs = layer_fn(inputs)
            loss = tf.reduce_sum(tf.abs(outputs) ** 2) if outputs.dtype.is_complex else tf.reduce_sum(outputs**2)
        return tape.gradient(loss, variables + [inputs])

    return lambda: [g.numpy() for g in step()[:1]]


def four_real_convs(rank, shape, filters):
    """Reference method: y = (Wr*xr - Wi*xi) + i (Wr*xi + Wi*xr) with four real convs."""
    kernel_shape = (3,) * rank + (shape[-1], filters)
    wr = tf.Variable(tf.random.normal(kernel_shape) * 0.1)
    wi = tf.Variable(tf.random.normal(kernel_shape) * 0.1)

    def apply(z):
        xr, xi = tf.math.real(z), tf.math.imag(z)
        conv = lambda x, w: keras.ops.conv(x, w, padding="same")  # noqa: E731
        return tf.complex(conv(xr, wr) - conv(xi, wi), conv(xr, wi) + conv(xi, wr))

    return apply, [wr, wi]


def cvnn_conv(rank, shape, filters):
    """cvnn's ComplexConvND and its weights (plain tf.Variables: Keras 3 does not track them),
    or None when cvnn does not import."""
    try:
        import cvnn.layers
    except Exception:  # ImportError, or tensorflow_probability refusing to load without tf-keras
        return None
    layer = getattr(cvnn.layers, f"ComplexConv{rank}D")(filters, 3, padding="same")
    layer(tf.complex(tf.zeros(shape), tf.zeros(shape)))
    weights = [layer.kernel_r, layer.kernel_i] + ([layer.bias_r, layer.bias_i] if layer.use_bias else [])
    return layer, weights


def cvnn_status():
    try:
        import cvnn.layers  # noqa: F401
    except Exception as error:
        return f"not benchmarked: import cvnn.layers fails ({type(error).__name__}: {error})"
    import cvnn

    return (f"cvnn {getattr(cvnn, '__version__', '')} imports (with tf-keras installed); its layers run on "
            "Keras 3 but keep their weights in plain tf.Variables that layer.weights does not list")


def run(quick=False):
    results = {"cases": {}, "threads": set_tf_threads(), "cvnn": cvnn_status()}
    for rank, (cls, shape, filters) in CASES.items():
        if quick:
            shape = (shape[0],) + tuple(max(8, s // 2) for s in shape[1:-1]) + (shape[-1],)
        z = tf.Variable(tf.complex(tf.random.normal(shape), tf.random.normal(shape)))
        stacked_in = tf.Variable(tf.random.normal(shape[:-1] + (2 * shape[-1],)))
        limit = keras.layers.Conv1D if rank == 1 else keras.layers.Conv2D if rank == 2 else keras.layers.Conv3D
        real = limit(2 * filters, 3, padding="same")
        real.build(stacked_in.shape)
        ours_stacked = cls(filters, 3, padding="same", dtype="complex64", stacked=True)
        ours_stacked.build(stacked_in.shape)
        ours_complex = cls(filters, 3, padding="same", dtype="complex64")
        ours_complex.build(shape)
        four, four_vars = four_real_convs(rank, shape, filters)
        candidates = {
            "real_limit": _step(real, real.trainable_variables, stacked_in),
            "mrinets_stacked": _step(ours_stacked, ours_stacked.trainable_variables, stacked_in),
            "mrinets_complex_io": _step(ours_complex, ours_complex.trainable_variables, z),
            "four_real_convs": _step(four, four_vars, z),
        }
        peer = cvnn_conv(rank, shape, filters)
        if peer is not None:
            candidates["cvnn"] = _step(peer[0], peer[1], z)
        times = time_candidates(candidates, repeats=5 if quick else 15)
        limit_time = times["real_limit"]
        case = results["cases"][f"conv{rank}d"] = {
            "input_shape": list(shape),
            "filters": filters,
            "seconds": times,
            "ratio_stacked_vs_limit": times["mrinets_stacked"] / limit_time,
            "ratio_complex_io_vs_limit": times["mrinets_complex_io"] / limit_time,
            "speedup_vs_four_real_convs": times["four_real_convs"] / times["mrinets_complex_io"],
        }
        if "cvnn" in times:
            case["speedup_vs_cvnn"] = times["cvnn"] / times["mrinets_complex_io"]
    results["goals"] = {"ratio_stacked_vs_limit": 1.05, "ratio_complex_io_vs_limit": 1.25,
                        "speedup_vs_four_real_convs": 1.3, "speedup_vs_cvnn": 1.3}
    return results


def rows(results):
    cases, goals = results["cases"], results["goals"]
    labels = {
        "ratio_stacked_vs_limit": ("complex Conv1D/2D/3D inside a network (stacked) vs one real conv 2C->2F", "<="),
        "ratio_complex_io_vs_limit": ("complex Conv1D/2D/3D with complex64 I/O vs one real conv 2C->2F", "<="),
        "speedup_vs_four_real_convs": ("complex Conv1D/2D/3D (complex64 I/O): speed-up vs 4 real convs", ">="),
        "speedup_vs_cvnn": ("complex Conv1D/2D/3D (complex64 I/O): speed-up vs cvnn ComplexConvND", ">="),
    }
    table = []
    for key, (label, sense) in labels.items():
        values = [case.get(key) for case in cases.values()]
        if None in values:
            table.append(row(label, results["cvnn"], f"{sense} {goals[key]}x", None))
            continue
        passed = all(v <= goals[key] if sense == "<=" else v >= goals[key] for v in values)
        table.append(row(label, " / ".join(f"{v:.2f}x" for v in values), f"{sense} {goals[key]}x", passed))
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller shapes and fewer repeats")
    args = parser.parse_args()
    results = run(quick=args.quick)
    path = write_results("conv", results, rows(results), quick=args.quick)
    for name, case in results["cases"].items():
        print(f"{name}: stacked {case['ratio_stacked_vs_limit']:.3f}x, complex I/O "
              f"{case['ratio_complex_io_vs_limit']:.3f}x the real-conv limit; "
              f"{case['speedup_vs_four_real_convs']:.2f}x faster than 4 real convs"
              + (f", {case['speedup_vs_cvnn']:.2f}x faster than cvnn" if "speedup_vs_cvnn" in case else ""))
    print(results["cvnn"])
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
