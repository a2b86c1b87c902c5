"""Per-pixel uncertainty beside each image: shapes, units, the estimators' definitions, the
refusals, and the files of the command line (resume, Dask)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from _pipeline_helpers import synthetic_exchange
from tomopy_dip import reconstruct, reconstruct_file
from tomopy_dip.fitting.uncertainty import ENSEMBLE_FACTOR, ENSEMBLE_MEMBERS, SPREAD_FACTOR
from tomopy_dip.learning.phantoms import shepp_logan
from tomopy_dip.metrics import calibration, disc_mask
from tomopy_dip.physics.measurement import simulate
from tomopy_dip.volume.outputs import ResultDirectory, uncertainty_name

TINY = dict(channels=(8, 8), skip_channels=(0, 4), progress=False)
THETA = np.linspace(0, np.pi, 24, endpoint=False)


@pytest.fixture(scope="module")
def sino():
    return simulate(shepp_logan(32), THETA).astype(np.float32)


def test_the_spread_leaves_the_image_alone_and_is_in_its_units(sino, monkeypatch):
    # each slice's seed comes from its data: one seed for both, so that only the units differ
    monkeypatch.setattr("tomopy_dip.fitting.loop.slice_seed", lambda seed, sino, geometry: 7)
    plain = reconstruct(sino, THETA, method="tv_dip", num_iter=120, **TINY)
    res = reconstruct(sino, THETA, method="tv_dip", num_iter=120, uncertainty=True, **TINY)
    assert plain.uncertainty is None
    np.testing.assert_array_equal(res.images, plain.images)  # the same fit, the same image
    s = res.uncertainty
    assert s.shape == res.images.shape and s.dtype == np.float32
    assert np.all(np.isfinite(s)) and s.min() >= 0 and s.max() > 0
    # one standard deviation in the image's units: data 8 times larger (a power of two: the fit
    # at unit scale is the same to the bit), 8 times the image and the sigma
    big = reconstruct(8 * sino, THETA, method="tv_dip", num_iter=120, uncertainty="spread", **TINY)
    np.testing.assert_allclose(big.images, 8 * res.images, rtol=1e-6)
    np.testing.assert_allclose(big.uncertainty, 8 * s, rtol=1e-5, atol=1e-6 * float(big.uncertainty.max()))


def test_the_spread_is_the_late_weighted_standard_deviation_of_the_iterates(sino):
    """Replayed from the iterates a callback sees: Welford's update, iterate ``j`` weighing
    ``j + 1``, times the stated factor."""
    seen = []
    res = reconstruct(sino, THETA, method="tv_dip", num_iter=150, uncertainty=True,
                      callback=lambda info: seen.append(info["image"].astype(np.float64)), **TINY)
    scale = float(res.scale[0])
    mean, var = seen[0] / scale, np.zeros_like(seen[0])
    for n, x in enumerate(seen[1:], start=1):
        w = 2 / (n + 2)
        d = x / scale - mean
        mean = mean + w * d
        var = (1 - w) * (var + w * d * d)
    np.testing.assert_allclose(res.uncertainty, SPREAD_FACTOR * np.sqrt(var) * scale, rtol=1e-3,
                               atol=1e-4 * float(res.uncertainty.max()))


def test_the_ensemble_is_the_spread_of_fits_from_other_seeds(sino):
    kw = dict(num_iter=40, stop="none", **TINY)
    res = reconstruct(sino, THETA, method="tv_dip", uncertainty="ensemble", **kw)
    members = [reconstruct(sino, THETA, method="tv_dip", seed=j, **kw).images for j in range(ENSEMBLE_MEMBERS)]
    np.testing.assert_array_equal(res.images, members[0])
    np.testing.assert_allclose(res.uncertainty, ENSEMBLE_FACTOR * np.std(members, axis=0, ddof=1), rtol=1e-5,
                               atol=1e-7)


def test_several_slices_and_a_slab_have_a_map_each(sino):
    two = np.stack([sino, sino[:, ::-1]])
    res = reconstruct(two, THETA, method="tv_dip", num_iter=30, uncertainty=True, **TINY)
    assert res.uncertainty.shape == (2, 32, 32) and (res.uncertainty.reshape(2, -1).max(1) > 0).all()
    slab = reconstruct(two, THETA, method="tv_dip", num_iter=20, uncertainty=True, dims=3, **TINY)
    assert slab.uncertainty.shape == (2, 32, 32) and np.isfinite(slab.uncertainty).all()


@pytest.mark.parametrize("kw, words", [
    (dict(method="edip", uncertainty="ensemble"), "'edip' (a pretrained network)"),
    (dict(method="tv_dip", uncertainty="spread", num_iter=0), "num_iter=0"),
    (dict(method="tv_dip", uncertainty="bootstrap"), "uncertainty must be one of ('spread', 'ensemble')"),
])
def test_an_uncertainty_that_cannot_be_served_is_refused_before_work(sino, kw, words):
    calls = []
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        reconstruct(sino, THETA, callback=calls.append, **{**TINY, **kw})
    assert calls == []


def test_calibration_rewards_a_map_that_points_at_the_errors():
    rng = np.random.default_rng(1)
    ref = np.zeros((64, 64))
    sigma = np.where(np.arange(64)[None] < 32, 0.02, 0.2).repeat(64, 0)
    image = ref + sigma * rng.standard_normal(ref.shape)
    good = calibration(image, sigma, ref)
    rms = np.sqrt(np.mean((image - ref)[disc_mask(ref.shape)] ** 2))  # the baseline's constant
    flat = calibration(image, np.full_like(sigma, rms), ref)
    assert 0.93 < good["coverage"] < 0.97 and good["rank_correlation"] > 0.8
    assert good["nll"] < good["nll_constant"] - 0.5
    assert flat["nll"] == pytest.approx(flat["nll_constant"], abs=1e-9) and flat["rank_correlation"] == 0
    assert calibration(image, sigma / 4, ref)["coverage"] < 0.6  # too confident: caught


def test_the_default_map_is_calibrated_on_a_small_simulated_problem():
    """Random ellipses at 64², 30 views, 1 % noise, TV-DIP for 600 iterations: the default map at
    its stated factor (fitted on other, larger simulated data) covers the errors about as two
    standard deviations should and points at where they are; a map four times too confident
    would not."""
    from tomopy_dip.learning.phantoms import random_phantom

    x = random_phantom((64, 64), np.random.default_rng(3), "ellipses").astype(np.float32)
    theta = np.linspace(0, np.pi, 30, endpoint=False)
    y = simulate(x, theta)
    y = (y + 0.01 * np.abs(y).mean() * np.random.default_rng(0).standard_normal(y.shape)).astype(np.float32)
    res = reconstruct(y, theta, method="tv_dip", uncertainty=True, num_iter=600, progress=False)
    c = calibration(res.images, res.uncertainty, x)
    assert 0.8 <= c["coverage"] <= 0.99 and c["rank_correlation"] > 0.4, c
    assert calibration(res.images, res.uncertainty / 4, x)["coverage"] < 0.7


# ---------------------------------------------------------------------------- files
QUICK = dict(center=12.0, num_iter=30, stop="none", channels=(8, 8), skip_channels=(0, 4), progress=False,
             plan=False)


def test_the_command_line_writes_a_map_beside_each_slice_and_resumes_it(tmp_path):
    from tomopy_dip.cli import main

    scan = synthetic_exchange(tmp_path / "scan.h5", nrows=3)
    out = tmp_path / "o"
    code = main(["recon", str(scan), "-a", "tv_dip", "--uncertainty", "--center", "12", "--num-iter", "30",
                 "--stop", "none", "--channels", "8,8", "--skip-channels", "0,4", "--no-plan", "--out", str(out),
                 "-q"])
    assert code == 0
    results = ResultDirectory(out, {})
    first = {r: (results.read_slice(r), results.read_uncertainty(r)) for r in range(3)}
    for r, (image, sigma) in first.items():
        assert sigma.shape == image.shape and np.isfinite(sigma).all() and sigma.min() >= 0 and sigma.max() > 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["keywords"]["uncertainty"] is True
    # a slice whose map is missing is fitted again; the others are kept as they are
    (out / uncertainty_name(1)).unlink()
    r = reconstruct_file(scan, "tv_dip", out=out, resume=True, uncertainty=True, **QUICK)
    assert r.done == [0, 1, 2]
    for row, (image, sigma) in first.items():
        np.testing.assert_array_equal(results.read_slice(row), image)
        np.testing.assert_array_equal(results.read_uncertainty(row), sigma)
    assert (out / "recon.png").is_file()


@pytest.mark.parametrize("bad", ["nan", "negative", "shape"])
def test_a_map_that_is_not_a_standard_deviation_never_reaches_a_file(tmp_path, bad):
    results = ResultDirectory(tmp_path, {"keywords": {"uncertainty": True}})
    image = np.ones((8, 8), np.float32)
    sigma = {"nan": np.full((8, 8), np.nan), "negative": -image, "shape": np.ones((4, 4))}[bad]
    with pytest.raises(ValueError, match="row 3: the uncertainty map must be finite, non-negative"):
        results.write_slice(3, image, {}, {"loss": np.zeros(2)}, sigma)
    assert not any(tmp_path.rglob("*"))  # nothing of the row was written


def test_dask_writes_the_maps_of_a_serial_run(tmp_path):
    distributed = pytest.importorskip("distributed")
    scan = synthetic_exchange(tmp_path / "scan.h5", nrows=2)
    reconstruct_file(scan, "tv_dip", out=tmp_path / "serial", rows_per_task=1, uncertainty=True, **QUICK)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        client.run(lambda: __import__("torch").set_num_threads(1))
        reconstruct_file(scan, "tv_dip", out=tmp_path / "dask", rows_per_task=1, scheduler=client, uncertainty=True,
                         **QUICK)
    finally:
        client.close()
        cluster.close()
    for row in range(2):
        a, b = ResultDirectory(tmp_path / "serial", {}), ResultDirectory(tmp_path / "dask", {})
        np.testing.assert_array_equal(a.read_uncertainty(row), b.read_uncertainty(row))
        np.testing.assert_array_equal(a.read_slice(row), b.read_slice(row))


def test_an_ensemble_with_the_whole_scan_default_is_refused_before_the_file_is_read(tmp_path):
    from tomopy_dip.volume import SettingError

    with pytest.raises((ValueError, SettingError), match="uncertainty='ensemble'"):
        reconstruct_file(tmp_path / "absent.h5", out=tmp_path / "o", uncertainty="ensemble", progress=False)


@pytest.mark.parametrize("how", ["keyword", "options"])
def test_a_tomopy_callable_refuses_a_map_it_could_not_return(sino, how):
    import tomopy_dip

    recon = np.zeros((1, 32, 32), np.float32)
    kw = {"uncertainty": True} if how == "keyword" else {"options": {"uncertainty": True}}
    with pytest.raises(ValueError, match=r"uncertainty: tv_dip as a TomoPy algorithm .*tomopy_dip.reconstruct"):
        tomopy_dip.tv_dip(sino[None], np.array([16.0], np.float32), recon, THETA, **kw)
    assert not recon.any()


def test_tomopy_dip_recon_refuses_a_map_too():
    import tomopy_dip

    with pytest.raises(ValueError, match="uncertainty: tv_dip as a TomoPy algorithm"):
        tomopy_dip.recon(np.ones((24, 1, 24), np.float32), THETA, algorithm="tv_dip", uncertainty=True,
                         num_iter=2, progress=False)
