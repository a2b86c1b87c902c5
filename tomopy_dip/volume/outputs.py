"""The output directory of a scan: one file per finished slice, and what a resumed run compares.

Layout of ``DIR`` (dxchange's ``write_tiff_stack`` naming, ``NNNNN`` = the row in the file)::

    DIR/recon_NNNNN.tiff            one float32 slice; its TIFF description holds the slice's
                                    record: the run's settings, iterations, why it stopped
    DIR/history/history_NNNNN.csv   the slice's per-iteration history
    DIR/uncertainty_NNNNN.tiff      with ``uncertainty``: one standard deviation per pixel, float32,
                                    in the slice's units (written before the slice)
    DIR/summary.json                the run: settings, plan, per-row status; updated as slices finish
    DIR/recon.png, convergence.png  previews, written at the end

Every file is written under a temporary name and renamed (:func:`tomopy_dip.utils.atomic_write`):
it is complete or absent, and a symbolic link at an output name is replaced, never written
through. A slice file exists only for a slice whose fit finished: an interrupted slice is
recorded in ``summary.json`` and fitted again by a resumed run.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from tomopy_dip.data.files import read_history_csv, write_history_csv, write_tiff_stack
from tomopy_dip.volume.scan import SettingError
from tomopy_dip.utils import atomic_write, jsonable

__all__ = ["ResultDirectory", "slice_name", "uncertainty_name", "settings_differences"]

log = logging.getLogger(__name__)

SUMMARY = "summary.json"
HISTORY_DIR = "history"
_SLICE = re.compile(r"^recon_(\d{5,})\.tiff$")


def slice_name(row: int) -> str:
    """The file of row ``row``: ``recon_00042.tiff`` (dxchange's ``write_tiff_stack`` naming)."""
    return f"recon_{int(row):05d}.tiff"


def uncertainty_name(row: int) -> str:
    """The uncertainty map of row ``row``: ``uncertainty_00042.tiff``."""
    return f"uncertainty_{int(row):05d}.tiff"


def settings_differences(recorded: Mapping[str, Any], now: Mapping[str, Any], prefix: str = "") -> list[str]:
    """What differs between two settings records, in words (nested keys dotted).

    Examples
    --------
    >>> settings_differences({"algorithm": "dip", "keywords": {"lr": 0.001}},
    ...                      {"algorithm": "dip", "keywords": {"lr": 0.003}})
    ['keywords.lr: 0.001 then, 0.003 now']
    """
    out = []
    for key in sorted(set(recorded) | set(now)):
        a, b = recorded.get(key, "(absent)"), now.get(key, "(absent)")
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += settings_differences(a, b, f"{prefix}{key}.")
        elif jsonable(a) != jsonable(b):
            out.append(f"{prefix}{key}: {a!r} then, {b!r} now".replace("'", ""))
    return out


def _estimator(value: Any) -> str:
    """The estimator's name of an ``uncertainty`` keyword (``True``: the default one)."""
    from tomopy_dip.fitting.uncertainty import DEFAULT_ESTIMATOR

    return value if isinstance(value, str) else DEFAULT_ESTIMATOR


class ResultDirectory:
    """The output directory of a scan (see the module docstring for its layout).

    Parameters
    ----------
    path : path-like
        The directory; created when absent.
    settings : mapping
        The run's settings (JSON values): recorded with every slice, compared on resume.
    """

    def __init__(self, path: str | os.PathLike, settings: Mapping[str, Any]) -> None:
        self.path = Path(path).expanduser()
        self.settings = jsonable(dict(settings))
        #: Whether each slice has an uncertainty map beside it (the run's ``uncertainty`` keyword).
        self.uncertainty = bool(self.settings.get("keywords", {}).get("uncertainty"))

    # ------------------------------------------------------------------ before any work
    def prepare(self, overwrite: bool = False, resume: bool = False) -> None:
        """Check that the directory can be created or written, before the file is read (it is
        created by :meth:`create`, when the work starts).

        Raises
        ------
        SettingError
            ``out`` is a file or cannot be written; or it holds results of an earlier run and
            neither ``resume`` nor ``overwrite`` is set (the message names a file).
        """
        p = self.path
        if p.exists() and not p.is_dir():
            raise SettingError("out", f"the output directory {p} is a file, not a directory")
        parent = p
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir():
            raise SettingError("out", f"cannot create the output directory {p}: {parent} is a file")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise SettingError("out", f"cannot write into the output directory {p}: permission denied "
                               f"({parent}); choose another one")
        earlier = self.earlier_results()
        if earlier and not (overwrite or resume):
            raise SettingError(
                "overwrite", f"{p} holds results of an earlier run ({earlier[0].name}"
                + (f" and {len(earlier) - 1} more" if len(earlier) > 1 else "")
                + "): use {resume} to continue that run, {overwrite} to replace its files, or another "
                "directory", resume="resume=True", overwrite="overwrite=True")

    def create(self) -> None:
        """Create the directory (and its parents)."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.path, prefix=".tomopy-dip-check-"):
                pass
        except OSError as exc:
            raise SettingError("out", f"cannot write into the output directory {self.path}: "
                               f"{(exc.strerror or str(exc)).lower()}; choose another one") from None

    def earlier_results(self) -> list[Path]:
        """Result files already in the directory (slices, the summary, a stack of an old version)."""
        if not self.path.is_dir():
            return []
        found = sorted(f for f in self.path.iterdir() if _SLICE.match(f.name))
        found += [self.path / n for n in (SUMMARY, "recon.tiff") if (self.path / n).exists()]
        return found

    # ------------------------------------------------------------------ resume
    def finished(self, rows: Iterable[int]) -> dict[int, dict]:
        """Records of the rows among ``rows`` whose slice file is complete and was made with the
        same settings.

        Raises
        ------
        SettingError
            A slice file was made with other settings (the message says what differs).
        """
        done: dict[int, dict] = {}
        for row in rows:
            f = self.path / slice_name(row)
            if not f.is_file():
                continue
            if self.uncertainty and not self.uncertainty_path(row).is_file():
                log.warning("%s has no uncertainty map beside it: it will be fitted again", f.name)
                continue
            record = self.read_record(f)
            if record is None:
                log.warning("%s is not a slice written by tomopy-dip: it will be fitted again", f.name)
                continue
            diff = settings_differences(record.get("settings", {}), self.settings)
            if diff:
                shown = "; ".join(diff[:6]) + ("; ..." if len(diff) > 6 else "")
                raise SettingError(
                    "resume", f"cannot resume in {self.path}: {f.name} was made with other settings "
                    f"({shown}); use the same settings, another directory, or {{overwrite}} to replace "
                    "its files", overwrite="overwrite=True")
            done[row] = record
        return done

    @staticmethod
    def read_record(path: str | os.PathLike) -> dict | None:
        """The record stored in a slice file, or None when the file holds none (or is unreadable)."""
        import tifffile

        try:
            with tifffile.TiffFile(path) as t:
                meta = t.shaped_metadata
        except Exception:  # noqa: BLE001 - any unreadable file is "not ours"
            return None
        record = (meta or [{}])[0].get("tomopy_dip") if meta else None
        return record if isinstance(record, dict) else None

    # ------------------------------------------------------------------ slices
    def slice_path(self, row: int) -> Path:
        return self.path / slice_name(row)

    def uncertainty_path(self, row: int) -> Path:
        return self.path / uncertainty_name(row)

    def history_path(self, row: int) -> Path:
        return self.path / HISTORY_DIR / f"history_{int(row):05d}.csv"

    def write_slice(self, row: int, image: np.ndarray, record: Mapping[str, Any],
                    history: Mapping[str, np.ndarray], uncertainty: np.ndarray | None = None) -> Path:
        """Write a finished slice, its history and its uncertainty map (each atomically); those
        first, so a slice file always has them beside it."""
        if self.uncertainty:  # checked before anything of the row is written
            sigma = np.asarray(uncertainty, np.float32)
            if sigma.shape != np.shape(image) or not np.all(np.isfinite(sigma)) or (sigma < 0).any():
                raise ValueError(f"row {row}: the uncertainty map must be finite, non-negative and of the slice's "
                                 f"shape {np.shape(image)}")
        hist = {k: np.asarray(v).reshape(-1, 1) for k, v in history.items()}
        write_history_csv(self.history_path(row), hist, slices=[row])
        meta = {"tomopy_dip": {**jsonable(dict(record)), "settings": self.settings}}
        if self.uncertainty:
            write_tiff_stack(self.uncertainty_path(row), sigma, metadata={"tomopy_dip": {
                "row": int(row), "units": "one standard deviation per pixel, in the slice's units",
                "estimator": _estimator(self.settings["keywords"]["uncertainty"])}})
        return write_tiff_stack(self.slice_path(row), np.asarray(image, np.float32), metadata=meta)

    def read_slice(self, row: int) -> np.ndarray:
        import tifffile

        return np.asarray(tifffile.imread(self.slice_path(row)), dtype=np.float32)

    def read_uncertainty(self, row: int) -> np.ndarray:
        import tifffile

        return np.asarray(tifffile.imread(self.uncertainty_path(row)), dtype=np.float32)

    def read_history(self, row: int) -> dict[str, np.ndarray]:
        h = read_history_csv(self.history_path(row))
        h.pop("slice", None)
        return {k: v[:, 0] for k, v in h.items()}

    # ------------------------------------------------------------------ the summary
    def write_summary(self, summary: Mapping[str, Any]) -> Path:
        text = json.dumps(jsonable(dict(summary)), indent=2) + "\n"
        return atomic_write(self.path / SUMMARY, lambda tmp: tmp.write_text(text))
