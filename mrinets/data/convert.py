"""Raw scanner data to the fastMRI layout: ISMRMRD files (``pip install mrinets[ismrmrd]``) and
Siemens twix ``.dat`` files (``pip install mrinets[twix]``, read by ``twixtools``; see ``read_twix``).

``mrinets data convert INPUT OUTPUT`` writes one fastMRI-layout file per ISMRMRD file:

- ``kspace`` `(slices, coils, readout, lines)` complex64, lines ordered by
  ``kspace_encode_step_1`` with the header's centre line at ``lines // 2`` and the readout's
  ``center_sample`` at ``readout // 2`` (zero-padded where the acquisition is asymmetric);
  repeated lines (averages) are averaged; ``ACQ_IS_REVERSE`` readouts are flipped;
- ``mask`` `(lines,)` when some lines were not acquired (the file is then test-style, with
  ``acceleration`` and ``num_low_frequency`` attributes), else the target
  ``reconstruction_rss`` (RSS cropped to the header's ``reconSpace``);
- ``ismrmrd_header``: the file's XML header, unchanged.

Noise, navigator, phase-correction, dummy, feedback and phase-stabilization acquisitions are
left out. Refused with a message naming the feature: non-Cartesian or EPI trajectories,
several encoding spaces, 3D encoding (``kspace_encode_step_2``), several contrasts, phases,
repetitions or sets, slices sampled with different lines, inconsistent readouts or coils.
"""

import os

import numpy as np

from mrinets.data.fastmri import DataError
from mrinets.data.simulate import make_header, write_fastmri_h5
from mrinets.ops.fft import ifftn_np

#: Acquisition flags whose data are not image k-space (ISMRMRD names).
SKIPPED_FLAGS = ("ACQ_IS_NOISE_MEASUREMENT", "ACQ_IS_NAVIGATION_DATA", "ACQ_IS_PHASECORR_DATA",
                 "ACQ_IS_DUMMYSCAN_DATA", "ACQ_IS_RTFEEDBACK_DATA", "ACQ_IS_HPFEEDBACK_DATA",
                 "ACQ_IS_PHASE_STABILIZATION", "ACQ_IS_PHASE_STABILIZATION_REFERENCE",
                 "ACQ_IS_SURFACECOILCORRECTIONSCAN_DATA")
#: Encoding counters that must hold a single value.
SINGLE_VALUED = ("contrast", "phase", "repetition", "set")


class ConvertError(DataError):
    """An input file that cannot be converted (unsupported acquisition or unreadable)."""


def _ismrmrd():
    try:
        import ismrmrd
    except ImportError as error:
        raise ConvertError("Converting ISMRMRD files needs the `ismrmrd` package: pip install 'mrinets[ismrmrd]'.") \
            from error
    return ismrmrd


def _refuse(path, what):
    return ConvertError(f"{path}: unsupported acquisition: {what}.")


def _line_layout(center, lines_seen, encoded):
    """Number of lines and the offset from an encoding index to its position (centre at ``n // 2``)."""
    half = max(center, max(lines_seen) + 1 - center, encoded - center, center - min(lines_seen))
    size = max(encoded, 2 * half)
    return size, size // 2 - center


