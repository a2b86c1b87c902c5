"""A scan as a volume: slices streamed to disk, resumed, refused early, run on Dask.

Every test makes its own small Data Exchange file (raw counts, flats, darks, theta in degrees).
Dask runs only on loopback (``LocalCluster`` on 127.0.0.1).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from _pipeline_helpers import REPO, TINY_NET, subprocess_env, synthetic_exchange
from tomopy_dip import reconstruct_file
from tomopy_dip.cli import main
from tomopy_dip.volume.outputs import ResultDirectory, slice_name
from tomopy_dip.volume import SettingError

#: Small, quick fits (a 24² image, a tiny network).
QUICK = dict(center=12.0, num_iter=30, stop="none", channels=(8, 8), skip_channels=(0, 4), progress=False,
             plan=False)


@pytest.fixture
def scan(tmp_path):
    return synthetic_exchange(tmp_path / "scan.h5", nrows=4)


def _stack(out, rows):
    return np.stack([ResultDirectory(out, {}).read_slice(r) for r in rows])


def test_each_slice_is_written_when_it_is_finished(scan, tmp_path):
    out = tmp_path / "o"
    seen = []

    def look(info):
        if info["iteration"] == 0:  # a new slice starts: what is on disk already?
            summary = json.loads((out / "summary.json").read_text())
            seen.append((sorted(f.name for f in out.glob("recon_*.tiff")), summary["done"]))

    r = reconstruct_file(scan, "dip", out=out, rows_per_task=1, callback=look, **QUICK)
    assert seen == [([], 0), (["recon_00000.tiff"], 1), (["recon_00000.tiff", "recon_00001.tiff"], 2),
                    (["recon_00000.tiff", "recon_00001.tiff", "recon_00002.tiff"], 3)]
    assert r.done == [0, 1, 2, 3] and not r.interrupted and r.missing == []
    summary = json.loads((out / "summary.json").read_text())
    assert summary["finished"] and summary["slices"]["3"]["file"] == "recon_00003.tiff"
    assert "callback" not in summary["keywords"]
    # every slice carries its record: settings, iterations, why it stopped
    record = ResultDirectory.read_record(out / slice_name(2))
    assert record["row"] == 2 and record["iterations"] == 30 and record["stop_reason"] == "num_iter"
    assert record["settings"]["algorithm"] == "dip" and record["settings"]["keywords"]["num_iter"] == 30
    assert (out / "history" / "history_00002.csv").is_file()
    # the slices are those of reconstruct() on the same sinograms, and differ from row to row
    images = r.images
    assert images.shape == (4, 24, 24) and np.all(np.isfinite(images))
    assert not np.array_equal(images[0], images[1])


def test_results_are_never_overwritten_without_permission(scan, tmp_path):
    out = tmp_path / "o"
    reconstruct_file(scan, "dip", out=out, slices=(0, 2), **QUICK)
    before = (out / slice_name(0)).read_bytes()
    with pytest.raises(SettingError, match=r"recon_00000.tiff .*resume=True.*overwrite=True"):
        reconstruct_file(scan, "dip", out=out, slices=(0, 2), **QUICK)
    assert (out / slice_name(0)).read_bytes() == before
    # a resumed run with other settings says what differs, before any work
    with pytest.raises(SettingError, match=r"keywords.num_iter: 30 then, 31 now"):
        reconstruct_file(scan, "dip", out=out, slices=(0, 2), resume=True, **{**QUICK, "num_iter": 31})
    # the same settings: nothing is fitted again, the rows selected now are added
    r = reconstruct_file(scan, "dip", out=out, slices=(0, 3), resume=True, **QUICK)
    assert [r.records[i].get("resumed", False) for i in (0, 1, 2)] == [True, True, False]
    assert (out / slice_name(0)).read_bytes() == before
    r = reconstruct_file(scan, "dip", out=out, slices=(0, 1), overwrite=True, **{**QUICK, "num_iter": 31})
    assert ResultDirectory.read_record(out / slice_name(0))["iterations"] == 31


def test_the_output_directory_is_checked_before_the_file_is_read(tmp_path, capsys):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    # the input does not even exist: the output directory is refused first
    with pytest.raises(SettingError, match="is a file, not a directory"):
        reconstruct_file(tmp_path / "absent.h5", "dip", out=not_a_dir, **QUICK)
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "summary.json").write_text("{}")
    code = main(["recon", str(tmp_path / "absent.h5"), "-a", "dip", "--out", str(tmp_path / "o"), "-q"])
    err = capsys.readouterr().err
    assert code == 1 and "summary.json" in err and "--resume" in err and "--overwrite" in err


def test_a_symbolic_link_at_an_output_name_is_not_followed(scan, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    (out / slice_name(0)).symlink_to(target)
    reconstruct_file(scan, "dip", out=out, slices=(0, 1), overwrite=True, **QUICK)
    assert target.read_text() == "keep me"
    assert not (out / slice_name(0)).is_symlink() and _stack(out, [0]).shape == (1, 24, 24)


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_keeps_finished_slices_and_resume_completes_the_same_stack(scan, tmp_path, signum, code):
    """SIGINT (Ctrl-C) or SIGTERM (a batch system's time limit) to the command line: finished
    slices stay, exit 130 / 143; --resume fits only the rest and gives the stack of an
    uninterrupted run."""
    out, ref = tmp_path / "o", tmp_path / "ref"
    args = ["recon", str(scan), "-a", "dip", "--center", "12", "--num-iter", "400", "--stop", "none",
            *TINY_NET, "--threads", "1", "--rows-per-task", "1", "--no-plan", "-q"]
    proc = subprocess.Popen([sys.executable, "-m", "tomopy_dip", *args, "--out", str(out)],
                            env=subprocess_env(), cwd=str(REPO), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / slice_name(0)).exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    assert "not reconstructed" in stdout and "--resume" in stdout
    written = sorted(f.name for f in out.glob("recon_*.tiff"))
    assert 1 <= len(written) < 4
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] and not summary["finished"] and summary["not_reconstructed"]
    assert summary["stages"] == {"rows": {"done": len(written), "of": 4}}
    assert f"stages      rows {len(written)} of 4" in stdout
    stamps = {f: (out / f).stat().st_mtime_ns for f in written}

    r = subprocess.run([sys.executable, "-m", "tomopy_dip", *args, "--out", str(out), "--resume"],
                       env=subprocess_env(), cwd=str(REPO), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert {f: (out / f).stat().st_mtime_ns for f in written} == stamps  # not fitted again
    r = subprocess.run([sys.executable, "-m", "tomopy_dip", *args, "--out", str(ref)],
                       env=subprocess_env(), cwd=str(REPO), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(_stack(out, range(4)), _stack(ref, range(4)))


def test_dask_is_an_optional_extra(scan, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    with pytest.raises(ImportError, match=r"tomopy-dip\[dask\]"):
        reconstruct_file(scan, "dip", out=tmp_path / "o", scheduler="local:2", **QUICK)
    assert not (tmp_path / "o").exists()
    code = main(["recon", str(scan), "-a", "dip", "--scheduler", "local:2", "--out", str(tmp_path / "o"), "-q"])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1 and "tomopy-dip[dask]" in err


@pytest.mark.slow
def test_dask_local_cluster_gives_the_serial_stack_even_when_a_worker_dies(scan, tmp_path):
    distributed = pytest.importorskip("distributed")
    serial = reconstruct_file(scan, "dip", out=tmp_path / "serial", rows_per_task=1,
                              **{**QUICK, "num_iter": 150})
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    out = tmp_path / "dask"
    try:
        client.run(lambda: __import__("torch").set_num_threads(1))
        killed = []

        def kill_one_worker():
            while not any(out.glob("recon_*.tiff")):
                time.sleep(0.05)
            pids = client.run(os.getpid)
            victim = sorted(pids.values())[0]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

        killer = threading.Thread(target=kill_one_worker, daemon=True)
        killer.start()
        r = reconstruct_file(scan, "dip", out=out, rows_per_task=1, scheduler=client,
                             **{**QUICK, "num_iter": 150})
        killer.join(timeout=30)
    finally:
        client.close()
        cluster.close()
    assert killed, "no worker was killed"
    assert r.done == [0, 1, 2, 3] and not r.interrupted
    np.testing.assert_array_equal(r.images, serial.images)


def test_a_fit_continues_from_a_fitted_network():
    from tomopy_dip import reconstruct
    from tomopy_dip.networks import FittedNetwork

    theta = np.linspace(0, np.pi, 24, endpoint=False)
    sino = np.random.default_rng(0).random((24, 24)).astype(np.float32)
    kw = dict(num_iter=40, stop="none", channels=(8, 8), skip_channels=(0, 4), progress=False)
    first = reconstruct(sino, theta, method="dip", keep_network=True, **kw)
    net = first.networks[0]
    assert isinstance(net, FittedNetwork) and net.input is not None and tuple(net.input.shape) == (24, 24)
    assert reconstruct(sino, theta, method="dip", **kw).networks == []  # kept only when asked
    again = reconstruct(sino, theta, method="dip", init_network=net, **kw)
    # it starts where the first fit ended (same network, same input), not from scratch
    assert again.history["loss"][0, 0] < 0.5 * first.history["loss"][0, 0]
    assert again.history["loss"][0, 0] <= 1.5 * first.history["loss"][-1, 0]
    with pytest.raises(TypeError, match="init_network must be a FittedNetwork"):
        reconstruct(sino, theta, method="dip", init_network={"weights": 1}, **kw)
    with pytest.raises(ValueError, match="init_network: the weights do not fit"):
        reconstruct(sino, theta, method="dip", init_network=(net.config, {}), **kw)


def test_neighbour_warm_start_depends_on_task_boundaries_only(scan, tmp_path):
    kw = {**QUICK, "num_iter": 20}
    cold = reconstruct_file(scan, "dip", out=tmp_path / "cold", rows_per_task=2, **kw)
    warm = reconstruct_file(scan, "dip", out=tmp_path / "warm", rows_per_task=2, warm_start=True, **kw)
    a, b = cold.images, warm.images
    # the first row of each task starts as usual; the second starts from the first's network
    np.testing.assert_array_equal(a[[0, 2]], b[[0, 2]])
    assert not np.array_equal(a[1], b[1]) and not np.array_equal(a[3], b[3])
    assert warm.settings["warm_start"] and warm.settings["rows_per_task"] == 2
    # a resumed warm-start run refits a task that is not complete, whole: the same stack
    (tmp_path / "warm" / slice_name(3)).unlink()
    again = reconstruct_file(scan, "dip", out=tmp_path / "warm", rows_per_task=2, warm_start=True, resume=True,
                             **kw)
    assert [again.records[r].get("resumed", False) for r in range(4)] == [True, True, False, False]
    np.testing.assert_array_equal(again.images, b)


def test_an_impossible_plan_is_refused_before_any_fit(scan, tmp_path):
    out = tmp_path / "o"
    with pytest.raises(MemoryError, match="num_gridx|downsample"):
        reconstruct_file(scan, "dip", out=out, **{**QUICK, "num_gridx": 20000, "num_gridy": 20000})
    assert not list(out.glob("recon_*.tiff")) and not (out / "summary.json").exists()


def test_a_3d_scan_fits_each_task_as_one_slab(scan, tmp_path):
    """dims=3: a task's rows are one slab (one 3-D network); a resumed run refits an incomplete
    task whole and gives the same stack."""
    kw = {**QUICK, "num_iter": 10, "dims": 3}
    r = reconstruct_file(scan, "tv_dip", out=tmp_path / "o", rows_per_task=2, **kw)
    assert r.done == [0, 1, 2, 3] and r.settings["rows_per_task"] == 2 and r.settings["keywords"]["dims"] == 3
    flat = reconstruct_file(scan, "tv_dip", out=tmp_path / "flat", rows_per_task=2, **{**kw, "dims": 2})
    assert not np.allclose(r.images, flat.images, atol=1e-4)
    (tmp_path / "o" / slice_name(3)).unlink()
    again = reconstruct_file(scan, "tv_dip", out=tmp_path / "o", rows_per_task=2, resume=True, **kw)
    assert [again.records[row].get("resumed", False) for row in range(4)] == [True, True, False, False]
    np.testing.assert_array_equal(again.images, r.images)
    one = reconstruct_file(scan, "tv_dip", out=tmp_path / "one", rows_per_task=4, **kw)
    assert not np.array_equal(one.images, r.images)  # the slab is the task: its size matters


def test_scan_pretrain_fits_seed_rows_then_the_others_from_a_network_pretrained_on_them(scan, tmp_path):
    from tomopy_dip.volume import ScanPretrain
    from tomopy_dip.volume.seeding import CHECKPOINT
    from tomopy_dip.learning.checkpoints import read_metadata
    from tomopy_dip.learning.phantoms import ImageFamily

    seeding = ScanPretrain(every=2, num_steps=3, batch_size=2, method_keywords={"num_iter": 20})
    out = tmp_path / "s"
    said = []
    r = reconstruct_file(scan, "edip", out=out, rows_per_task=4, scan_pretrain=seeding, report=said.append, **QUICK)
    assert r.done == [0, 1, 2, 3] and not r.interrupted
    assert any(m.startswith("Scan pretraining: rows 1-3 (step 2) by tv_dip first, then 3 pretraining steps")
               for m in said), said
    # rows 1 and 3 are the seeds: TV-DIP with the seed keywords (20 iterations), the others EDIP (30)
    assert [r.records[row]["iterations"] for row in range(4)] == [30, 20, 30, 20]
    meta = read_metadata(out / CHECKPOINT)
    seeds = np.stack([ResultDirectory(out, {}).read_slice(row) for row in (1, 3)])
    assert meta["data"]["family_parameters"] == ImageFamily(seeds).parameters()  # pretrained on them
    assert meta["training"]["steps"] == 3 and meta["network"]["channels"] == [8, 8]
    assert not list(out.glob("scan_pretrain-step*"))  # the best network and its resume state only
    summary = json.loads((out / "summary.json").read_text())
    info = summary["scan_pretrain"]
    assert info["seed_rows"] == [1, 3] and info["checkpoint"] == CHECKPOINT and info["every"] == 2
    assert info["noise"][0] == 0 and 0 < info["noise"][1] < 1
    assert summary["stages"] == {"seed_rows": {"done": 2, "of": 2}, "pretraining": "finished",
                                 "rows": {"done": 2, "of": 2}}
    assert r.settings["scan_pretrain"]["method"] == "tv_dip"
    # EDIP's rows started from that checkpoint, not from the automatic random start
    plain = reconstruct_file(scan, "edip", out=tmp_path / "p", slices=(0, 1), **QUICK)
    assert not np.array_equal(plain.images[0], r.images[0])
    # resumed: only the missing row is fitted, from the same checkpoint, to the same image
    stamp = (out / CHECKPOINT).stat().st_mtime_ns
    (out / slice_name(2)).unlink()
    again = reconstruct_file(scan, "edip", out=out, rows_per_task=4, scan_pretrain=seeding, resume=True, **QUICK)
    assert [again.records[row].get("resumed", False) for row in range(4)] == [True, True, False, True]
    np.testing.assert_array_equal(again.images, r.images)
    assert (out / CHECKPOINT).stat().st_mtime_ns == stamp
    # other pretraining settings: refused on resume, naming what differs
    with pytest.raises(SettingError, match="scan_pretrain"):
        reconstruct_file(scan, "edip", out=out, scan_pretrain=ScanPretrain(every=2, num_steps=4), resume=True,
                         **QUICK)


@pytest.mark.parametrize("algorithm, extra, match", [
    ("tv_dip", {}, "starts from no checkpoint: use edip or edip_fe"),
    ("edip", {"checkpoint": "edip_parallel"}, "leave the checkpoint keyword out"),
    ("edip", {"warm_start": True}, "not with the warm start"),
    ("edip", {"scan_pretrain": 0}, "scan_pretrain must be"),
    ("edip", {"scan_pretrain": "x"}, "scan_pretrain must be"),
])
def test_scan_pretrain_is_refused_where_it_cannot_apply_before_the_file_is_read(tmp_path, algorithm, extra, match):
    kw = {"scan_pretrain": 4, **extra}
    with pytest.raises((SettingError, ValueError, TypeError), match=match):
        reconstruct_file(tmp_path / "missing.h5", algorithm, out=tmp_path / "o", **{**QUICK, **kw})
    assert not (tmp_path / "o").exists()


def test_scan_pretrain_from_the_command_line_is_refused_in_its_own_words(tmp_path, capsys):
    code = main(["recon", str(tmp_path / "absent.h5"), "-a", "tv_dip", "--scan-pretrain", "8",
                 "--out", str(tmp_path / "o"), "-q"])
    err = capsys.readouterr().err
    assert code == 1 and "--scan-pretrain 8" in err and "edip or edip_fe" in err
