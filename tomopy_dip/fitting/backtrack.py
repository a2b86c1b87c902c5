"""Loss spikes undone: the fit steps back to its best state and goes on with a smaller step.

Adam's updates now and then throw a fit far off its course: the loss jumps by orders of
magnitude within a few iterations and the image falls back to where it was hundreds of
iterations earlier. The 3-D fits (``dims=3``) do it every few thousand iterations; on the
simulated slab of ``benchmarks/slab3d.py`` TV-DIP fell from 31.3 to 23.0 dB at iteration 4100
(31.8 to 25.5 dB at 5100 in bfloat16) and the plateau rule then ended the fit at 31.38 dB (its
image before the fall); with ``backtrack=3`` it rose without a fall to 31.84 dB (6834
iterations, plateau patience 700; 32.28 dB at 10 000). The
original DIP code steps back after such a jump; so does this rule, with ``backtrack`` (the
factor over the lowest loss that counts as a spike; 0, the default in 2-D, leaves the fit
alone): the network's weights and the optimiser's moments are restored to those of the lowest
loss so far and the learning rate is halved, so that the fit does not walk into the same spike
again. The network's input goes back with them where a method changes it (aSeqDIP's
:class:`~tomopy_dip.fitting.hooks.SequentialInput`). The spiking iterate stays in the history
(the selection rules see its high loss).
Iterations of the learning-rate warm-up (``lr_warmup``) are left alone: a pretrained start
loses part of its fit there by design.
"""

from __future__ import annotations

import copy
import logging
import math

import torch

__all__ = ["Backtracking"]

log = logging.getLogger(__name__)


class Backtracking:
    """Keeps the state of the lowest loss and restores it after a spike (see the module).

    Parameters
    ----------
    options : Options
        ``backtrack`` (the spike factor, 0 = off) and ``lr_warmup``.
    params : sequence of torch.nn.Parameter
        What the optimiser updates.
    optimizer : torch.optim.Optimizer
        Its moments are saved and restored with the weights.
    scheduler : torch.optim.lr_scheduler.LambdaLR, optional
        The warm-up schedule, whose base rates are halved too.
    fit : Fit, optional
        The fit whose input (``fit.z``, replaced, never changed in place, by
        :meth:`~tomopy_dip.fitting.hooks.Fit.set_input`) is restored with the weights.
    """

    def __init__(self, options, params, optimizer, scheduler=None, fit=None) -> None:
        self.factor, self.warmup = options.backtrack, options.lr_warmup
        self.params, self.optimizer, self.scheduler, self.fit = list(params), optimizer, scheduler, fit
        self.best, self.saved, self.count = math.inf, None, 0

    def check(self, k: int, loss: float) -> bool:
        """See the loss of iteration ``k`` before its step. True: it was a spike and the fit
        was set back (skip the step); a new lowest loss is saved with its state."""
        if self.factor <= 0:
            return False
        if loss < self.best:
            self.best = loss
            with torch.no_grad():
                self.saved = ([p.detach().clone() for p in self.params],
                              copy.deepcopy(self.optimizer.state_dict()), getattr(self.fit, "z", None))
            return False
        if k < self.warmup or self.saved is None or not loss > self.factor * self.best:
            return False
        weights, state, z = self.saved
        with torch.no_grad():
            for p, w in zip(self.params, weights):
                p.copy_(w)
        if self.fit is not None and z is not self.fit.z:
            self.fit.set_input(z)
        lrs = [g["lr"] for g in self.optimizer.param_groups]
        self.optimizer.load_state_dict(copy.deepcopy(state))  # the moments; then the halved rate
        for g, lr in zip(self.optimizer.param_groups, lrs):
            g["lr"] = lr / 2
        if self.scheduler is not None:
            self.scheduler.base_lrs = [lr / 2 for lr in self.scheduler.base_lrs]
        self.count += 1
        log.info("iteration %d: loss %.3g is %.1fx its lowest (%.3g): back to that state, learning rate %.3g",
                 k, loss, loss / self.best, self.best, lrs[0] / 2)
        return True
