"""Stopping rules: a fit stops when it is done, not before, and says why."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tomopy_dip
from conftest import TINY
from tomopy_dip.learning.phantoms import shepp_logan
from tomopy_dip.physics.measurement import simulate

THETA = np.linspace(0, np.pi, 20, endpoint=False)


@pytest.fixture(scope="module")
def sino():
    return simulate(shepp_logan(32), THETA, noise=0.02)


def test_plateau_stops_a_converged_fit_and_changes_nothing_before(sino):
    kw = dict(TINY, lr=3e-3, num_iter=3000)
    res = tomopy_dip.reconstruct(sino, THETA, method="tv_dip", stop_patience=100, **kw)
    n = int(res.iterations_run[0])
    assert res.stop_reason == ["converged"] and 150 < n < 3000
    assert res.history["loss"].shape == (n, 1)
    best = np.minimum.accumulate(res.history["loss"][:, 0].astype(np.float64))
    assert best[-1] >= 0.95 * best[-101]  # the rule's condition holds where it stopped ...
    assert np.all(best[100:-1] < 0.95 * best[:-101])  # ... and nowhere before
    # Stopping only ends the loop: the same fit run for n iterations without a rule.
    plain = tomopy_dip.reconstruct(sino, THETA, method="tv_dip", stop="none", **{**kw, "num_iter": n})
    np.testing.assert_array_equal(res.images, plain.images)
    assert plain.stop_reason == ["num_iter"] and "converged after" in res.stop_summary()


def test_plateau_does_not_stop_a_fit_that_is_still_improving(sino):
    """lr 1e-4: the loss still falls by more than 5 % per 100 iterations at iteration 400."""
    res = tomopy_dip.reconstruct(sino, THETA, method="tv_dip", lr=1e-4, num_iter=400, stop_patience=100, **TINY)
    assert res.stop_reason == ["num_iter"] and res.iterations_run[0] == 400
    loss = res.history["loss"][:, 0]
    assert loss[-1] < 0.95 * loss[-101]


def test_variance_rule_stops_when_the_iterates_settle(sino):
    res = tomopy_dip.reconstruct(sino, THETA, method="tv_dip", lr=3e-3, num_iter=3000, stop="variance",
                                 stop_window=20, stop_patience=50, **TINY)
    assert res.stop_reason == ["converged"] and 70 < res.iterations_run[0] < 3000


def test_select_last_returns_the_network_after_the_stop(sino):
    res = tomopy_dip.reconstruct(sino, THETA, method="dip", lr=3e-3, num_iter=3000, select="last",
                                 stop_patience=100, **TINY)
    n = int(res.iterations_run[0])
    assert res.stop_reason == ["converged"] and res.iteration[0] == n
    plain = tomopy_dip.reconstruct(sino, THETA, method="dip", lr=3e-3, num_iter=n, select="last", stop="none", **TINY)
    np.testing.assert_array_equal(res.images, plain.images)


def test_every_slice_records_why_it_ended(sino):
    tomo = np.stack([sino, 2 * sino])
    res = tomopy_dip.reconstruct(tomo, THETA, method="tv_dip", lr=3e-3, num_iter=150, stop_patience=100, **TINY)
    assert res.stop_reason == ["num_iter", "num_iter"] and list(res.iterations_run) == [150, 150]
    assert res.stop_summary() == "2 reached num_iter (150)"
    with pytest.raises(ValueError, match="stop must be one of"):
        tomopy_dip.reconstruct(sino, THETA, method="tv_dip", stop="early", **TINY)


def test_a_huge_cap_costs_nothing_up_front(sino):
    """The history grows with the fit: num_iter=10**12 is a cap, not an allocation."""
    res = tomopy_dip.reconstruct(sino, THETA, method="tv_dip", lr=3e-3, num_iter=10**12, stop_patience=50, **TINY)
    n = int(res.iterations_run[0])
    assert res.stop_reason == ["converged"] and n < 5000
    assert all(v.shape == (n, 1) for v in res.history.values())


def test_select_variance_returns_the_window_mean_of_least_moving_variance(sino):
    """ES-WMV's choice, recomputed from the iterates the callback sees (image units)."""
    w, its = 10, []
    res = tomopy_dip.reconstruct(sino, THETA, method="dip", lr=1e-2, num_iter=150, select="variance",
                                 stop="none", stop_window=w, callback=lambda i: its.append(i["image"].copy()),
                                 **TINY)
    x = np.stack(its).astype(np.float64)
    var = [np.mean(np.var(x[k - w + 1:k + 1], axis=0)) for k in range(w - 1, len(x))]
    at = w - 1 + int(np.argmin(var))
    assert 50 < at < 149  # a minimum inside the run, not its last iterate
    assert res.iteration[0] == at
    np.testing.assert_allclose(np.squeeze(res.images), x[at - w + 1:at + 1].mean(0), rtol=1e-5, atol=1e-6 * np.abs(x).max())


def test_select_variance_before_a_full_window_returns_the_last_iterate(sino):
    its = []
    res = tomopy_dip.reconstruct(sino, THETA, method="dip", num_iter=5, select="variance", stop="none",
                                 callback=lambda i: its.append(i["image"].copy()), **TINY)
    assert res.iteration[0] == 4 and len(its) == 5
    np.testing.assert_allclose(np.squeeze(res.images), its[-1], rtol=1e-6)


def test_variance_stop_and_selection_share_one_window(sino):
    """ES-WMV as stopping rule and as selection keeps one window of iterates, and each decides
    as it does alone: the same stop as beside the minimum-loss selection, the same image as the
    selection recomputed from the iterates."""
    from types import SimpleNamespace

    from tomopy_dip.fitting.selection import MinVariance
    from tomopy_dip.fitting.stopping import WindowedVariance

    opts, batch = SimpleNamespace(stop_window=5, stop_patience=3), SimpleNamespace(B=1, device="cpu", fbp=torch.zeros(1, 4, 4))
    stopper, selector = WindowedVariance(opts, batch), MinVariance(batch, opts)
    stopper.share(selector)
    assert stopper.variance is selector.variance
    w, its = 10, []
    kw = dict(TINY, method="dip", lr=1e-2, num_iter=2000, stop="variance", stop_window=w, stop_patience=40)
    both = tomopy_dip.reconstruct(sino, THETA, select="variance", callback=lambda i: its.append(i["image"].copy()), **kw)
    alone = tomopy_dip.reconstruct(sino, THETA, select="min_loss", **kw)
    n = int(both.iterations_run[0])
    assert both.stop_reason == ["converged"] and n == int(alone.iterations_run[0]) < 2000
    x = np.stack(its).astype(np.float64)
    var = [np.mean(np.var(x[k - w + 1:k + 1], axis=0)) for k in range(w - 1, n)]
    at = w - 1 + int(np.argmin(var))
    assert n - 1 - at == 40 and both.iteration[0] == at  # stopped patience iterations after the minimum
    np.testing.assert_allclose(np.squeeze(both.images), x[at - w + 1:at + 1].mean(0), rtol=1e-5,
                               atol=1e-6 * np.abs(x).max())
