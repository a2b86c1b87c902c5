"""From a Data Exchange file to reconstructed slices on disk: streamed, resumable, scalable.

:func:`reconstruct_file` is the pipeline of ``tomopy-dip recon``, a sequence of named steps of
:class:`VolumeRun`:

1. :meth:`~VolumeRun.start`: the settings checked once (:mod:`~tomopy_dip.volume.settings`), the
   method's keywords parsed and the output directory checked, all before the file is read;
2. :meth:`~VolumeRun.read_centre_row`: read the row the centre is found on, normalise with the
   flats and darks, ``-log``, find or take the rotation centre (:mod:`~tomopy_dip.volume.scan`);
3. :meth:`~VolumeRun.make_plan`: the rows finished by an earlier run (``resume``), rows, image
   size, estimated memory (refused at once when it cannot fit) and time per iteration from a few
   timed iterations (:mod:`~tomopy_dip.volume.plan`);
4. :meth:`~VolumeRun.fit`: split the rows into tasks of ``rows_per_task`` rows and run them here
   or on Dask (:mod:`~tomopy_dip.volume.tasks`), the seed rows and their pretraining first with
   ``scan_pretrain`` (:mod:`~tomopy_dip.volume.seeding`); each finished slice is written at once
   as ``recon_NNNNN.tiff`` with its history, and ``summary.json`` is updated as tasks finish
   (:mod:`~tomopy_dip.volume.outputs`);
5. :meth:`~VolumeRun.finish`: previews (``recon.png``: FBP beside the result; ``convergence.png``)
   and the final summary.

A run stopped by Ctrl-C keeps every finished slice; ``resume=True`` fits only the rest.
Step messages are logged at INFO on this module's logger (or passed to ``report``).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tomopy_dip._version import __version__
from tomopy_dip.methods import get_method
from tomopy_dip.physics.geometry import default_center
from tomopy_dip.volume.outputs import ResultDirectory
from tomopy_dip.volume.plan import ScanPlan, make_plan, workers_of
from tomopy_dip.volume.previews import write_previews
from tomopy_dip.volume.result import FileReconstruction, stages_of, summary_of
from tomopy_dip.volume.scan import ScanSource, resolve_rows, rows_text, tasks_of
from tomopy_dip.volume.seeding import CHECKPOINT, pretrain_on_seed_rows, scan_pretrain_setting
from tomopy_dip.volume.settings import (ROWS_PER_TASK, ScanPretrain, SettingError, center_text,
                                        parse_file_settings, recorded_keywords)
from tomopy_dip.volume.tasks import Task, open_scheduler, require_dask, run_tasks

__all__ = ["reconstruct_file", "VolumeRun"]

log = logging.getLogger(__name__)


def reconstruct_file(path: str | os.PathLike, algorithm: str, *, out: str | os.PathLike | None = None,
                     slices: Any = None, proj: Any = None, center: float | str = "auto",
                     center_method: str = "vo", center_row: int | None = None, downsample: int = 1,
                     normalize: bool = True, minus_log: bool = True, reader: str = "auto",
                     exchange_rank: int = 0, resume: bool = False, overwrite: bool = False,
                     scheduler: Any = None, rows_per_task: int = ROWS_PER_TASK, warm_start: bool = False,
                     scan_pretrain: int | ScanPretrain | None = None, plan: bool = True,
                     progress: bool = True, report: Callable[[str], None] | None = None,
                     **keywords: Any) -> FileReconstruction:
    """Reconstruct rows of a Data Exchange HDF5 file, writing each slice as soon as it is done.

    Parameters
    ----------
    path : str or path-like
        Data Exchange HDF5 file (``exchange/data``, ``data_white``, ``data_dark``, ``theta``).
    algorithm : str
        A method name of :data:`tomopy_dip.methods.METHODS` (``"tv_dip"``, ...).
    out : str or path-like, optional
        Output directory, created when absent. Default ``./<file stem>-<algorithm>``. Each
        finished slice is written as ``recon_NNNNN.tiff`` (float32, ``NNNNN`` = the row in the
        file) with ``history/history_NNNNN.csv``; ``summary.json`` is updated as slices finish;
        ``recon.png`` and ``convergence.png`` are written at the end.
    slices, proj : tuple or slice, optional
        Detector rows and projections to read, ``(start, stop[, step])`` (stop excluded);
        default all.
    center : float or "auto"
        Rotation centre in the file's detector pixels (gridrec convention), or ``"auto"`` to
        find it with ``center_method`` (``"vo"``: Vo's Fourier method; ``"entropy"``: TomoPy's
        entropy method, needs TomoPy) on row ``center_row`` of the selection (default: middle).
    downsample : int
        Bin this many detector pixels into one; the centre becomes ``(c - (K - 1) / 2) / K``.
    normalize, minus_log : bool
        Normalise with the flats and darks, and take ``-log``; False for data already so.
    reader : {"auto", "dxchange", "h5py"}
        File reader (:func:`tomopy_dip.data.exchange.read_data_exchange`).
    exchange_rank : int
        Read group ``exchange{K}`` instead of ``exchange``.
    resume : bool
        Skip rows whose slice file is complete and was made with the same settings; a file made
        with other settings is refused with what differs.
    overwrite : bool
        Replace the files of an earlier run. Without ``resume`` or ``overwrite`` a directory
        holding results is refused before any work.
    scheduler : distributed.Client or str, optional
        Run the tasks on Dask: a client, a scheduler address, or ``"local:N"`` (N
        single-threaded worker processes on this machine). Needs ``tomopy-dip[dask]``. The files
        are identical to a run without it.
    rows_per_task : int
        Rows a task reads, fits and writes (task boundaries depend only on the selection).
        With ``dims=3`` (keyword) a task's rows are fitted together (in slabs of ``slab`` rows,
        the engine's), and a resumed run fits every row of a task that is not complete.
    warm_start : bool
        Neighbour warm start: within a task, each row starts from the network fitted to the row
        before it (the task's first row starts as usual), so results depend on
        ``rows_per_task`` but never on the number of workers. A resumed run fits every row of
        a task that is not complete.
    scan_pretrain : int or ScanPretrain, optional
        EDIP / EDIP-FE pretrained on the scan itself (:mod:`~tomopy_dip.volume.seeding`):
        every K-th selected row is reconstructed first by TV-DIP, a network is pretrained on
        those rows (``scan_pretrain.safetensors`` in ``out``, resumable) and the other rows are
        fitted from it. The pretraining runs in this process, also with a ``scheduler``.
    plan : bool
        Time a few iterations of one slice for the plan's time estimate.
    progress : bool
        Progress bars: over the volume (slices, rate, time left) and each fit.
    report : callable, optional
        Called with each step message instead of logging it at INFO.
    **keywords
        Keywords of the method (:func:`tomopy_dip.reconstruct`), validated before the file is read.

    Returns
    -------
    FileReconstruction
        Per-row records, settings, plan, timings and files. ``interrupted`` is True when Ctrl-C
        stopped the run (finished slices are on disk).

    Raises
    ------
    DataFileError
        The file is missing, unreadable or malformed.
    SettingError
        A setting the data or the output directory do not allow (no flats with
        ``normalize=True``, ``center_row`` outside the selection, results of an earlier run in
        ``out``, a resumed run with other settings).
    MemoryError
        The plan does not fit in the memory available (the message names the knobs).
    TypeError, ValueError
        Bad keywords or settings, or a centre off the detector.

    Examples
    --------
    >>> from tomopy_dip import reconstruct_file
    >>> res = reconstruct_file("tooth.h5", "tv_dip", out="tooth-tv_dip", slices=(0, 2),
    ...                        downsample=4)                              # doctest: +SKIP
    >>> res.done, res.settings["center"], sorted(p.name for p in res.slice_files)  # doctest: +SKIP
    ([0, 1], 296.0, ['recon_00000.tiff', 'recon_00001.tiff'])
    """
    run = VolumeRun.start(path, algorithm, keywords, out=out, slices=slices, proj=proj, center=center,
                          center_method=center_method, center_row=center_row, downsample=downsample,
                          normalize=normalize, minus_log=minus_log, reader=reader,
                          exchange_rank=exchange_rank, resume=resume, overwrite=overwrite,
                          scheduler=scheduler, rows_per_task=rows_per_task, warm_start=warm_start,
                          scan_pretrain=scan_pretrain, plan=plan, progress=progress, report=report)
    run.read_centre_row()
    run.make_plan()
    run.fit()
    return run.finish()


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
                 seeding: ScanPretrain | None) -> None:
        self.path, self.method, self.options, self.keywords = path, method, options, keywords
        self.settings, self.seeding = settings, seeding
        self.say: Callable[[str], None] = settings.report or log.info
        self.out = (Path(settings.out).expanduser() if settings.out is not None
                    else Path.cwd() / f"{path.stem}-{method.name}")
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
        method = get_method(algorithm)
        options = method.parse({**keywords, "progress": s.progress})
        seeding = scan_pretrain_setting(s.scan_pretrain, method, options, keywords, s.warm_start)
        if s.scheduler is not None:
            require_dask()  # the optional extra, checked before any work
        run = cls(Path(path).expanduser(), method, options, dict(keywords), s, seeding)
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
        self.record = {"tomopy_dip_version": __version__, "algorithm": self.method.name,
                       "keywords": recorded_keywords(self.keywords), "source": self.source.settings(),
                       "center": c_file, "center_used": self.center, "center_source": how,
                       **({"warm_start": True} if s.warm_start else {}),
                       **({"scan_pretrain": self.seeding.settings()} if self.seeding else {}),
                       **({"rows_per_task": s.rows_per_task} if self.coupled else {})}
        self.results = ResultDirectory(self.out, self.record)
        self.say(f"Pre-processing: {', '.join(first.steps) or 'none'}; centre {center_text(self.record)}")

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
        if seeding:
            self.say(f"Scan pretraining: {rows_text(seeds)} by {seeding.method} first, then {seeding.num_steps} "
                     f"pretraining steps on them ({CHECKPOINT} in the output directory), then the other rows "
                     f"by {self.method.name} from it")
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
        keywords = self.keywords
        try:
            if seeding:  # the seed rows first, then a network pretrained on them for the others
                self.interrupted = self._run(self._tasks(seeds, seeding.method, seeding.fit_keywords(keywords),
                                                         tasks_of(seeds, s.rows_per_task)))
                if not self.interrupted and any(r in self.todo for r in others):
                    keywords = {**keywords, "checkpoint": str(self._pretrain(seeds))}
                elif not self.interrupted:
                    self.pretraining = "not needed"
            if not self.interrupted:
                self.interrupted = self._run(self._tasks(others, self.method.name, keywords))
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
