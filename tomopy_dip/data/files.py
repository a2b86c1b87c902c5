"""Files the package writes: TIFF stacks of images and CSV iteration histories.

:func:`write_tiff_stack` writes 32-bit float TIFF stacks with :mod:`tifffile` (dxchange's
writer calls a function that current tifffile no longer has); :func:`write_history_csv`
writes the per-iteration history of :class:`tomopy_dip.Reconstruction`. Both write atomically
(:func:`tomopy_dip.utils.atomic_write`): a file is complete or absent. :func:`read_tiff_stack`
and :func:`read_history_csv` read them back. Figures are in :mod:`tomopy_dip.interfaces.plotting`;
Data Exchange input is read by :mod:`tomopy_dip.data.exchange`.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from tomopy_dip.data.exchange import DataFileError
from tomopy_dip.data.history import history_columns
from tomopy_dip.utils import atomic_write, jsonable

__all__ = ["write_tiff_stack", "read_tiff_stack", "write_history_csv", "read_history_csv"]


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
    meta = {k: jsonable(v) for k, v in (metadata or {}).items()}
    # tifffile picks OME-TIFF from the file name, which the temporary file does not carry.
    stem, ext = os.path.splitext(p.name.lower())
    ome = bool(ext) and stem.endswith(".ome")
    atomic_write(p, lambda tmp: tifffile.imwrite(tmp, arr, photometric="minisblack",
                                                 metadata=meta or None, ome=ome))
    return p


def read_tiff_stack(path: str | os.PathLike) -> np.ndarray:
    """Read a TIFF stack written by :func:`write_tiff_stack` (``(nslices, rows, columns)``)."""
    import tifffile

    arr = tifffile.imread(Path(path).expanduser())
    return arr[None] if arr.ndim == 2 else arr


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
        The file; columns ``iteration, slice`` and then the history's terms: those a fit records
        first, in its order (``loss, data, tv, ae, seconds``,
        :func:`~tomopy_dip.data.history.history_columns`), then any others sorted by name.
    """
    p = Path(path).expanduser()
    p.parent.mkdir(parents=True, exist_ok=True)
    known = history_columns()
    keys = [k for k in known if k in history] + sorted(k for k in history if k not in known)
    cols = {k: np.asarray(history[k], dtype=np.float64) for k in keys}
    cols = {k: (v[:, None] if v.ndim == 1 else v) for k, v in cols.items()}
    n_iter, nsl = next(iter(cols.values())).shape if cols else (0, 0)
    labels = list(slices) if slices is not None else list(range(nsl))
    if len(labels) != nsl:
        raise ValueError(f"slices has {len(labels)} entries but the history has {nsl} slices")

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["iteration", "slice", *keys])
            for b in range(nsl):
                for k in range(n_iter):
                    w.writerow([k, labels[b], *(_fmt(cols[key][k, b]) for key in keys)])

    return atomic_write(p, write)


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
