"""A scan's rows as sinograms: what :func:`~tomopy_dip.volume.reconstruct_file` and
each of its tasks read.

:class:`ScanSource` names a Data Exchange file and how its rows become sinograms (projections,
reader, flat/dark normalisation, ``-log``, binning). :meth:`ScanSource.read` reads a contiguous
group of rows and returns their sinograms, so a task reads only its own rows: a scan never has to
fit in memory, and a worker on another machine reads the file itself. :meth:`ScanSource.centre`
finds or takes the rotation centre once, on one row, before any task starts.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from tomopy_dip.data import preprocess as pp
from tomopy_dip.data.exchange import DARK, DATA, WHITE, DataFileError, as_slice, group, read_data_exchange
from tomopy_dip.physics.geometry import check_center
from tomopy_dip.volume.settings import SettingError

__all__ = ["ScanSource", "ScanRows", "DEAD_FLAT_SHARE", "rows_text", "resolve_rows", "tasks_of"]

log = logging.getLogger(__name__)


def rows_text(rows: Sequence[int]) -> str:
    """Detector rows in words.

    Examples
    --------
    >>> rows_text([3]), rows_text([0, 1, 2]), rows_text([0, 2, 4]), rows_text([0, 1, 5])
    ('row 3', 'rows 0-2', 'rows 0-4 (step 2)', 'rows 0, 1, 5')
    """
    rows = list(rows)
    if len(rows) == 1:
        return f"row {rows[0]}"
    steps = set(np.diff(rows).tolist())
    if len(steps) != 1:
        shown = ", ".join(map(str, rows[:8])) + (", ..." if len(rows) > 8 else "")
        return f"rows {shown}"
    step = steps.pop()
    return f"rows {rows[0]}-{rows[-1]}" + (f" (step {step})" if step != 1 else "")


#: Largest share of detector pixels whose flat field may be no brighter than the dark field.
DEAD_FLAT_SHARE = 0.01


@dataclass
class ScanRows:
    """Sinograms of a group of rows, ready for :func:`tomopy_dip.reconstruct`.

    Attributes
    ----------
    rows : list of int
        The rows, as numbered in the file.
    sinograms : numpy.ndarray
        ``(len(rows), nproj, ndet)`` float32 after the source's pre-processing and binning.
    projections : numpy.ndarray
        The same rows normalised, in projection order ``(nproj, len(rows), ndet)`` and before
        binning (what the centre finders take).
    theta : numpy.ndarray
        Angles in radians.
    steps : list of str
        The pre-processing steps taken, in words.
    backend : str
        The reader that read the file.
    notes : list of str
        What the reader assumed (e.g. the unit of ``exchange/theta`` when it guessed radians).
    theta_note : str
        How ``exchange/theta`` was read (its unit, and why).
    """

    rows: list[int]
    sinograms: np.ndarray
    projections: np.ndarray
    theta: np.ndarray
    steps: list[str] = field(default_factory=list)
    backend: str = ""
    notes: list[str] = field(default_factory=list)
    theta_note: str = ""


@dataclass(frozen=True)
class ScanSource:
    """A Data Exchange file and how its rows become sinograms.

    Every field is a plain value, so a source travels to a worker process or machine.

    Attributes
    ----------
    path : str
        The HDF5 file.
    proj : tuple or None
        Projections to use, ``(start, stop[, step])``; None for all.
    exchange_rank : int
        Read group ``exchange{K}`` instead of ``exchange``.
    reader : {"auto", "dxchange", "h5py"}
        The file reader (:func:`~tomopy_dip.data.exchange.read_data_exchange`).
    normalize, minus_log : bool
        Normalise with the flats and darks, and take ``-log``.
    downsample : int
        Detector pixels binned into one.
    """

    path: str
    proj: tuple | None = None
    exchange_rank: int = 0
    reader: str = "auto"
    normalize: bool = True
    minus_log: bool = True
    downsample: int = 1

    def settings(self) -> dict[str, Any]:
        """The fields as JSON values, with the file's size and modification time (what a
        resumed run compares)."""
        st = os.stat(self.path)
        return {**asdict(self), "proj": None if self.proj is None else list(self.proj),
                "file_bytes": st.st_size, "file_mtime_ns": st.st_mtime_ns}

    def shape(self) -> tuple[int, int, int]:
        """``(nproj, nrows, ndet)`` of the file's projections (all of them), without reading them."""
        import h5py

        base = group(self.exchange_rank)
        try:
            with h5py.File(self.path, "r") as f:
                shapes = {n: tuple(f[f"{base}/{n}"].shape) for n in (DATA, WHITE, DARK) if f"{base}/{n}" in f}
        except Exception:  # let the reader say precisely what is wrong with the file
            read_data_exchange(self.path, proj=(0, 1), sino=(0, 1), exchange_rank=self.exchange_rank,
                               backend="h5py")
            raise DataFileError(f"cannot read {self.path}: '{base}/{DATA}' is not readable") from None
        shape = shapes.get(DATA)
        if shape is None or len(shape) != 3:
            read_data_exchange(self.path, proj=(0, 1), sino=(0, 1), exchange_rank=self.exchange_rank,
                               backend="h5py")  # the reader's message for a missing or odd dataset
            raise DataFileError(f"{self.path}: '{base}/{DATA}' must be 3-D (projections, rows, columns), "
                                f"got shape {shape}")
        for n in (WHITE, DARK):
            if n in shapes and tuple(shapes[n][-2:]) != tuple(shape[1:]):
                raise DataFileError(f"{self.path}: '{base}/{n}' has rows x columns {shapes[n][-2:]}, but the "
                                    f"projections' rows x columns are {shape[1:]}")
        return shape  # type: ignore[return-value]

    def read(self, rows: Sequence[int]) -> ScanRows:
        """Read and pre-process ``rows`` (evenly spaced, ascending)."""
        rows = [int(r) for r in rows]
        step = rows[1] - rows[0] if len(rows) > 1 else 1
        data = read_data_exchange(self.path, proj=self.proj, sino=(rows[0], rows[-1] + 1, step),
                                  exchange_rank=self.exchange_rank, backend=self.reader)
        if data.proj.shape[1] != len(rows):
            raise DataFileError(f"{self.path}: expected {len(rows)} rows from {rows_text(rows)}, "
                                f"read {data.proj.shape[1]}")
        arr, steps = self._normalized(data)
        sino = pp.to_sinograms(arr)
        if self.downsample > 1:
            sino = pp.bin_detector(sino, self.downsample)
            steps.append(f"binned x{self.downsample}")
        return ScanRows(rows, np.ascontiguousarray(sino, dtype=np.float32), arr, data.theta, steps,
                        data.backend, list(data.notes), data.theta_note)

    def centre(self, scan: ScanRows, center: Any, method: str, row: int | None) -> tuple[float, float, str]:
        """The centre in the file's detector pixels, after binning, and how it was obtained.

        ``scan`` holds the rows the centre is found on (``row``: an index into them).
        """
        ndet = scan.projections.shape[2]
        if isinstance(center, str) and center == "auto":
            c = pp.find_center(scan.projections, scan.theta, ind=row, method=method)
            how = (f"auto, {'Vo' if method == 'vo' else 'entropy'} method"
                   + (" (TomoPy)" if pp.tomopy_available() else ""))
        else:
            c, how = float(center), "given"
        try:
            check_center(c, ndet)
        except ValueError:
            raise ValueError(f"the centre {c:g} is not on the detector (0..{ndet - 1})") from None
        used = float(pp.binned_center(c, self.downsample)) if self.downsample > 1 else float(c)
        return float(c), used, how

    # ------------------------------------------------------------------ pre-processing
    def _normalized(self, data: Any) -> tuple[np.ndarray, list[str]]:
        """Flat/dark normalisation, -log and non-finite values set to 0; with the steps taken."""
        steps: list[str] = []
        arr: np.ndarray = data.proj
        if self.normalize:
            missing = [n for n, a in (("flat fields (exchange/data_white)", data.flat),
                                      ("dark fields (exchange/data_dark)", data.dark)) if a is None]
            if missing:
                raise SettingError("normalize", f"{self.path} has no {' and no '.join(missing)}; use "
                                   "{normalize} if the data are already normalised", normalize="normalize=False")
            self._check_flats(data)
            arr = pp.normalize(arr, data.flat, data.dark)
            steps.append("normalised")
        if self.minus_log:
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

    def _check_flats(self, data: Any) -> None:
        """Refuse flat fields that are empty (zeros), or no brighter than the darks: the
        normalised data would be meaningless."""
        shape = data.proj.shape[1:]
        flat = np.mean(np.asarray(data.flat, dtype=np.float32).reshape(-1, *shape), axis=0)
        dark = np.mean(np.asarray(data.dark, dtype=np.float32).reshape(-1, *shape), axis=0)
        dead = float(np.mean(flat <= dark))
        if dead > DEAD_FLAT_SHARE:
            raise DataFileError(
                f"{self.path}: the flat fields (exchange/data_white) are not brighter than the dark "
                f"fields (exchange/data_dark) in {100 * dead:.0f} % of the detector pixels (mean flat "
                f"{flat.mean():g}, mean dark {dark.mean():g}): they are empty or swapped; check the "
                "file, or pass normalize=False (--no-normalize) if the data are already normalised")


def resolve_rows(slices: Any, nrows: int, path: str | os.PathLike = "the file") -> list[int]:
    """The rows a ``(start, stop[, step])`` selection (or None, an int, a slice) picks from ``nrows``.

    Examples
    --------
    >>> resolve_rows((0, 3, 2), 10), resolve_rows(None, 3), resolve_rows((8, 20), 10)
    ([0, 2], [0, 1, 2], [8, 9])
    """
    rows = list(range(*as_slice(slices, "slices").indices(nrows)))
    if not rows:
        raise DataFileError(f"{path}: the selection slices={slices!r} picks no row of its {nrows} row(s)")
    return rows


def tasks_of(rows: Sequence[int], rows_per_task: int) -> list[list[int]]:
    """Split the selected rows into tasks of ``rows_per_task`` consecutive selected rows.

    Task boundaries depend only on the selection and ``rows_per_task``, never on the number of
    workers.

    Examples
    --------
    >>> tasks_of([0, 1, 2, 3, 4], 2)
    [[0, 1], [2, 3], [4]]
    """
    rows = list(rows)
    return [rows[i: i + rows_per_task] for i in range(0, len(rows), rows_per_task)]

