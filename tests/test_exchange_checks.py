"""Data Exchange files that are damaged or odd: one clear error, and the unit of the angles.

Both readers (h5py and, when importable, dxchange) must behave the same.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from tomopy_dip.data import exchange as tio

h5py = pytest.importorskip("h5py")

BACKENDS = ["h5py", pytest.param("dxchange", marks=pytest.mark.skipif(
    not tio.dxchange_available(), reason="dxchange not importable (bash .ci/install-dxchange.sh)"))]
LOGGER = "tomopy_dip.data.exchange"


def _write(path, theta=None, theta_units=None, data=None, compress=False, **extra):
    """A small valid Data Exchange file (20 projections, 2 rows, 16 columns) unless overridden."""
    rng = np.random.default_rng(1)
    if data is None:
        data = rng.random((20, 2, 16)).astype(np.float32) + 1
    with h5py.File(path, "w") as f:
        if compress:
            f.create_dataset("exchange/data", data=data, chunks=(1,) + data.shape[1:], compression="gzip")
        else:
            f["exchange/data"] = data
        f["exchange/data_white"] = np.full((3, 2, 16), 4.0, np.float32)
        f["exchange/data_dark"] = np.zeros((2, 2, 16), np.float32)
        if theta is not False:
            f["exchange/theta"] = np.linspace(0, 180, 20, endpoint=False) if theta is None else theta
            if theta_units is not None:
                f["exchange/theta"].attrs["units"] = theta_units
        for name, value in extra.items():
            f[name.replace("__", "/")] = value
    return path


def _overwrite(path, start, stop):
    b = bytearray(path.read_bytes())
    b[start:stop] = bytes((i * 37 + 5) % 256 for i in range(stop - start))
    path.write_bytes(bytes(b))


def _header_address(path, name):
    with h5py.File(path, "r") as f:
        return h5py.h5o.get_info(f[name].id).addr


def _one_line_naming(err, path):
    msg = str(err.value)
    assert "\n" not in msg and path.name in msg, msg
    return msg


# ---------------------------------------------------------------------------- damaged files
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("damage,expected", [
    ("truncated_half", "opening the file failed.*truncated file"),
    ("truncated_tail", "opening the file failed.*truncated file"),
    ("superblock", "opening the file failed"),
    ("group_heap", "'exchange/data' failed"),         # RuntimeError in h5py
    ("data_header", "opening 'exchange/data' failed"),  # KeyError in h5py: not "no dataset"
    ("theta_header", "opening 'exchange/theta' failed"),  # must not fall back to generated angles
    ("flat_header", "opening 'exchange/data_white' failed"),  # must not read as "no flats"
    ("data_chunk", "exchange/data|dxchange"),         # a compressed chunk that does not inflate
])
def test_damaged_file_raises_one_data_file_error(tmp_path, backend, damage, expected):
    p = _write(tmp_path / "scan.h5", compress=damage == "data_chunk")
    size = p.stat().st_size
    if damage == "truncated_half":
        p.write_bytes(p.read_bytes()[: size // 2])
    elif damage == "truncated_tail":
        p.write_bytes(p.read_bytes()[: size - 64])
    elif damage == "superblock":
        _overwrite(p, 8, 200)  # the signature stays: h5py.is_hdf5 still says yes
    elif damage == "group_heap":
        b = bytearray(p.read_bytes())
        b[200:3000] = bytes(2800)
        p.write_bytes(bytes(b))
    elif damage in ("data_header", "theta_header", "flat_header"):
        name = {"data_header": "exchange/data", "theta_header": "exchange/theta",
                "flat_header": "exchange/data_white"}[damage]
        addr = _header_address(p, name)
        _overwrite(p, addr, addr + 40)
    else:
        with h5py.File(p, "r") as f:
            info = f["exchange/data"].id.get_chunk_info(7)
        _overwrite(p, info.byte_offset, info.byte_offset + info.size)
    with pytest.raises(tio.DataFileError, match=expected) as err:
        tio.read_data_exchange(p, backend=backend)
    msg = _one_line_naming(err, p)
    assert "truncated or damaged" in msg
    assert "Traceback" not in msg


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("content", [b"", b"\x00" * 4096, b"II*\x00" + bytes(range(256)) * 4, b"not hdf5\n"])
def test_file_that_is_not_hdf5(tmp_path, backend, content):
    p = tmp_path / "scan.h5"
    p.write_bytes(content)
    with pytest.raises(tio.DataFileError, match="not an HDF5 file") as err:
        tio.read_data_exchange(p, backend=backend)
    _one_line_naming(err, p)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("data,shape,dtype", [
    (np.ones((20, 16), np.float32), "(20, 16)", "float32"),
    (np.ones(16, np.uint16), "(16,)", "uint16"),
    (np.float64(3.0), "()", "float64"),
    (np.ones((2, 20, 2, 16), np.float32), "(2, 20, 2, 16)", "float32"),
    (np.array(["a", "b"], dtype=object), "(2,)", "string (utf-8, variable length)"),
    (np.bytes_(b"projections"), "()", "string (ascii, length 11)"),
    (np.full((20, 2, 16), b"x", dtype="S1"), "(20, 2, 16)", "string (ascii, length 1)"),
    (np.ones((20, 2, 16), bool), "(20, 2, 16)", "bool"),
    (np.ones((20, 2, 16), np.complex64), "(20, 2, 16)", "complex64"),
])
def test_projections_not_3d_numeric(tmp_path, backend, data, shape, dtype):
    if isinstance(data, np.ndarray) and data.dtype == object:
        data = data.astype(h5py.string_dtype())
    p = _write(tmp_path / "scan.h5", data=data)
    with pytest.raises(tio.DataFileError) as err:
        tio.read_data_exchange(p, backend=backend)
    msg = _one_line_naming(err, p)
    assert "'exchange/data' must be 3-D numeric (projections, rows, columns)" in msg
    assert f"shape {shape}" in msg and f"dtype {dtype}" in msg


@pytest.mark.parametrize("backend", BACKENDS)
def test_angles_not_numeric(tmp_path, backend):
    p = _write(tmp_path / "scan.h5", theta=np.array([b"0"] * 20))
    with pytest.raises(tio.DataFileError, match="'exchange/theta' must hold numeric angles, got dtype string") as err:
        tio.read_data_exchange(p, backend=backend)
    _one_line_naming(err, p)


def test_missing_projections_still_listed(tmp_path):
    p = tmp_path / "scan.h5"
    with h5py.File(p, "w") as f:
        f["exchange/projections"] = np.ones((2, 2, 2), np.float32)
    with pytest.raises(tio.DataFileError, match="no dataset 'exchange/data'.*exchange/projections"):
        tio.read_data_exchange(p)


# ---------------------------------------------------------------------------- unit of the angles
@pytest.mark.parametrize("values,units,unit,guessed", [
    (np.linspace(0, 180, 181), None, "degrees", False),
    (np.linspace(0, 360, 1500), None, "degrees", False),
    (np.linspace(-60, 60, 61), None, "degrees", False),        # limited angle, degrees
    (np.linspace(0, np.pi, 181), None, "radians", True),
    (np.linspace(0, 2 * np.pi, 721), None, "radians", True),
    (np.linspace(-np.pi, np.pi, 100), None, "radians", True),
    (np.linspace(-0.35, 0.35, 41), None, "radians", True),      # +-20 degree tomosynthesis
    (np.linspace(0, np.pi, 9), None, "degrees", False),         # too few angles to tell
    (np.linspace(0, 0.4, 50), None, "degrees", False),          # span too small to be a scan
    (np.linspace(0, 8.0, 50), None, "degrees", False),          # more than a turn in radians
    (np.linspace(2.0, 7.5, 50), None, "degrees", False),        # |theta| beyond 2 pi + 0.5
    (np.full(30, 1.0), None, "degrees", False),                 # all equal
    (np.r_[np.linspace(0, np.pi, 30), np.nan], None, "radians", True),  # NaN ignored here
    (np.linspace(0, np.pi, 181), "deg", "degrees", False),      # the attribute wins
    (np.linspace(0, np.pi, 181), b"Degrees", "degrees", False),
    (np.linspace(0, 180, 181), "rad", "radians", False),
    (np.linspace(0, np.pi, 181), np.array([b"radians"]), "radians", False),
    (np.linspace(0, np.pi, 181), "furlongs", "radians", True),  # unknown attribute: the values decide
    (np.linspace(0, 180, 181), "furlongs", "degrees", False),
])
def test_theta_unit_rule(values, units, unit, guessed):
    got, note, was_guessed = tio.theta_unit(values, units)
    assert (got, was_guessed) == (unit, guessed)
    assert "exchange/theta" in note and unit in note and "\n" not in note
    assert ("unrecognised units attribute 'furlongs' ignored" in note) == (isinstance(units, str) and units == "furlongs")


@pytest.mark.parametrize("backend", BACKENDS)
def test_theta_degrees_by_default(tmp_path, backend, caplog):
    p = _write(tmp_path / "scan.h5")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        d = tio.read_data_exchange(p, backend=backend)
    np.testing.assert_allclose(d.theta, np.deg2rad(np.linspace(0, 180, 20, endpoint=False)))
    assert d.theta_unit == "degrees"
    assert d.theta_note == "'exchange/theta' read as degrees (span 171 over 20 angles)"
    assert not d.notes and not caplog.records


@pytest.mark.parametrize("backend", BACKENDS)
def test_theta_in_radians_is_recognised_and_warned(tmp_path, backend, caplog):
    stored = np.linspace(0, np.pi, 20, endpoint=False)
    p = _write(tmp_path / "scan.h5", theta=stored)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        d = tio.read_data_exchange(p, backend=backend)
    np.testing.assert_array_equal(d.theta, stored)  # used as stored, not converted again
    assert d.theta.dtype == np.float64
    assert d.theta_unit == "radians"
    assert d.theta_note.startswith("'exchange/theta' looks like radians (span 2.98 over 20 angles")
    assert d.theta_note in d.notes
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("looks like radians" in m and p.name in m for m in warned), warned
    # a projection subset selects the same angles
    sub = tio.read_data_exchange(p, backend=backend, proj=(2, 14, 3))
    np.testing.assert_array_equal(sub.theta, stored[2:14:3])
    assert sub.theta_unit == "radians"
    # read_aps_32id returns the same angles
    np.testing.assert_array_equal(tio.read_aps_32id(p, backend=backend)[3], stored)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("stored,units,unit", [
    (np.linspace(0, np.pi, 20, endpoint=False).astype(np.float32), "rad", "radians"),
    (np.linspace(0, 3.0, 20), "degree", "degrees"),  # looks like radians, but the file says degrees
    (np.linspace(0, 180, 20, endpoint=False), b"RADIANS", "radians"),
])
def test_theta_units_attribute_takes_precedence(tmp_path, backend, stored, units, unit, caplog):
    p = _write(tmp_path / "scan.h5", theta=stored, theta_units=units)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        d = tio.read_data_exchange(p, backend=backend)
    assert d.theta_unit == unit and "units attribute" in d.theta_note
    expected = stored.astype(np.float64) if unit == "radians" else np.deg2rad(stored)
    np.testing.assert_allclose(d.theta, expected, rtol=0, atol=1e-12)
    assert not d.notes and not caplog.records  # a unit the file states is no guess: no warning


@pytest.mark.parametrize("backend", BACKENDS)
def test_generated_angles_are_degrees(tmp_path, backend):
    d = tio.read_data_exchange(_write(tmp_path / "scan.h5", theta=False), backend=backend)
    np.testing.assert_allclose(d.theta, np.deg2rad(np.linspace(0, 180, 20)))
    assert d.theta_unit == "degrees"
    assert d.theta_note.startswith("no 'exchange/theta' in the file") and "degrees" in d.theta_note


@pytest.mark.skipif(not tio.dxchange_available(), reason="dxchange not importable (bash .ci/install-dxchange.sh)")
@pytest.mark.parametrize("units", [None, "rad", "deg"])
def test_readers_agree_on_angle_units(tmp_path, units):
    p = _write(tmp_path / "scan.h5", theta=np.linspace(0, np.pi, 20), theta_units=units)
    a = tio.read_data_exchange(p, backend="dxchange")
    b = tio.read_data_exchange(p, backend="h5py")
    np.testing.assert_array_equal(a.theta, b.theta)
    assert (a.theta_unit, a.theta_note, a.notes) == (b.theta_unit, b.theta_note, b.notes)
