"""From a Data Exchange file to reconstructed slices on disk: streamed, resumable, scalable.

:func:`reconstruct_file` is the pipeline of ``tomopy-dip recon``:

1. check the settings and the output directory (before the file is read);
2. read the row the centre is found on, normalise with the flats and darks, ``-log``, find or
   take the rotation centre (:mod:`~tomopy_dip.interfaces.scan`);
3. plan: rows, image size, estimated memory (refused at once when it cannot fit) and time per
   iteration from a few timed iterations (:class:`ScanPlan`);
4. split the rows into tasks of ``rows_per_task`` rows and run them here or on Dask
   (:mod:`~tomopy_dip.interfaces.tasks`); each finished slice is written at once as
   ``recon_NNNNN.tiff`` with its history, and ``summary.json`` is updated as tasks finish
   (:mod:`~tomopy_dip.interfaces.outputs`);
5. previews: ``recon.png`` (FBP beside the result) and ``convergence.png``.

A run stopped by Ctrl-C keeps every finished slice; ``resume=True`` fits only the rest.
Step messages are logged at INFO on this module's logger (or passed to ``report``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tomopy_dip._version import __version__
from tomopy_dip.interfaces.outputs import ResultDirectory
from tomopy_dip.interfaces.scan import ScanSource, SettingError, resolve_rows, rows_text, tasks_of
from tomopy_dip.interfaces.seeding import CHECKPOINT, ScanPretrain, pretrain_on_seeds, scan_pretrain_setting
from tomopy_dip.interfaces.tasks import Task, local_workers, open_scheduler, require_dask, run_tasks
from tomopy_dip.methods import get_method
from tomopy_dip.options import int_check
from tomopy_dip.physics.geometry import default_center

__all__ = ["reconstruct_file", "FileReconstruction", "ScanPlan", "SettingError", "rows_text",
           "ROWS_PER_TASK", "PLAN_ITERATIONS"]

log = logging.getLogger(__name__)

#: Rows per task: the unit a worker reads, fits and writes.
ROWS_PER_TASK = 4
#: Iterations timed for the plan's time estimate.
PLAN_ITERATIONS = 4
#: Slices shown in the convergence figure.
CONVERGENCE_SLICES = 8


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
        if self.seconds_per_iteration is not None:
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
        return _center_text(self.settings)

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
    def iterations_run(self) -> int:
        """The most iterations any slice ran."""
        return max((int(self.records[r].get("iterations", 0)) for r in self.done), default=0)

    def stop_summary(self) -> str:
        """Why the fits ended, in words (e.g. ``"2 converged after 650-820 iterations"``)."""
        groups: dict[str, list[int]] = {}
        for r in self.rows:
            rec = self.records.get(r, {"status": "not_run"})
            key = rec.get("stop_reason") if rec.get("status") == "done" else rec.get("status")
            groups.setdefault(key or "not_run", []).append(int(rec.get("iterations", 0)))
        words = {"converged": "converged after {} iterations", "num_iter": "reached num_iter ({})",
                 "diverged": "diverged after {} iterations", "interrupted": "interrupted after {} iterations",
                 "not_run": "not reconstructed"}
        parts = []
        for key in ("converged", "num_iter", "diverged", "interrupted", "not_run"):
            its = groups.get(key)
            if its:
                span = f"{min(its)}" if min(its) == max(its) else f"{min(its)}-{max(its)}"
                parts.append(f"{len(its)} " + words[key].format(span))
        return ", ".join(parts)


def _recorded(keywords: dict) -> dict:
    """The keywords as ``summary.json`` and each slice's file record them (what a resumed run
    compares): cone-beam ``vectors`` by their SHA-256 and count, not their numbers."""
    out = {k: v for k, v in keywords.items() if k != "callback"}
    if out.get("vectors") is not None:
        vec = np.ascontiguousarray(out["vectors"], dtype=np.float64)
        out["vectors"] = {"sha256": hashlib.sha256(vec.tobytes()).hexdigest(), "views": len(vec)}
    return out


def _center_text(settings: dict) -> str:
    s, k = settings, settings["source"]["downsample"]
    return f"{s['center']:.2f} ({s['center_source']})" + (
        f" -> {s['center_used']:.2f} after binning x{k}" if k > 1 else "")


def _check_settings(center: Any, center_method: str, downsample: int, rows_per_task: int) -> tuple[int, int]:
    """Settings checked before the file is read (the centre's range is checked after)."""
    if center_method not in ("vo", "entropy"):
        raise ValueError(f"center_method must be 'vo' or 'entropy', got {center_method!r}")
    if not (isinstance(center, str) and center == "auto"):
        try:
            ok = np.isfinite(float(center))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"center must be a finite number or 'auto', got {center!r}")
    return int_check("downsample", 1)(downsample), int_check("rows_per_task", 1)(rows_per_task)