def read_ismrmrd(path, group="dataset"):
    """Read a Cartesian ISMRMRD file: ``{"kspace", "sampled", "header", "recon_size", "skipped"}``.

    ``kspace``: `(slices, coils, readout, lines)` complex64; ``sampled``: `(lines,)` bool;
    ``header``: the XML text; ``recon_size``: `(x, y)` of the reconSpace; ``skipped``: counts of
    left-out acquisitions by flag.

    Raises:
        ConvertError: unreadable file or unsupported acquisition (the message names it).
    """
    ismrmrd = _ismrmrd()
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ConvertError(f"Input file {path!r} does not exist.")
    try:
        dataset = ismrmrd.Dataset(path, group, False)
        xml = dataset.read_xml_header()
    except Exception as error:
        raise ConvertError(f"{path}: not a readable ISMRMRD file (group {group!r}): {error}") from error
    try:
        xml = xml.decode("utf-8") if isinstance(xml, bytes) else str(xml)
        header = ismrmrd.xsd.CreateFromDocument(xml)
        if len(header.encoding) != 1:
            raise _refuse(path, f"{len(header.encoding)} encoding spaces (one is supported)")
        encoding = header.encoding[0]
        trajectory = getattr(encoding.trajectory, "value", str(encoding.trajectory))
        if trajectory != "cartesian":
            raise _refuse(path, f"trajectory {trajectory!r} (only 'cartesian' is supported)")
        matrix, recon = encoding.encodedSpace.matrixSize, encoding.reconSpace.matrixSize
        if (matrix.z or 1) > 1:
            raise _refuse(path, f"3D encoding (encodedSpace matrixSize z={matrix.z})")
        limit = encoding.encodingLimits.kspace_encoding_step_1 if encoding.encodingLimits else None
        center = limit.center if limit is not None and limit.center is not None else matrix.y // 2
        lines = _read_lines(ismrmrd, dataset, path)
    finally:
        dataset.close()
    records, skipped = lines
    kspace, sampled = _assemble(path, records, skipped, center, matrix.y)
    return {"kspace": kspace, "sampled": sampled, "header": xml, "recon_size": (recon.x, recon.y), "skipped": skipped}


def _assemble(path, records, skipped, center, encoded):
    """`(slices, coils, readout, lines)` complex64 k-space and the `(lines,)` sampled lines of the
    records ``{"slice", "line", "data" (coils, readout)}``: ``center`` at ``lines // 2``, repeats averaged."""
    if not records:
        raise ConvertError(f"{path}: no imaging acquisitions (left out: {skipped or 'none'}).")
    slices = sorted({r["slice"] for r in records})
    size, offset = _line_layout(center, [r["line"] for r in records], encoded)
    coils, readout = records[0]["data"].shape
    kspace = np.zeros((len(slices), coils, readout, size), np.complex128)
    counts = np.zeros((len(slices), size), np.int64)
    slice_index = {s: i for i, s in enumerate(slices)}
    for r in records:
        s, position = slice_index[r["slice"]], r["line"] + offset
        kspace[s, :, :, position] += r["data"]
        counts[s, position] += 1
    sampled = counts > 0
    if not np.all(sampled == sampled[:1]):
        raise _refuse(path, "slices sampled with different phase-encoding lines")
    kspace /= np.maximum(counts, 1)[:, None, None, :]
    return kspace.astype(np.complex64), sampled[0]


def _read_lines(ismrmrd, dataset, path):
    """Imaging lines as records ``{"slice", "line", "data" (coils, readout)}`` and the skipped counts."""
    skip = {name: getattr(ismrmrd, name) for name in SKIPPED_FLAGS if hasattr(ismrmrd, name)}
    skipped, records, seen = {}, [], {name: set() for name in SINGLE_VALUED}
    layout = None
    for i in range(dataset.number_of_acquisitions()):
        acquisition = dataset.read_acquisition(i)
        flagged = [name for name, flag in skip.items() if acquisition.is_flag_set(flag)]
        if flagged:
            skipped[flagged[0]] = skipped.get(flagged[0], 0) + 1
            continue
        idx = acquisition.idx
        if idx.kspace_encode_step_2 != 0:
            raise _refuse(path, f"3D encoding (acquisition {i} has kspace_encode_step_2={idx.kspace_encode_step_2})")
        if acquisition.encoding_space_ref != 0:
            raise _refuse(path, f"several encoding spaces (acquisition {i} uses {acquisition.encoding_space_ref})")
        for name in SINGLE_VALUED:
            seen[name].add(int(getattr(idx, name)))
        data = np.asarray(acquisition.data)
        data = data[:, acquisition.discard_pre : data.shape[1] - acquisition.discard_post]
        center = acquisition.center_sample - acquisition.discard_pre
        if acquisition.is_flag_set(ismrmrd.ACQ_IS_REVERSE):
            data, center = data[:, ::-1], data.shape[1] - 1 - center
        shape = (data.shape[0], data.shape[1], center)
        layout = shape if layout is None else layout
        if shape != layout:
            raise _refuse(path, f"acquisition {i} has (coils, samples, readout centre) {shape}, the first {layout}")
        records.append({"slice": int(idx.slice), "line": int(idx.kspace_encode_step_1), "data": _centred(data, center)})
    for name, values in seen.items():
        if len(values) > 1:
            raise _refuse(path, f"{len(values)} values of {name} {sorted(values)} (one is supported)")
    return records, skipped


