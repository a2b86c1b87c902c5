"""The ``tomopy-dip`` command line: help, exit codes, errors, recon on real data, demo."""

from __future__ import annotations

import json
import re
import socket
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pipeline_helpers import TINY_NET, pipeline_env, require_tooth, run_cli  # noqa: E402,F401

from tomopy_dip import cli  # noqa: E402
from tomopy_dip.data.files import read_history_csv, read_tiff_stack  # noqa: E402

h5py = pytest.importorskip("h5py")


def _main(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("tomopy-dip: error:")]
    assert len(errors) == 1, err
    assert "Traceback" not in err
    return errors[0]


# ---------------------------------------------------------------------------- help and usage
#: Sub-commands each help page lists.
_SUBCOMMANDS = {(): ("recon", "demo", "datasets", "checkpoints"), ("datasets",): ("list", "fetch", "info"),
                ("checkpoints",): ("list", "fetch", "info")}


@pytest.mark.parametrize("argv", [
    ["--help"], ["recon", "--help"], ["demo", "--help"], ["datasets", "--help"],
    ["datasets", "list", "--help"], ["datasets", "fetch", "--help"], ["datasets", "info", "--help"],
    ["checkpoints", "--help"], ["--version"],
])
def test_help_everywhere(capsys, argv):
    code, out, _ = _main(capsys, *argv)
    assert code == 0 and out.strip()
    if argv == ["--version"]:
        from tomopy_dip import __version__

        assert out.strip() == f"tomopy-dip {__version__}"
        return
    # the help of the command that was asked for: its usage line, its options, its sub-commands
    words = argv[:-1]
    assert out.startswith(" ".join(["usage: tomopy-dip", *words, "[-h]"])), out[:300]
    assert "-h, --help" in out
    for sub in _SUBCOMMANDS.get(tuple(words), ()):
        assert re.search(rf"^\s+{sub}\s", out, re.M), (sub, out)


def test_recon_help_lists_runtime_algorithms_and_keywords(capsys):
    import tomopy_dip

    _, out, _ = _main(capsys, "recon", "--help")
    for name in tomopy_dip.ALGORITHMS:
        assert name in out
    for flag in ("--num-iter", "--lr", "--tv-weight", "--checkpoint", "--set", "--center", "--downsample",
                 "--slices", "--quiet", "--debug"):
        assert flag in out


@pytest.mark.parametrize("argv", [
    [],
    ["recon"],
    ["recon", "x.h5", "--inner-steps", "3"],  # the default, auto, fits by tv_dip and edip_fe
    ["recon", "x.h5", "--algorithm", "nope"],
    ["recon", "x.h5", "--algorithm", "dip", "--slices", "a:b"],
    ["recon", "x.h5", "--algorithm", "dip", "--slices", "5:2"],
    ["recon", "x.h5", "--algorithm", "dip", "--center", "left"],
    ["recon", "x.h5", "--algorithm", "dip", "--set", "novalue"],
    ["recon", "x.h5", "--algorithm", "dip", "--downsample", "0"],
    ["demo", "--size", "-3"],
    ["datasets"],
    ["datasets", "fetch"],
    ["nonsense"],
])
def test_usage_errors_exit_2(capsys, argv):
    code, _, err = _main(capsys, *argv)
    assert code == 2


@pytest.mark.parametrize("extra,pattern", [
    (["--inner-steps", "3"], "does not apply"),
    (["--set", "bogus_keyword=1"], "does not apply"),
    (["--lr", "-1"], "lr"),
    (["--select", "best"], "select"),
    (["--set", "channels=(8, 'a')"], "channels"),
    (["--set", "progress=False"], "--quiet"),
])
def test_bad_keywords_are_usage_errors(capsys, tmp_path, extra, pattern):
    # keywords are validated before the file is opened: the file does not even exist
    code, _, err = _main(capsys, "recon", str(tmp_path / "none.h5"), "--algorithm", "tv_dip", *extra)
    assert code == 2
    assert pattern in _one_error_line(err)


def test_set_parses_python_literals():
    from tomopy_dip.cli.common import _key_value, _slice_arg

    assert _key_value("channels=(8, 16)") == ("channels", (8, 16))
    assert _key_value("memory-limit=2e9") == ("memory_limit", 2e9)
    assert _key_value("out_activation=sigmoid") == ("out_activation", "sigmoid")
    assert _key_value("source_origin=None") == ("source_origin", None)
    assert _slice_arg("3") == (3, 4, None)
    assert _slice_arg("::4") == (None, None, 4)
    assert _slice_arg("0:2") == (0, 2, None)


