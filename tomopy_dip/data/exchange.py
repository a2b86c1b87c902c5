"""Data in and data out: Data Exchange HDF5, TIFF stacks and iteration histories.

Reading
-------
:func:`read_data_exchange` (and the dxchange-shaped :func:`read_aps_32id`) read APS / Data
Exchange HDF5 files: ``exchange/data`` (projections), ``exchange/data_white`` (flats),
``exchange/data_dark`` (darks) and ``exchange/theta`` (degrees in the file, radians here).
When the real dxchange is importable (Debian's ``python3-dxchange``, *not* PyPI's empty
``dxchange`` placeholder) it does the reading; otherwise an h5py reader of the same format
returns the same arrays, with dxchange's fallbacks (``/process/acquisition/...`` flat and dark
values and rotation parameters; evenly spaced angles over 180° when the file has none).

Writing
-------
:func:`write_tiff_stack` writes 32-bit float TIFF stacks with :mod:`tifffile` (dxchange's
writer calls a function that current tifffile no longer has); :func:`write_history_csv`
writes the per-iteration history of :class:`tomopy_dip.Reconstruction`. Figures are in
:mod:`tomopy_dip.interfaces.plotting`.
"""

from __future__ import annotations

import contextlib
import csv
import importlib
import io as _io
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = [
    "DataFileError", "ExchangeData", "dxchange_available", "read_data_exchange", "read_aps_32id",
    "write_tiff_stack", "read_tiff_stack", "write_history_csv", "read_history_csv",
]

log = logging.getLogger(__name__)

#: Dataset names inside a Data Exchange group.
_DATA, _WHITE, _DARK, _THETA = "data", "data_white", "data_dark", "theta"
_FLAT_VALUE = "/process/acquisition/flat_fields/flat_field_value"
_DARK_VALUE = "/process/acquisition/dark_fields/dark_field_value"
_ROTATION = "/process/acquisition/rotation/"



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
        Fallbacks that were used (e.g. generated angles).
    """

    proj: np.ndarray
    flat: np.ndarray | None
    dark: np.ndarray | None
    theta: np.ndarray
    path: Path
    backend: str
    rows: tuple = (0, 0, 1)
    notes: list = field(default_factory=list)

    def astuple(self) -> tuple:
        """``(proj, flat, dark, theta)`` as ``dxchange.read_aps_32id`` returns them."""
        return self.proj, self.flat, self.dark, self.theta


# ---------------------------------------------------------------------------- dxchange
_DXCHANGE: Any = None


def _import_dxchange() -> Any:
    """Import the real dxchange quietly, or return None.

    dxchange prints "module not found" notices for its optional readers on import; they are
    swallowed here. PyPI's unrelated ``dxchange`` placeholder (no ``read_aps_32id``) counts as
    absent.
    """
    global _DXCHANGE
    if _DXCHANGE is None:
        mod: Any = False
        dxlog = logging.getLogger("dxchange")
        level = dxlog.level
        try:
            dxlog.setLevel(logging.ERROR)  # "<module> not found" notices of optional readers
            with contextlib.redirect_stdout(_io.StringIO()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mod = importlib.import_module("dxchange")
            if not hasattr(mod, "read_aps_32id"):
                log.debug("the importable 'dxchange' is not the real dxchange: ignoring it")
                mod = False
        except Exception as exc:  # ImportError, or a broken dependency
            log.debug("dxchange is not usable: %s", exc)
            mod = False
        finally:
            dxlog.setLevel(level)
        _DXCHANGE = mod
    return _DXCHANGE or None


def dxchange_available() -> bool:
    """True when the real dxchange (with ``read_aps_32id``) can be imported."""
    return _import_dxchange() is not None


# ---------------------------------------------------------------------------- slicing helpers
def _as_slice(s: Any, name: str) -> slice:
    """dxchange's slice spec (None, int, (start, end[, step]) or slice) as a slice."""
    if s is None:
        return slice(None)
    if isinstance(s, slice):
        return s
    if isinstance(s, (int, np.integer)) and not isinstance(s, bool):
        return slice(None, int(s))  # dxchange: an int n means [:n]
    try:
        parts = tuple(None if v is None else int(v) for v in s)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be None, an int, a slice or (start, end[, step]), got {s!r}") from None
    if not 1 <= len(parts) <= 3:
        raise TypeError(f"{name} must be (start, end[, step]), got {s!r}")
    return slice(*parts)


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


