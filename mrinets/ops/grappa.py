"""GRAPPA (Griswold et al., MRM 47:1202, 2002) for Cartesian line masks of any acceleration.

Every missing phase-encoding line is synthesized, coil by coil, from its nearest sampled line
on each side (circularly: beyond the last line comes the first, as for the DFT),
``readout_width`` readout points of each and every coil. The weights of each distinct pair of source offsets are fitted
on the fully sampled ACS lines (Tikhonov-regularized least squares), so irregular masks
(fastMRI's equispaced-fraction spacing, random lines) work as well as regular ones. Where the
two sources and the target leave fewer than ``MIN_CALIBRATION_LINES`` (3) ACS lines to calibrate
on, only the nearer source is used; a line whose nearer source leaves fewer stays zero.

Shapes: kspace `(batch, coils, readout, lines)` complex (fastMRI layout: phase encoding along
the last axis); mask broadcastable to `(batch, 1, 1, lines)`.
"""

import tensorflow as tf

from mrinets.arguments import check_number, check_positive_int, invalid_argument
from mrinets.ops.fft import _as_complex, check_rank, ifftn
from mrinets.ops.sense import rss


def _source_offsets(sampled):
    """Per line, the offsets `(lines, 2)` of the nearest sampled line below and above, circularly
    (k-space wraps around as the DFT does)."""
    n = tf.shape(sampled)[0]
    index = tf.range(n)
    distance = tf.math.floormod(index[None, :] - index[:, None], n)  # (target, source) in [0, n)
    distance = tf.where(sampled[None, :] & (distance > 0), distance, 2 * n)
    above = tf.reduce_min(distance, 1)
    below = tf.reduce_min(tf.where(distance < 2 * n, n - distance, 2 * n), 1)
    return tf.stack([-below, above], 1)


def _line_features(kspace, readout_width):
    """`(lines, readout, coils)` -> `(lines, readout, readout_width * coils)`: each point's readout neighbours."""
    half = readout_width // 2
    padded = tf.pad(kspace, [[0, 0], [half, readout_width - 1 - half], [0, 0]])
    size = tf.shape(kspace)[1]
    shifted = [padded[:, i : i + size] for i in range(readout_width)]
    return tf.concat(shifted, -1)


#: Fewest ACS target lines a kernel is calibrated on: a kernel spanning more of the ACS overfits it
#: (5 rather than 3 raised GRAPPA above zero-filled at 4x on the built-in MNI152 training split:
#: fastMRI's 10 ACS lines leave 4 for the 6-line gaps of its equispaced-fraction mask).
MIN_CALIBRATION_LINES = 5


def _fit_to_acs(pairs, acs_length):
    """Keep both source offsets where their span with the target leaves ``MIN_CALIBRATION_LINES``
    calibration lines in the ACS, else only the nearer.

    Returns `(M, 2)` offsets and a `(M,)` bool "second source used"; an unused source has offset 0.
    """
    low = tf.minimum(tf.reduce_min(pairs, 1), 0)
    high = tf.maximum(tf.reduce_max(pairs, 1), 0)
    both = high - low <= acs_length - MIN_CALIBRATION_LINES
    nearer = tf.where(tf.abs(pairs[:, 0]) <= tf.abs(pairs[:, 1]), pairs[:, 0], pairs[:, 1])
    first = tf.where(both, pairs[:, 0], nearer)
    second = tf.where(both, pairs[:, 1], tf.zeros_like(nearer))
    return tf.stack([first, second], 1), both


def _gather_sources(features, lines, pairs, both):
    """Source features `(..., X, F)` of target ``lines`` `(...)`: two lines, the second zeroed if unused."""
    sources = tf.gather(features, tf.math.floormod(lines[..., None] + pairs, tf.shape(features)[0]))  # (..., 2, X, F/2)
    used = tf.stack([tf.ones_like(both), both], -1)
    sources = sources * tf.cast(used, sources.dtype)[..., None, None]
    rank = sources.shape.rank
    perm = list(range(rank - 3)) + [rank - 2, rank - 3, rank - 1]
    sources = tf.transpose(sources, perm)  # (..., X, 2, F/2)
    return tf.reshape(sources, tf.concat([tf.shape(sources)[:-2], [-1]], 0))