def _option_help(parser_help: str, flag: str) -> str:
    """The help text of ``flag`` in a help page, on one line."""
    m = re.search(rf"^  {re.escape(flag)} \S+\s+(.*?)(?=^  -)", parser_help, re.M | re.S)
    assert m, (flag, parser_help)
    return " ".join(m.group(1).split())


def test_keyword_help_names_each_methods_default(capsys):
    from tomopy_dip.methods import METHODS

    _, out, _ = _main(capsys, "recon", "--help")
    text = _option_help(out, "--lr")
    assert text.startswith("Adam learning rate [") and text.endswith("]"), text
    shown = {}  # method -> default, as the help groups them: "a, b: X; c: Y" or one value for all
    for group in text[text.index("[") + 1:-1].split("; "):
        names, _, value = group.rpartition(": ")
        for name in (names.split(", ") if names else METHODS):
            shown[name] = value
    expected = {name: repr(m.defaults.get("lr", m.accepted["lr"].default)) for name, m in METHODS.items()}
    assert shown == expected
    # a method's own keyword lists only the methods that take it
    inner = _option_help(out, "--inner-steps")
    takers = [n for n, m in METHODS.items() if "inner_steps" in m.accepted]
    assert inner.endswith("[" + ", ".join(takers) + f": {METHODS[takers[0]].accepted['inner_steps'].default}]"), inner


# ---------------------------------------------------------------------------- bad input files
def _h5(path, **datasets):
    with h5py.File(path, "w") as f:
        for k, v in datasets.items():
            f[k.replace("__", "/")] = v
    return path


@pytest.mark.parametrize("case", ["missing", "not_hdf5", "no_data", "wrong_shape", "no_flats", "zero_flats", "bad_row"])
def test_bad_files_exit_1_with_one_line(capsys, tmp_path, case):
    ok = dict(exchange__data=np.ones((4, 2, 8), np.float32), exchange__data_white=np.full((2, 2, 8), 2.0, np.float32),
              exchange__data_dark=np.zeros((2, 2, 8), np.float32), exchange__theta=np.arange(4) * 45.0)
    extra = []
    if case == "missing":
        p = tmp_path / "missing.h5"
    elif case == "not_hdf5":
        p = tmp_path / "text.h5"
        p.write_text("hello")
    elif case == "no_data":
        p = _h5(tmp_path / "nodata.h5", exchange__theta=np.arange(4.0))
    elif case == "wrong_shape":
        ok["exchange__data_dark"] = np.zeros((2, 3, 8), np.float32)
        p = _h5(tmp_path / "shape.h5", **ok)
    elif case == "no_flats":
        del ok["exchange__data_white"]
        p = _h5(tmp_path / "noflat.h5", **ok)
    elif case == "zero_flats":
        ok["exchange__data_white"] = np.zeros((2, 2, 8), np.float32)
        p = _h5(tmp_path / "zeroflat.h5", **ok)
        extra = ["--slices", "0:1"]
    else:
        p = _h5(tmp_path / "rows.h5", **ok)
        extra = ["--slices", "10:12"]
    code, _, err = _main(capsys, "recon", str(p), "--algorithm", "dip", "--center", "4", "--num-iter", "1",
                         "--out", str(tmp_path / "o"), *extra)
    assert code == 1
    line = _one_error_line(err)
    assert p.name in line
    if case == "zero_flats":
        assert "not brighter than the dark fields" in line and "in 100 % of the detector pixels" in line


def test_debug_shows_traceback(capsys, tmp_path):
    code, _, err = _main(capsys, "recon", str(tmp_path / "missing.h5"), "--algorithm", "dip", "--debug")
    assert code == 1 and "Traceback" in err and "tomopy-dip: error:" in err


def _small_exchange_file(path, nproj=12, nrows=2, ndet=16):
    rng = np.random.default_rng(0)
    flat = np.full((2, nrows, ndet), 2.0, np.float32)
    proj = (flat[0] * np.exp(-rng.uniform(0.1, 1.0, (nproj, nrows, ndet)))).astype(np.float32)
    return _h5(path, exchange__data=proj, exchange__data_white=flat,
               exchange__data_dark=np.zeros((2, nrows, ndet), np.float32),
               exchange__theta=np.arange(nproj) * (180.0 / nproj))


