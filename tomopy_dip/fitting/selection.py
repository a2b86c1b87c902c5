"""Which iterate a fit returns: the selection rules, each a small object.

``select`` names one of :data:`SELECTORS`; adding a rule there adds a value of the keyword and
touches no loop code. A selector starts from the batch's FBP (what a fit stopped before its
first iteration returns), sees every iterate through :meth:`Selector.update` and may replace
its image when the fit ends (:meth:`Selector.finish`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from tomopy_dip.fitting.stopping import MovingVariance
from tomopy_dip.options import declare_rules

__all__ = ["Selector", "MinLoss", "Last", "Average", "MinVariance", "SELECTORS", "average_weight",
           "AVERAGE_DECAY", "AVERAGE_GATE"]

#: Decay of ``select="average"``'s exponential moving average (a window of ~100 iterations),
#: the output smoothing of the original DIP code. Measured with aSeqDIP on HTC 60 views, 128²,
#: 3000 iterations: the largest drop below the running peak after iteration 500 fell from
#: 5.2 / 2.8 dB (``ta`` / ``tb``, the iterates themselves) to 0.19 / 0.03 dB, the peak within
#: 0.06 dB; decay 0.95 left 0.70 / 0.43 dB, 0.995 0.05 / 0.00 dB.
AVERAGE_DECAY = 0.99

#: ``select="average"`` leaves out an iterate whose data term exceeds its minimum over the
#: previous ``AVERAGE_GATE[1]`` iterations by more than the factor ``AVERAGE_GATE[0]``: Adam's
#: loss spikes (the data term of aSeqDIP on HTC rises 2-6x over a few iterations and needs ~45
#: to recover) then do not reach the average. Measured with aSeqDIP on HTC 60 views, 128², 8000
#: iterations: largest drop of the average below its running peak within 4x DIP's peak
#: iteration 0.53 / 0.81 / 1.21 dB without the gate (``ta`` / ``tb`` / ``tc``), 0.28 / 0.20 /
#: 0.48 dB with (1.05, 100), returned PSNR unchanged (+0.02 dB on ``tc``); on ``tb`` over 6400
#: iterations a factor 1.02 gave 0.18 dB, 1.1 0.32 dB, a window of 200 or 300 0.16 dB.
AVERAGE_GATE = (1.05, 100)


def average_weight(k: int, decay: float = AVERAGE_DECAY) -> float:
    """Weight of iterate ``k`` (from 0) in ``select="average"``'s running average.

    ``avg_k = avg_{k-1} + w_k (x_k - avg_{k-1})`` with ``w_k = max(1 - decay, 2 / (k + 2))``:
    while ``k < 2 / (1 - decay) - 2`` the average weighs iterate ``j`` in proportion to
    ``j + 1`` (polynomial-decay averaging, so that the first, poor iterates of a short run fade),
    then it is an exponential moving average of window ``1 / (1 - decay)``. ``k`` counts the
    iterates taken into the average (see :data:`AVERAGE_GATE` for those left out).

    Examples
    --------
    >>> [round(average_weight(k), 3) for k in (0, 1, 98, 198, 1000)]
    [1.0, 0.667, 0.02, 0.01, 0.01]
    """
    return max(1.0 - decay, 2.0 / (k + 2))


class Selector:
    """The image a fit returns.

    Attributes
    ----------
    image : torch.Tensor
        The current choice ``(B, nx, ny)`` at unit scale (the FBP before the first iterate).
    iteration : numpy.ndarray
        The iteration of that choice per slice, -1 for the FBP.
    """

    def __init__(self, batch, options=None) -> None:
        self.image = batch.fbp.clone()
        self.iteration = np.full(batch.B, -1)

    def update(self, k: int, x: torch.Tensor, loss: torch.Tensor, history: dict) -> None:
        """See iterate ``k``: images ``x`` (detached), per-slice ``loss``, the history so far
        (``history[term][:k + 1]`` filled)."""

    def estimate(self, x: torch.Tensor) -> torch.Tensor:
        """What the fit would return if it stopped after the iterate ``x``."""
        return self.image

    def finish(self, fit, reason: str) -> None:
        """The fit ended for ``reason`` (:data:`~tomopy_dip.fitting.stopping.STOP_REASONS`;
        ``fit.k`` the last iteration, ``fit.x`` its images, None before any)."""
        if fit.n_iter == 0:
            self._final(fit)

    def _final(self, fit) -> None:
        """The network's output for the current input after the last update."""
        with torch.no_grad():
            self.image = fit.forward(fit.z).detach()
        self.iteration[:] = fit.n_done


