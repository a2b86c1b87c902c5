"""Data Exchange HDF5 readers.

:func:`read_data_exchange` (and the dxchange-shaped :func:`read_aps_32id`) read APS / Data
Exchange HDF5 files: ``exchange/data`` (projections), ``exchange/data_white`` (flats),
``exchange/data_dark`` (darks) and ``exchange/theta`` (degrees in the file by the Data Exchange
convention, radians here; see :func:`theta_unit` for files that store radians).
When the real dxchange is importable (Debian's ``python3-dxchange``, *not* PyPI's empty
``dxchange`` placeholder) it does the reading; otherwise an h5py reader of the same format
returns the same arrays, with dxchange's fallbacks (``/process/acquisition/...`` flat and dark
values and rotation parameters; evenly spaced angles over 180° when the file has none).

TIFF stacks and iteration histories are written and read by :mod:`tomopy_dip.data.files`.
"""

from __future__ import annotations

import contextlib
import importlib
import io as _io
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from tomopy_dip.data._h5reader import (DARK, DATA, THETA, WHITE, Probe, ReadFailure, as_slice, dtype_text,
                                       group, probe, read_h5py)
from tomopy_dip.data.angles import RADIAN_LIMIT, RADIAN_MIN_ANGLES, RADIAN_MIN_SPAN, theta_unit

__all__ = ["DataFileError", "ExchangeData", "dxchange_available", "read_data_exchange", "read_aps_32id",
           "theta_unit", "as_slice", "group", "DATA", "WHITE", "DARK"]

log = logging.getLogger(__name__)

class DataFileError(ValueError):
    """An input file is missing, unreadable or not in the expected layout.

    The message is one line that names the file and what is wrong with it.
    """


@dataclass
class ExchangeData:
    """Raw tomography data read from a Data Exchange file.

    Attributes
    ----------
    proj : numpy.ndarray
        Projections ``(nproj, nrows, ndet)`` (projection order), the file's dtype.
    flat : numpy.ndarray or None
        Flat fields ``(nflat, nrows, ndet)``; None when the file has none.
    dark : numpy.ndarray or None
        Dark fields ``(ndark, nrows, ndet)``; None when the file has none.
    theta : numpy.ndarray
        Angles in radians, float64 ``(nproj,)``.
    path : pathlib.Path
        The file.
    backend : {"dxchange", "h5py"}
        Which reader read it.
    rows : tuple of int
        Detector rows (sinogram indices) that were read: ``(start, stop, step)``.
    notes : list of str
        Fallbacks and guesses that were used (e.g. generated angles, angles taken as radians);
        each was logged as a warning.
    theta_unit : {"degrees", "radians"}
        The unit the file's angles were read in (see :func:`theta_unit`); ``"degrees"`` also
        when the file has no angles and they were generated.
    theta_note : str
        One line saying which unit was used and why, e.g. ``"'exchange/theta' read as degrees
        (span 180 over 181 angles)"``.
    """

    proj: np.ndarray
    flat: np.ndarray | None
    dark: np.ndarray | None
    theta: np.ndarray
    path: Path
    backend: str
    rows: tuple = (0, 0, 1)
    notes: list = field(default_factory=list)
    theta_unit: str = "degrees"
    theta_note: str = ""

    def astuple(self) -> tuple:
        """``(proj, flat, dark, theta)`` as ``dxchange.read_aps_32id`` returns them."""
        return self.proj, self.flat, self.dark, self.theta


# ---------------------------------------------------------------------------- dxchange
_DXCHANGE: Any = None


