"""dxchange's Data Exchange reader written with h5py: what :mod:`tomopy_dip.data.exchange` uses
when the real dxchange is not importable.

It reads the same datasets with the same fallbacks as ``dxchange.read_aps_32id``: flat and dark
values and rotation parameters from ``/process/acquisition/...``, and evenly spaced angles over
180° when the file has none.

Unlike ``h5py.Group.get`` (and dxchange, which catches ``KeyError``), a dataset whose link exists
but whose object cannot be opened is never taken for an absent one: that is a damaged file, and
:class:`ReadFailure` says which object failed. :func:`probe` looks at a file's datasets before
either reader reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["as_slice", "DATA", "WHITE", "DARK", "THETA", "Probe", "ReadFailure", "dtype_text", "group", "probe",
           "read_h5py"]

#: Dataset names inside a Data Exchange group.
DATA, WHITE, DARK, THETA = "data", "data_white", "data_dark", "theta"
FLAT_VALUE = "/process/acquisition/flat_fields/flat_field_value"
DARK_VALUE = "/process/acquisition/dark_fields/dark_field_value"
ROTATION = "/process/acquisition/rotation/"


class ReadFailure(Exception):
    """h5py failed on an object of the file: ``what`` failed with the error ``cause``.

    Raised for damaged or truncated files (h5py's ``OSError``, ``RuntimeError`` and ``KeyError``
    of objects that are linked but cannot be opened or read); the caller names the file.
    """

    def __init__(self, what: str, cause: BaseException) -> None:
        self.what = what
        self.cause = cause
        text = " ".join(str(cause).split()).strip("'\"")
        super().__init__(f"{what} failed ({type(cause).__name__}: {text})")


def group(exchange_rank: int) -> str:
    """The HDF5 group of ``exchange_rank``: ``exchange`` (0) or ``exchange{k}``."""
    return "exchange" if not exchange_rank else f"exchange{int(exchange_rank)}"


def as_slice(s: Any, name: str) -> slice:
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


def dtype_text(dtype: np.dtype) -> str:
    """A dataset's dtype in words: ``float32``, ``string (utf-8, variable length)``, ..."""
    import h5py

    info = h5py.check_string_dtype(dtype)
    if info is not None:
        length = "variable length" if info.length is None else f"length {info.length}"
        return f"string ({info.encoding}, {length})"
    if dtype.kind == "O":
        return "object (variable length)"
    return str(dtype)


def _open(f: Any, name: str) -> Any:
    """The dataset ``name`` of ``f``, or None when there is no such dataset.

    A link that exists but cannot be opened raises :class:`ReadFailure`.
    """
    import h5py

    try:
        if name not in f:
            return None
        obj = f[name]
    except Exception as exc:  # KeyError / RuntimeError / OSError of a damaged object or group
        raise ReadFailure(f"opening '{name.lstrip('/')}'", exc) from None
    return obj if isinstance(obj, h5py.Dataset) else None


def _read(obj: Any, slc: tuple | None) -> np.ndarray:
    try:
        if slc is None:
            return obj[()]
        nd = obj.ndim
        slc = tuple(slc[:nd]) + (slice(None),) * max(0, nd - len(slc))
        return obj[slc]
    except Exception as exc:  # OSError "Can't synchronously read data" of damaged chunks
        raise ReadFailure(f"reading '{obj.name.lstrip('/')}'", exc) from None


def _h5_read(f: Any, name: str, slc: tuple | None) -> np.ndarray | None:
    obj = _open(f, name)
    return None if obj is None else _read(obj, slc)


@dataclass
class Probe:
    """What :func:`probe` found in a file, before the data are read.

    Attributes
    ----------
    data_shape : tuple of int or None
        Shape of the projections dataset; None when the file has none.
    data_dtype : numpy.dtype or None
        Its dtype.
    theta : numpy.ndarray or None
        The angles dataset as stored (all of them, not converted); None when absent.
    theta_units : Any
        The angles dataset's ``units`` attribute (None when it has none).
    theta_dtype : numpy.dtype or None
        The angles dataset's dtype.
    """

    data_shape: tuple | None = None
    data_dtype: np.dtype | None = None
    theta: np.ndarray | None = None
    theta_units: Any = None
    theta_dtype: np.dtype | None = None


def probe(path: Path, base: str) -> Probe:
    """Open ``base``'s datasets of ``path`` (headers only; the angles are read).

    Raises
    ------
    ReadFailure
        The file or one of the datasets cannot be opened, or the angles cannot be read.
    """
    import h5py

    out = Probe()
    try:
        f = h5py.File(path, "r")
    except Exception as exc:
        raise ReadFailure("opening the file", exc) from None
    with f:
        data = _open(f, f"{base}/{DATA}")
        if data is not None:
            out.data_shape, out.data_dtype = tuple(data.shape), data.dtype
        for name in (WHITE, DARK):  # a damaged flat or dark must not read as "no flats"
            _open(f, f"{base}/{name}")
        theta = _open(f, f"{base}/{THETA}")
        if theta is not None:
            out.theta_dtype = theta.dtype
            try:
                out.theta_units = theta.attrs.get("units")
            except Exception as exc:
                raise ReadFailure(f"reading the attributes of '{base}/{THETA}'", exc) from None
            if theta.dtype.kind in "fiu":
                out.theta = np.asarray(_read(theta, None))
    return out


def read_h5py(path: Path, proj: slice, sino: slice, exchange_rank: int) -> tuple:
    """The format of ``dxchange.read_aps_32id`` with h5py, dxchange's fallbacks included.

    Raises
    ------
    ReadFailure
        An object of the file cannot be opened or read (damaged or truncated file).
    """
    import h5py

    base = group(exchange_rank)
    notes = []
    try:
        f = h5py.File(path, "r")
    except Exception as exc:
        raise ReadFailure("opening the file", exc) from None
    with f:
        tomo = _h5_read(f, f"{base}/{DATA}", (proj, sino))
        flat = _h5_read(f, f"{base}/{WHITE}", (slice(None), sino))
        dark = _h5_read(f, f"{base}/{DARK}", (slice(None), sino))
        theta = _h5_read(f, f"{base}/{THETA}", None)
        if tomo is None:
            return None, flat, dark, theta, notes
        if flat is None or (flat.ndim and flat.shape[0] == 1 and flat.max() == 0):
            v = _h5_read(f, FLAT_VALUE, None)
            if v is not None:
                flat = tomo[0] * 0 + np.ravel(v)[0]
                notes.append(f"flat fields from {FLAT_VALUE}")
        if dark is None or (dark.ndim and dark.shape[0] == 1 and dark.max() == 0):
            v = _h5_read(f, DARK_VALUE, None)
            if v is not None:
                dark = tomo[0] * 0 + np.ravel(v)[0]
                notes.append(f"dark fields from {DARK_VALUE}")
        if theta is None:
            vals = [_h5_read(f, ROTATION + k, None) for k in ("rotation_start", "rotation_step", "num_angles")]
            if all(v is not None for v in vals):
                start, step, num = (np.ravel(v)[0] for v in vals)
                theta = start + step * np.arange(int(num))
                notes.append(f"angles from {ROTATION}rotation_*")
            else:
                theta = np.linspace(0.0, 180, tomo.shape[0])
                notes.append(f"no '{base}/{THETA}': {tomo.shape[0]} angles generated over [0, 180] degrees")
    return tomo, flat, dark, np.deg2rad(theta), notes