def _centred(data, center):
    """`(coils, samples)` with sample ``center`` moved to ``readout // 2`` (zero-padded), complex128."""
    half = max(center, data.shape[1] - center)
    padded = np.zeros((data.shape[0], 2 * half), np.complex128)
    padded[:, half - center : half - center + data.shape[1]] = data
    return padded


#: twix MDH flags of scans that are not image k-space (twixtools' names); PATREFSCAN: separate ACS.
TWIX_SKIPPED = ("NOISEADJSCAN", "PATREFSCAN", "SYNCDATA", "RTFEEDBACK", "HPFEEDBACK", "REFPHASESTABSCAN",
                "PHASESTABSCAN")
#: twix loop counters that must hold a single value (name in the MDH -> what it counts).
TWIX_SINGLE_VALUED = {"Par": "partitions (3D encoding)", "Eco": "echoes", "Phs": "cardiac phases",
                      "Rep": "repetitions", "Set": "sets"}


def _twixtools():
    try:
        import twixtools
    except ImportError as error:
        raise ConvertError("Reading Siemens twix files needs the `twixtools` package: pip install 'mrinets[twix]'.") \
            from error
    return twixtools


def read_twix(path):
    """Read a Cartesian 2D Siemens twix (``.dat``) file with ``twixtools``: ``read_ismrmrd``'s dict.

    The last measurement of a multi-raid file is read (earlier ones are adjustments). Lines are
    placed by their ``Lin`` counter with the MDH ``CenterLin`` at ``lines // 2`` and the readout's
    ``CenterCol`` at ``readout // 2``; averages (``Ave``) and repeated lines are averaged, slices
    (``Sli``) stacked in counter order, ``REFLECT`` readouts flipped; readout oversampling is kept
    (fastMRI's raw layout) and the target is cropped to ``lBaseResolution`` x
    ``lPhaseEncodingLines`` of the protocol. ``header`` is a generated ISMRMRD XML header with
    those sizes. Noise, separate ACS (``PATREFSCAN``), sync and feedback scans are left out.

    Raises:
        ConvertError: unreadable file or unsupported acquisition (the message names it): phase
        correction scans (EPI), several partitions, echoes, phases, repetitions or sets,
        inconsistent readouts or coils, slices sampled with different lines.
    """
    twixtools = _twixtools()
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ConvertError(f"Input file {path!r} does not exist.")
    try:
        scan = twixtools.read_twix(path, verbose=False, parse_pmu=False, parse_geometry=False)[-1]
    except Exception as error:
        raise ConvertError(f"{path}: not a readable twix file: {error}") from error
    if "MeasYaps" not in scan.get("hdr", {}):
        raise ConvertError(f"{path}: not a readable twix file: its header holds no MeasYaps protocol.")
    k_space = scan["hdr"]["MeasYaps"].get("sKSpace", {})
    records, skipped, seen, layout, center_line = [], {}, {name: set() for name in TWIX_SINGLE_VALUED}, None, None
    for i, mdb in enumerate(scan["mdb"]):
        if mdb.is_flag_set("ACQEND"):
            continue
        if mdb.is_flag_set("PHASCOR"):
            raise _refuse(path, f"phase-correction scans (mdb {i}: EPI-style readouts are not supported)")
        flagged = [flag for flag in TWIX_SKIPPED if mdb.is_flag_set(flag)]
        if flagged and not mdb.is_flag_set("PATREFANDIMASCAN"):
            skipped[flagged[0]] = skipped.get(flagged[0], 0) + 1
            continue
        counter = mdb.mdh.Counter
        for name in TWIX_SINGLE_VALUED:
            seen[name].add(int(getattr(counter, name)))
        data = np.asarray(mdb.data)
        center = int(mdb.mdh.CenterCol)
        if mdb.is_flag_set("REFLECT"):
            data, center = data[:, ::-1], data.shape[1] - 1 - center
        shape = (data.shape[0], data.shape[1], center)
        layout = shape if layout is None else layout
        if shape != layout:
            raise _refuse(path, f"mdb {i} has (coils, samples, readout centre) {shape}, the first {layout}")
        center_line = int(mdb.mdh.CenterLin) if center_line is None else center_line
        records.append({"slice": int(counter.Sli), "line": int(counter.Lin), "data": _centred(data, center)})
    for name, values in seen.items():
        if len(values) > 1:
            raise _refuse(path, f"{len(values)} {TWIX_SINGLE_VALUED[name]} ({name} counters {sorted(values)}; "
                                f"one is supported)")
    encoded = int(k_space.get("lPhaseEncodingLines", 0)) or (max(r["line"] for r in records) + 1 if records else 0)
    kspace, sampled = _assemble(path, records, skipped, center_line or 0, encoded)
    recon = (int(k_space.get("lBaseResolution", 0)) or kspace.shape[-2], encoded)
    header = make_header((kspace.shape[-2], kspace.shape[-1], 1), (recon[0], recon[1], 1))
    return {"kspace": kspace, "sampled": sampled, "header": header, "recon_size": recon, "skipped": skipped}