class MinLoss(Selector):
    """The iterate of minimum loss, per slice."""

    def __init__(self, batch, options=None) -> None:
        super().__init__(batch, options)
        self.best_loss = torch.full((batch.B,), math.inf, device=batch.device)

    def update(self, k, x, loss, history) -> None:
        improved = loss < self.best_loss
        if improved.any():
            self.best_loss = torch.where(improved, loss, self.best_loss)
            self.image[improved] = x[improved]
            self.iteration[improved.cpu().numpy()] = k


class Last(MinLoss):
    """The network after the last update (for aSeqDIP ``z_K = f(z_{K-1})``); after Ctrl-C the
    last iterate (the minimum-loss one when stopped before the first); after a divergence the
    minimum-loss iterate before it."""

    def estimate(self, x):
        return x

    def finish(self, fit, reason) -> None:
        if fit.n_iter == 0 or reason in ("num_iter", "converged"):
            self._final(fit)
        elif reason == "interrupted" and fit.x is not None:
            self.image, self.iteration[:] = fit.x.detach(), fit.k


class Average(Selector):
    """A moving average of the iterates (:func:`average_weight`) that leaves out those caught
    in a loss spike (:data:`AVERAGE_GATE`)."""

    def __init__(self, batch, options=None) -> None:
        super().__init__(batch, options)
        self.n_averaged = np.zeros(batch.B, dtype=np.int64)

    def update(self, k, x, loss, history) -> None:
        data = history["data"]
        taken = np.ones(len(self.n_averaged), dtype=bool)
        if k > 0:
            recent = data[max(0, k - AVERAGE_GATE[1]):k].min(0)
            taken = data[k] <= AVERAGE_GATE[0] * recent
        w = [average_weight(int(j)) if t else 0.0 for j, t in zip(self.n_averaged, taken)]
        self.image.lerp_(x, torch.tensor(w).to(self.image)[:, None, None])
        self.n_averaged += taken
        self.iteration[taken] = k


class MinVariance(Selector):
    """ES-WMV's choice (Wang et al., TMLR 2023), per slice: the mean of the ``stop_window``
    iterates whose moving variance (:class:`~tomopy_dip.fitting.stopping.MovingVariance`) is
    the lowest so far, the point where the fit has settled on the object and not yet begun to
    fit the noise; until the first window is full, the last iterate."""

    def __init__(self, batch, options=None) -> None:
        super().__init__(batch, options)
        self.variance = MovingVariance(options.stop_window)
        self.best = torch.full((batch.B,), math.inf, dtype=torch.float64, device=batch.device)

    def update(self, k, x, loss, history) -> None:
        score = self.variance.push(x, k)
        if score is None:
            self.image, self.iteration[:] = x.clone(), k
            return
        improved = score < self.best
        if improved.any():
            self.best = torch.where(improved, score, self.best)
            self.image[improved] = self.variance.mean()[improved].to(self.image.dtype)
            self.iteration[improved.cpu().numpy()] = k


#: The rules of the ``select`` keyword, by name: its values (:func:`tomopy_dip.options.declare_rules`).
SELECTORS: dict[str, type[Selector]] = {"min_loss": MinLoss, "last": Last, "average": Average,
                                        "variance": MinVariance}
declare_rules("select", SELECTORS)
