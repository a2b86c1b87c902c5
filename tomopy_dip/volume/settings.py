"""The settings of a volume run: one schema, checked once, before the file is read.

:data:`FILE_KEYWORDS` declares every setting of :func:`~tomopy_dip.volume.reconstruct_file`
besides the method's own keywords (those are :data:`tomopy_dip.options.KEYWORDS`): its default,
its check and its one-line help, as :class:`~tomopy_dip.options.Keyword` records like the
methods' keywords. :func:`parse_file_settings` checks a call's settings against it and returns a
:class:`FileSettings` record; the signature of ``reconstruct_file`` and the command line's
defaults are checked against (or taken from) the same records.

:class:`ScanPretrain` (how a volume pretrains EDIP on its own rows) and :class:`SettingError`
(a setting that the data or the output directory do not allow, raised after the file is read)
live here too, as the values and the error of these settings.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import asdict, dataclass, field, make_dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from tomopy_dip.options import (GEOMETRY_KEYWORDS, Keyword, bool_check, callable_check, choice_check, int_check,
                                optional_check)

__all__ = ["FILE_KEYWORDS", "FileSettings", "parse_file_settings", "ScanPretrain", "SettingError",
           "ROWS_PER_TASK", "SEED_KEYWORDS", "CENTER_METHODS", "READERS", "local_workers", "center_text",
           "recorded_keywords"]

#: Rows per task: the unit a worker reads, fits and writes.
ROWS_PER_TASK = 4
#: The keywords the seed rows' fits of ``scan_pretrain`` take from the call: those describing the
#: data, the grid and the machine. The others (iterations, learning rate, stopping, ...) tune
#: EDIP's fine-tuning.
SEED_KEYWORDS = (*GEOMETRY_KEYWORDS, "device", "precision", "backend", "memory_limit", "filter_name", "seed")
#: The centre finders of ``center="auto"``.
CENTER_METHODS = ("vo", "entropy")
#: The file readers (:func:`tomopy_dip.data.exchange.read_data_exchange`).
READERS = ("auto", "dxchange", "h5py")


class SettingError(ValueError):
    """A setting of :func:`~tomopy_dip.volume.reconstruct_file` that the data or the output
    directory do not allow.

    The message names the arguments as the library spells them (``normalize=False``); an
    interface that spells them differently (the command line's ``--no-normalize``) words it again
    with :meth:`worded`.

    Attributes
    ----------
    keyword : str
        The argument at fault (``"normalize"``, ``"center_row"``, ``"out"``, ``"overwrite"``,
        ``"resume"``).
    template : str
        The message with ``{name}`` fields where arguments are named.
    """

    def __init__(self, keyword: str, template: str, **spelling: str) -> None:
        self.keyword, self.template, self.spelling = keyword, template, spelling
        super().__init__(self.worded())

    def worded(self, **spelling: str) -> str:
        """The message with the arguments spelled as given (the others as the library spells them)."""
        names = {**self.spelling, **spelling}
        return re.sub(r"\{(\w+)\}", lambda m: names.get(m[1], m[0]), self.template)


@dataclass(frozen=True)
class ScanPretrain:
    """How a volume pretrains EDIP on its own rows (:mod:`tomopy_dip.volume.seeding`).

    Attributes
    ----------
    every : int
        One seed row per ``every`` selected rows (at least one seed in all).
    method : str
        The seed rows' method, at its defaults but for ``method_keywords``.
    method_keywords : dict
        Keywords of the seed rows' fits besides those they take from the call
        (:data:`SEED_KEYWORDS`), e.g. ``{"num_iter": 1000}`` for
        quicker seeds.
    num_steps, batch_size, lr_max
        Pretraining (:func:`tomopy_dip.pretrain`): on the FIPS gel phantom 1500 steps of 8 at a
        peak learning rate of 2e-3 reached a validation PSNR 10.1 dB above the FBP's (36 views;
        ``benchmarks/scan_pretrain.py --stage pretrain``).
    noise_factor : float
        Training noise levels are drawn from ``U(0, noise_factor * m)``, ``m`` the largest
        relative data misfit of the seed rows' images (their data's noise and model error).
    held_back : int
        Seed rows left out of the pretraining and fitted from its network as a check (the middle
        ones of :meth:`seed_rows`); see :func:`tomopy_dip.volume.route.passes_check`.
    """

    every: int
    method: str = "tv_dip"
    method_keywords: dict = field(default_factory=dict)
    num_steps: int = 1500
    batch_size: int = 8
    lr_max: float = 2e-3
    noise_factor: float = 2.0
    held_back: int = 0

    def seed_rows(self, rows: Sequence[int]) -> list[int]:
        """The seed rows of a selection: every ``every``-th, centred in its block.

        Examples
        --------
        >>> ScanPretrain(every=4).seed_rows(range(10))
        [2, 6]
        >>> ScanPretrain(every=16).seed_rows([3, 5, 7])
        [5]
        """
        rows = list(rows)
        first = min(self.every // 2, (len(rows) - 1) // 2)
        return rows[first::self.every]

    def held_back_rows(self, rows: Sequence[int]) -> list[int]:
        """The seed rows held back from the pretraining (the middle ones of :meth:`seed_rows`,
        never all of them).

        Examples
        --------
        >>> ScanPretrain(every=11, held_back=1).held_back_rows(range(32))
        [16]
        """
        seeds = self.seed_rows(rows)
        n = min(self.held_back, len(seeds) - 1)
        first = (len(seeds) - n) // 2
        return seeds[first:first + n] if n > 0 else []

    def fit_keywords(self, keywords: Mapping[str, Any]) -> dict:
        """The keywords of the seed rows' fits: the call's :data:`SEED_KEYWORDS`, then
        ``method_keywords``."""
        return {**{k: v for k, v in keywords.items() if k in SEED_KEYWORDS}, **self.method_keywords}

    def settings(self) -> dict:
        """What a resumed run compares (recorded in every slice and the summary)."""
        return asdict(self)


# ---------------------------------------------------------------------------- checks
def _center(v: Any) -> float | str:
    if isinstance(v, str) and v == "auto":
        return v
    try:
        ok = not isinstance(v, bool) and math.isfinite(float(v))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"center must be a finite number or 'auto', got {v!r}")
    return v


def _center_method(v: Any) -> str:
    if v not in CENTER_METHODS:
        raise ValueError(f"center_method must be 'vo' or 'entropy', got {v!r}")
    return v


def _path(name: str) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        if not isinstance(v, (str, os.PathLike)):
            raise TypeError(f"{name} must be a path, got {v!r}")
        return v
    return check


def _selection(name: str, as_tuple: bool) -> Callable[[Any], Any]:
    """``(start, stop[, step])``, a slice or an int; as a plain tuple (what a task carries)
    with ``as_tuple``, else as given (its rows are picked once the file's size is known)."""
    def check(v: Any) -> Any:
        from tomopy_dip.data.exchange import as_slice

        if v is None:
            return None
        s = as_slice(v, name)
        return (s.start, s.stop, s.step) if as_tuple else v
    return check


def _center_row(v: Any) -> int:
    """An integer; its range is checked against the selection once the file is read."""
    if isinstance(v, bool) or not hasattr(v, "__index__"):
        raise TypeError(f"center_row must be an integer, got {v!r}")
    return int(v.__index__())


def local_workers(scheduler: Any) -> int | None:
    """The N of ``"local:N"`` (``"local"``: 2); None for anything else.

    Examples
    --------
    >>> local_workers("local:3"), local_workers("local"), local_workers("tcp://host:8786")
    (3, 2, None)
    """
    if not isinstance(scheduler, str) or not scheduler.strip().lower().startswith("local"):
        return None
    n = scheduler.strip().partition(":")[2]
    try:
        workers = int(n) if n else 2
    except ValueError:
        workers = 0
    if workers < 1:
        raise ValueError(f"scheduler='local:N' needs a positive number of workers N, got {scheduler!r}")
    return workers


def _scheduler(v: Any) -> Any:
    """A ``distributed.Client``, a scheduler address or ``"local:N"``."""
    if isinstance(v, str):
        if not v.strip():
            raise ValueError("scheduler must be a distributed.Client, a scheduler address or 'local:N', got ''")
        local_workers(v)  # "local:0" refused here, before any work
        return v
    if not callable(getattr(v, "submit", None)):
        raise TypeError(f"scheduler must be a distributed.Client, a scheduler address or 'local:N', got {v!r}")
    return v


def _scan_pretrain(v: Any) -> ScanPretrain:
    """An int K is ``ScanPretrain(every=K)``; the method and keywords are checked with the call's."""
    if isinstance(v, ScanPretrain):
        int_check("scan_pretrain.every", 1)(v.every)
        int_check("scan_pretrain.held_back", 0)(v.held_back)
        return v
    return ScanPretrain(every=int_check("scan_pretrain", 1)(v))


#: The settings of :func:`~tomopy_dip.volume.reconstruct_file` (the method's keywords aside).
FILE_KEYWORDS: dict[str, Keyword] = {k.name: k for k in [
    Keyword("out", None, optional_check(_path("out")), "output directory (default ./<file stem>-<algorithm>)"),
    Keyword("slices", None, _selection("slices", False), "detector rows to read, (start, stop[, step]); default all"),
    Keyword("proj", None, _selection("proj", True), "projections to read, (start, stop[, step]); default all"),
    Keyword("center", "auto", _center, "rotation centre in the file's detector pixels, or 'auto'"),
    Keyword("center_method", "vo", _center_method, "centre finder of center='auto': 'vo' or 'entropy'"),
    Keyword("center_row", None, optional_check(_center_row), "selected row the centre is found on (default: middle)"),
    Keyword("downsample", 1, int_check("downsample", 1), "bin this many detector pixels into one"),
    Keyword("normalize", True, bool_check("normalize"), "normalise with the flats and darks"),
    Keyword("minus_log", True, bool_check("minus_log"), "take -log of the normalised data"),
    Keyword("reader", "auto", choice_check("reader", READERS), "file reader"),
    Keyword("exchange_rank", 0, int_check("exchange_rank", 0), "read group exchange{K} instead of exchange"),
    Keyword("resume", False, bool_check("resume"), "keep the slices finished with the same settings"),
    Keyword("overwrite", False, bool_check("overwrite"), "replace the files of an earlier run"),
    Keyword("scheduler", None, optional_check(_scheduler), "Dask client, scheduler address or 'local:N'"),
    Keyword("rows_per_task", ROWS_PER_TASK, int_check("rows_per_task", 1), "rows a task reads, fits and writes"),
    Keyword("warm_start", False, bool_check("warm_start"), "each row starts from the network of the row before"),
    Keyword("scan_pretrain", None, optional_check(_scan_pretrain), "EDIP pretrained on every K-th row of the scan"),
    Keyword("plan", True, bool_check("plan"), "time a few iterations for the plan's time estimate"),
    Keyword("progress", True, bool_check("progress"), "progress bars"),
    Keyword("report", None, callable_check("report"), "called with each step message instead of logging it"),
]}

FileSettings = make_dataclass("FileSettings", [(k.name, Any) for k in FILE_KEYWORDS.values()], frozen=True)
FileSettings.__doc__ = """The checked settings of one :func:`~tomopy_dip.volume.reconstruct_file` call
(one attribute per record of :data:`FILE_KEYWORDS`: ``proj`` and ``slices`` as plain tuples,
``scan_pretrain`` as a :class:`ScanPretrain`)."""
FileSettings.__module__ = __name__


def parse_file_settings(values: Mapping[str, Any]) -> Any:
    """Check ``values`` against :data:`FILE_KEYWORDS` (absent ones take their defaults).

    Returns
    -------
    FileSettings

    Raises
    ------
    TypeError, ValueError
        An unknown setting, or a value of the wrong kind or range (the message names it).
    """
    unknown = sorted(set(values) - set(FILE_KEYWORDS))
    if unknown:
        raise TypeError(f"reconstruct_file got unexpected setting(s) {', '.join(map(repr, unknown))}")
    merged = {name: values.get(name, k.default) for name, k in FILE_KEYWORDS.items()}
    return FileSettings(**{name: FILE_KEYWORDS[name].check(v) for name, v in merged.items()})


def center_text(settings: Mapping[str, Any]) -> str:
    """The centre of a run's recorded settings, how it was found, and where binning moved it."""
    s, k = settings, settings["source"]["downsample"]
    return f"{s['center']:.2f} ({s['center_source']})" + (
        f" -> {s['center_used']:.2f} after binning x{k}" if k > 1 else "")


def recorded_keywords(keywords: Mapping[str, Any]) -> dict:
    """The method's keywords as ``summary.json`` and each slice's file record them (what a resumed
    run compares): cone-beam ``vectors`` by their SHA-256 and count, not their numbers."""
    import hashlib

    out = {k: v for k, v in keywords.items() if k != "callback"}
    if out.get("vectors") is not None:
        vec = np.ascontiguousarray(out["vectors"], dtype=np.float64)
        out["vectors"] = {"sha256": hashlib.sha256(vec.tobytes()).hexdigest(), "views": len(vec)}
    return out
