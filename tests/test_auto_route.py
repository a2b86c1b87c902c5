"""``algorithm="auto"``, the whole-scan default: the route it takes, its check and fallback, resume."""

from __future__ import annotations

import json

import numpy as np
import pytest

from _pipeline_helpers import synthetic_exchange
from tomopy_dip import reconstruct_file
from tomopy_dip.data.registry import sha256
from tomopy_dip.volume import ScanPretrain, SettingError
from tomopy_dip.volume import route as route_module
from tomopy_dip.volume.route import MIN_SEEDED_ROWS, choose_route, seed_count

QUICK = dict(center=12.0, num_iter=30, stop="none", channels=(8, 8), skip_channels=(0, 4), progress=False,
             plan=False)
#: A scan-pretrained route small enough for a test: rows 1 and 3 seeds, 1 held back as the check.
SEEDING = ScanPretrain(every=2, num_steps=3, batch_size=2, method_keywords={"num_iter": 20}, held_back=1)


@pytest.fixture
def scan(tmp_path):
    return synthetic_exchange(tmp_path / "scan.h5", nrows=4)


def _stack(res):
    return np.stack([res.images[i] for i in range(len(res.rows))])


def test_few_rows_are_fitted_row_by_row_by_tv_dip_exactly_as_when_named(scan, tmp_path):
    said = []
    auto = reconstruct_file(scan, out=tmp_path / "a", report=said.append, **QUICK)
    named = reconstruct_file(scan, "tv_dip", out=tmp_path / "t", **QUICK)
    np.testing.assert_array_equal(_stack(auto), _stack(named))
    assert any(m.startswith("Route (algorithm='auto'): per-row: 4 row(s)") for m in said), said
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["algorithm"] == "auto" and summary["route"]["route"] == "per_row"
    assert {rec["method"] for rec in summary["slices"].values()} == {"tv_dip"}
    assert (tmp_path / "a").name == "a" and auto.done == [0, 1, 2, 3]


def test_a_scan_is_fitted_from_a_network_pretrained_on_its_seed_rows_and_checked(scan, tmp_path):
    said = []
    out = tmp_path / "s"
    r = reconstruct_file(scan, "auto", out=out, rows_per_task=4, scan_pretrain=SEEDING, report=said.append, **QUICK)
    assert r.done == [0, 1, 2, 3] and not r.interrupted
    summary = json.loads((out / "summary.json").read_text())
    assert summary["route"] == {"route": "scan_pretrained", "method": "edip_fe",
                                "keywords": route_module.ROW_KEYWORDS}
    info = summary["scan_pretrain"]
    assert info["seed_rows"] == [3] and info["sha256"] == sha256(out / info["checkpoint"])  # row 1 held back
    check = info["check"]
    assert check["rows"] == [1] and len(check["misfit_fit"]) == len(check["misfit_seed"]) == 1
    assert check["passed"] == route_module.passes_check(check["misfit_fit"][0], check["misfit_seed"][0])
    methods = {row: summary["slices"][str(row)]["method"] for row in range(4)}
    assert methods[1] == methods[3] == "tv_dip"  # the seeds, the held-back one included
    assert methods[0] == methods[2] == ("edip_fe" if check["passed"] else "tv_dip")
    assert any(m.startswith("Check passed" if check["passed"] else "Check failed") for m in said), said
    assert summary["stages"]["seed_rows"] == {"done": 2, "of": 2} and summary["stages"]["pretraining"] == "finished"

    again = reconstruct_file(scan, "auto", out=out, rows_per_task=4, scan_pretrain=SEEDING, resume=True, **QUICK)
    assert all(rec.get("resumed") for rec in again.records.values())  # nothing fitted again
    np.testing.assert_array_equal(_stack(again), _stack(r))


def test_a_network_that_fails_its_check_falls_back_to_per_row_fits_and_says_so(scan, tmp_path, monkeypatch):
    monkeypatch.setattr(route_module, "CHECK_MISFIT_RATIO", 0.0)  # no fit passes
    said = []
    out = tmp_path / "f"
    r = reconstruct_file(scan, out=out, rows_per_task=4, scan_pretrain=SEEDING, report=said.append, **QUICK)
    summary = json.loads((out / "summary.json").read_text())
    assert not summary["scan_pretrain"]["check"]["passed"] and "per-row tv_dip" in summary["fallback"]
    assert {summary["slices"][str(row)]["method"] for row in range(4)} == {"tv_dip"}
    assert any(m.startswith("Check failed: on held-back seed row 1") for m in said), said
    assert r.done == [0, 1, 2, 3]


def test_the_route_follows_the_selection_and_the_fit():
    from tomopy_dip.methods import get_method

    options = get_method("tv_dip").parse({"device": "cpu"})
    assert choose_route(MIN_SEEDED_ROWS - 1, options).name == "per_row"
    chosen = choose_route(MIN_SEEDED_ROWS, options)
    assert chosen.name == "scan_pretrained" and chosen.method == "edip_fe"
    assert len(chosen.seeding.seed_rows(range(MIN_SEEDED_ROWS))) == seed_count(MIN_SEEDED_ROWS) + 1
    assert choose_route(2048, options, warm_start=True).name == "per_row"
    three_d = get_method("tv_dip").parse({"device": "cpu", "dims": 3})
    assert choose_route(2048, three_d).name == "per_row"
    assert choose_route(4, options, seeding=SEEDING).seeding is SEEDING  # asked for: pretrained whatever the rows


def test_auto_refuses_what_cannot_apply_before_the_file_is_read(tmp_path):
    missing = tmp_path / "absent.h5"
    with pytest.raises(SettingError, match="scan_pretrain.*dims=3"):
        reconstruct_file(missing, out=tmp_path / "o", scan_pretrain=4, dims=3)
    with pytest.raises(TypeError, match="inner_steps"):  # a keyword of neither of auto's methods
        reconstruct_file(missing, out=tmp_path / "o", inner_steps=3)
    assert not (tmp_path / "o").exists()


def test_dask_runs_the_seed_rows_then_the_others_and_writes_the_serial_files(scan, tmp_path):
    """The seed rows in parallel, the pretraining and the check once, then the other rows in
    parallel: the same slices, the same checkpoint and the same check as a serial run."""
    distributed = pytest.importorskip("distributed")
    serial = reconstruct_file(scan, "auto", out=tmp_path / "serial", rows_per_task=1, scan_pretrain=SEEDING, **QUICK)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        client.run(lambda: __import__("torch").set_num_threads(1))
        dask = reconstruct_file(scan, "auto", out=tmp_path / "dask", rows_per_task=1, scan_pretrain=SEEDING,
                                scheduler=client, **QUICK)
    finally:
        client.close()
        cluster.close()
    assert dask.done == serial.done == [0, 1, 2, 3]
    np.testing.assert_array_equal(_stack(dask), _stack(serial))
    a, b = (json.loads((tmp_path / d / "summary.json").read_text())["scan_pretrain"] for d in ("serial", "dask"))
    from tomopy_dip.learning.checkpoints.format import read_metadata

    weights = [read_metadata(tmp_path / d / info["checkpoint"])["weights_sha256"]
               for d, info in (("serial", a), ("dask", b))]
    assert weights[0] == weights[1] and a["check"] == b["check"]  # the files differ only in their timings
    methods = [json.loads((tmp_path / "dask" / "summary.json").read_text())["slices"][str(r)]["method"]
               for r in range(4)]
    assert methods[1] == methods[3] == "tv_dip"