@contextlib.contextmanager
def _quiet_dxchange(level: int | None = None) -> Iterator[None]:
    """dxchange without its printed notices and warnings, its logger at ``level`` meanwhile.

    ``level=None``: CRITICAL unless this module logs at DEBUG.
    """
    dxlog = logging.getLogger("dxchange")
    old = dxlog.level
    if level is None:
        level = old if log.isEnabledFor(logging.DEBUG) else max(old, logging.CRITICAL)
    try:
        dxlog.setLevel(level)
        with contextlib.redirect_stdout(_io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        dxlog.setLevel(old)


def _import_dxchange() -> Any:
    """Import the real dxchange quietly, or return None.

    dxchange prints "module not found" notices for its optional readers on import; they are
    swallowed here. PyPI's unrelated ``dxchange`` placeholder (no ``read_aps_32id``) counts as
    absent.
    """
    global _DXCHANGE
    if _DXCHANGE is None:
        mod: Any = False
        try:
            with _quiet_dxchange(logging.ERROR):  # "<module> not found" notices of optional readers
                mod = importlib.import_module("dxchange")
            if not hasattr(mod, "read_aps_32id"):
                log.debug("the importable 'dxchange' is not the real dxchange: ignoring it")
                mod = False
        except Exception as exc:  # ImportError, or a broken dependency
            log.debug("dxchange is not usable: %s", exc)
            mod = False
        _DXCHANGE = mod
    return _DXCHANGE or None


def dxchange_available() -> bool:
    """True when the real dxchange (with ``read_aps_32id``) can be imported."""
    return _import_dxchange() is not None


# ---------------------------------------------------------------------------- checks
def _check_path(path: str | os.PathLike) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise DataFileError(f"cannot read {p}: no such file")
    if p.is_dir():
        raise DataFileError(f"cannot read {p}: it is a directory, not an HDF5 file")
    if not os.access(p, os.R_OK):
        raise DataFileError(f"cannot read {p}: permission denied")
    import h5py

    try:
        ok = h5py.is_hdf5(str(p))
    except OSError as exc:
        raise DataFileError(f"cannot read {p}: {exc}") from None
    if not ok:
        raise DataFileError(f"cannot read {p}: not an HDF5 file")
    return p


def _describe_missing(path: Path, name: str, what: str) -> DataFileError:
    import h5py

    found: list[str] = []
    try:
        with h5py.File(path, "r") as f:
            f.visititems(lambda n, o: found.append(n) if isinstance(o, h5py.Dataset) else None)
    except Exception as exc:  # RuntimeError "Object visitation failed" of a damaged file
        return DataFileError(
            f"cannot read {path}: no dataset '{name}' ({what}) found and listing the file's contents failed "
            f"({type(exc).__name__}: {' '.join(str(exc).split())}); the file may be truncated or damaged"
        )
    listing = ", ".join(found[:8]) + (", ..." if len(found) > 8 else "") if found else "none"
    return DataFileError(
        f"{path} has no dataset '{name}' ({what}); is it a Data Exchange file? datasets found: {listing}"
    )


def _read_dxchange(dx: Any, path: Path, proj: slice, sino: slice, exchange_rank: int,
                   reader: str) -> tuple:
    """Read through dxchange; its fallbacks are noted when the file lacks a dataset."""
    import h5py

    p = (proj.start, proj.stop, proj.step)
    s = (sino.start, sino.stop, sino.step)
    if reader == "dx":
        fn = getattr(dx, "read_aps_tomoscan_hdf5", None)
        if fn is None:  # newer dxchange: read_dx is the generic reader
            def fn(fname: str, exchange_rank: int, proj: Any, sino: Any) -> tuple:
                return dx.read_dx(fname, exchange_rank=exchange_rank, proj=proj, sino=sino)[:4]
    else:
        fn = dx.read_aps_32id
    with _quiet_dxchange():
        tomo, flat, dark, theta = fn(str(path), exchange_rank=exchange_rank, proj=p, sino=s)
    notes = []
    base = group(exchange_rank)
    with h5py.File(path, "r") as f:
        if tomo is not None and f"{base}/{THETA}" not in f:
            notes.append(f"no '{base}/{THETA}': angles generated by dxchange")
    return tomo, flat, dark, np.asarray(theta, dtype=np.float64), notes


# ---------------------------------------------------------------------------- public readers
def read_data_exchange(path: str | os.PathLike, proj: Any = None, sino: Any = None,
                       exchange_rank: int = 0, backend: str = "auto",
                       reader: str = "aps_32id") -> ExchangeData:
    """Read projections, flats, darks and angles from a Data Exchange HDF5 file.

    Parameters
    ----------
    path : str or path-like
        The ``.h5`` file.
    proj : tuple or slice, optional
        Projections to read, dxchange style ``(start, end[, step])``; the angles are
        selected with them.
    sino : tuple or slice, optional
        Detector rows (sinograms) to read, ``(start, end[, step])``.
    exchange_rank : int
        0 reads ``exchange/...``; ``k`` reads ``exchange{k}/...`` (processed data).
    backend : {"auto", "dxchange", "h5py"}
        ``"auto"``: dxchange when it is importable, otherwise h5py.
    reader : {"aps_32id", "dx"}
        With dxchange: ``read_aps_32id`` or the generic Data Exchange reader. Both read the
        same datasets; the h5py reader implements that format.

    Returns
    -------
    ExchangeData
        Arrays as dxchange returns them (the file's dtype; angles in radians, float64).

    Raises
    ------
    DataFileError
        Missing, unreadable, damaged or non-HDF5 file; no projections; projections that are not a
        3-D numeric array; non-numeric angles; inconsistent shapes.

    Notes
    -----
    ``exchange/theta`` is in degrees by the Data Exchange convention; files that store radians
    are recognised by a ``units`` attribute or by their values (see :func:`theta_unit`). The
    unit used is in ``theta_unit`` and ``theta_note`` of the result, and a guess of radians is
    logged as a warning and listed in ``notes``. Both backends apply the same rule.

    Examples
    --------
    >>> d = read_data_exchange("tooth.h5", sino=(0, 1))          # doctest: +SKIP
    >>> d.proj.shape, d.flat.shape, d.theta.shape                  # doctest: +SKIP
    ((181, 1, 640), (10, 1, 640), (181,))
    """
    if backend not in ("auto", "dxchange", "h5py"):
        raise ValueError(f"backend must be 'auto', 'dxchange' or 'h5py', got {backend!r}")
    if reader not in ("aps_32id", "dx"):
        raise ValueError(f"reader must be 'aps_32id' or 'dx', got {reader!r}")
    p = _check_path(path)
    ps, ss = as_slice(proj, "proj"), as_slice(sino, "sino")
    dx = _import_dxchange() if backend in ("auto", "dxchange") else None
    if backend == "dxchange" and dx is None:
        raise DataFileError(
            "backend='dxchange' was requested but dxchange is not importable (install Debian's "
            "python3-dxchange or conda-forge's dxchange; PyPI's 'dxchange' is an empty placeholder)"
        )
    base = group(exchange_rank)
    found = _require_projections(p, base)
    used = "h5py" if dx is None else "dxchange"
    try:
        if dx is not None:
            tomo, flat, dark, theta, notes = _read_dxchange(dx, p, ps, ss, exchange_rank, reader)
        else:
            tomo, flat, dark, theta, notes = read_h5py(p, ps, ss, exchange_rank)
    except DataFileError:
        raise
    except ReadFailure as exc:
        raise _damaged(p, exc) from None
    except Exception as exc:  # h5py / dxchange errors on malformed content
        raise DataFileError(f"cannot read {p} with {used}: {type(exc).__name__}: "
                            f"{' '.join(str(exc).split())}; the file may be truncated or damaged") from None
    if tomo is None:
        raise _describe_missing(p, f"{base}/{DATA}", "projections")
    unit, theta_note = "degrees", ""
    if found.theta is not None:
        unit, theta_note, guessed = theta_unit(found.theta, found.theta_units, f"{base}/{THETA}")
        if unit == "radians":
            theta = np.asarray(found.theta, dtype=np.float64)  # as stored: the readers converted it
            if guessed:
                notes.append(theta_note)
        log.debug("%s: %s", p.name, theta_note)
    else:
        fallback = next((n for n in notes if "angle" in n), "angles generated")
        theta_note = f"no '{base}/{THETA}' in the file; {fallback} (degrees, as dxchange assumes)"
    if ps != slice(None) and theta is not None and np.size(theta) != tomo.shape[0]:
        # dxchange reads every angle whatever ``proj`` selects: select the same ones.
        sel = np.asarray(theta)[ps]
        if sel.size == tomo.shape[0]:
            theta = sel
    for note in notes:
        log.warning("%s: %s", p.name, note)
    out = ExchangeData(tomo, flat, dark, np.asarray(theta, dtype=np.float64), p, used,
                       (ss.start or 0, ss.stop, ss.step or 1), notes, unit, theta_note)
    _validate(out, base)
    log.info("read %s with %s: projections %s, flats %s, darks %s, %d angles", p.name, used,
             tomo.shape, None if flat is None else flat.shape, None if dark is None else dark.shape,
             out.theta.size)
    return out


def _damaged(path: Path, exc: ReadFailure) -> DataFileError:
    return DataFileError(f"cannot read {path}: {exc}; the file may be truncated or damaged")


def _require_projections(path: Path, base: str) -> Probe:
    """Fail early (and the same way for both readers) when the file is damaged, the projections
    are absent or not a 3-D numeric array, or the angles are not numbers."""
    try:
        found = probe(path, base)
    except ReadFailure as exc:
        raise _damaged(path, exc) from None
    name = f"{base}/{DATA}"
    if found.data_shape is None:
        raise _describe_missing(path, name, "projections")
    shape, dtype = found.data_shape, found.data_dtype
    if len(shape) != 3 or dtype is None or dtype.kind not in "fiu":
        raise DataFileError(
            f"{path}: '{name}' must be 3-D numeric (projections, rows, columns), got shape {shape} "
            f"and dtype {dtype_text(dtype)}"
        )
    if found.theta_dtype is not None and found.theta_dtype.kind not in "fiu":
        raise DataFileError(f"{path}: '{base}/{THETA}' must hold numeric angles, got dtype "
                            f"{dtype_text(found.theta_dtype)}")
    return found


def _validate(d: ExchangeData, base: str) -> None:
    p = d.path
    if d.proj.ndim != 3:
        raise DataFileError(
            f"{p}: '{base}/{DATA}' must be 3-D numeric (projections, rows, columns), got shape "
            f"{d.proj.shape} and dtype {d.proj.dtype}"
        )
    if min(d.proj.shape) == 0:
        raise DataFileError(
            f"{p}: no data selected from '{base}/{DATA}' of shape {d.proj.shape}; check the "
            "projection and row ranges"
        )
    if d.proj.dtype.kind not in "fiu":
        raise DataFileError(f"{p}: '{base}/{DATA}' must be 3-D numeric (projections, rows, columns), "
                            f"got dtype {d.proj.dtype}")
    for attr, name in (("flat", WHITE), ("dark", DARK)):
        arr = getattr(d, attr)
        if arr is not None and arr.ndim == 2:  # one frame (e.g. a stored flat value)
            arr = arr[None]
            setattr(d, attr, arr)
        if arr is not None and (arr.ndim != 3 or arr.shape[1:] != d.proj.shape[1:]):
            raise DataFileError(
                f"{p}: '{base}/{name}' has shape {np.shape(arr)}, which does not match the "
                f"projections' rows x columns {d.proj.shape[1:]}"
            )
    if d.theta.ndim != 1 or d.theta.size != d.proj.shape[0]:
        # a projection subset of a full angle list: dxchange does not slice theta
        raise DataFileError(
            f"{p}: '{base}/{THETA}' has {d.theta.size} angles but {d.proj.shape[0]} projections were read"
        )
    if not np.all(np.isfinite(d.theta)):
        raise DataFileError(f"{p}: '{base}/{THETA}' contains non-finite angles")


def read_aps_32id(fname: str | os.PathLike, exchange_rank: int = 0, proj: Any = None,
                  sino: Any = None, dtype: Any = None, backend: str = "auto") -> tuple:
    """Drop-in for ``dxchange.read_aps_32id``: ``(proj, flat, dark, theta)``.

    Angles are sliced like the projections when ``proj`` is given (dxchange reads all angles
    and leaves the caller to slice them).

    Parameters
    ----------
    fname : str or path-like
        Data Exchange HDF5 file.
    exchange_rank : int
        Group ``exchange`` (0) or ``exchange{k}``.
    proj, sino : tuple, optional
        ``(start, end[, step])`` of projections and of detector rows.
    dtype : numpy dtype, optional
        Convert the arrays to this type.
    backend : {"auto", "dxchange", "h5py"}
        Reader (see :func:`read_data_exchange`).

    Returns
    -------
    tuple of numpy.ndarray
        Projections, flats, darks (None when absent) and angles in radians.
    """
    d = read_data_exchange(fname, proj, sino, exchange_rank, backend)
    arrays = [d.proj, d.flat, d.dark]
    if dtype is not None:
        arrays = [None if a is None else a.astype(dtype) for a in arrays]
    return (*arrays, d.theta)
