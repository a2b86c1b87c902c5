"""The steps of :func:`~tomopy_dip.volume.reconstruct_file`: :class:`VolumeRun`, advanced in order
(:meth:`~VolumeRun.start`, :meth:`~VolumeRun.read_centre_row`, :meth:`~VolumeRun.make_plan`,
:meth:`~VolumeRun.fit`, :meth:`~VolumeRun.finish`); the module :mod:`tomopy_dip.volume.run`
says what each does.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tomopy_dip._version import __version__
from tomopy_dip.fitting.uncertainty import check_uncertainty
from tomopy_dip.methods import get_method
from tomopy_dip.physics.geometry import default_center
from tomopy_dip.volume.outputs import ResultDirectory
from tomopy_dip.volume.plan import ScanPlan, make_plan, stage_times, workers_of
from tomopy_dip.volume.previews import write_previews
from tomopy_dip.volume.result import FileReconstruction, stages_of, summary_of
from tomopy_dip.volume.scan import ScanSource, resolve_rows, rows_text, tasks_of
from tomopy_dip.volume.route import AUTO, ROW_KEYWORDS, ROW_METHOD, SEED_METHOD, Route, choose_route
from tomopy_dip.volume.seeding import CHECKPOINT, check_held_back, pretrain_on_seed_rows, scan_pretrain_setting
from tomopy_dip.volume.settings import (ScanPretrain, SettingError, center_text,
                                        parse_file_settings, recorded_keywords)
from tomopy_dip.volume.tasks import Task, open_scheduler, require_dask, run_tasks

__all__ = ["VolumeRun"]

log = logging.getLogger(__name__)


class VolumeRun:
    """The state of one :func:`reconstruct_file` call, advanced by its steps in order.

    Attributes
    ----------
    path, out : pathlib.Path
        The file and the output directory.
    method, options, keywords
        The method, its parsed options and the keywords its fits take.
    settings : FileSettings
        The checked settings (:data:`~tomopy_dip.volume.settings.FILE_KEYWORDS`).
    seeding : ScanPretrain or None
        ``scan_pretrain`` checked against the method.
    record : dict
        What every slice records and a resumed run compares (set by :meth:`read_centre_row`).
    """

    def __init__(self, path: Path, method: Any, options: Any, keywords: dict, settings: Any,
                 seeding: ScanPretrain | None, algorithm: str | None = None) -> None:
        self.path, self.method, self.options, self.keywords = path, method, options, keywords
        self.settings, self.seeding = settings, seeding
        self.algorithm = algorithm or method.name  # as the caller named it ("auto": see route)
        self.route: Route | None = None
        self.say: Callable[[str], None] = settings.report or log.info
        self.out = (Path(settings.out).expanduser() if settings.out is not None
                    else Path.cwd() / f"{path.stem}-{self.algorithm}")
        self.results = ResultDirectory(self.out, {})
        self.timings: dict[str, float] = {}
        self.records: dict[int, dict] = {}
        self.previews: dict[int, np.ndarray] = {}
        self.summary: dict[str, Any] = {}
        self.seeded: dict[str, Any] = {}  # the summary's record of the pretraining
        self.seeds: list[int] = []
        self.pretraining: str | None = "not started" if seeding else None
        self.interrupted = False
        self.t_all = time.perf_counter()

    @classmethod
    def start(cls, path: str | os.PathLike, algorithm: str, keywords: dict, **settings: Any) -> VolumeRun:
        """Check everything that can be checked before the file is read: the settings, the
        method's keywords, ``scan_pretrain`` against them, Dask, the output directory."""
        from tomopy_dip.fitting import interrupt

        s = parse_file_settings(settings)
        auto = algorithm == AUTO
        method = get_method(SEED_METHOD if auto else algorithm)
        options = method.parse({**keywords, "progress": s.progress})
        check_uncertainty(options, method)
        if auto:  # the keywords must serve both methods of the route
            row = get_method(ROW_METHOD)
            check_uncertainty(row.parse({**ROW_KEYWORDS, **keywords, "progress": s.progress},
                                        where=f"algorithm='auto' ({row.name})"), row)
            seeding = scan_pretrain_setting(s.scan_pretrain, row, options, keywords, s.warm_start)
        else:
            seeding = scan_pretrain_setting(s.scan_pretrain, method, options, keywords, s.warm_start)
        if s.scheduler is not None:
            require_dask()  # the optional extra, checked before any work
        run = cls(Path(path).expanduser(), method, options, dict(keywords), s, seeding, algorithm if auto else None)
        run.results.prepare(overwrite=s.overwrite, resume=s.resume)
        interrupt.clear()
        return run

    def read_centre_row(self) -> None:
        """Read the row the centre is found on (checking flats and angles), find or take the
        centre, and fix what every slice records."""
        s, options = self.settings, self.options
        self.source = ScanSource(str(self.path.resolve()), s.proj, s.exchange_rank, s.reader, s.normalize,
                                 s.minus_log, s.downsample)
        nrows_file = self.source.shape()[1]
        self.rows = rows = resolve_rows(s.slices, nrows_file, self.path)
        self._check_against_rows()
        if options.vectors is not None:
            self.keywords = {**self.keywords, "vectors": options.vectors}  # the values travel with the tasks
        crow = rows[len(rows) // 2 if s.center_row is None else s.center_row]
        self.first = first = self.source.read([crow])
        self.say(f"Read {self.path.name} with {first.backend}: {first.projections.shape[0]} projections, "
                 f"{nrows_file} rows in the file ({rows_text(rows)} selected), {first.projections.shape[2]} "
                 f"detector pixels; angles {np.rad2deg(first.theta.min()):.1f}.."
                 f"{np.rad2deg(first.theta.max()):.1f} deg" + (f" ({first.theta_note})" if first.theta_note else ""))
        if options.vectors is None:
            c_file, self.center, how = self.source.centre(first, s.center, s.center_method, 0)
        else:
            c_file = self.center = default_center(first.projections.shape[2], options.beam)
            how = "from the vectors"
        self.coupled = s.warm_start or options.dims == 3  # a row's result depends on the other rows of its task
        if self.algorithm == AUTO:
            self._take_route(choose_route(len(rows), options, s.warm_start, self.seeding))
        self.record = {"tomopy_dip_version": __version__, "algorithm": self.algorithm,
                       **({"route": self.route.settings()} if self.route else {}),
                       "keywords": recorded_keywords(self.keywords), "source": self.source.settings(),
                       "center": c_file, "center_used": self.center, "center_source": how,
                       **({"warm_start": True} if s.warm_start else {}),
                       **({"scan_pretrain": self.seeding.settings()} if self.seeding else {}),
                       **({"rows_per_task": s.rows_per_task} if self.coupled else {})}
        self.results = ResultDirectory(self.out, self.record)
        self.say(f"Pre-processing: {', '.join(first.steps) or 'none'}; centre {center_text(self.record)}")

    def _take_route(self, route: Route) -> None:
        """Fit with the route ``algorithm="auto"`` chose: its method and seeding, the caller's
        keywords over the route's."""
        self.route, self.seeding = route, route.seeding
        self.method = get_method(route.method)
        self.keywords = {**route.keywords, **self.keywords}
        self.options = self.method.parse({**self.keywords, "progress": self.settings.progress})
        self.pretraining = "not started" if self.seeding else None
        self.say(f"Route (algorithm='auto'): {route.name.replace('_', '-')}: {route.why}")

    def _check_against_rows(self) -> None:
        """The settings that depend on the selection or on cone-beam vectors."""
        s, n = self.settings, len(self.rows)
        if self.options.beam == "cone" and s.rows_per_task < n:
            raise SettingError("rows_per_task", f"beam='cone' reconstructs the selected rows together (one "
                               f"volume): {{rows_per_task}} must be at least their number, {n}",
                               rows_per_task=f"rows_per_task={s.rows_per_task}")
        if self.options.vectors is not None:  # they place the detector, in the file's pixels
            if s.center != "auto":
                raise SettingError("center", "vectors place the detector themselves: leave {center} out",
                                   center=f"center={s.center}")
            if s.downsample > 1:
                raise SettingError("downsample", "vectors are in the file's detector pixels: {downsample} does "
                                   "not apply", downsample=f"downsample={s.downsample}")
        if s.center_row is not None and not 0 <= s.center_row < n:
            raise SettingError("center_row", f"{{center_row}} is outside the {n} selected rows",
                               center_row=f"center_row={s.center_row}")

    def make_plan(self) -> ScanPlan:
        """The rows finished by an earlier run (``resume``), the rows to fit, and the plan."""
        s, rows = self.settings, self.rows
        if s.resume:
            self.records = {r: {**rec, "resumed": True} for r, rec in self.results.finished(rows).items()}
        if self.coupled:  # redo unfinished tasks whole
            for group in tasks_of(rows, s.rows_per_task):
                if any(r not in self.records for r in group):
                    for r in group:
                        self.records.pop(r, None)
        self.todo = [r for r in rows if r not in self.records]
        seeding, kw = self.seeding, self.record["keywords"]
        timed = (seeding.method, seeding.fit_keywords(kw)) if seeding else (self.method.name, kw)
        self.plan = make_plan(rows, self.todo, self.first.sinograms[0], self.first.theta, self.center,
                              self.method, self.options, s.rows_per_task, s.scheduler, timed if s.plan else None)
        if seeding and self.plan.seconds_per_iteration is not None:
            seeds = seeding.seed_rows(rows)
            seed_cap = get_method(seeding.method).parse(seeding.fit_keywords(kw)).num_iter
            self.plan.stages = stage_times(self.plan.seconds_per_iteration, len([r for r in seeds if r in self.todo]),
                                           seed_cap, seeding.num_steps, seeding.batch_size,
                                           len([r for r in self.todo if r not in seeds]), self.options.num_iter)
        self.timings["prepare"] = time.perf_counter() - self.t_all
        if self.records:
            self.say(f"Resuming: {len(self.records)} slice(s) finished by an earlier run are kept")
        self.say("Plan: " + self.plan.text().replace("\n", "\n      "))
        return self.plan

    def fit(self) -> None:
        """Fit the rows still to do (with ``scan_pretrain``: the seed rows first, a network
        pretrained on them, then the others from it), writing each slice as it finishes; Ctrl-C
        stops the run and keeps what is finished."""
        from tqdm.auto import tqdm

        s, seeding, rows = self.settings, self.seeding, self.rows
        seeds = self.seeds = seeding.seed_rows(rows) if seeding else []
        held = seeding.held_back_rows(rows) if seeding else []
        if seeding:
            self.say(f"Scan pretraining: {rows_text(seeds)} by {seeding.method} first, then {seeding.num_steps} "
                     f"pretraining steps on them ({CHECKPOINT} in the output directory)"
                     + (f", {rows_text(held)} held back as a check" if held else "")
                     + f", then the other rows by {self.method.name} from it")
        self.middle = next((r for r in self.todo[len(self.todo) // 2:] + self.todo if r not in seeds), None)
        others = [r for r in rows if r not in seeds]
        self.t_fit = time.perf_counter()
        self.results.create()
        self.client, close = open_scheduler(s.scheduler) if s.scheduler is not None else (None, lambda: None)
        if self.client is not None:
            self.say(f"Dask: {workers_of(self.client)} worker(s) at {self.client.scheduler.address}")
        self.write_summary(False)
        self.bar = tqdm(total=len(self.todo), disable=not s.progress, unit="slice",
                        desc=f"{self.method.name} volume", dynamic_ncols=True)
        keywords, method = self.keywords, self.method.name
        try:
            if seeding:  # the seed rows first, then a network pretrained on them for the others
                self.interrupted = self._run(self._tasks(seeds, seeding.method, seeding.fit_keywords(keywords),
                                                         tasks_of(seeds, s.rows_per_task)))
                if not self.interrupted and any(r in self.todo for r in others):
                    keywords = {**keywords, "checkpoint": str(self._pretrain([r for r in seeds if r not in held]))}
                    if held and not self._check_network(held, keywords):  # fall back to per-row fits
                        method, keywords = seeding.method, seeding.fit_keywords(self.keywords)
                elif not self.interrupted:
                    self.pretraining = "not needed"
            if not self.interrupted:
                self.interrupted = self._run(self._tasks(others, method, keywords))
        except KeyboardInterrupt:
            self.interrupted = True
            if self.pretraining == "running":
                self.pretraining = "interrupted"
        finally:
            self.bar.close()
            close()
        self.timings["reconstruct"] = time.perf_counter() - self.t_fit

    def _tasks(self, selection: list, algorithm: str, keywords: dict, groups: list | None = None) -> list[Task]:
        """Tasks reading ``groups`` (default: the selection's tasks) that fit their rows in
        ``selection`` still to do."""
        s = self.settings
        groups = tasks_of(self.rows, s.rows_per_task) if groups is None else groups
        return [Task(self.source, tuple(group), fit, self.center, algorithm, keywords, str(self.out),
                     self.record, (self.middle,) if self.middle in fit else (),
                     1 if s.scheduler is not None else None, s.progress and s.scheduler is None, s.warm_start)
                for group in groups
                for fit in [tuple(r for r in group if r in self.todo and r in selection)] if fit]

    def _run(self, tasks: list[Task]) -> bool:
        """Run ``tasks``, recording their slices; True when they were interrupted."""
        stopped = False
        for result in run_tasks(tasks, self.client, on_slice=lambda rec: self.bar.update(rec["status"] == "done")):
            for rec in result["records"]:
                self.records[rec["row"]] = rec
            self.previews.update(result["fbp"])
            stopped = stopped or result["interrupted"]
            self.timings["reconstruct"] = time.perf_counter() - self.t_fit
            self.write_summary(False)
        return stopped

    def _pretrain(self, seeds: list) -> Path:
        """Pretrain on the finished seed rows; the checkpoint's path."""
        t1 = time.perf_counter()
        self.pretraining = "running"
        self.write_summary(False)
        path, info = pretrain_on_seed_rows(self.seeding, seeds, self.source, self.results, self.first.theta,
                                           self.center, self.options, self.out, self.settings.progress, self.say)
        self.timings["scan_pretrain"] = time.perf_counter() - t1
        self.seeded["scan_pretrain"] = {**self.seeding.settings(), **info}
        self.pretraining = "finished"
        return path

    def _check_network(self, held: list, keywords: dict) -> bool:
        """Fit the held-back seed rows from the scan's network and compare with their TV-DIP
        images (:func:`~tomopy_dip.volume.route.passes_check`); False (and said) when it fails."""
        check = check_held_back(held, self.source, self.results, self.first.theta, self.center,
                                self.method.name, keywords, self.options)
        self.seeded.setdefault("scan_pretrain", {})["check"] = check
        if check.get("interrupted"):
            raise KeyboardInterrupt
        seed = self.seeding.method
        misfits = (f"data misfit {max(check['misfit_fit']):.4g} against {max(check['misfit_seed']):.4g} for "
                   f"{seed}")
        if not check["passed"]:
            self.say(f"Check failed: on held-back seed {rows_text(held)} the network's fit has a {misfits}: the "
                     f"other rows are fitted by {seed}, row by row")
            self.seeded["fallback"] = f"per-row {seed}: the network failed its check"
        else:
            self.say(f"Check passed on held-back seed {rows_text(held)}: {misfits}; the images agree to "
                     f"{min(check['agreement_db']):.1f} dB")
        return bool(check["passed"])

    def write_summary(self, final: bool) -> None:
        """Write ``summary.json`` as things stand (``final``: the run has ended)."""
        self.summary.clear()
        stages = stages_of(self.rows, self.records, self.seeds, self.pretraining)
        self.summary.update(summary_of(self.record, self.plan, self.rows, self.records, self.timings,
                                       self.interrupted, final, stages), **self.seeded)
        self.results.write_summary(self.summary)

    def finish(self) -> FileReconstruction:
        """Write the previews and the final summary; what the run did."""
        t0 = time.perf_counter()
        files = {"summary.json": self.out / "summary.json"}
        files.update(write_previews(self.results, self.rows, self.records, self.previews,
                                    f"{self.path.name}: {self.method.name}"))
        self.timings["write"] = time.perf_counter() - t0
        self.timings["total"] = time.perf_counter() - self.t_all
        self.write_summary(True)
        res = FileReconstruction(self.out, self.rows, self.records, self.record, self.plan, self.summary, files,
                                 self.timings, self.interrupted)
        if self.interrupted:
            self.say(f"Interrupted: {len(res.done)} of {len(self.rows)} slice(s) written; not reconstructed: "
                     f"{rows_text(res.missing) if res.missing else 'none'} (resume with resume=True / --resume)")
        return res
