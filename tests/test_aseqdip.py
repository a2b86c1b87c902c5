"""aSeqDIP: input schedule, reduction to DIP, quality on simulated and real data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tomopy_dip
from tomopy_dip.physics.fbp import fbp
from tomopy_dip.physics.geometry import Geometry
from tomopy_dip.metrics import psnr
from tomopy_dip.networks import UNet
from tomopy_dip.learning.phantoms import shepp_logan
from tomopy_dip.physics.measurement import simulate
from tomopy_dip.physics.projector import get_operator

SMALL = dict(channels=(8, 8, 8), skip_channels=(4, 4, 4), progress=False)


@pytest.fixture(scope="module")
def problem():
    n = 24
    theta = np.linspace(0, np.pi, 12, endpoint=False)
    truth = shepp_logan(n)
    return theta, truth, simulate(truth, theta, noise=0.02, seed=1)


def test_schedule_counts_steps_updates_and_carries_weights(problem, monkeypatch):
    """N·K Adam steps on one optimiser (weights carried over), K - 1 input updates made by a
    forward pass without gradient, and z_K = f(z_{K-1}) as the output."""
    theta, _, sino = problem
    calls = {"forward_grad": 0, "forward_nograd": 0, "steps": 0, "optimisers": 0}
    forward, step, init = UNet.forward, torch.optim.Adam.step, torch.optim.Adam.__init__

    def counting_forward(self, x):
        calls["forward_grad" if torch.is_grad_enabled() else "forward_nograd"] += 1
        return forward(self, x)

    def counting_step(self, *a, **k):
        calls["steps"] += 1
        return step(self, *a, **k)

    def counting_init(self, *a, **k):
        calls["optimisers"] += 1
        return init(self, *a, **k)

    monkeypatch.setattr(UNet, "forward", counting_forward)
    monkeypatch.setattr(torch.optim.Adam, "step", counting_step)
    monkeypatch.setattr(torch.optim.Adam, "__init__", counting_init)
    inner, k_updates = 3, 4
    res = tomopy_dip.reconstruct(sino, theta, method="aseqdip", num_iter=inner * k_updates,
                                 inner_steps=inner, select="last", **SMALL)
    assert calls["steps"] == inner * k_updates
    assert calls["optimisers"] == 1  # one optimiser: weights and moments carry over
    assert calls["forward_grad"] == inner * k_updates
    # K - 1 input updates inside the loop, plus the final z_K = f(z_{K-1})
    assert calls["forward_nograd"] == (k_updates - 1) + 1
    assert res.iteration[0] == inner * k_updates  # the paper's output z_K


def test_input_is_the_previous_output(problem):
    """Right after an update the autoencoding term compares f(z_k) with z_k = f(z_{k-1}): at the
    first iteration of a block it is small compared with the first block's (z_0 = FBP)."""
    theta, _, sino = problem
    res = tomopy_dip.reconstruct(sino, theta, method="aseqdip", num_iter=40, inner_steps=10,
                                 ae_weight=1.0, **SMALL)
    ae = res.history["ae"][:, 0]
    assert ae[0] > 0
    for start in (10, 20, 30):
        assert ae[start] < 0.5 * ae[0]


@pytest.mark.parametrize("n, nviews", [(24, 12), (64, 40)])
def test_autoencoding_term_is_on_the_data_terms_scale(n, nviews):
    """ae_weight means the same at any size: at the first iteration the error x - z_0 (a
    nearly flat network output against the FBP) is smooth, so with the operator at unit norm
    ||A (x - z_0)||^2 / ||A||^2 ~ ||x - z_0||^2 and the unweighted terms are of one size. A
    plain sum ||x - z||^2 would be ~||A||^2 (about the number of rays) times smaller."""
    theta = np.linspace(0, np.pi, nviews, endpoint=False)
    sino = simulate(shepp_logan(n), theta, noise=0.02, seed=1)
    res = tomopy_dip.reconstruct(sino, theta, method="aseqdip", num_iter=1, **SMALL)
    ratio = float(res.history["ae"][0, 0] / res.history["data"][0, 0])
    assert 0.5 < ratio < 5.0, ratio


def test_lambda_zero_single_block_is_dip_with_fbp_input(problem):
    theta, _, sino = problem
    a = tomopy_dip.reconstruct(sino, theta, method="aseqdip", num_iter=15, inner_steps=15,
                               ae_weight=0.0, select="last", **SMALL)
    b = tomopy_dip.reconstruct(sino, theta, method="dip", num_iter=15, network_input="fbp",
                               select="last", lr=1e-3, **SMALL)  # aSeqDIP's lr
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.history["loss"], b.history["loss"])


@pytest.mark.slow
def test_aseqdip_beats_fbp_on_simulated_sparse_views():
    n, nviews = 32, 16
    theta = np.linspace(0, np.pi, nviews, endpoint=False)
    truth = shepp_logan(n)
    sino = simulate(truth, theta, noise=0.02, seed=0)
    rec_fbp = fbp(torch.from_numpy(sino), get_operator(Geometry(theta, n)), "hann").numpy()
    res = tomopy_dip.reconstruct(sino, theta, method="aseqdip", num_iter=600, progress=False)
    assert psnr(res.images, truth) > psnr(rec_fbp, truth) + 0.5


@pytest.mark.slow
@pytest.mark.real_data
def test_final_iterate_close_to_best_on_real_data(shared_data):
    """No collapse from noise over-fitting: the last iterate and the returned image (the default
    moving average) are within 0.5 dB of the best iterate along the run (HTC phantom 'ta', 60
    views, reduced size)."""
    from tomopy_dip.baselines import operator_for, sirt
    from tomopy_dip.data.datasets import load_htc2022

    full = load_htc2022("ta", 720, 64, detector_bin=4)
    ref = sirt(full["sinogram"], operator_for(full["sinogram"], full["theta"], full["center"],
                                              **full["geometry"]), 200)
    d = load_htc2022("ta", 60, 64, detector_bin=4)
    scores = []
    res = tomopy_dip.reconstruct(d["sinogram"], d["theta"], d["center"], method="aseqdip",
                                 num_iter=1600, progress=False, callback_every=20,
                                 callback=lambda info: scores.append(psnr(info["image"], ref)),
                                 **d["geometry"])
    returned = psnr(res.images, ref)
    assert scores[-1] > max(scores) - 0.5, (scores[-1], max(scores))
    assert returned > max(scores) - 0.5, (returned, max(scores))
    assert returned > 25.0
