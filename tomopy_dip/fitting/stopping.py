"""When a fit stops: ground-truth-free stopping rules, each a small object.

``stop`` names one of :data:`STOPPERS`; ``num_iter`` is then a cap. A stopper sees every
iterate and says when the fit is done; the selection rule (``select``) still decides which
image is returned. :class:`Reconstruction <tomopy_dip.fitting.engine.Reconstruction>` records
for each slice the iterations run and why the fit ended.

``"plateau"`` (the default) stops when the lowest loss so far has improved by less than the
fraction ``stop_tolerance`` over the last ``stop_patience`` iterations: the fit has stopped
making progress on the data. It keeps two numbers per slice, so it costs nothing at any image
size.

``"variance"`` is ES-WMV (Wang et al., "Early stopping for deep image prior", TMLR 2023): the
windowed moving variance of the iterates, ``mean over the last W iterates of ||x_i -
mean(window)||^2 / n`` (images at unit data scale), falls while the fit still changes the image
and levels off once it has settled; the fit stops when the variance has not reached a new
minimum for ``stop_patience`` iterations. It keeps ``stop_window`` images in memory (one window,
shared with ES-WMV's selection ``select="variance"``).

Measured with TV-DIP on the HTC training phantoms ``ta``, ``tb``, ``tc`` at 128², 60 and 20
views, runs of 3000 / 4000 iterations replayed offline (``benchmarks/stopping.py``; the returned
image is the minimum-loss one at the stop, compared with the best iterate of the whole run):

=============================  ==================  ======================  ===========
rule                            iterations (sum)    returned − best (med.)  worst
=============================  ==================  ======================  ===========
none (the cap)                  21 000              −0.76 dB                −1.57 dB
plateau, tol 0.05, P 700        10 515              −0.13 dB                −1.46 dB
plateau, tol 0.05, P 500        8 883               −0.18 dB                −1.44 dB
plateau, tol 0.01, P 500        14 823              −0.38 dB                −1.46 dB
variance, W 100, P 500          10 661              −0.17 dB                −1.83 dB
variance, W 50, P 500           10 983              −0.10 dB                −1.84 dB
=============================  ==================  ======================  ===========

At 20 views the minimum-loss image gets worse after its peak (the fit goes on lowering the loss
on the noise), so stopping returns a better image than running on: +1.4 / +0.0 / +1.2 dB on
``ta`` / ``tb`` / ``tc`` over the 4000-iteration cap with the default rule. Against v0.1.0's
fixed 2000 iterations the default returns +0.02 dB (median; −0.11 to +0.21) after 1250–2670
iterations. The worst case is ``tb`` at 20 views, which still rises at 4000 iterations and
whose minimum-loss image is 1.46 dB under its best iterate both at the stop (2671) and at the
cap.

Plain DIP (no TV) never reaches a loss plateau at sparse views: its loss keeps falling as it
fits the noise. It stops by ``"variance"`` and returns the window of least variance
(``select="variance"``, :class:`~tomopy_dip.fitting.selection.MinVariance`; the defaults of
:data:`tomopy_dip.methods.dip.DIP_STOPPING`).
"""

from __future__ import annotations

import collections
from typing import Iterable

import torch

from tomopy_dip.options import declare_rules

__all__ = ["Stopper", "LossPlateau", "MovingVariance", "WindowedVariance", "STOPPERS", "STOP_REASONS",
           "describe_stops"]

#: Why a fit ended, as recorded in ``Reconstruction.stop_reason``.
STOP_REASONS = {
    "converged": "the stopping rule (stop) found the fit done",
    "num_iter": "num_iter reached",
    "interrupted": "interrupted (Ctrl-C)",
    "diverged": "the loss became NaN or infinite (the image before it is returned)",
    "not_run": "not fitted (an earlier slice was interrupted)",
}

#: How :func:`describe_stops` words each reason, in the order it lists them; ``{}`` is the
#: iterations run (one number or a range).
STOP_WORDS = {
    "converged": "converged after {} iterations",
    "num_iter": "reached num_iter ({})",
    "diverged": "diverged after {} iterations",
    "interrupted": "interrupted after {} iterations",
    "not_run": "not fitted",
}


def describe_stops(stops: Iterable[tuple[str, int]], not_run: str = STOP_WORDS["not_run"]) -> str:
    """Why a set of fits ended, in words: how many ended for each reason and after how many
    iterations.

    Parameters
    ----------
    stops : iterable of (str, int)
        Each fit's stop reason (:data:`STOP_REASONS`) and the iterations it ran. Reasons
        outside :data:`STOP_WORDS` are left out.
    not_run : str
        The words for ``"not_run"`` (e.g. ``"not reconstructed"`` for the rows of a file).

    Returns
    -------
    str
        The reasons in the order of :data:`STOP_WORDS`, comma-separated; ``""`` for no fits.

    Examples
    --------
    >>> describe_stops([("converged", 820), ("num_iter", 3000), ("converged", 650)])
    '2 converged after 650-820 iterations, 1 reached num_iter (3000)'
    >>> describe_stops([("interrupted", 12), ("not_run", 0)], not_run="not reconstructed")
    '1 interrupted after 12 iterations, 1 not reconstructed'
    """
    groups: dict[str, list[int]] = {}
    for reason, iterations in stops:
        groups.setdefault(reason, []).append(int(iterations))
    words = {**STOP_WORDS, "not_run": not_run}
    parts = []
    for reason, text in words.items():
        its = groups.get(reason)
        if its:
            span = f"{min(its)}" if min(its) == max(its) else f"{min(its)}-{max(its)}"
            parts.append(f"{len(its)} " + text.format(span))
    return ", ".join(parts)


