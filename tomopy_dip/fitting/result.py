"""What a call of the engine returns (:class:`Reconstruction`), and the warnings about slices
that did not finish: stopped by Ctrl-C, or diverged."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tomopy_dip.fitting.method import Method
from tomopy_dip.fitting.stopping import describe_stops

__all__ = ["Reconstruction"]


@dataclass
class Reconstruction:
    """Result of :func:`~tomopy_dip.fitting.engine.reconstruct`.

    Attributes
    ----------
    images : numpy.ndarray
        ``(nslices, num_gridx, num_gridy)`` float32, in the input's units (2-D for 2-D input).
    history : dict of numpy.ndarray
        Per-iteration ``"loss"`` and loss terms (``"data"``, ``"tv"``, ``"ae"``; every declared
        term, zeros where the method has none: see
        :func:`~tomopy_dip.data.history.history_columns`), shape ``(n_iter, nslices)``;
        ``"seconds"`` since the start of each slice's batch, shape ``(n_iter, nslices)``. Terms
        are at unit data scale.
    iteration : numpy.ndarray
        For each slice, the iteration whose image was returned (``select="average"``: the last
        iterate taken into the average); -1 for slices that were never
        fitted because Ctrl-C stopped the call (their images are zeros).
    scale : numpy.ndarray
        The data scale ``s`` of each slice.
    interrupted : bool
        True when Ctrl-C (a stop request, :mod:`~tomopy_dip.fitting.interrupt`) ended the call
        early: a slice was interrupted or not started.
    iterations_run : numpy.ndarray
        Iterations each slice ran (0 for a slice that was not fitted).
    stop_reason : list of str
        Why each slice's fit ended: ``"converged"`` (the stopping rule, ``stop``),
        ``"num_iter"`` (the cap), ``"diverged"``, ``"interrupted"`` or ``"not_run"``
        (:data:`~tomopy_dip.fitting.stopping.STOP_REASONS`).
    output_range : numpy.ndarray
        ``(nslices, 2)``: the range a bounded (sigmoid) network output was mapped onto, in the
        input's units: ``(0, s)`` for a non-negative object, ``(-s, 0)`` for a negative one,
        ``(-s, s)`` for both signs (:func:`~tomopy_dip.fitting.problem.output_range`).
    networks : list of FittedNetwork
        With ``keep_network=True``: each slice's network as its fit left it (None for a slice
        not fitted), to start a neighbouring slice from (``init_network``); else empty.
    """

    images: np.ndarray
    history: dict[str, np.ndarray]
    iteration: np.ndarray
    scale: np.ndarray
    interrupted: bool = False
    geometries: list = field(default_factory=list, repr=False)
    iterations_run: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    stop_reason: list = field(default_factory=list)
    output_range: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))
    networks: list = field(default_factory=list, repr=False)
    uncertainty: np.ndarray | None = field(default=None, repr=False)

    def stop_summary(self) -> str:
        """Why the fits ended, in words, e.g. ``"2 converged after 650-820 iterations, 1 reached
        num_iter (2000)"`` (:func:`~tomopy_dip.fitting.stopping.describe_stops`)."""
        return describe_stops(zip(self.stop_reason, self.iterations_run))


def _slices_text(ids: list[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"slices 0-2, 5"``; ``[3]`` -> ``"slice 3"``."""
    out, start = [], None
    for j, i in enumerate(ids):
        if start is None:
            start = i
        if j == len(ids) - 1 or ids[j + 1] != i + 1:
            out.append(f"{start}" if start == i else f"{start}-{i}")
            start = None
    return ("slice " if len(ids) == 1 else "slices ") + ", ".join(out)


def warn_stopped(method: Method, reasons: list, runs: np.ndarray, slice_offset: int | None) -> None:
    """The warning after a stop request (Ctrl-C): which slices were interrupted, which not run."""
    off = 0 if slice_offset is None else int(slice_offset)
    where = "" if slice_offset is not None else f" (of {len(reasons)} in this call)"
    parts = []
    cut = [i for i, r in enumerate(reasons) if r == "interrupted"]
    if cut:
        its = sorted({int(runs[i]) for i in cut})
        span = f"{its[0]}" if len(its) == 1 else f"{its[0]}-{its[-1]}"
        parts.append(f"{_slices_text([off + i for i in cut])}{where} interrupted after {span} iteration(s) "
                     "(the selected image so far is returned)")
    skipped = [i for i, r in enumerate(reasons) if r == "not_run"]
    if skipped:
        parts.append(f"{_slices_text([off + i for i in skipped])}{where} not run")
    done = len(reasons) - len(cut) - len(skipped)
    if done:
        parts.append(f"{done} finished")
    warnings.warn(f"{method.name}: stopped by Ctrl-C: {'; '.join(parts)} "
                  "(Reconstruction.stop_reason has each slice's status)", RuntimeWarning, stacklevel=5)


def check_divergence(method: Method, options: Any, reasons: list, runs: np.ndarray) -> None:
    """A fit whose loss became NaN or inf: an error when no slice succeeded, else a warning
    naming the slices (their images are those before the divergence)."""
    bad = [i for i, r in enumerate(reasons) if r == "diverged"]
    if not bad:
        return
    at = ", ".join(f"{i} (iteration {runs[i] - 1})" for i in bad[:8]) + (", ..." if len(bad) > 8 else "")
    cause = (f"the learning rate lr={options.lr:g} may be too large for these data"
             + (" or the checkpoint may be corrupt" if method.load_network is not None else ""))
    msg = f"{method.name}: the loss became NaN or infinite in slice(s) {at}; {cause}"
    if len(bad) == len(reasons):
        raise FloatingPointError(msg)
    warnings.warn(msg + "; those slices hold the image before it (Reconstruction.stop_reason says "
                  "'diverged')", RuntimeWarning, stacklevel=4)