def _grappa_one(kspace, sampled, acs_start, acs_stop, readout_width, regularization):
    """GRAPPA of one example: kspace `(lines, readout, coils)`, sampled `(lines,)` bool."""
    features = _line_features(kspace, readout_width)  # (Y, X, F/2)
    missing = tf.cast(tf.where(~sampled)[:, 0], tf.int32)
    pairs, both = _fit_to_acs(tf.gather(_source_offsets(sampled), missing), acs_stop - acs_start)  # (M, 2), (M,)
    lines = tf.shape(sampled)[0]
    span = 2 * lines + 1
    ids = ((pairs[:, 0] + lines) * span + pairs[:, 1] + lines) * 2 + tf.cast(both, tf.int32)
    unique_ids, which = tf.unique(ids)
    first = tf.math.unsorted_segment_min(tf.range(tf.shape(ids)[0]), which, tf.shape(unique_ids)[0])
    patterns, pattern_both = tf.gather(pairs, first), tf.gather(both, first)  # (U, 2), (U,)
    # Calibration: every ACS line t whose source lines t + d are ACS lines too.
    targets = tf.range(acs_start, acs_stop)  # (T,)
    sources = targets[None, :, None] + patterns[:, None, :]  # (U, T, 2)
    valid = tf.reduce_all((sources >= acs_start) & (sources < acs_stop), -1)  # (U, T)
    calib = tf.clip_by_value(sources, acs_start, acs_stop - 1) - targets[None, :, None]
    count = tf.shape(targets)[0]
    rows = _gather_sources(features, tf.broadcast_to(targets[None], tf.shape(valid)), calib,
                           tf.broadcast_to(pattern_both[:, None], tf.shape(valid)))  # (U, T, X, F)
    rows = rows * tf.cast(valid, rows.dtype)[..., None, None]
    shape = tf.shape(rows)
    rows = tf.reshape(rows, tf.stack([shape[0], shape[1] * shape[2], shape[3]]))  # (U, T*X, F)
    goal = tf.reshape(tf.gather(kspace, targets), [1, count * tf.shape(kspace)[1], tf.shape(kspace)[2]])
    # The normal equations square the condition number: form and solve them in double precision.
    rows, goal = tf.cast(rows, tf.complex128), tf.cast(goal, tf.complex128)
    gram = tf.linalg.matmul(rows, rows, adjoint_a=True)  # (U, F, F)
    right = tf.linalg.matmul(rows, tf.broadcast_to(goal, tf.concat([shape[:1], tf.shape(goal)[1:]], 0)),
                             adjoint_a=True)
    size = tf.shape(gram)[-1]
    # Tikhonov relative to the calibration matrix's spectrum: its largest squared singular value.
    scale = tf.math.real(tf.linalg.eigvalsh(gram)[:, -1])
    # A pattern with too few calibration lines (a source nearly as far as the ACS is wide) gets a zero kernel.
    calibrated = tf.reduce_sum(tf.cast(valid, tf.int32), 1) >= MIN_CALIBRATION_LINES
    scale = tf.where(calibrated, regularization * scale, 1.0)
    right = right * tf.cast(calibrated, right.dtype)[:, None, None]
    ridge = tf.cast(scale, gram.dtype)[:, None, None] * tf.eye(size, dtype=gram.dtype)
    kernels = tf.cast(tf.linalg.solve(gram + ridge, right), kspace.dtype)  # (U, F, C)
    # Synthesis of the missing lines from their sources.
    synthesized = tf.linalg.matmul(_gather_sources(features, missing, pairs, both), tf.gather(kernels, which))
    return tf.tensor_scatter_nd_update(kspace, missing[:, None], synthesized)