class Stopper:
    """Decides when a fit is done (never, by default: the fit runs ``num_iter`` iterations)."""

    def __init__(self, options, batch) -> None:
        self.options = options

    def update(self, k: int, x: torch.Tensor, loss: float) -> bool:
        """See iterate ``k`` (images ``x`` at unit scale, detached, and its loss); True: stop
        after it."""
        return False

    def share(self, selector: object) -> None:
        """Use the statistics the selection rule already keeps, where they are the same (no-op
        here)."""


class LossPlateau(Stopper):
    """Stop when the lowest loss so far improved by less than ``stop_tolerance`` (a fraction)
    over the last ``stop_patience`` iterations."""

    def __init__(self, options, batch) -> None:
        super().__init__(options, batch)
        self.tolerance, self.patience = options.stop_tolerance, options.stop_patience
        self._best: collections.deque = collections.deque(maxlen=self.patience + 1)

    def update(self, k: int, x: torch.Tensor, loss: float) -> bool:
        best = min(loss, self._best[-1]) if self._best else loss
        self._best.append(best)
        return len(self._best) > self.patience and best >= (1.0 - self.tolerance) * self._best[0]


class MovingVariance:
    """ES-WMV's statistic, per slice: the mean over the last ``window`` iterates of
    ``||x_i - mean(window)||^2 / n``, kept as running sums in float64 beside the iterates
    (``window`` float32 images of the output grid in memory)."""

    def __init__(self, window: int) -> None:
        self.window = window
        self._last: collections.deque = collections.deque()
        self._sum = self._sumsq = None
        self._k: int | None = None
        self._score: torch.Tensor | None = None

    def push(self, x: torch.Tensor, k: int | None = None) -> torch.Tensor | None:
        """Add iterate ``x`` ``(B, nx, ny)``; the per-slice variance ``(B,)`` once the window is
        full, else None. A second push of the same iteration ``k`` adds nothing and returns the
        same variance (a stopper and a selector share one instance, :meth:`Stopper.share`)."""
        if k is not None and k == self._k:
            return self._score
        self._k, self._score = k, self._push(x)
        return self._score

    def _push(self, x: torch.Tensor) -> torch.Tensor | None:
        self._last.append(x.detach().to(torch.float32, copy=True))
        x = x.to(torch.float64)
        if self._sum is None:
            self._sum, self._sumsq = torch.zeros_like(x), torch.zeros_like(x)
        self._sum += x
        self._sumsq += x * x
        if len(self._last) > self.window:
            old = self._last.popleft().to(torch.float64)
            self._sum -= old
            self._sumsq -= old * old
        if len(self._last) < self.window:
            return None
        w = float(self.window)
        return (self._sumsq / w - (self._sum / w) ** 2).clamp_min(0).flatten(1).mean(1)

    def mean(self) -> torch.Tensor:
        """The mean of the iterates in the window ``(B, nx, ny)``, float64."""
        return self._sum / len(self._last)


class WindowedVariance(Stopper):
    """ES-WMV: stop when the moving variance over ``stop_window`` iterates
    (:class:`MovingVariance`, averaged over the batch's slices) has not reached a new minimum
    for ``stop_patience`` iterations."""

    def __init__(self, options, batch) -> None:
        super().__init__(options, batch)
        self.patience = options.stop_patience
        self.variance = MovingVariance(options.stop_window)
        self.best, self.best_k = float("inf"), 0
        self.score = float("inf")

    def share(self, selector: object) -> None:
        """ES-WMV's selection (``select="variance"``) keeps the same window: one copy of its
        ``stop_window`` iterates, not two."""
        theirs = getattr(selector, "variance", None)
        if isinstance(theirs, MovingVariance) and theirs.window == self.variance.window:
            self.variance = theirs

    def update(self, k: int, x: torch.Tensor, loss: float) -> bool:
        score = self.variance.push(x, k)
        if score is None:
            return False
        self.score = float(score.mean())
        if self.score < self.best:
            self.best, self.best_k = self.score, k
        return k - self.best_k >= self.patience


#: The rules of the ``stop`` keyword, by name: its values (:func:`tomopy_dip.options.declare_rules`).
STOPPERS: dict[str, type[Stopper]] = {"plateau": LossPlateau, "variance": WindowedVariance, "none": Stopper}
declare_rules("stop", STOPPERS)
