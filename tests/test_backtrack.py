"""Backtracking (``backtrack``): a loss spike sets the fit back to its lowest-loss state."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tomopy_dip
from tomopy_dip.fitting.backtrack import Backtracking
from tomopy_dip.fitting.hooks import Hook
from tomopy_dip.methods import METHODS, Method, register_method
from tomopy_dip.options import KEYWORDS
from tomopy_dip.physics.measurement import simulate

THETA = np.linspace(0, np.pi, 20, endpoint=False)
TINY = dict(channels=(8, 8), skip_channels=(0, 4), progress=False)
KICK_AT = 60


class _Kick(Hook):
    """Throws the network far off its course before iteration ``KICK_AT`` (a made spike)."""

    def before_step(self, fit, k):
        if k == KICK_AT:
            g = torch.Generator().manual_seed(1)
            with torch.no_grad():
                for p in fit.params:
                    p.add_(3.0 * torch.randn(p.shape, generator=g))


@pytest.fixture(scope="module")
def kicked():
    method = Method("dip_kicked", defaults={"lr": 3e-3, "stop": "none", "select": "min_loss"}, hooks=(_Kick,))
    img = np.zeros((32, 32), np.float32)
    img[8:24, 10:20] = 1.0
    sino = simulate(img, THETA, noise=0.02, seed=0)
    register_method(method)
    try:
        yield lambda **kw: tomopy_dip.reconstruct(sino, THETA, method="dip_kicked", num_iter=120, **TINY, **kw)
    finally:
        METHODS.pop("dip_kicked", None)


def test_a_spike_returns_the_fit_to_its_lowest_loss_with_half_the_step(kicked):
    free, guarded = kicked(), kicked(backtrack=2.0)
    lf, lg = free.history["loss"][:, 0], guarded.history["loss"][:, 0]
    np.testing.assert_array_equal(lf[:KICK_AT + 1], lg[:KICK_AT + 1])  # the same fit up to the kick
    lowest = lg[:KICK_AT].min()
    assert lg[KICK_AT] > 2 * lowest  # the kick is a spike
    # the next iterate is the network of the lowest loss again: its loss, bit for bit
    assert lg[KICK_AT + 1] == lowest
    # 60 iterations later the kicked fit has not found its way back; the guarded one went on
    assert lf[-1] > lowest and lg[-1] < lowest and lf[-1] > 1.5 * lg[-1]


def test_a_changed_input_goes_back_with_the_weights():
    """aSeqDIP replaces its input every ``inner_steps``; the restored state is the pair (weights,
    input) of the lowest loss, so the iterate after the spike has that loss bit for bit."""
    import dataclasses

    from tomopy_dip.methods.aseqdip import ASEQDIP

    method = dataclasses.replace(ASEQDIP, name="aseqdip_kicked", hooks=ASEQDIP.hooks + (_Kick,),
                                 defaults={**ASEQDIP.defaults, "stop": "none"})
    img = np.zeros((32, 32), np.float32)
    img[8:24, 10:20] = 1.0
    sino = simulate(img, THETA, noise=0.02, seed=0)
    register_method(method)
    try:
        res = tomopy_dip.reconstruct(sino, THETA, method="aseqdip_kicked", num_iter=KICK_AT + 5, inner_steps=10,
                                     backtrack=1.2, **TINY)
    finally:
        METHODS.pop("aseqdip_kicked", None)
    loss = res.history["loss"][:, 0]
    lowest = loss[:KICK_AT].min()
    # the input changed at the kick (60), after the lowest loss (59): the spike came with a new input
    assert loss[KICK_AT] > 1.2 * lowest and np.argmin(loss[:KICK_AT]) == KICK_AT - 1
    assert loss[KICK_AT + 1] == lowest


def test_the_state_and_the_learning_rate_are_restored_and_halved():
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    opt = torch.optim.Adam([w], lr=0.1)
    options = type("O", (), {"backtrack": 2.0, "lr_warmup": 0})()
    guard = Backtracking(options, [w], opt)
    for k, loss in enumerate([5.0, 3.0]):
        assert not guard.check(k, loss)
        w.grad = torch.ones(2)
        opt.step()
    saved = w.detach().clone()  # the state after the step of the lowest loss was taken before it
    w.grad = torch.ones(2)
    opt.step()
    assert not guard.check(2, 5.9)  # under 2x the lowest (3.0): no spike
    assert guard.check(3, 6.1)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05) and guard.count == 1
    assert not torch.equal(w.detach(), saved)  # restored to the weights seen with loss 3.0
    assert int(opt.state[w]["step"]) == 1  # and Adam's moments of then
    off = Backtracking(type("O", (), {"backtrack": 0.0, "lr_warmup": 0})(), [w], opt)
    assert not off.check(0, 1.0) and not off.check(1, 1e9)
    warm = Backtracking(type("O", (), {"backtrack": 2.0, "lr_warmup": 10})(), [w], opt)
    assert not warm.check(0, 1.0) and not warm.check(5, 1e9)  # the warm-up is left alone


def test_the_keyword_is_checked():
    assert KEYWORDS["backtrack"].default == 0.0
    with pytest.raises(ValueError, match="backtrack must be 0 .off. or a factor above 1"):
        KEYWORDS["backtrack"].check(0.5)
    with pytest.raises(ValueError, match="backtrack"):
        KEYWORDS["backtrack"].check(-1.0)
