"""From a Data Exchange file to reconstructed slices on disk: streamed, resumable, scalable.

:func:`reconstruct_file` is the pipeline of ``tomopy-dip recon``, a sequence of named steps of
:class:`~tomopy_dip.volume.steps.VolumeRun`:

1. :meth:`~tomopy_dip.volume.steps.VolumeRun.start`: the settings checked once (:mod:`~tomopy_dip.volume.settings`), the
   method's keywords parsed and the output directory checked, all before the file is read;
2. :meth:`~tomopy_dip.volume.steps.VolumeRun.read_centre_row`: read the row the centre is found on, normalise with the
   flats and darks, ``-log``, find or take the rotation centre (:mod:`~tomopy_dip.volume.scan`);
3. :meth:`~tomopy_dip.volume.steps.VolumeRun.make_plan`: the rows finished by an earlier run (``resume``), rows, image
   size, estimated memory (refused at once when it cannot fit) and time per iteration from a few
   timed iterations (:mod:`~tomopy_dip.volume.plan`);
4. :meth:`~tomopy_dip.volume.steps.VolumeRun.fit`: split the rows into tasks of ``rows_per_task`` rows and run them here
   or on Dask (:mod:`~tomopy_dip.volume.tasks`), the seed rows and their pretraining first with
   ``scan_pretrain`` (:mod:`~tomopy_dip.volume.seeding`); each finished slice is written at once
   as ``recon_NNNNN.tiff`` with its history, and ``summary.json`` is updated as tasks finish
   (:mod:`~tomopy_dip.volume.outputs`);
5. :meth:`~tomopy_dip.volume.steps.VolumeRun.finish`: previews (``recon.png``: FBP beside the
   result; ``convergence.png``)
   and the final summary.

A run stopped by Ctrl-C keeps every finished slice; ``resume=True`` fits only the rest.
Step messages are logged at INFO on the logger of :mod:`tomopy_dip.volume.steps` (or passed to
``report``).
"""

from __future__ import annotations

import os
from typing import Any, Callable

from tomopy_dip.volume.result import FileReconstruction
from tomopy_dip.volume.route import AUTO
from tomopy_dip.volume.settings import ROWS_PER_TASK, ScanPretrain
from tomopy_dip.volume.steps import VolumeRun

__all__ = ["reconstruct_file"]


def reconstruct_file(path: str | os.PathLike, algorithm: str = AUTO, *, out: str | os.PathLike | None = None,
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
        ``"auto"`` (the default): the whole-scan route of :mod:`~tomopy_dip.volume.route`, which
        fits a selection of few rows by TV-DIP row by row and a scan by EDIP-FE from a network
        pretrained on a few of its own rows (checked on a held-back row, with a fallback to
        per-row fits); the plan says which and why. Or a method name of
        :data:`tomopy_dip.methods.METHODS` (``"tv_dip"``, ...) for every row. With ``"auto"``,
        ``scan_pretrain`` (a :class:`ScanPretrain`) replaces the route's seed rows and
        pretraining settings where the route pretrains.
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
        EDIP / EDIP-FE (or ``"auto"``) pretrained on the scan itself
        (:mod:`~tomopy_dip.volume.seeding`): every K-th selected row is reconstructed first by
        TV-DIP, a network is pretrained on those rows (``scan_pretrain.safetensors`` in ``out``,
        resumable) and the other rows are fitted from it. The pretraining runs in this process, also with a ``scheduler``.
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