def _group(exchange_rank: int) -> str:
    return "exchange" if not exchange_rank else f"exchange{int(exchange_rank)}"


def _describe_missing(path: Path, name: str, what: str) -> DataFileError:
    import h5py

    found: list[str] = []
    try:
        with h5py.File(path, "r") as f:
            f.visititems(lambda n, o: found.append(n) if isinstance(o, h5py.Dataset) else None)
    except OSError:
        pass
    listing = ", ".join(found[:8]) + (", ..." if len(found) > 8 else "") if found else "none"
    return DataFileError(
        f"{path} has no dataset '{name}' ({what}); is it a Data Exchange file? datasets found: {listing}"
    )


# ---------------------------------------------------------------------------- h5py reader
def _h5_read(f: Any, name: str, slc: tuple | None) -> np.ndarray | None:
    import h5py

    obj = f.get(name)
    if obj is None or not isinstance(obj, h5py.Dataset):
        return None
    if slc is None:
        return obj[()]
    nd = obj.ndim
    slc = tuple(slc[:nd]) + (slice(None),) * max(0, nd - len(slc))
    return obj[slc]


def _read_h5py(path: Path, proj: slice, sino: slice, exchange_rank: int) -> tuple:
    """The format of ``dxchange.read_aps_32id`` with h5py, dxchange's fallbacks included."""
    import h5py

    base = _group(exchange_rank)
    notes = []
    with h5py.File(path, "r") as f:
        tomo = _h5_read(f, f"{base}/{_DATA}", (proj, sino))
        flat = _h5_read(f, f"{base}/{_WHITE}", (slice(None), sino))
        dark = _h5_read(f, f"{base}/{_DARK}", (slice(None), sino))
        theta = _h5_read(f, f"{base}/{_THETA}", None)
        if tomo is None:
            return None, flat, dark, theta, notes
        if flat is None or (flat.ndim and flat.shape[0] == 1 and flat.max() == 0):
            v = _h5_read(f, _FLAT_VALUE, None)
            if v is not None:
                flat = tomo[0] * 0 + np.ravel(v)[0]
                notes.append(f"flat fields from {_FLAT_VALUE}")
        if dark is None or (dark.ndim and dark.shape[0] == 1 and dark.max() == 0):
            v = _h5_read(f, _DARK_VALUE, None)
            if v is not None:
                dark = tomo[0] * 0 + np.ravel(v)[0]
                notes.append(f"dark fields from {_DARK_VALUE}")
        if theta is None:
            vals = [_h5_read(f, _ROTATION + k, None) for k in ("rotation_start", "rotation_step", "num_angles")]
            if all(v is not None for v in vals):
                start, step, num = (np.ravel(v)[0] for v in vals)
                theta = start + step * np.arange(int(num))
                notes.append(f"angles from {_ROTATION}rotation_*")
            else:
                theta = np.linspace(0.0, 180, tomo.shape[0])
                notes.append(f"no '{base}/{_THETA}': {tomo.shape[0]} angles generated over [0, 180] degrees")
    return tomo, flat, dark, np.deg2rad(theta), notes


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
    dxlog = logging.getLogger("dxchange")
    with warnings.catch_warnings(), contextlib.redirect_stdout(_io.StringIO()):
        warnings.simplefilter("ignore")
        old = dxlog.level
        dxlog.setLevel(max(old, logging.CRITICAL) if not log.isEnabledFor(logging.DEBUG) else old)
        try:
            tomo, flat, dark, theta = fn(str(path), exchange_rank=exchange_rank, proj=p, sino=s)
        finally:
            dxlog.setLevel(old)
    notes = []
    base = _group(exchange_rank)
    with h5py.File(path, "r") as f:
        if tomo is not None and f"{base}/{_THETA}" not in f:
            notes.append(f"no '{base}/{_THETA}': angles generated by dxchange")
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
        Missing, unreadable or non-HDF5 file; no projections; inconsistent shapes.

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
    ps, ss = _as_slice(proj, "proj"), _as_slice(sino, "sino")
    dx = _import_dxchange() if backend in ("auto", "dxchange") else None
    if backend == "dxchange" and dx is None:
        raise DataFileError(
            "backend='dxchange' was requested but dxchange is not importable (install Debian's "
            "python3-dxchange or conda-forge's dxchange; PyPI's 'dxchange' is an empty placeholder)"
        )
    base = _group(exchange_rank)
    _require_projections(p, base)
    try:
        if dx is not None:
            tomo, flat, dark, theta, notes = _read_dxchange(dx, p, ps, ss, exchange_rank, reader)
            used = "dxchange"
        else:
            tomo, flat, dark, theta, notes = _read_h5py(p, ps, ss, exchange_rank)
            used = "h5py"
    except DataFileError:
        raise
    except Exception as exc:  # h5py / dxchange errors on malformed content
        raise DataFileError(f"cannot read {p}: {type(exc).__name__}: {' '.join(str(exc).split())}") from None
    if tomo is None:
        raise _describe_missing(p, f"{base}/{_DATA}", "projections")
    if ps != slice(None) and theta is not None and np.size(theta) != tomo.shape[0]:
        # dxchange reads every angle whatever ``proj`` selects: select the same ones.
        sel = np.asarray(theta)[ps]
        if sel.size == tomo.shape[0]:
            theta = sel
    for note in notes:
        log.warning("%s: %s", p.name, note)
    out = ExchangeData(tomo, flat, dark, np.asarray(theta, dtype=np.float64), p, used,
                       (ss.start or 0, ss.stop, ss.step or 1), notes)
    _validate(out, base)
    log.info("read %s with %s: projections %s, flats %s, darks %s, %d angles", p.name, used,
             tomo.shape, None if flat is None else flat.shape, None if dark is None else dark.shape,
             out.theta.size)
    return out