def _memory(method: Any, options: Any, nproj: int, ndet: int, nslices: int = 1) -> tuple[int | None, str]:
    """The memory plan of one fit of ``nslices`` slices (refused here, before any work, when it
    cannot fit)."""
    try:
        from tomopy_dip.fitting import memory
    except ImportError:
        return None, ""
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


def _proj_spec(proj: Any) -> tuple | None:
    """``proj`` as a plain tuple (what a task carries and a record stores)."""
    from tomopy_dip.data.exchange import _as_slice

    if proj is None:
        return None
    s = _as_slice(proj, "proj")
    return (s.start, s.stop, s.step)


def _workers(scheduler: Any) -> int:
    if scheduler is None:
        return 1
    local = local_workers(scheduler)
    if local is not None:
        return local
    try:
        return max(1, len(scheduler.scheduler_info().get("workers", {})))
    except Exception:  # noqa: BLE001 - an address: not connected yet
        return 1


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
        EDIP / EDIP-FE pretrained on the scan itself (:mod:`~tomopy_dip.interfaces.seeding`):
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
    from tomopy_dip.fitting import interrupt

    say = report or log.info
    method = get_method(algorithm)
    options = method.parse({**keywords, "progress": progress})
    downsample, rows_per_task = _check_settings(center, center_method, downsample, rows_per_task)
    seeding = scan_pretrain_setting(scan_pretrain, method, options, keywords, warm_start)
    if scheduler is not None:
        require_dask()  # the optional extra, checked before any work
    path = Path(path).expanduser()
    out = Path(out).expanduser() if out is not None else Path.cwd() / f"{path.stem}-{method.name}"
    results = ResultDirectory(out, {})
    results.prepare(overwrite=overwrite, resume=resume)
    interrupt.clear()
    timings: dict[str, float] = {}
    t_all = time.perf_counter()

    # The centre row: read, checked (flats, theta), the centre found on it.
    source = ScanSource(str(path.resolve()), _proj_spec(proj), exchange_rank, reader, normalize, minus_log,
                        downsample)
    nrows_file = source.shape()[1]
    rows = resolve_rows(slices, nrows_file, path)
    if options.beam == "cone" and rows_per_task < len(rows):
        raise SettingError("rows_per_task", f"beam='cone' reconstructs the selected rows together (one volume): "
                           f"{{rows_per_task}} must be at least their number, {len(rows)}",
                           rows_per_task=f"rows_per_task={rows_per_task}")
    if options.vectors is not None:  # they place the detector, in the file's pixels
        if center != "auto":
            raise SettingError("center", "vectors place the detector themselves: leave {center} out",
                               center=f"center={center}")
        if downsample > 1:
            raise SettingError("downsample", "vectors are in the file's detector pixels: {downsample} does not "
                               "apply", downsample=f"downsample={downsample}")
        keywords = {**keywords, "vectors": options.vectors}  # the values travel with the tasks
    if center_row is not None and not 0 <= center_row < len(rows):
        raise SettingError("center_row", f"{{center_row}} is outside the {len(rows)} selected rows",
                           center_row=f"center_row={center_row}")
    crow = rows[len(rows) // 2 if center_row is None else center_row]
    first = source.read([crow])
    say(f"Read {path.name} with {first.backend}: {first.projections.shape[0]} projections, {nrows_file} "
        f"rows in the file ({rows_text(rows)} selected), {first.projections.shape[2]} detector pixels; "
        f"angles {np.rad2deg(first.theta.min()):.1f}..{np.rad2deg(first.theta.max()):.1f} deg"
        + (f" ({first.theta_note})" if first.theta_note else ""))
    if options.vectors is None:
        c_file, c_used, how = source.centre(first, center, center_method, 0)
    else:
        c_file = c_used = default_center(first.projections.shape[2], options.beam)
        how = "from the vectors"
    coupled = warm_start or options.dims == 3  # a row's result depends on the other rows of its task
    settings = {"tomopy_dip_version": __version__, "algorithm": method.name,
                "keywords": _recorded(keywords),
                "source": source.settings(), "center": c_file, "center_used": c_used,
                "center_source": how, **({"warm_start": True} if warm_start else {}),
                **({"scan_pretrain": seeding.settings()} if seeding else {}),
                **({"rows_per_task": rows_per_task} if coupled else {})}
    results = ResultDirectory(out, settings)
    say(f"Pre-processing: {', '.join(first.steps) or 'none'}; centre {_center_text(settings)}")

    # Resume and plan.
    records: dict[int, dict] = {}
    if resume:
        records = {r: {**rec, "resumed": True} for r, rec in results.finished(rows).items()}
    if coupled:  # redo unfinished tasks whole
        for group in tasks_of(rows, rows_per_task):
            if any(r not in records for r in group):
                for r in group:
                    records.pop(r, None)
    todo = [r for r in rows if r not in records]
    nproj, ndet = first.sinograms.shape[1:]
    grid = (options.num_gridx or ndet, options.num_gridy or ndet)
    mem_bytes, mem_text = _memory(method, options, nproj, ndet, rows_per_task if options.dims == 3 else 1)
    the_plan = ScanPlan(rows, todo, nproj, ndet, grid, method.name, options.num_iter, mem_bytes, mem_text,
                        workers=_workers(scheduler))
    if plan and todo and options.dims == 2:  # (a slice's time says nothing of a 3-D slab's)
        the_plan.seconds_per_iteration = _timed_iterations(
            first.sinograms[0], first.theta, c_used, *((seeding.method, seeding.fit_keywords(settings["keywords"]))
                                                       if seeding else (method.name, settings["keywords"])))
    timings["prepare"] = time.perf_counter() - t_all
    if records:
        say(f"Resuming: {len(records)} slice(s) finished by an earlier run are kept")
    say("Plan: " + the_plan.text().replace("\n", "\n      "))

    # The tasks (with scan_pretrain: the seed rows' first, then the others from their checkpoint).
    seeds = seeding.seed_rows(rows) if seeding else []
    if seeding:
        say(f"Scan pretraining: {rows_text(seeds)} by {seeding.method} first, then {seeding.num_steps} "
            f"pretraining steps on them ({CHECKPOINT} in the output directory), then the other rows by "
            f"{method.name} from it")
    middle = next((r for r in todo[len(todo) // 2:] + todo if r not in seeds), None)

    def tasks_for(groups: list, selection: list, algorithm: str, kw: dict) -> list[Task]:
        """Tasks reading ``groups`` (evenly spaced rows) that fit their rows in ``selection``."""
        return [Task(source, tuple(group), fit, c_used, algorithm, kw, str(out), settings,
                     (middle,) if middle in fit else (), 1 if scheduler is not None else None,
                     progress and scheduler is None, warm_start)
                for group in groups for fit in [tuple(r for r in group if r in todo and r in selection)] if fit]

    others = [r for r in rows if r not in seeds]
    seeded: dict = {}  # the summary's record of the pretraining
    previews: dict[int, np.ndarray] = {}
    summary: dict[str, Any] = {}
    interrupted = False
    t0 = time.perf_counter()

    def write_summary(final: bool) -> None:
        summary.clear()
        summary.update(_summary(settings, the_plan, rows, records, timings, interrupted, final), **seeded)
        results.write_summary(summary)

    results.create()
    client, close = open_scheduler(scheduler) if scheduler is not None else (None, lambda: None)
    if client is not None:
        say(f"Dask: {_workers(client)} worker(s) at {client.scheduler.address}")
    write_summary(False)
    from tqdm.auto import tqdm

    bar = tqdm(total=len(todo), disable=not progress, unit="slice", desc=f"{method.name} volume",
               dynamic_ncols=True)

    def run(tasks: list[Task]) -> bool:
        """Run ``tasks``, recording their slices; True when they were interrupted."""
        stopped = False
        for result in run_tasks(tasks, client, on_slice=lambda rec: bar.update(rec["status"] == "done")):
            for rec in result["records"]:
                records[rec["row"]] = rec
            previews.update(result["fbp"])
            stopped = stopped or result["interrupted"]
            timings["reconstruct"] = time.perf_counter() - t0
            write_summary(False)
        return stopped

    fit_keywords = keywords
    try:
        if seeding:  # the seed rows first, then a network pretrained on them for the others
            interrupted = run(tasks_for(tasks_of(seeds, rows_per_task), seeds, seeding.method,
                                        seeding.fit_keywords(keywords)))
            if not interrupted and any(r in todo for r in others):
                t1 = time.perf_counter()
                path_, info = _pretrain_on_seed_rows(seeding, seeds, source, results, first.theta, c_used,
                                                     options, out, progress, say)
                timings["scan_pretrain"] = time.perf_counter() - t1
                seeded["scan_pretrain"] = {**seeding.settings(), **info}
                fit_keywords = {**keywords, "checkpoint": str(path_)}
        if not interrupted:
            interrupted = run(tasks_for(tasks_of(rows, rows_per_task), others, method.name, fit_keywords))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
        close()
    timings["reconstruct"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    files = {"summary.json": out / "summary.json"}
    files.update(_previews(results, rows, records, previews, f"{path.name}: {method.name}"))
    timings["write"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_all
    write_summary(True)
    res = FileReconstruction(out, rows, records, settings, the_plan, summary, files, timings, interrupted)
    if interrupted:
        say(f"Interrupted: {len(res.done)} of {len(rows)} slice(s) written; not reconstructed: "
            f"{rows_text(res.missing) if res.missing else 'none'} (resume with resume=True / --resume)")
    return res


def _pretrain_on_seed_rows(seeding: ScanPretrain, seeds: list, source: ScanSource, results: ResultDirectory,
                           theta: np.ndarray, center: float, options: Any, out: Path, progress: bool,
                           say: Callable[[str], None]) -> tuple[Path, dict]:
    """Pretrain on the finished seed rows (their slice files and data): the checkpoint's path
    and what the summary says of it."""
    scan = source.read(seeds)
    images = np.stack([results.read_slice(r) for r in seeds])
    say(f"Pretraining on {len(seeds)} seed row(s) ({rows_text(seeds)}): {seeding.num_steps} steps")
    path, noise = pretrain_on_seeds(seeding, images, scan.sinograms, theta, center, options, out, progress)
    return path, {"seed_rows": seeds, "checkpoint": path.name, "noise": noise}


def _summary(settings: dict, plan: ScanPlan, rows: list, records: dict, timings: dict,
             interrupted: bool, final: bool) -> dict[str, Any]:
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
        "seconds": dict(timings),
    }


def _previews(results: ResultDirectory, rows: list, records: dict, fbps: dict[int, np.ndarray],
              title: str) -> dict[str, Path]:
    """``recon.png`` (the FBP beside the result of the middle row fitted now, else the finished
    slices) and ``convergence.png`` (up to :data:`CONVERGENCE_SLICES` slices)."""
    from tomopy_dip.interfaces.plotting import plot_comparison, plot_convergence, save_preview

    done = [r for r in rows if records.get(r, {}).get("status") == "done"]
    if not done:
        return {}
    files: dict[str, Path] = {}
    png = results.path / "recon.png"
    shown = [r for r in fbps if r in done]
    if shown:
        r = shown[0]
        files["recon.png"] = plot_comparison({f"FBP, row {r}": fbps[r], f"{title.split(': ')[-1]}, row {r}":
                                              results.read_slice(r)}, png, title=title, common_range=False)
    else:
        pick = [done[i] for i in np.unique(np.linspace(0, len(done) - 1, min(len(done), 4)).round().astype(int))]
        files["recon.png"] = save_preview(png, np.stack([results.read_slice(r) for r in pick]),
                                          titles=[f"row {r}" for r in pick], title=title)
    pick = [done[i] for i in np.unique(np.linspace(0, len(done) - 1, min(len(done), CONVERGENCE_SLICES))
                                       .round().astype(int))]
    hists = [results.read_history(r) for r in pick]
    n = max(len(h["loss"]) for h in hists)
    history = {k: np.full((n, len(pick)), np.nan) for k in hists[0]}
    for j, h in enumerate(hists):
        for k, v in h.items():
            history[k][: len(v), j] = v
    selected = np.array([records[r].get("iteration_returned", -1) for r in pick])
    files["convergence.png"] = plot_convergence(history, results.path / "convergence.png", selected=selected,
                                                slices=pick, title=title)
    return files
