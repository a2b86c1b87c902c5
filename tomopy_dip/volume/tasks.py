"""Tasks of a scan: a fixed group of rows read, fitted and written by one worker.

:func:`run_task` is what a worker runs: it reads its rows from the file (:class:`ScanSource`),
fits each slice with :func:`tomopy_dip.reconstruct` and writes each finished slice at once
(:class:`~tomopy_dip.volume.outputs.ResultDirectory`). A task is a plain value, so it runs
the same in this process or on a Dask worker on another machine: each slice is fitted by its own
network seeded from its own data, so the files are identical whoever runs the task.

:func:`run_tasks` runs a list of tasks here, one after the other, or on a Dask cluster
(``scheduler``: a ``distributed.Client``, a scheduler address, or ``"local:N"`` for a
``LocalCluster`` of N single-threaded worker processes on this machine). Dask retries the task of
a lost worker elsewhere; its files are written atomically, so a half-done task leaves no partial
file.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from tomopy_dip.volume.outputs import ResultDirectory
from tomopy_dip.volume.scan import ScanSource
from tomopy_dip.volume.settings import local_workers

__all__ = ["Task", "run_task", "run_tasks", "open_scheduler", "require_dask", "DASK_EXTRA"]

log = logging.getLogger(__name__)

#: How to install the optional dependency of ``scheduler``.
DASK_EXTRA = 'pip install "tomopy-dip[dask]"'


@dataclass(frozen=True)
class Task:
    """A group of rows to reconstruct and where to write them.

    Attributes
    ----------
    source : ScanSource
        The file and its pre-processing.
    rows : tuple of int
        The task's rows (evenly spaced rows of the file, read together).
    todo : tuple of int
        The rows among them to fit (the others are finished already).
    center : float
        Rotation centre of the sinograms after binning (gridrec convention).
    algorithm : str
        Method name.
    keywords : dict
        The method's keywords.
    out : str
        Output directory.
    settings : dict
        Recorded with every slice (what a resumed run compares).
    preview : tuple of int
        Rows whose FBP is returned for the preview figure.
    threads : int or None
        torch threads of the worker (None: leave as is).
    progress : bool
        Show each fit's progress bar.
    warm_start : bool
        Start each row after the task's first from the network fitted to the row before it
        (keywords ``keep_network`` and ``init_network``); the task's first row starts as usual.
    """

    source: ScanSource
    rows: tuple
    todo: tuple
    center: float
    algorithm: str
    keywords: dict = field(default_factory=dict)
    out: str = "."
    settings: dict = field(default_factory=dict)
    preview: tuple = ()
    threads: int | None = None
    progress: bool = False
    warm_start: bool = False


def _record(row: int, res: Any, seconds: float, status: str, method: str, i: int = 0) -> dict[str, Any]:
    """The record of ``row``, slice ``i`` of ``res`` (fitted by ``method``)."""
    return {"row": int(row), "status": status, "method": method, "iterations": int(res.iterations_run[i]),
            "stop_reason": res.stop_reason[i], "iteration_returned": int(np.atleast_1d(res.iteration)[i]),
            "seconds": round(float(seconds), 3), "scale": float(res.scale[i]),
            "output_range": [float(v) for v in res.output_range[i]]}


def _fbp_image(res: Any, sino: np.ndarray, filter_name: str) -> np.ndarray:
    import torch

    from tomopy_dip.physics.fbp import fbp
    from tomopy_dip.physics.projector import get_operator

    op = get_operator(res.geometries[0])
    return fbp(torch.from_numpy(np.ascontiguousarray(sino[None])), op, filter_name)[0].numpy()


def run_task(task: Task, on_slice: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """Read, fit and write the rows of ``task``; returns what happened to each.

    Returns
    -------
    dict
        ``"records"``: one record per row of ``task.todo`` (``status`` ``"done"``,
        ``"interrupted"`` or ``"not_run"``, iterations, why it stopped, seconds, ...);
        ``"fbp"``: row -> FBP image for the preview rows that were fitted; ``"interrupted"``.
    """
    from tomopy_dip.fitting import interrupt
    from tomopy_dip.fitting.engine import reconstruct

    if task.threads is not None:
        import torch

        torch.set_num_threads(int(task.threads))
    results = ResultDirectory(task.out, task.settings)
    scan = task.source.read(task.rows)
    if task.keywords.get("dims") == 3:
        return _run_slab(task, results, scan, on_slice)
    records: list[dict] = []
    previews: dict[int, np.ndarray] = {}
    stopped = False
    previous = None  # the network fitted to the row before (warm start)
    for i, row in enumerate(task.rows):
        if row not in task.todo:
            continue
        if stopped or interrupt.requested():
            stopped = True
            records.append({"row": int(row), "status": "not_run"})
            continue
        keywords = dict(task.keywords)
        if task.warm_start:
            keywords.update(keep_network=True, init_network=previous)
        t0 = time.perf_counter()
        res = reconstruct(scan.sinograms[i], scan.theta, center=task.center, method=task.algorithm,
                          progress=task.progress, **keywords)
        seconds = time.perf_counter() - t0
        previous = res.networks[0] if task.warm_start else None
        if res.interrupted:
            stopped = True
            record = _record(row, res, seconds, "interrupted", task.algorithm)
        else:
            record = {**_record(row, res, seconds, "done", task.algorithm), "file": results.slice_path(row).name}
            results.write_slice(row, res.images, record, {k: v[:, 0] for k, v in res.history.items()},
                                res.uncertainty)
        if row in task.preview and not res.interrupted:
            previews[row] = _fbp_image(res, scan.sinograms[i], task.keywords.get("filter_name", "hann"))
        records.append(record)
        if on_slice is not None:
            on_slice(record)
    return {"records": records, "fbp": previews, "interrupted": stopped}


def _run_slab(task: Task, results: Any, scan: Any, on_slice: Callable[[dict], None] | None) -> dict[str, Any]:
    """``dims=3``: the task's rows are fitted together by 3-D networks (one call). All of them are
    fitted, finished or not, so that a row's result does not depend on an earlier run; the rows
    of ``task.todo`` are written. An interrupted slab writes nothing."""
    from tomopy_dip.fitting import interrupt
    from tomopy_dip.fitting.engine import reconstruct

    if interrupt.requested():
        return {"records": [{"row": int(r), "status": "not_run"} for r in task.todo], "fbp": {},
                "interrupted": True}
    t0 = time.perf_counter()
    res = reconstruct(scan.sinograms, scan.theta, center=task.center, method=task.algorithm,
                      progress=task.progress, **task.keywords)
    seconds = (time.perf_counter() - t0) / len(task.rows)
    records, previews = [], {}
    for i, row in enumerate(task.rows):
        if row not in task.todo:
            continue
        if res.interrupted:
            record = _record(row, res, seconds, "interrupted", task.algorithm, i)
        else:
            record = {**_record(row, res, seconds, "done", task.algorithm, i), "file": results.slice_path(row).name}
            results.write_slice(row, res.images[i], record, {k: v[:, i] for k, v in res.history.items()},
                                None if res.uncertainty is None else res.uncertainty[i])
            if row in task.preview:
                previews[row] = _fbp_image(res, scan.sinograms[i], task.keywords.get("filter_name", "hann"))
        records.append(record)
        if on_slice is not None:
            on_slice(record)
    return {"records": records, "fbp": previews, "interrupted": bool(res.interrupted)}


# ---------------------------------------------------------------------------- schedulers
def require_dask(what: str = "scheduler=") -> Any:
    """The ``distributed`` module, or an :class:`ImportError` naming the extra that installs it."""
    try:
        import distributed
    except ImportError:
        raise ImportError(f"{what} needs Dask's distributed scheduler: {DASK_EXTRA}") from None
    return distributed


def open_scheduler(scheduler: Any) -> tuple[Any, Callable[[], None]]:
    """A ``distributed.Client`` for ``scheduler`` and how to release what was opened.

    ``scheduler`` is a ``distributed.Client`` (used as is), a scheduler address
    (``"tcp://host:8786"``), or ``"local:N"`` (a ``LocalCluster`` of N single-threaded worker
    processes listening on 127.0.0.1 only).

    Raises
    ------
    ImportError
        Dask's distributed scheduler is not installed (the message names the extra).
    ValueError
        ``scheduler`` is none of the above.
    """
    distributed = require_dask()
    if isinstance(scheduler, distributed.Client):
        return scheduler, lambda: None
    if not isinstance(scheduler, str) or not scheduler.strip():
        raise ValueError(f"scheduler must be a distributed.Client, a scheduler address or 'local:N', "
                         f"got {scheduler!r}")
    text = scheduler.strip()
    workers = local_workers(text)
    if workers is not None:
        cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                           host="127.0.0.1", dashboard_address=None)
        client = distributed.Client(cluster)

        def close() -> None:
            client.close()
            cluster.close()

        return client, close
    client = distributed.Client(text, timeout="30s")
    return client, client.close


def run_tasks(tasks: Iterable[Task], client: Any = None,
              on_slice: Callable[[dict], None] | None = None) -> Iterator[dict]:
    """Run ``tasks`` here (``client=None``, one after the other) or on a Dask cluster
    (a ``distributed.Client``, :func:`open_scheduler`); yields each task's result
    (:func:`run_task`) as it finishes, after calling ``on_slice`` with each of its records.

    Here, the run stops after a task that was interrupted (Ctrl-C). On Dask, results come in the
    order they finish; when the caller stops iterating (or Ctrl-C reaches it), the tasks not yet
    finished are cancelled.
    """
    if client is None:
        for task in tasks:
            result = run_task(task, on_slice)
            yield result
            if result["interrupted"]:
                return
        return
    from distributed import as_completed

    futures = [client.submit(run_task, t, pure=False, key=f"tomopy-dip-rows-{t.rows[0]}-{t.rows[-1]}-"
                             f"{time.time_ns()}") for t in tasks]
    try:
        for fut in as_completed(futures):
            result = fut.result()
            for record in result["records"]:
                if on_slice is not None:
                    on_slice(record)
            yield result
    finally:
        unfinished = [f for f in futures if not f.done()]
        if unfinished:
            client.cancel(unfinished)
