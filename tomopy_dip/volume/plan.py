"""The plan of a volume run, told before any fitting: rows, sizes, memory and time.

:func:`make_plan` estimates one worker's peak memory (refused at once when it cannot fit,
:mod:`tomopy_dip.fitting.memory`) and, unless asked not to, times a few iterations of one slice
for the time estimate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tomopy_dip.volume.scan import rows_text
from tomopy_dip.volume.settings import local_workers

__all__ = ["ScanPlan", "make_plan", "workers_of", "stage_times", "PLAN_ITERATIONS"]

#: Iterations timed for the plan's time estimate.
PLAN_ITERATIONS = 4


@dataclass
class ScanPlan:
    """What a run is about to do, told before any fitting.

    Attributes
    ----------
    rows, todo : list of int
        The rows selected, and those still to fit (the others are finished, ``resume``).
    projections, detector_pixels : int
        Sinogram size (after binning).
    image_shape : tuple of int
        ``(num_gridx, num_gridy)``.
    method : str
        The method.
    max_iterations : int
        The ``num_iter`` cap (the stopping rule usually ends a fit sooner).
    memory_bytes : int or None
        Estimated peak memory of one worker.
    memory_text : str
        The estimate in words.
    seconds_per_iteration : float or None
        Measured on a few iterations of one slice (None when not timed).
    workers : int
        Slices fitted at the same time.
    stages : list of [str, int, float, str]
        With a scan's pretraining: each stage's name, count, seconds each and whether that is
        ``"at most"`` (a cap) or ``"about"`` (an estimate); :func:`stage_times`.
    """

    rows: list
    todo: list
    projections: int
    detector_pixels: int
    image_shape: tuple
    method: str
    max_iterations: int
    memory_bytes: int | None = None
    memory_text: str = ""
    seconds_per_iteration: float | None = None
    workers: int = 1
    stages: list = field(default_factory=list)

    @property
    def seconds_per_slice(self) -> float | None:
        """At most (the cap), per slice."""
        spi = self.seconds_per_iteration
        return None if spi is None else spi * self.max_iterations

    def text(self) -> str:
        """The plan in words, as the command line prints it."""
        gx, gy = self.image_shape
        lines = [f"{len(self.rows)} row(s) ({rows_text(self.rows)}), {len(self.todo)} to fit; "
                 f"{gx} x {gy} images from {self.projections} views x {self.detector_pixels} pixels; "
                 f"{self.method}"]
        if self.memory_text:
            lines.append(f"memory: {self.memory_text}")
        if self.seconds_per_iteration is not None and self.stages:
            total = sum(n * sec for _, n, sec, _ in self.stages)
            lines.append(f"time: {self.seconds_per_iteration:.3g} s per iteration; "
                         + "; ".join(f"{name}: {n} x {how} {_duration(sec)}" if n != 1 else
                                     f"{name}: {how} {_duration(sec)}" for name, n, sec, how in self.stages)
                         + f"; at most {_duration(total)} in all (the stopping rules usually end the fits sooner)")
        elif self.seconds_per_iteration is not None:
            per = self.seconds_per_slice or 0.0
            total = per * len(self.todo) / max(self.workers, 1)
            lines.append(f"time: {self.seconds_per_iteration:.3g} s per iteration; at most "
                         f"{_duration(per)} per slice ({self.max_iterations} iterations, the stopping "
                         f"rule usually ends sooner), at most {_duration(total)} for the "
                         f"{len(self.todo)} slice(s)" + (f" on {self.workers} workers" if self.workers > 1 else ""))
        return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def stage_times(spi: float, seeds: int, seed_cap: int, steps: int, batch: int, rows: int,
                row_cap: int) -> list:
    """The stages of a run with a scan's pretraining, from the seconds per iteration ``spi`` of a
    fit: the seed rows (at most ``seed_cap`` iterations each), the pretraining (``steps`` steps
    of ``batch`` images, about one fit iteration per image) and the other rows (at most
    ``row_cap`` iterations each).

    Examples
    --------
    >>> stage_times(0.1, 3, 4000, 500, 8, 29, 4000)
    [['seed rows', 3, 400.0, 'at most'], ['pretraining', 1, 400.0, 'about'], ['other rows', 29, 400.0, 'at most']]
    """
    return [["seed rows", seeds, spi * seed_cap, "at most"], ["pretraining", 1, spi * steps * batch, "about"],
            ["other rows", rows, spi * row_cap, "at most"]]


def workers_of(scheduler: Any) -> int:
    """Slices fitted at the same time: 1 here, N for ``"local:N"``, a client's workers."""
    if scheduler is None:
        return 1
    local = local_workers(scheduler)
    if local is not None:
        return local
    try:
        return max(1, len(scheduler.scheduler_info().get("workers", {})))
    except Exception:  # noqa: BLE001 - an address: not connected yet
        return 1


def make_plan(rows: list, todo: list, sinogram: np.ndarray, theta: np.ndarray, center: float, method: Any,
              options: Any, rows_per_task: int, scheduler: Any, timed: tuple | None) -> ScanPlan:
    """The plan of a run: ``sinogram`` is one row's (its shape sizes the problem); ``timed`` is
    ``(method name, keywords)`` of the fits to time on it, or None not to time them."""
    nproj, ndet = sinogram.shape
    grid = (options.num_gridx or ndet, options.num_gridy or ndet)
    mem_bytes, mem_text = _memory(method, options, nproj, ndet, rows_per_task if options.dims == 3 else 1)
    plan = ScanPlan(rows, todo, nproj, ndet, grid, method.name, options.num_iter, mem_bytes, mem_text,
                    workers=workers_of(scheduler))
    if timed is not None and todo and options.dims == 2:  # (a slice's time says nothing of a 3-D slab's)
        plan.seconds_per_iteration = _timed_iterations(sinogram, theta, center, *timed)
    return plan


def _memory(method: Any, options: Any, nproj: int, ndet: int, nslices: int = 1) -> tuple[int | None, str]:
    """The memory plan of one fit of ``nslices`` slices (refused here, before any work, when it
    cannot fit)."""
    from tomopy_dip.fitting import memory

    plan = memory.estimate_memory(method, options, nproj, ndet, nslices=nslices)
    memory.check_memory(plan)
    return int(plan.total), plan.text()


def _timed_iterations(sino: np.ndarray, theta: np.ndarray, center: float, method: str,
                      keywords: dict) -> float | None:
    """Seconds per iteration from a few iterations of one slice (the first, with set-up, excluded)."""
    from tomopy_dip.fitting.engine import reconstruct

    kw = {**keywords, "num_iter": PLAN_ITERATIONS, "stop": "none", "callback": None}
    res = reconstruct(sino, theta, center=center, method=method, progress=False, **kw)
    sec = np.asarray(res.history["seconds"])[:, 0]
    if res.interrupted or sec.size < 2:
        return None
    return float((sec[-1] - sec[0]) / (sec.size - 1))