def _center_run(sampled):
    c = sampled.size // 2
    if not sampled[c]:
        return 0
    right = np.argmin(np.append(sampled[c:], False))
    left = np.argmin(np.append(sampled[:c][::-1], False))
    return int(left + right)


def convert_file(path, output, group="dataset"):
    """Convert one ISMRMRD file, or a twix file (``.dat``), to the fastMRI-layout file ``output``;
    returns a one-line summary."""
    twix = os.fspath(path).lower().endswith(".dat")
    raw = read_twix(path) if twix else read_ismrmrd(path, group)
    kspace, sampled = raw["kspace"], raw["sampled"]
    attrs = {"source": os.path.basename(os.fspath(path)), "acquisition": "twix" if twix else "ISMRMRD"}
    encoded = (kspace.shape[-2], kspace.shape[-1], 1)
    if sampled.all():
        image = np.sqrt((np.abs(ifftn_np(kspace, rank=2)) ** 2).sum(1))
        crop = [min(r or n, n) for r, n in zip(raw["recon_size"], image.shape[-2:])]
        starts = [(n - m) // 2 for n, m in zip(image.shape[-2:], crop)]
        target = image[:, starts[0] : starts[0] + crop[0], starts[1] : starts[1] + crop[1]]
        write_fastmri_h5(output, kspace, target, attrs=attrs, header=raw["header"], encoded_size=encoded)
        kind = f"fully sampled, target {target.shape}"
    else:
        attrs.update({"acceleration": float(sampled.size / sampled.sum()), "num_low_frequency": _center_run(sampled)})
        write_fastmri_h5(output, kspace, attrs=attrs, mask=sampled, header=raw["header"], encoded_size=encoded)
        kind = f"{attrs['acceleration']:.2f}x undersampled, {attrs['num_low_frequency']} centre lines"
    left_out = ", ".join(f"{count} {flag}" for flag, count in raw["skipped"].items())
    return f"{os.path.basename(os.fspath(path))}: kspace {kspace.shape}, {kind}" + (f"; left out {left_out}" if left_out
                                                                                     else "")


def convert_command(args):
    """``mrinets data convert INPUT OUTPUT``: a file or a folder of ISMRMRD files into a folder."""
    inputs = args.input
    if os.path.isdir(inputs):
        files = sorted(os.path.join(inputs, f) for f in os.listdir(inputs) if f.endswith((".h5", ".mrd", ".dat")))
        if not files:
            raise ConvertError(f"Input folder {inputs!r} holds no .h5/.mrd/.dat files.")
    else:
        files = [inputs]
    for path in files:
        name = os.path.splitext(os.path.basename(path))[0] + ".h5"
        target = os.path.join(args.output, name)
        if os.path.exists(target) and not args.force:
            raise ConvertError(f"{target} exists; pass --force to overwrite it.")
        print(convert_file(path, target, args.group), flush=True)
    print(f"wrote {len(files)} file(s) to {args.output}")
    return 0