def test_method_registered_at_run_time_is_usable_by_name(capsys, tmp_path):
    from tomopy_dip.methods import METHODS, Method, register_method

    p = _small_exchange_file(tmp_path / "small.h5")
    register_method(Method(name="dip_test_method", defaults={"num_iter": 2, "channels": (8, 8),
                                                             "skip_channels": (0, 4), "lr": 1e-4}))
    try:
        _, out, _ = _main(capsys, "recon", "--help")
        assert "dip_test_method" in out and "dip_test_method: 0.0001" in " ".join(out.split())
        code, stdout, err = _main(capsys, "recon", str(p), "-a", "dip_test_method", "--center", "8",
                                  "--threads", "1", "--out", str(tmp_path / "o"), "-q")
    finally:
        METHODS.pop("dip_test_method", None)
    assert code == 0, err
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["algorithm"] == "dip_test_method" and summary["iterations_run"] == 2
    assert summary["shape"] == [2, 16, 16]
    assert stdout.startswith("tomopy-dip recon: dip_test_method on small.h5, 2 slice(s) (rows 0-1), 12 views")
    assert "dip_test_method" not in METHODS


def test_reconstruct_file_is_the_library_pipeline(tmp_path, caplog):
    import logging

    from tomopy_dip import reconstruct_file
    from tomopy_dip.volume import SettingError

    p = _small_exchange_file(tmp_path / "small.h5", nrows=3)
    with caplog.at_level(logging.INFO, logger="tomopy_dip.volume.steps"):
        r = reconstruct_file(p, "dip", out=tmp_path / "o", slices=(0, 3, 2), center=7.5, downsample=2,
                             progress=False, num_iter=2, channels=(8, 8), skip_channels=(0, 4))
    steps = [rec.getMessage() for rec in caplog.records if rec.name == "tomopy_dip.volume.steps"]
    assert [m.split(" ", 1)[0] for m in steps] == ["Read", "Pre-processing:", "Plan:"], steps
    assert r.rows == [0, 2] and r.rows_text == "rows 0-2 (step 2)" and r.images.shape == (2, 8, 8)
    assert r.center_text == "7.50 (given) -> 3.50 after binning x2" and r.iterations_run == 2
    assert sorted(r.files) == ["convergence.png", "recon.png", "summary.json"]
    assert [f.name for f in r.slice_files] == ["recon_00000.tiff", "recon_00002.tiff"]
    assert json.loads(r.files["summary.json"].read_text())["keywords"] == {
        "num_iter": 2, "channels": [8, 8], "skip_channels": [0, 4]}
    np.testing.assert_array_equal(np.concatenate([read_tiff_stack(f) for f in r.slice_files]), r.images)
    with pytest.raises(SettingError, match="center_row=5 is outside the 3 selected rows"):
        reconstruct_file(p, "dip", out=tmp_path / "o2", center_row=5, num_iter=1)
    with pytest.raises(TypeError, match="bogus"):  # keywords are checked before the file is read
        reconstruct_file(tmp_path / "absent.h5", "dip", bogus=1)


def test_centre_off_detector_is_a_failure(capsys, tmp_path):
    p = _h5(tmp_path / "ok.h5", exchange__data=np.ones((4, 1, 8), np.float32),
            exchange__data_white=np.full((2, 1, 8), 2.0, np.float32),
            exchange__data_dark=np.zeros((2, 1, 8), np.float32), exchange__theta=np.arange(4) * 45.0)
    code, _, err = _main(capsys, "recon", str(p), "--algorithm", "dip", "--center", "40")
    assert code == 1 and "not on the detector" in _one_error_line(err)


