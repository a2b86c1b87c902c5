"""From a Data Exchange file to reconstructed slices on disk, in one call.

:func:`reconstruct_file` is the pipeline of ``tomopy-dip recon``: read a Data Exchange (APS)
HDF5 file -> normalise with the flats and darks -> ``-log`` -> set non-finite values to 0 ->
find or take the rotation centre -> bin the detector -> reconstruct the chosen slices with a
method of the package -> write ``recon.tiff`` (float32 stack), ``recon.png``, ``history.csv``,
``convergence.png`` and ``summary.json``. Step messages are logged at INFO on this module's
logger (or passed to ``report``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from tomopy_dip._version import __version__
from tomopy_dip.data import preprocess as pp
from tomopy_dip.data.exchange import DataFileError, read_data_exchange
from tomopy_dip.data.files import write_history_csv, write_tiff_stack
from tomopy_dip.fitting.engine import Reconstruction, reconstruct
from tomopy_dip.methods import get_method
from tomopy_dip.options import int_check, parse_options
from tomopy_dip.physics.geometry import check_center
from tomopy_dip.utils import jsonable

__all__ = ["reconstruct_file", "FileReconstruction", "SettingError", "rows_text"]

log = logging.getLogger(__name__)


class SettingError(ValueError):
    """A setting of :func:`reconstruct_file` that the file's data do not allow.

    Attributes
    ----------
    keyword : str
        The argument at fault (``"normalize"``, ``"center_row"``).
    template : str
        The message with ``{arg}`` where the argument is named, for interfaces that spell it
        differently (the command line's ``--center-row 5``).
    """

    def __init__(self, keyword: str, arg: str, template: str) -> None:
        super().__init__(template.format(arg=arg))
        self.keyword, self.template = keyword, template


def rows_text(rows: Sequence[int]) -> str:
    """Detector rows in words.

    Examples
    --------
    >>> rows_text([3]), rows_text([0, 1, 2]), rows_text([0, 2, 4])
    ('row 3', 'rows 0-2', 'rows 0-4 (step 2)')
    """
    if len(rows) == 1:
        return f"row {rows[0]}"
    step = rows[1] - rows[0]
    return f"rows {rows[0]}-{rows[-1]}" + (f" (step {step})" if step != 1 else "")


@dataclass
class FileReconstruction:
    """What :func:`reconstruct_file` did.

    Attributes
    ----------
    images : numpy.ndarray
        ``(nslices, num_gridx, num_gridy)`` float32, as written to ``recon.tiff``.
    result : Reconstruction
        The method's result (history, returned iterations, interruption).
    out : pathlib.Path
        Output directory.
    files : dict of str to pathlib.Path
        ``recon.tiff``, ``recon.png``, ``history.csv``, ``convergence.png``, ``summary.json``.
    settings : dict
        File, reader, algorithm, rows, projections, centre (found and used), binning and
        keywords: the TIFF's metadata.
    summary : dict
        ``settings`` plus shape, iterations, timings and outputs: the content of ``summary.json``.
    timings : dict of str to float
        Seconds to ``read``, ``preprocess``, ``reconstruct``, ``write``, and the ``total``.
    projections : int
        Projections used.
    detector_pixels : int
        Detector pixels of the sinograms reconstructed (after binning).
    """

    images: np.ndarray
    result: Reconstruction
    out: Path
    files: dict[str, Path] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    projections: int = 0
    detector_pixels: int = 0

    @property
    def rows(self) -> list[int]:
        """The detector rows reconstructed, as numbered in the file."""
        return list(self.settings["rows"])

    @property
    def rows_text(self) -> str:
        """The rows in words (:func:`rows_text`)."""
        return rows_text(self.rows)

    @property
    def center_text(self) -> str:
        """The centre, how it was found, and where binning moved it."""
        return _center_text(self.settings)

    @property
    def iterations_run(self) -> int:
        """Iterations run per slice (the most of any slice; see ``result.iterations_run``)."""
        return int(self.summary["iterations_run"])


def _center_text(settings: dict) -> str:
    s = settings
    return f"{s['center']:.2f} ({s['center_source']})" + (
        f" -> {s['center_used']:.2f} after binning x{s['downsample']}" if s["downsample"] > 1 else "")


def _check_settings(center: Any, center_method: str, downsample: int) -> int:
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
    return int_check("downsample", 1)(downsample)


#: Largest share of detector pixels whose flat field may be no brighter than the dark field.
DEAD_FLAT_SHARE = 0.01


def _check_flats(data: Any, path: Path) -> None:
    """Refuse flat fields that are empty (zeros), or no brighter than the darks: the
    normalised data would be meaningless."""
    flat = np.mean(np.asarray(data.flat, dtype=np.float32).reshape(-1, *data.proj.shape[1:]), axis=0)
    dark = np.mean(np.asarray(data.dark, dtype=np.float32).reshape(-1, *data.proj.shape[1:]), axis=0)
    dead = float(np.mean(flat <= dark))
    if dead > DEAD_FLAT_SHARE:
        raise DataFileError(
            f"{path}: the flat fields (exchange/data_white) are not brighter than the dark fields "
            f"(exchange/data_dark) in {100 * dead:.0f} % of the detector pixels (mean flat {flat.mean():g}, "
            f"mean dark {dark.mean():g}): they are empty or swapped; check the file, or pass "
            "normalize=False (--no-normalize) if the data are already normalised")


def _normalized(data: Any, path: Path, normalize: bool, minus_log: bool) -> tuple[np.ndarray, list[str]]:
    """Flat/dark normalisation, -log and non-finite values set to 0; with the steps taken."""
    steps: list[str] = []
    arr: np.ndarray = data.proj
    if normalize:
        missing = [n for n, a in (("flat fields (exchange/data_white)", data.flat),
                                  ("dark fields (exchange/data_dark)", data.dark)) if a is None]
        if missing:
            raise SettingError("normalize", "normalize=False",
                               f"{path} has no {' and no '.join(missing)}; use {{arg}} if the data are "
                               "already normalised")
        _check_flats(data, path)
        arr = pp.normalize(arr, data.flat, data.dark)
        steps.append("normalised")
    if minus_log:
        arr = pp.minus_log(arr)
        steps.append("-log")
    arr = np.asarray(arr, dtype=np.float32)
    bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
    if bad:
        log.warning("%d non-finite values after %s (zero or negative transmission) set to 0",
                    bad, " and ".join(steps) or "reading")
        arr = np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)
        steps.append(f"{bad} non-finite set to 0")
    return arr, steps


def _centre(arr: np.ndarray, theta: np.ndarray, center: Any, method: str,
            row: int | None) -> tuple[float, str]:
    """The centre in the file's detector pixels and how it was obtained."""
    nrows, ndet = arr.shape[1:]
    if center == "auto":
        if row is not None and not 0 <= row < nrows:
            raise SettingError("center_row", f"center_row={row}", f"{{arg}} is outside the {nrows} selected rows")
        c = pp.find_center(arr, theta, ind=row, method=method)
        how = f"auto, {'Vo' if method == 'vo' else 'entropy'} method" + \
              (" (TomoPy)" if pp.tomopy_available() else "")
    else:
        c, how = float(center), "given"
    try:
        check_center(c, ndet)
    except ValueError:
        raise ValueError(f"the centre {c:g} is not on the detector (0..{ndet - 1})") from None
    return c, how


def _write(out: Path, res: Reconstruction, settings: dict, title: str) -> tuple[np.ndarray, dict[str, Path]]:
    from tomopy_dip.interfaces.plotting import plot_convergence, save_preview

    out.mkdir(parents=True, exist_ok=True)
    images = np.asarray(res.images, dtype=np.float32)
    images = images[None] if images.ndim == 2 else images
    rows = settings["rows"]
    files = {
        "recon.tiff": write_tiff_stack(out / "recon.tiff", images, metadata=settings),
        "recon.png": save_preview(out / "recon.png", images, titles=[f"row {r}" for r in rows], title=title),
        "history.csv": write_history_csv(out / "history.csv", res.history, slices=rows),
        "convergence.png": plot_convergence(res.history, out / "convergence.png", selected=res.iteration,
                                            slices=rows, title=title),
    }
    return images, files


def reconstruct_file(path: str | os.PathLike, algorithm: str, *, out: str | os.PathLike | None = None,
                     slices: Any = None, proj: Any = None, center: float | str = "auto",
                     center_method: str = "vo", center_row: int | None = None, downsample: int = 1,
                     normalize: bool = True, minus_log: bool = True, reader: str = "auto",
                     exchange_rank: int = 0, progress: bool = True,
                     report: Callable[[str], None] | None = None, **keywords: Any) -> FileReconstruction:
    """Reconstruct slices of a Data Exchange HDF5 file and write the results to ``out``.

    Parameters
    ----------
    path : str or path-like
        Data Exchange HDF5 file (``exchange/data``, ``data_white``, ``data_dark``, ``theta``).
    algorithm : str
        A method name of :data:`tomopy_dip.methods.METHODS` (``"tv_dip"``, ...).
    out : str or path-like, optional
        Output directory, created when absent. Default ``./<file stem>-<algorithm>``.
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
    progress : bool
        Show a progress bar during the fit.
    report : callable, optional
        Called with each step message instead of logging it at INFO.
    **keywords
        Keywords of the method (:func:`tomopy_dip.reconstruct`), validated before the file is read.

    Returns
    -------
    FileReconstruction
        Images, the method's result, settings, timings and the files written.

    Raises
    ------
    DataFileError
        The file is missing, unreadable or malformed.
    SettingError
        A setting the data do not allow (no flats with ``normalize=True``, ``center_row``
        outside the selection).
    TypeError, ValueError
        Bad keywords or settings, or a centre off the detector.

    Examples
    --------
    >>> from tomopy_dip import reconstruct_file
    >>> res = reconstruct_file("tooth.h5", "tv_dip", out="tooth-tv_dip", slices=(0, 2),
    ...                        downsample=4, num_iter=1000)              # doctest: +SKIP
    >>> res.images.shape, res.settings["center"], sorted(res.files)    # doctest: +SKIP
    ((2, 160, 160), 296.0, ['convergence.png', 'history.csv', 'recon.png', 'recon.tiff', 'summary.json'])
    """
    say = report or log.info
    method = get_method(algorithm)
    parse_options({**keywords, "progress": progress}, method.accepted, method.defaults,
                  f"tomopy_dip.{method.name}")
    downsample = _check_settings(center, center_method, downsample)
    path = Path(path)
    out = Path(out) if out is not None else Path.cwd() / f"{path.stem}-{method.name}"
    timings: dict[str, float] = {}
    t_all = t0 = time.perf_counter()

    data = read_data_exchange(path, proj=proj, sino=slices, exchange_rank=exchange_rank, backend=reader)
    timings["read"] = time.perf_counter() - t0
    nproj, nrows, ndet = data.proj.shape
    rows = [data.rows[0] + i * data.rows[2] for i in range(nrows)]
    say(f"Read {path.name} with {data.backend}: {nproj} projections, {rows_text(rows)}, {ndet} detector "
        f"pixels; angles {np.rad2deg(data.theta.min()):.1f}..{np.rad2deg(data.theta.max()):.1f} deg")

    t0 = time.perf_counter()
    arr, steps = _normalized(data, path, normalize, minus_log)
    c_file, how = _centre(arr, data.theta, center, center_method, center_row)
    sino, c_used = pp.to_sinograms(arr), c_file
    if downsample > 1:
        sino, c_used = pp.bin_detector(sino, downsample), pp.binned_center(c_file, downsample)
        steps.append(f"binned x{downsample}")
    timings["preprocess"] = time.perf_counter() - t0
    settings = {
        "tomopy_dip_version": __version__, "file": str(path.resolve()), "reader": data.backend,
        "algorithm": method.name, "rows": rows, "projections": nproj, "center": c_file,
        "center_used": c_used, "center_source": how, "downsample": downsample, "keywords": dict(keywords),
    }
    say(f"Pre-processing: {', '.join(steps) or 'none'}; centre {_center_text(settings)}")

    n_iter = keywords.get("num_iter", method.defaults.get("num_iter", "default"))
    say(f"Reconstructing {nrows} slice(s) with {method.name}: sinograms {nproj} x {sino.shape[2]}, "
        f"{n_iter} iterations")
    t0 = time.perf_counter()
    res = reconstruct(sino, data.theta, center=c_used, method=method, progress=progress, **keywords)
    timings["reconstruct"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    images, files = _write(out, res, settings, f"{path.name}: {method.name}")
    timings["write"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_all
    summary = {**settings, "shape": list(images.shape),
               "iterations_run": int(np.asarray(res.history.get("loss", np.zeros((0,)))).shape[0]),
               "iteration_returned": [int(i) for i in np.atleast_1d(res.iteration)],
               "iterations_per_slice": [int(i) for i in res.iterations_run],
               "stop_reason": list(res.stop_reason), "stopped": res.stop_summary(),
               "interrupted": bool(res.interrupted), "seconds": dict(timings),
               "outputs": {k: str(v) for k, v in files.items()}}
    files["summary.json"] = out / "summary.json"
    files["summary.json"].write_text(json.dumps(jsonable(summary), indent=2) + "\n")
    return FileReconstruction(images, res, out, files, settings, summary, timings, nproj, sino.shape[2])