def _require_projections(path: Path, base: str) -> None:
    """Fail early (and the same way for both readers) when the projections are absent."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            obj = f.get(f"{base}/{_DATA}")
            ok = isinstance(obj, h5py.Dataset)
    except OSError as exc:
        raise DataFileError(f"cannot read {path}: {' '.join(str(exc).split())}") from None
    if not ok:
        raise _describe_missing(path, f"{base}/{_DATA}", "projections")


def _validate(d: ExchangeData, base: str) -> None:
    p = d.path
    if d.proj.ndim != 3:
        raise DataFileError(
            f"{p}: '{base}/{_DATA}' must be 3-D (projections, rows, columns), got shape {d.proj.shape}"
        )
    if min(d.proj.shape) == 0:
        raise DataFileError(
            f"{p}: no data selected from '{base}/{_DATA}' of shape {d.proj.shape}; check the "
            "projection and row ranges"
        )
    if d.proj.dtype.kind not in "fiu":
        raise DataFileError(f"{p}: '{base}/{_DATA}' is not numeric (dtype {d.proj.dtype})")
    for arr, name in ((d.flat, _WHITE), (d.dark, _DARK)):
        if arr is None:
            continue
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3 or arr.shape[1:] != d.proj.shape[1:]:
            raise DataFileError(
                f"{p}: '{base}/{name}' has shape {np.shape(arr)}, which does not match the "
                f"projections' rows x columns {d.proj.shape[1:]}"
            )
    if d.flat is not None and d.flat.ndim == 2:
        d.flat = d.flat[None]
    if d.dark is not None and d.dark.ndim == 2:
        d.dark = d.dark[None]
    if d.theta.ndim != 1 or d.theta.size != d.proj.shape[0]:
        # a projection subset of a full angle list: dxchange does not slice theta
        raise DataFileError(
            f"{p}: '{base}/{_THETA}' has {d.theta.size} angles but {d.proj.shape[0]} projections were read"
        )
    if not np.all(np.isfinite(d.theta)):
        raise DataFileError(f"{p}: '{base}/{_THETA}' contains non-finite angles")


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


# ---------------------------------------------------------------------------- writers
def write_tiff_stack(path: str | os.PathLike, images: np.ndarray,
                     metadata: Mapping[str, Any] | None = None, overwrite: bool = True) -> Path:
    """Write images as one multi-page 32-bit float TIFF (one page per slice).

    Parameters
    ----------
    path : str or path-like
        Output file (``.tiff``); parent directories are created.
    images : numpy.ndarray
        ``(nslices, rows, columns)`` or one 2-D image.
    metadata : mapping, optional
        JSON-serialisable values stored in the TIFF's ImageDescription.
    overwrite : bool
        Replace an existing file (otherwise raise :class:`FileExistsError`).

    Returns
    -------
    pathlib.Path
        The file written.
    """
    import tifffile

    p = Path(path).expanduser()
    if p.exists() and not overwrite:
        raise FileExistsError(f"{p} exists (use overwrite=True)")
    arr = np.asarray(images, dtype=np.float32)
    if arr.ndim not in (2, 3):
        raise ValueError(f"images must be 2-D or 3-D, got shape {arr.shape}")
    p.parent.mkdir(parents=True, exist_ok=True)
    meta = {k: _jsonable(v) for k, v in (metadata or {}).items()}
    tifffile.imwrite(p, arr, photometric="minisblack", metadata=meta or None)
    return p


def read_tiff_stack(path: str | os.PathLike) -> np.ndarray:
    """Read a TIFF stack written by :func:`write_tiff_stack` (``(nslices, rows, columns)``)."""
    import tifffile

    arr = tifffile.imread(Path(path).expanduser())
    return arr[None] if arr.ndim == 2 else arr


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return str(v)


_HISTORY_TERMS = ("loss", "data", "tv", "ae", "seconds")


def write_history_csv(path: str | os.PathLike, history: Mapping[str, np.ndarray],
                      slices: Sequence[int] | None = None) -> Path:
    """Write a per-iteration history as CSV, one row per iteration and slice.

    Parameters
    ----------
    path : str or path-like
        Output file.
    history : mapping of str to numpy.ndarray
        ``Reconstruction.history``: arrays ``(n_iter, nslices)`` (or ``(n_iter,)``).
    slices : sequence of int, optional
        Slice numbers written in the ``slice`` column (default ``0..nslices-1``), e.g. the
        detector rows that were reconstructed.

    Returns
    -------
    pathlib.Path
        The file; columns ``iteration, slice`` and then the history's terms (``loss, data,
        tv, ae, seconds`` first).
    """
    p = Path(path).expanduser()
    p.parent.mkdir(parents=True, exist_ok=True)
    keys = [k for k in _HISTORY_TERMS if k in history] + sorted(k for k in history if k not in _HISTORY_TERMS)
    cols = {k: np.asarray(history[k], dtype=np.float64) for k in keys}
    cols = {k: (v[:, None] if v.ndim == 1 else v) for k, v in cols.items()}
    n_iter, nsl = next(iter(cols.values())).shape if cols else (0, 0)
    labels = list(slices) if slices is not None else list(range(nsl))
    if len(labels) != nsl:
        raise ValueError(f"slices has {len(labels)} entries but the history has {nsl} slices")
    with open(p, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["iteration", "slice", *keys])
        for b in range(nsl):
            for k in range(n_iter):
                w.writerow([k, labels[b], *(_fmt(cols[key][k, b]) for key in keys)])
    return p


def _fmt(v: float) -> str:
    return "nan" if not np.isfinite(v) else f"{v:.9g}"


def read_history_csv(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a CSV written by :func:`write_history_csv` back into ``(n_iter, nslices)`` arrays.

    Returns
    -------
    dict
        The terms, plus ``"slice"``: the slice labels in column order.
    """
    with open(Path(path).expanduser(), newline="") as f:
        rows = list(csv.reader(f))
    if not rows or rows[0][:2] != ["iteration", "slice"]:
        raise DataFileError(f"{path} is not a history CSV written by tomopy-dip")
    keys = rows[0][2:]
    body = rows[1:]
    labels = list(dict.fromkeys(int(r[1]) for r in body))
    n_iter = max((int(r[0]) for r in body), default=-1) + 1
    out = {k: np.full((n_iter, len(labels)), np.nan) for k in keys}
    col = {s: i for i, s in enumerate(labels)}
    for r in body:
        it, b = int(r[0]), col[int(r[1])]
        for k, v in zip(keys, r[2:]):
            out[k][it, b] = float(v)
    out["slice"] = np.asarray(labels)
    return out
