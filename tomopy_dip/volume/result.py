"""What a volume run did: :class:`FileReconstruction`, and the summary it writes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tomopy_dip.fitting.stopping import describe_stops
from tomopy_dip.volume.outputs import ResultDirectory
from tomopy_dip.volume.plan import ScanPlan
from tomopy_dip.volume.scan import rows_text
from tomopy_dip.volume.settings import center_text

__all__ = ["FileReconstruction", "summary_of", "stages_of", "stages_text"]


@dataclass
class FileReconstruction:
    """What :func:`reconstruct_file` did.

    Attributes
    ----------
    out : pathlib.Path
        Output directory.
    rows : list of int
        The rows selected, as numbered in the file.
    records : dict of int to dict
        Per row: ``status`` (``"done"``, ``"interrupted"``, ``"not_run"``), ``iterations``,
        ``stop_reason``, ``iteration_returned``, ``seconds``, ``file``, and ``resumed`` for a
        slice finished by an earlier run.
    settings : dict
        What every slice records and a resumed run compares: version, method, keywords,
        file and pre-processing, centre.
    plan : ScanPlan
        The plan told before fitting.
    summary : dict
        The content of ``summary.json``.
    files : dict of str to pathlib.Path
        ``summary.json``, ``recon.png``, ``convergence.png`` (those written).
    timings : dict of str to float
        Seconds to ``prepare`` (read the centre row, plan), ``reconstruct``, ``write``
        (previews) and the ``total``.
    interrupted : bool
        Ctrl-C stopped the run: some rows were not reconstructed (see ``records``).
    """

    out: Path
    rows: list
    records: dict
    settings: dict
    plan: ScanPlan
    summary: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    interrupted: bool = False

    @property
    def projections(self) -> int:
        return self.plan.projections

    @property
    def detector_pixels(self) -> int:
        """Detector pixels of the sinograms reconstructed (after binning)."""
        return self.plan.detector_pixels

    @property
    def rows_text(self) -> str:
        return rows_text(self.rows)

    @property
    def center_text(self) -> str:
        """The centre, how it was found, and where binning moved it."""
        return center_text(self.settings)

    @property
    def done(self) -> list[int]:
        """Rows whose slice file is written (this run or an earlier one)."""
        return [r for r in self.rows if self.records.get(r, {}).get("status") == "done"]

    @property
    def missing(self) -> list[int]:
        """Rows not reconstructed (interrupted or never started)."""
        return [r for r in self.rows if r not in self.done]

    @property
    def slice_files(self) -> list[Path]:
        return [self.out / self.records[r]["file"] for r in self.done]

    @property
    def images(self) -> np.ndarray:
        """``(len(rows), num_gridx, num_gridy)`` float32 read from the slice files; NaN for rows
        not reconstructed."""
        out = ResultDirectory(self.out, self.settings)
        stack = np.full((len(self.rows), *self.plan.image_shape), np.nan, np.float32)
        for i, r in enumerate(self.rows):
            if r in self.done:
                stack[i] = out.read_slice(r)
        return stack

    @property
    def stages(self) -> dict[str, Any]:
        """How far each stage got (:func:`stages_of`), as the summary records it."""
        return self.summary.get("stages") or stages_of(self.rows, self.records, [], None)

    def stages_text(self) -> str:
        """:attr:`stages` in words."""
        return stages_text(self.stages)

    @property
    def iterations_run(self) -> int:
        """The most iterations any slice ran."""
        return max((int(self.records[r].get("iterations", 0)) for r in self.done), default=0)

    def stop_summary(self) -> str:
        """Why the fits ended, in words (e.g. ``"2 converged after 650-820 iterations"``)."""
        stops = []
        for r in self.rows:
            rec = self.records.get(r, {"status": "not_run"})
            key = rec.get("stop_reason") if rec.get("status") == "done" else rec.get("status")
            stops.append((key or "not_run", int(rec.get("iterations", 0))))
        return describe_stops(stops, not_run="not reconstructed")


def stages_of(rows: list, records: dict, seeds: list, pretraining: str | None) -> dict[str, Any]:
    """How far each stage of a run got: with ``scan_pretrain`` the seed rows (done of all), the
    pretraining (``"not started"``, ``"running"``, ``"interrupted"``, ``"finished"``, ``"not
    needed"``), then the other rows; without it, the rows.

    Examples
    --------
    >>> stages_of([0, 1, 2], {1: {"status": "done"}}, [1], "not started")
    {'seed_rows': {'done': 1, 'of': 1}, 'pretraining': 'not started', 'rows': {'done': 0, 'of': 2}}
    """
    done = {r for r in rows if records.get(r, {}).get("status") == "done"}
    others = [r for r in rows if r not in seeds]
    stages: dict[str, Any] = {}
    if seeds:
        stages["seed_rows"] = {"done": sum(r in done for r in seeds), "of": len(seeds)}
        stages["pretraining"] = pretraining
    stages["rows"] = {"done": sum(r in done for r in others), "of": len(others)}
    return stages


def stages_text(stages: dict[str, Any]) -> str:
    """:func:`stages_of` in words: ``"seed rows 1 of 1, pretraining not started, other rows 0 of 2"``."""
    words = []
    for name, value in stages.items():
        label = {"seed_rows": "seed rows", "rows": "other rows" if "seed_rows" in stages else "rows"}.get(name, name)
        words.append(f"{label} {value['done']} of {value['of']}" if isinstance(value, dict) else f"{label} {value}")
    return ", ".join(words)


def summary_of(settings: dict, plan: ScanPlan, rows: list, records: dict, timings: dict,
               interrupted: bool, final: bool, stages: dict | None = None) -> dict[str, Any]:
    """The content of ``summary.json``: the settings, the plan, every row's record and how far
    each stage got (:func:`stages_of`)."""
    done = [r for r in rows if records.get(r, {}).get("status") == "done"]
    its = [int(records.get(r, {}).get("iterations", 0)) for r in rows]
    return {
        **settings, "rows": rows, "projections": plan.projections, "detector_pixels": plan.detector_pixels,
        "shape": [len(rows), *plan.image_shape], "plan": asdict(plan), "finished": final and not interrupted,
        "interrupted": interrupted, "done": len(done), "iterations_run": max(its, default=0),
        "iterations_per_slice": its,
        "stop_reason": [records.get(r, {}).get("stop_reason", records.get(r, {}).get("status", "not_run"))
                        for r in rows],
        "not_reconstructed": [r for r in rows if r not in done],
        "slices": {str(r): records.get(r, {"row": r, "status": "not_run"}) for r in rows},
        "seconds": dict(timings), "stages": stages if stages is not None else stages_of(rows, records, [], None),
    }
