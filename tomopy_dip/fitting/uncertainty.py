"""Where to trust the image: per-pixel uncertainty of a fit, each estimator a small object.

``uncertainty`` names one of :data:`ESTIMATORS` (``True`` is :data:`DEFAULT_ESTIMATOR`); the
fit then returns, beside each image, one standard deviation per pixel in the image's units
(:attr:`Reconstruction.uncertainty <tomopy_dip.fitting.result.Reconstruction>`). The image
itself is the one the fit returns without it.

- ``"spread"``: the spread of the iterates, weighted towards the end of the fit (the standard
  deviation of the images the fit passed through, iterate ``j`` weighing ``j + 1``), times
  :data:`SPREAD_FACTOR`. Nearly free: two images per slice and a few operations per iteration.
- ``"ensemble"``: the standard deviation over :data:`ENSEMBLE_MEMBERS` fits that differ only in
  their ``seed`` (the first is the returned one), times :data:`ENSEMBLE_FACTOR`; costs that many
  fits.

The factors are calibrations fitted on training data only (simulated scans), and stated with
their figures in ``benchmarks/README.md`` ("Uncertainty maps"): a raw spread measures how much
the optimiser still moves a pixel, not how far it is from the truth. Measured there: the spread
points at where the errors are, and ±2σ covers most of them, but its overall level varies
between fits and sizes, so it is a map of where to look twice rather than a calibrated error
bar per pixel.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from tomopy_dip.options import declare_rules

__all__ = ["Estimator", "Spread", "Ensemble", "ESTIMATORS", "DEFAULT_ESTIMATOR", "SPREAD_FACTOR",
           "ENSEMBLE_MEMBERS", "ENSEMBLE_FACTOR", "check_uncertainty"]

#: Calibration of ``"spread"``: sigma = factor * the iterates' late-weighted standard deviation.
#: Fitted on training data only: simulated porous rows (4 and 12 of ``benchmarks/common.porous_volume``,
#: seed 1; 128², 60 and 20 parallel views, Poisson noise on 10^4 counts, TV-DIP), the factor that
#: puts 95 % of their pixels' errors within ±2 sigma (``benchmarks/uncertainty.py``).
SPREAD_FACTOR = 3.23
#: Fits in an ``"ensemble"`` (the returned one included).
ENSEMBLE_MEMBERS = 3
#: Calibration of ``"ensemble"``: sigma = factor * the members' standard deviation. Fitted on the
#: same training rows as :data:`SPREAD_FACTOR` (60 views only, ``benchmarks/uncertainty.py
#: --seeds 3``).
ENSEMBLE_FACTOR = 4.43


class Estimator:
    """The uncertainty of a batch's fit: sees every iterate (:meth:`update`) and gives one
    standard deviation per pixel at unit data scale (:meth:`sigma`)."""

    #: Fits from different seeds it takes (1: the fit itself); the engine fits the others and
    #: combines their images with :meth:`combine`.
    members = 1

    def __init__(self, batch: Any, options: Any = None) -> None:
        self.batch = batch

    def update(self, k: int, x: torch.Tensor) -> None:
        """See iterate ``k``, images ``x`` ``(B, nx, ny)`` (detached, unit scale)."""

    def sigma(self, image: torch.Tensor) -> torch.Tensor:
        """``(B, nx, ny)`` at unit scale for the returned ``image`` (unit scale)."""
        return torch.zeros_like(self.batch.fbp)

    @staticmethod
    def combine(images: list[np.ndarray]) -> np.ndarray:
        """The map of several members' ``images`` (each ``(B, nx, ny)``, input units)."""
        raise NotImplementedError


class Spread(Estimator):
    """The iterates' spread, weighted towards the end of the fit: a running variance of the
    iterates by Welford's update with weight ``2 / (n + 2)`` for the ``n``-th (from 0), so that
    iterate ``j`` of a run of ``n`` weighs in proportion to ``j + 1`` (the weights of
    ``select="average"`` before its window, :func:`~tomopy_dip.fitting.selection.average_weight`,
    over the whole run); its square root times :data:`SPREAD_FACTOR`."""

    def __init__(self, batch: Any, options: Any = None) -> None:
        super().__init__(batch, options)
        self.n = 0
        self.mean: torch.Tensor | None = None
        self.var = torch.zeros_like(batch.fbp)

    def update(self, k: int, x: torch.Tensor) -> None:
        w = 2.0 / (self.n + 2)
        self.n += 1
        if self.mean is None:
            self.mean = x.clone()
            return
        d = x - self.mean
        self.mean.add_(d, alpha=w)
        self.var.mul_(1.0 - w).addcmul_(d, d, value=w * (1.0 - w))

    def sigma(self, image: torch.Tensor) -> torch.Tensor:
        return SPREAD_FACTOR * self.var.clamp_min(0).sqrt()


class Ensemble(Estimator):
    """The spread of :data:`ENSEMBLE_MEMBERS` fits with seeds ``seed``, ``seed + 1``, ...: the
    engine runs the other members; within one fit it records nothing."""

    members = ENSEMBLE_MEMBERS

    @staticmethod
    def combine(images: list[np.ndarray]) -> np.ndarray:
        """:data:`ENSEMBLE_FACTOR` times the standard deviation (``ddof=1``) over the members'
        ``images``.

        Examples
        --------
        >>> two = [np.zeros((1, 2, 2)), np.full((1, 2, 2), 2.0)]
        >>> round(float(Ensemble.combine(two)[0, 0, 0] / ENSEMBLE_FACTOR), 5)
        1.41421
        """
        return (ENSEMBLE_FACTOR * np.std(np.stack(images), axis=0, ddof=1)).astype(np.float32)


#: The estimators of the ``uncertainty`` keyword, by name (:func:`tomopy_dip.options.declare_rules`).
ESTIMATORS: dict[str, type[Estimator]] = {"spread": Spread, "ensemble": Ensemble}
#: What ``uncertainty=True`` means: the first estimator declared.
DEFAULT_ESTIMATOR = next(iter(ESTIMATORS))
declare_rules("uncertainty", ESTIMATORS)


def check_uncertainty(options: Any, method: Any) -> None:
    """Refuse, before any work, a fit whose uncertainty cannot be estimated.

    Raises
    ------
    ValueError
        ``uncertainty`` with ``num_iter=0`` (no iterates to spread), or an estimator of several
        members (``"ensemble"``) where every member would start from the same network
        (``init_network``, or a method that starts from a pretrained one), so that their spread
        says nothing.
    """
    if options.uncertainty is None:
        return
    if options.num_iter == 0:
        raise ValueError(f"uncertainty={options.uncertainty!r} needs iterations: num_iter=0 returns the start "
                         "image, whose uncertainty this fit cannot estimate")
    if ESTIMATORS[options.uncertainty].members > 1:
        start = "init_network" if options.init_network is not None else \
            f"the method {method.name!r} (a pretrained network)" if method.load_network is not None else None
        if start is not None:
            raise ValueError(f"uncertainty={options.uncertainty!r} fits networks from different seeds, but with {start} "
                             f"they all start from the same one: use uncertainty={DEFAULT_ESTIMATOR!r}")