def _acs_bounds(sampled, num_low_frequencies):
    """Start and stop of the ACS lines: fastMRI's centre lines, or the sampled run through the centre."""
    n = tf.shape(sampled)[0]
    if num_low_frequencies is not None:
        count = tf.cast(num_low_frequencies, tf.int32)
        start = (n - count + 1) // 2
        return start, start + count
    center = n // 2
    not_sampled = tf.cast(~sampled, tf.int32)
    index = tf.range(n)
    below = tf.reduce_max(tf.where((index <= center) & (not_sampled > 0), index, -1)) + 1
    above = tf.reduce_min(tf.where((index >= center) & (not_sampled > 0), index, n))
    return below, above


def grappa_kspace(kspace, mask, num_low_frequencies=None, readout_width=5, regularization=0.01):
    """GRAPPA-completed multi-coil k-space `(batch, coils, readout, lines)`.

    Args:
        kspace: `(batch, coils, readout, lines)` complex undersampled k-space.
        mask: line mask broadcastable to `(batch, 1, 1, lines)` (nonzero: sampled).
        num_low_frequencies: ACS lines (fastMRI centre lines), scalar or `(batch,)`; default: the
            sampled run through the centre of the mask.
        readout_width: readout points per source line (the kernel is 2 lines x ``readout_width``).
        regularization: Tikhonov weight relative to the largest eigenvalue of each pattern's
            calibration Gram matrix (its largest squared singular value), so that it means the
            same for any number of coils, ACS lines and data scale. The default (0.01) had the
            best mean PSNR among 0.0003...1 with fastMRI's regular equispaced masks at 3x and 4x
            (10 ACS lines) on central slices of the built-in MNI152 training split
            (benchmarks/classical.py ``--choose-lambda``). With its equispaced-fraction masks
            (line spacing 5.4 at "4x") PSNR there rises towards zero-filled's as the weight grows.

    Returns:
        k-space of ``kspace``'s dtype: measured where sampled, synthesized elsewhere.
    """
    kspace = _as_complex(kspace, "kspace")
    if kspace.shape.rank != 4:
        raise invalid_argument("kspace", "a (batch, coils, readout, lines) tensor (GRAPPA is 2D)", f"shape {kspace.shape}")
    readout_width = check_positive_int(readout_width, "readout_width")
    regularization = check_number(regularization, "regularization", 0)
    mask = tf.convert_to_tensor(mask)
    if mask.shape.rank != 4 or (mask.shape[2] not in (1, None)):
        raise invalid_argument("mask", "a line mask broadcastable to (batch, 1, 1, lines)", f"shape {mask.shape}")
    batch, lines = tf.shape(kspace)[0], tf.shape(kspace)[3]
    sampled = tf.broadcast_to(tf.not_equal(tf.reshape(mask, [tf.shape(mask)[0], -1]), 0), [batch, lines])
    if num_low_frequencies is None:
        counts = tf.fill([batch], -1)
    else:
        counts = tf.broadcast_to(tf.reshape(tf.cast(num_low_frequencies, tf.int32), [-1]), [batch])
    per_line = tf.transpose(kspace, [0, 3, 2, 1])  # (B, lines, readout, coils)

    def one(args):
        data, line_mask, count = args
        start, stop = _acs_bounds(line_mask, None if num_low_frequencies is None else count)
        return _grappa_one(data, line_mask, start, stop, int(readout_width), float(regularization))

    done = tf.map_fn(one, (per_line, sampled, counts), fn_output_signature=tf.TensorSpec(None, kspace.dtype))
    return tf.transpose(tf.ensure_shape(done, per_line.shape), [0, 3, 2, 1])


def grappa(kspace, mask, num_low_frequencies=None, rank=2, readout_width=5, regularization=0.01):
    """GRAPPA reconstruction: RSS of the completed coil images, `(batch, readout, lines)` float."""
    if check_rank(rank) != 2:
        raise invalid_argument("rank", "2 (GRAPPA here completes 2D line masks)", rank)
    full = grappa_kspace(kspace, mask, num_low_frequencies, readout_width, regularization)
    return rss(ifftn(full, rank=2), axis=1)
