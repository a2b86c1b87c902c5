"""Reading Data Exchange files (dxchange and h5py), pre-processing, writing results."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pipeline_helpers import ANSWERS, require_tooth  # noqa: E402

from tomopy_dip.data import exchange as tio  # noqa: E402
from tomopy_dip.data import files as tfiles  # noqa: E402
from tomopy_dip.data import preprocess as pp  # noqa: E402

h5py = pytest.importorskip("h5py")

BACKENDS = ["h5py", pytest.param("dxchange", marks=pytest.mark.skipif(
    not tio.dxchange_available(), reason="dxchange not importable (bash .ci/install-dxchange.sh)"))]


@pytest.fixture(scope="module")
def answers():
    return np.load(ANSWERS)


@pytest.fixture(scope="module")
def tooth_minus_log():
    d = tio.read_data_exchange(require_tooth(), backend="h5py")
    return pp.minus_log(pp.normalize(d.proj, d.flat, d.dark, backend="numpy"), backend="numpy"), d.theta


# ---------------------------------------------------------------------------- readers
@pytest.mark.real_data
def test_h5py_reader_reads_tooth():
    d = tio.read_data_exchange(require_tooth(), backend="h5py")
    assert d.backend == "h5py"
    assert d.proj.shape == (181, 2, 640) and d.proj.dtype == np.float32
    assert d.flat.shape == (10, 2, 640) and d.dark.shape == (10, 2, 640)
    assert d.theta.dtype == np.float64 and d.theta.shape == (181,)
    assert d.theta[0] == 0.0 and np.isclose(d.theta[-1], np.deg2rad(179.0055), atol=1e-6)


@pytest.mark.real_data
@pytest.mark.skipif(not tio.dxchange_available(), reason="dxchange not importable (bash .ci/install-dxchange.sh)")
@pytest.mark.parametrize("reader", ["aps_32id", "dx"])
@pytest.mark.parametrize("sel", [dict(), dict(sino=(0, 2)), dict(sino=(1, 2)), dict(proj=(0, None, 4), sino=(0, 1))])
def test_readers_agree_on_tooth(reader, sel):
    path = require_tooth()
    a = tio.read_data_exchange(path, backend="dxchange", reader=reader, **sel)
    b = tio.read_data_exchange(path, backend="h5py", **sel)
    assert a.backend == "dxchange" and b.backend == "h5py"
    for x, y in zip(a.astuple(), b.astuple()):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)


@pytest.mark.real_data
@pytest.mark.skipif(not tio.dxchange_available(), reason="dxchange not importable (bash .ci/install-dxchange.sh)")
def test_matches_dxchange_itself():
    import dxchange

    path = require_tooth()
    ref = dxchange.read_aps_32id(str(path), sino=(0, 2))
    got = tio.read_aps_32id(path, sino=(0, 2), backend="h5py")
    for x, y in zip(ref, got):
        np.testing.assert_array_equal(x, y)


@pytest.mark.real_data
def test_read_aps_32id_proj_selects_angles_too():
    path = require_tooth()
    proj, flat, dark, theta = tio.read_aps_32id(path, proj=(10, 50, 2), sino=(1, 2), backend="h5py",
                                                dtype=np.float64)
    assert proj.shape == (20, 1, 640) and proj.dtype == np.float64
    full = tio.read_data_exchange(path, backend="h5py")
    np.testing.assert_array_equal(theta, full.theta[10:50:2])


# ---------------------------------------------------------------------------- pre-processing
@pytest.mark.real_data
def test_normalize_and_minus_log_match_tomopy(answers):
    d = tio.read_data_exchange(require_tooth(), backend="h5py")
    np.testing.assert_array_equal(np.mean(d.flat, axis=0, dtype=np.float32)[0], answers["tooth_flat_mean0"])
    np.testing.assert_array_equal(np.mean(d.dark, axis=0, dtype=np.float32)[0], answers["tooth_dark_mean0"])
    norm = pp.normalize(d.proj, d.flat, d.dark, backend="numpy")
    assert norm.dtype == np.float32
    np.testing.assert_array_equal(norm[0, 0], answers["tooth_norm_row0_proj0"])
    ml = pp.minus_log(norm, backend="numpy")
    assert ml.dtype == np.float32
    np.testing.assert_allclose(ml[:, 0, :], answers["tooth_sino0"], rtol=1e-6, atol=1e-6)


def test_normalize_formula_edge_cases():
    proj = np.full((2, 1, 3), 10.0, np.float32)
    flat = np.array([[[20.0, 5.0, 30.0]]], np.float32)
    dark = np.array([[[0.0, 5.0, 0.0]]], np.float32)
    out = pp.normalize(proj, flat, dark, backend="numpy")
    np.testing.assert_allclose(out[0, 0], [0.5, 5.0 / 1e-6, 10.0 / 30.0], rtol=1e-6)
    np.testing.assert_allclose(pp.normalize(proj, flat, dark, cutoff=1.0, backend="numpy")[0, 0],
                               [0.5, 1.0, 1 / 3], rtol=1e-6)
    ml = pp.minus_log(np.array([1.0, np.e, 0.0, -1.0], np.float32), backend="numpy")
    assert ml[0] == 0 and np.isclose(ml[1], -1.0) and np.isinf(ml[2]) and np.isnan(ml[3])


@pytest.mark.real_data
@pytest.mark.skipif(not pp.tomopy_available(), reason="TomoPy not installed")
def test_tomopy_backend_agrees_with_numpy():
    d = tio.read_data_exchange(require_tooth(), backend="h5py")
    a = pp.minus_log(pp.normalize(d.proj, d.flat, d.dark, backend="tomopy"), backend="tomopy")
    b = pp.minus_log(pp.normalize(d.proj, d.flat, d.dark, backend="numpy"), backend="numpy")
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.real_data
def test_find_center_vo_on_tooth(answers, tooth_minus_log):
    ml, _ = tooth_minus_log
    c = pp.find_center_vo(ml, backend="numpy")
    # TomoPy: find_center_vo -> 295.0, find_center (entropy, init=290) -> 296.34
    assert abs(c - float(answers["tooth_find_center_vo"])) <= 0.25
    assert abs(c - float(answers["tooth_find_center"])) <= 1.5
    c0 = pp.find_center(ml, ind=0, backend="numpy")
    assert abs(c0 - float(answers["tooth_find_center_vo_ind0"])) <= 0.25


@pytest.mark.parametrize("center", [30.0, 34.5, 36.25])
def test_find_center_vo_synthetic(center):
    from tomopy_dip.learning.phantoms import shepp_logan
    from tomopy_dip.physics.measurement import simulate

    theta = np.linspace(0, np.pi, 180, endpoint=False)
    sino = simulate(shepp_logan(64), theta, center=center, ndet=72)
    assert abs(pp.find_center_vo(sino, backend="numpy") - center) <= 0.5


@pytest.mark.real_data
def test_find_center_entropy_needs_tomopy(tooth_minus_log):
    if pp.tomopy_available():
        pytest.skip("TomoPy installed")
    ml, theta = tooth_minus_log
    with pytest.raises(RuntimeError, match="TomoPy"):
        pp.find_center(ml, theta, method="entropy")


def test_binning_and_centre_scaling(answers):
    b = pp.bin_detector(answers["tooth_sino0"], 4)
    np.testing.assert_allclose(b, answers["tooth_sino0_bin4"], rtol=1e-6, atol=1e-6)
    assert pp.binned_center(float(answers["tooth_find_center"]), 4) == pytest.approx(
        float(answers["tooth_center_bin4"]), abs=1e-4)
    assert pp.binned_center(10.0, 1) == 10.0
    with pytest.raises(ValueError):
        pp.bin_detector(np.zeros((3, 8)), 0)


# ---------------------------------------------------------------------------- writers
def test_tiff_stack_roundtrip(tmp_path):
    imgs = np.random.default_rng(0).random((3, 20, 24)).astype(np.float64)
    p = tfiles.write_tiff_stack(tmp_path / "sub" / "r.tiff", imgs,
                                metadata={"center": np.float32(3.5), "rows": [1, 2, 3]})
    back = tfiles.read_tiff_stack(p)
    assert back.dtype == np.float32 and back.shape == (3, 20, 24)
    np.testing.assert_array_equal(back, imgs.astype(np.float32))
    one = tfiles.read_tiff_stack(tfiles.write_tiff_stack(tmp_path / "one.tiff", imgs[0]))
    assert one.shape == (1, 20, 24)
    with pytest.raises(FileExistsError):
        tfiles.write_tiff_stack(p, imgs, overwrite=False)


def test_writers_are_atomic(tmp_path, monkeypatch):
    """A write that fails half-way leaves the previous file and no temporary file behind."""
    import tifffile

    p = tfiles.write_tiff_stack(tmp_path / "r.tiff", np.zeros((1, 4, 4)))

    def half_written(path, *args, **kwargs):
        Path(path).write_bytes(b"II*\0 half")
        raise OSError("disk full")

    monkeypatch.setattr(tifffile, "imwrite", half_written)
    with pytest.raises(OSError, match="disk full"):
        tfiles.write_tiff_stack(p, np.ones((1, 4, 4)))
    np.testing.assert_array_equal(tfiles.read_tiff_stack(p), np.zeros((1, 4, 4)))
    assert [f.name for f in tmp_path.iterdir()] == ["r.tiff"]


def test_history_csv_roundtrip(tmp_path):
    hist = {"loss": np.array([[3.0, 4.0], [1.0, np.nan]]), "data": np.ones((2, 2)),
            "tv": np.zeros((2, 2)), "ae": np.zeros((2, 2)), "seconds": np.array([[0.1, 0.1], [0.2, 0.2]])}
    p = tfiles.write_history_csv(tmp_path / "h.csv", hist, slices=[7, 9])
    lines = p.read_text().splitlines()
    assert lines[0] == "iteration,slice,loss,data,tv,ae,seconds" and len(lines) == 5
    back = tfiles.read_history_csv(p)
    np.testing.assert_array_equal(back["slice"], [7, 9])
    np.testing.assert_allclose(back["loss"], hist["loss"])
    with pytest.raises(ValueError):
        tfiles.write_history_csv(tmp_path / "x.csv", hist, slices=[1])


def test_figures(tmp_path):
    from tomopy_dip.interfaces import plotting as plotting

    imgs = np.random.default_rng(1).random((5, 16, 16))
    hist = {"loss": np.linspace(1, 0.1, 10)[:, None] * [1, 2], "data": np.ones((10, 2)), "tv": np.ones((10, 2)) * 0.1}
    for p in (plotting.save_preview(tmp_path / "a.png", imgs, title="t"),
              plotting.plot_convergence(hist, tmp_path / "b.png", selected=[9, 5], slices=[0, 1]),
              plotting.plot_comparison({"x": imgs[1], "y": imgs[2]}, tmp_path / "c.png", reference=imgs[0]),
              plotting.plot_psnr_curves({"A": ([0, 1, 2], [10, 12, 13]), "B": (0.5, 11)}, path=tmp_path / "d.png")):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------- bad files
def _write_h5(path, **datasets):
    with h5py.File(path, "w") as f:
        for name, value in datasets.items():
            f[name.replace("__", "/")] = value
    return path


def _good(nproj=6, rows=2, ndet=8):
    rng = np.random.default_rng(0)
    return dict(exchange__data=rng.random((nproj, rows, ndet)).astype(np.float32) + 1,
                exchange__data_white=np.full((3, rows, ndet), 4.0, np.float32),
                exchange__data_dark=np.zeros((2, rows, ndet), np.float32),
                exchange__theta=np.linspace(0, 180, nproj, endpoint=False))


@pytest.mark.parametrize("backend", BACKENDS)
def test_synthetic_file_roundtrip(tmp_path, backend):
    p = _write_h5(tmp_path / "ok.h5", **_good())
    d = tio.read_data_exchange(p, backend=backend)
    assert d.proj.shape == (6, 2, 8)
    np.testing.assert_allclose(d.theta, np.deg2rad(np.linspace(0, 180, 6, endpoint=False)))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case,pattern", [
    ("missing", "no such file"),
    ("directory", "directory"),
    ("text", "not an HDF5 file"),
    ("no_data", "no dataset 'exchange/data'"),
    ("data_2d", "must be 3-D"),
    ("flat_shape", "does not match"),
    ("theta_len", "angles but"),
    ("empty_rows", "no data selected"),
])
def test_bad_files_raise_one_clear_error(tmp_path, backend, case, pattern):
    good = _good()
    kw = {}
    if case == "missing":
        p = tmp_path / "nope.h5"
    elif case == "directory":
        p = tmp_path
    elif case == "text":
        p = tmp_path / "x.h5"
        p.write_text("not hdf5")
    elif case == "no_data":
        p = _write_h5(tmp_path / "b.h5", other__thing=np.zeros(3))
    elif case == "data_2d":
        good["exchange__data"] = np.ones((6, 8), np.float32)
        p = _write_h5(tmp_path / "b.h5", **good)
    elif case == "flat_shape":
        good["exchange__data_white"] = np.ones((3, 2, 5), np.float32)
        p = _write_h5(tmp_path / "b.h5", **good)
    elif case == "theta_len":
        good["exchange__theta"] = np.arange(4.0)
        p = _write_h5(tmp_path / "b.h5", **good)
    else:
        p = _write_h5(tmp_path / "b.h5", **good)
        kw = {"sino": (5, 7)}
    with pytest.raises(tio.DataFileError, match=pattern) as err:
        tio.read_data_exchange(p, backend=backend, **kw)
    msg = str(err.value)
    assert "\n" not in msg and str(p.name) in msg


@pytest.mark.parametrize("backend", BACKENDS)
def test_dxchange_fallbacks(tmp_path, backend):
    good = _good()
    del good["exchange__theta"], good["exchange__data_white"]
    p = _write_h5(tmp_path / "f.h5", process__acquisition__flat_fields__flat_field_value=np.array([4.0]), **good)
    d = tio.read_data_exchange(p, backend=backend)
    np.testing.assert_allclose(d.theta, np.deg2rad(np.linspace(0, 180, 6)))
    assert d.flat.shape == (1, 2, 8) and np.all(d.flat == 4.0)
    assert d.notes
    del good["exchange__data_dark"]
    p = _write_h5(tmp_path / "g.h5", **good)
    assert tio.read_data_exchange(p, backend=backend).dark is None


def test_unknown_backend_and_missing_dxchange(tmp_path, monkeypatch):
    p = _write_h5(tmp_path / "ok.h5", **_good())
    with pytest.raises(ValueError):
        tio.read_data_exchange(p, backend="nope")
    monkeypatch.setattr(tio, "_DXCHANGE", False)
    with pytest.raises(tio.DataFileError, match="dxchange"):
        tio.read_data_exchange(p, backend="dxchange")
    assert tio.read_data_exchange(p).backend == "h5py"
