"""``mrinets data convert`` of Siemens twix files written with ``twixtools`` (VE layout) to the fastMRI layout."""

import struct

import h5py
import numpy as np
import pytest

from mrinets import data
from mrinets.data import convert

twixtools = pytest.importorskip("twixtools")
from twixtools.mdb import Mdb_local  # noqa: E402

COILS, READOUT, LINES, SLICES, BASE = 3, 16, 12, 2, 8


def protocol(lines=LINES):
    """A twix measurement header holding only the ``MeasYaps`` buffer's k-space sizes."""
    yaps = (f"### ASCCONV BEGIN ###\nsKSpace.lBaseResolution\t = {BASE}\nsKSpace.lPhaseEncodingLines\t = {lines}\n"
            "### ASCCONV END ###\n").encode("latin1") + b"\x00"
    body = struct.pack("<I", 1) + b"MeasYaps\x00" + struct.pack("<I", len(yaps)) + yaps
    return np.frombuffer(struct.pack("<I", len(body) + 4) + body, dtype="S1")


def mdb(data, line, slice_=0, average=0, flags=(), center_col=READOUT // 2, **counters):
    block = Mdb_local()
    block.data = np.asarray(data, np.complex64)
    block.mdh.Counter.Lin, block.mdh.Counter.Sli, block.mdh.Counter.Ave = line, slice_, average
    for name, value in counters.items():
        setattr(block.mdh.Counter, name, value)
    block.mdh.CenterCol, block.mdh.CenterLin = center_col, LINES // 2
    for flag in flags:
        block.add_flag(flag)
    return block


def write(path, lines=range(LINES), averages=2, reflect=(5,), extra=(), seed=0):
    """A twix file of ``SLICES`` slices, lines shuffled, a noise scan first; returns the expected k-space."""
    rng = np.random.default_rng(seed)
    expected = np.zeros((SLICES, COILS, READOUT, LINES), np.complex64)
    blocks = [mdb(rng.standard_normal((COILS, READOUT)), 0, flags=["NOISEADJSCAN"])]
    order = [(s, line, a) for s in range(SLICES) for line in lines for a in range(averages)]
    sums = np.zeros_like(expected)
    for k in rng.permutation(len(order)):
        s, line, a = order[k]
        values = (rng.standard_normal((COILS, READOUT)) + 1j * rng.standard_normal((COILS, READOUT))).astype(np.complex64)
        sums[s, :, :, line] += values
        stored = values[:, ::-1] if line in reflect else values
        blocks.append(mdb(stored, line, s, a, ["REFLECT"] if line in reflect else [],
                          center_col=READOUT - 1 - READOUT // 2 if line in reflect else READOUT // 2))
    blocks += list(extra)
    end = Mdb_local()
    end.add_flag("ACQEND")
    twixtools.write_twix([{"hdr_str": protocol(), "mdb": blocks + [end]}], str(path))
    expected[:] = sums / averages
    return expected


def test_fully_sampled_file_converts_to_the_same_kspace(tmp_path):
    expected = write(tmp_path / "meas.dat")
    raw = convert.read_twix(tmp_path / "meas.dat")
    np.testing.assert_allclose(raw["kspace"], expected, atol=1e-6)
    assert raw["sampled"].all() and raw["recon_size"] == (BASE, LINES)
    assert raw["skipped"] == {"NOISEADJSCAN": 1}
    summary = convert.convert_file(tmp_path / "meas.dat", tmp_path / "out" / "meas.h5")
    assert "left out 1 NOISEADJSCAN" in summary
    with h5py.File(tmp_path / "out" / "meas.h5") as f:
        np.testing.assert_allclose(f["kspace"][()], expected, atol=1e-6)
        assert f["reconstruction_rss"].shape == (SLICES, BASE, LINES)
        assert f.attrs["acquisition"] == "twix"
    assert data.read_metadata(tmp_path / "out" / "meas.h5")["num_slices"] == SLICES


def test_undersampled_file_gets_a_mask(tmp_path):
    lines = [0, 3, 4, 5, 6, 7, 10]
    expected = write(tmp_path / "meas.dat", lines=lines, averages=1)
    convert.convert_file(tmp_path / "meas.dat", tmp_path / "meas.h5")
    with h5py.File(tmp_path / "meas.h5") as f:
        np.testing.assert_array_equal(np.flatnonzero(f["mask"][()]), lines)
        np.testing.assert_allclose(f["kspace"][()], expected, atol=1e-6)
        assert f.attrs["num_low_frequency"] == 5 and "reconstruction_rss" not in f


def test_separate_acs_scans_are_left_out(tmp_path):
    acs = [mdb(np.ones((COILS, READOUT)), line, flags=["PATREFSCAN"]) for line in (5, 6)]
    expected = write(tmp_path / "meas.dat", extra=acs)
    raw = convert.read_twix(tmp_path / "meas.dat")
    np.testing.assert_allclose(raw["kspace"], expected, atol=1e-6)
    assert raw["skipped"] == {"NOISEADJSCAN": 1, "PATREFSCAN": 2}


@pytest.mark.parametrize("extra, message", [
    ([mdb(np.ones((COILS, READOUT)), 0, Par=1)], r"2 partitions \(3D encoding\)"),
    ([mdb(np.ones((COILS, READOUT)), 0, Eco=1)], r"2 echoes"),
    ([mdb(np.ones((COILS, READOUT)), 0, Rep=2)], r"2 repetitions"),
    ([mdb(np.ones((COILS, READOUT)), 0, flags=["PHASCOR"])], r"phase-correction scans"),
    ([mdb(np.ones((COILS + 1, READOUT)), 0)], r"mdb \d+ has \(coils, samples, readout centre\) \(4, "),
], ids=["3d", "echoes", "repetitions", "epi", "coils"])
def test_unsupported_acquisitions_are_refused_naming_what(tmp_path, extra, message):
    write(tmp_path / "meas.dat", extra=extra)
    with pytest.raises(convert.ConvertError, match=r"meas\.dat: unsupported acquisition: " + message):
        convert.read_twix(tmp_path / "meas.dat")


def test_unreadable_and_missing_files(tmp_path):
    (tmp_path / "junk.dat").write_bytes(b"\xff" * 64)
    with pytest.raises(convert.ConvertError, match="not a readable twix file"):
        convert.read_twix(tmp_path / "junk.dat")
    with pytest.raises(convert.ConvertError, match="does not exist"):
        convert.read_twix(tmp_path / "absent.dat")
