"""``mrinets data convert``: ISMRMRD files written with the ``ismrmrd`` package to the fastMRI layout."""

import h5py
import numpy as np
import pytest

from mrinets import data
from mrinets.data import convert

ismrmrd = pytest.importorskip("ismrmrd")

COILS, READOUT, LINES, SLICES = 3, 16, 12, 2


def header(trajectory="cartesian", z=1):
    xsd = ismrmrd.xsd
    space = xsd.encodingSpaceType(matrixSize=xsd.matrixSizeType(x=READOUT, y=LINES, z=z),
                                  fieldOfView_mm=xsd.fieldOfViewMm(x=240.0, y=240.0, z=5.0))
    recon = xsd.encodingSpaceType(matrixSize=xsd.matrixSizeType(x=READOUT // 2, y=LINES, z=1),
                                  fieldOfView_mm=xsd.fieldOfViewMm(x=120.0, y=240.0, z=5.0))
    limits = xsd.encodingLimitsType(kspace_encoding_step_1=xsd.limitType(minimum=0, maximum=LINES - 1, center=LINES // 2))
    encoding = xsd.encodingType(encodedSpace=space, reconSpace=recon, encodingLimits=limits,
                                trajectory=xsd.trajectoryType(trajectory))
    head = xsd.ismrmrdHeader(experimentalConditions=xsd.experimentalConditionsType(H1resonanceFrequency_Hz=63500000))
    head.encoding.append(encoding)
    return xsd.ToXML(head)


def write(path, lines=range(LINES), averages=2, xml=None, contrast=0, reverse=(5,), seed=0):
    """An ISMRMRD file of ``SLICES`` slices; lines in a shuffled order; returns the expected k-space."""
    rng = np.random.default_rng(seed)
    expected = np.zeros((SLICES, COILS, READOUT, LINES), np.complex64)
    dataset = ismrmrd.Dataset(str(path), "dataset", create_if_needed=True)
    dataset.write_xml_header(xml or header())
    noise = ismrmrd.Acquisition.from_array(rng.standard_normal((COILS, READOUT)).astype(np.complex64))
    noise.set_flag(ismrmrd.ACQ_IS_NOISE_MEASUREMENT)
    dataset.append_acquisition(noise)
    order = [(s, line, a) for s in range(SLICES) for line in lines for a in range(averages)]
    for k in rng.permutation(len(order)):
        s, line, a = order[k]
        values = (rng.standard_normal((COILS, READOUT)) + 1j * rng.standard_normal((COILS, READOUT))).astype(np.complex64)
        expected[s, :, :, line] += values / averages
        stored = values[:, ::-1] if line in reverse else values
        acquisition = ismrmrd.Acquisition.from_array(np.ascontiguousarray(stored))
        acquisition.center_sample = READOUT // 2 - (1 if line in reverse else 0)  # the same sample, mirrored
        acquisition.idx.kspace_encode_step_1, acquisition.idx.slice, acquisition.idx.average = line, s, a
        acquisition.idx.contrast = contrast if k == 0 else 0
        if line in reverse:
            acquisition.set_flag(ismrmrd.ACQ_IS_REVERSE)
        dataset.append_acquisition(acquisition)
    dataset.close()
    return expected


def test_fully_sampled_file_converts_to_the_same_kspace(tmp_path):
    expected = write(tmp_path / "raw.h5")
    summary = convert.convert_file(tmp_path / "raw.h5", tmp_path / "out" / "raw.h5")
    assert "left out 1 ACQ_IS_NOISE_MEASUREMENT" in summary
    with h5py.File(tmp_path / "out" / "raw.h5") as f:
        np.testing.assert_allclose(f["kspace"][()], expected, atol=1e-6)
        assert "mask" not in f and f["reconstruction_rss"].shape == (SLICES, READOUT // 2, LINES)
        assert f["ismrmrd_header"][()].decode() == header()
    meta = data.read_metadata(tmp_path / "out" / "raw.h5")
    assert meta["recon_size"][:2] == (READOUT // 2, LINES) and meta["num_slices"] == SLICES


def test_undersampled_lines_give_the_mask_and_the_cli_converts_folders(tmp_path, capsys):
    from mrinets.cli import main

    sampled = [0, 3, 4, 5, 6, 7, 9]  # centre block 3..7 (5 lines) around line 6
    (tmp_path / "in").mkdir()
    expected = write(tmp_path / "in" / "scan.h5", lines=sampled, averages=1, reverse=())
    assert main(["data", "convert", str(tmp_path / "in"), str(tmp_path / "out")]) == 0
    assert "wrote 1 file(s)" in capsys.readouterr().out
    sample = data.read_slice(tmp_path / "out" / "scan.h5", 1, target_key=None)
    np.testing.assert_array_equal(sample["mask"], np.isin(np.arange(LINES), sampled))
    np.testing.assert_allclose(sample["kspace"], expected[1], atol=1e-6)
    assert sample["attrs"]["num_low_frequency"] == 5
    assert main(["data", "convert", str(tmp_path / "in"), str(tmp_path / "out")]) == 2  # exists, no --force
    assert "--force" in capsys.readouterr().err
    inputs = next(iter(data.build_dataset(tmp_path / "out")))  # a test-style file: inputs only
    assert inputs["kspace"].shape == (1, COILS, READOUT, LINES)


@pytest.mark.parametrize("kwargs, message", [
    ({"xml": header("radial")}, "trajectory 'radial'"),
    ({"xml": header(z=4)}, r"3D encoding \(encodedSpace matrixSize z=4\)"),
    ({"contrast": 1}, r"2 values of contrast \[0, 1\]"),
])
def test_unsupported_acquisitions_are_refused_by_name(tmp_path, kwargs, message):
    write(tmp_path / "raw.h5", **kwargs)
    with pytest.raises(convert.ConvertError, match=f"raw.h5: unsupported acquisition: {message}"):
        convert.convert_file(tmp_path / "raw.h5", tmp_path / "out.h5")
    assert not (tmp_path / "out.h5").exists()