# ---------------------------------------------------------------------------- the full path on tooth
@pytest.mark.real_data
def test_recon_tooth_full_cli(tmp_path, pipeline_env):
    tooth = require_tooth()
    out = tmp_path / "out"
    r = run_cli("recon", str(tooth), "--algorithm", "tv_dip", "--slices", "0:2", "--downsample", "4",
                "--num-iter", "3", *TINY_NET, "--threads", "1", "--out", str(out), "--quiet",
                timeout=900)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    stack = np.concatenate([read_tiff_stack(out / f"recon_0000{i}.tiff") for i in (0, 1)])
    assert stack.shape == (2, 160, 160) and stack.dtype == np.float32
    assert np.all(np.isfinite(stack)) and stack.std() > 0
    for name in ("recon.png", "convergence.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    for i in (0, 1):
        hist = read_history_csv(out / "history" / f"history_0000{i}.csv")
        assert hist["loss"].shape == (3, 1) and list(hist["slice"]) == [i]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["shape"] == [2, 160, 160] and summary["source"]["downsample"] == 4
    assert summary["finished"] and summary["done"] == 2 and summary["not_reconstructed"] == []
    assert abs(summary["center"] - 296.0) <= 1.5  # Vo's method on tooth (TomoPy: 295.0 / 296.34)
    assert summary["center_used"] == pytest.approx((summary["center"] - 1.5) / 4)
    # the summary printed at the end names the outputs
    assert "recon_00000.tiff .. recon_00001.tiff" in r.stdout and "time" in r.stdout and "iterations" in r.stdout


@pytest.mark.real_data
def test_recon_in_process_reader_and_keywords(capsys, tmp_path, pipeline_env):
    tooth = require_tooth()
    out = tmp_path / "o2"
    code, stdout, err = _main(capsys, "recon", str(tooth), "--algorithm", "dip", "--slices", "1", "--reader", "h5py",
                              "--downsample", "8", "--center", "296.34", "--proj", "::2", "--num-iter", "2",
                              *TINY_NET, "--set", "select='last'", "--set", "seed=3", "--out", str(out), "-q")
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["source"]["reader"] == "h5py" and summary["projections"] == 91 and summary["rows"] == [1]
    assert summary["keywords"]["select"] == "last" and summary["keywords"]["seed"] == 3
    assert summary["center_used"] == pytest.approx((296.34 - 3.5) / 8)
    assert read_tiff_stack(out / "recon_00001.tiff").shape == (1, 80, 80)
    assert "Read " not in stdout  # --quiet: no step messages, only the summary
    assert "tomopy-dip recon:" in stdout


# ---------------------------------------------------------------------------- demo
def test_demo_runs_offline(capsys, tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the demo must not use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.delenv("TOMOPY_DIP_MIRROR", raising=False)
    monkeypatch.setenv("TOMOPY_DIP_CACHE", str(tmp_path / "empty-cache"))
    out = tmp_path / "demo"
    code, stdout, err = _main(capsys, "demo", "--quick", "--size", "32", "--views", "8", "--num-iter", "3",
                              "--out", str(out), "--quiet")
    assert code == 0, err
    assert "PSNR" in stdout and "FBP" in stdout and "TV-DIP" in stdout and str(out) in stdout
    for name in ("demo.png", "demo.tiff", "history.csv", "convergence.png"):
        assert (out / name).is_file()
    assert read_tiff_stack(out / "demo.tiff").shape == (3, 32, 32)
    assert not (tmp_path / "empty-cache").exists()


def test_python_m_demo_help():
    r = run_cli("demo", "--help", timeout=300)
    assert r.returncode == 0 and "--quick" in r.stdout


# ---------------------------------------------------------------------------- registry commands
def test_datasets_list_and_info(capsys, pipeline_env):
    code, out, _ = _main(capsys, "datasets", "list")
    assert code == 0 and "tooth" in out and "htc2022_ta" in out
    code, out, _ = _main(capsys, "datasets", "info", "tooth")
    assert code == 0 and "sha256" in out and "ab1d9bd0" in out
    code, _, err = _main(capsys, "datasets", "info", "nope")
    assert code == 2 and "unknown dataset" in _one_error_line(err)


def test_checkpoints_commands(capsys):
    code, out, err = _main(capsys, "checkpoints", "list")
    assert code == 0, err
    assert "edip_parallel: 2-D U-Net, parallel beam, 20-720 views" in out and "edip_htc2022: 2-D U-Net, fanflat beam" in out
    code, out, err = _main(capsys, "checkpoints", "info", "edip_parallel")
    assert code == 0 and '"norm_groups": 4' in out and "pretrain_checkpoints.py parallel" in out, err
    code, _, err = _main(capsys, "checkpoints", "info", "nope")
    assert code == 1 and "neither a file nor a registered name" in _one_error_line(err)
