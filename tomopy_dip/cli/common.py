"""What the sub-commands of ``tomopy-dip`` share: errors, argument types, logging, threads."""

from __future__ import annotations

import argparse
import ast
import logging
import os
import sys
from typing import Any

import numpy as np

PROG = "tomopy-dip"
#: Exit codes: success, failure, usage error, interrupted (Ctrl-C; 128 + SIGINT as shells use).
EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
#: Exit status after SIGTERM (a batch system's time limit): 128 + 15, as the shells report it.
EXIT_TERMINATED = 143

log = logging.getLogger("tomopy_dip.cli")


class UsageError(Exception):
    """Wrong use of the command line (exit code 2)."""


class Failure(Exception):
    """The command could not be carried out (exit code 1)."""


# ---------------------------------------------------------------------------- output and logging
def _out(msg: str = "", quiet: bool = False) -> None:
    if not quiet:
        print(msg, flush=True)


def _show_warning(message: Any, category: type, filename: str, lineno: int, file: Any = None,
                  line: str | None = None) -> None:
    """Warnings as one plain line each, every distinct message once (no source lines)."""
    text = " ".join(str(message).split())
    if text in _SHOWN:
        return
    _SHOWN.add(text)
    print(f"{PROG}: warning: {text}", file=sys.stderr if file is None else file, flush=True)


_SHOWN: set[str] = set()


def _setup_logging(debug: bool, verbose: bool) -> None:
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    root = logging.getLogger("tomopy_dip")
    for h in list(root.handlers):
        if getattr(h, "_tomopy_dip_cli", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler._tomopy_dip_cli = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter(f"{PROG}: %(levelname)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    if not debug:
        import warnings

        warnings.showwarning = _show_warning


def _one_line(exc: BaseException) -> str:
    """The exception as one line; unexpected exception types keep their name."""
    from tomopy_dip.data.exchange import DataFileError
    from tomopy_dip.data.registry import RegistryError

    msg = " ".join(str(exc).split())
    expected = (UsageError, Failure, DataFileError, RegistryError, ValueError, TypeError, OSError,
                RuntimeError, MemoryError)
    if not msg:
        return type(exc).__name__
    return msg if isinstance(exc, expected) else f"{type(exc).__name__}: {msg}"


# ---------------------------------------------------------------------------- threads
def _threads_arg(text: str) -> int | str:
    if text.strip().lower() == "auto":
        return "auto"
    return _positive_int(text)


def _set_threads(choice: int | str | None, quiet: bool) -> None:
    """Set torch's CPU threads: a number, or ``auto`` = the cores not busy with other work.

    Oversubscribed cores make every iteration several times slower, so ``auto`` subtracts
    the 1-minute load average from the core count (at least 1 thread).
    """
    import torch

    if choice is None:
        return
    if choice == "auto":
        ncpu = os.cpu_count() or 1
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):  # not available on this platform
            return
        n = max(1, min(torch.get_num_threads(), ncpu, int(ncpu - load + 0.5)))
        if n < torch.get_num_threads():
            log.info("the machine is busy (load %.1f on %d cores): using %d torch thread(s)", load, ncpu, n)
        torch.set_num_threads(n)
        return
    torch.set_num_threads(int(choice))


def _algorithms() -> list[str]:
    """The method names registered now (:data:`tomopy_dip.methods.METHODS`, read live), sorted."""
    from tomopy_dip.methods import METHODS

    return sorted(METHODS)


# ---------------------------------------------------------------------------- argument types
def _slice_arg(text: str) -> tuple[int | None, int | None, int | None]:
    """``A:B``, ``A:B:S``, ``A`` (one row) or ``:`` -> (start, stop, step)."""
    t = text.strip()
    try:
        if ":" not in t:
            a = int(t)
            if a < 0:
                raise ValueError
            return a, a + 1, None
        parts = [p.strip() for p in t.split(":")]
        if len(parts) > 3:
            raise ValueError
        vals = [int(p) if p else None for p in parts] + [None] * (3 - len(parts))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected START:STOP[:STEP] or one index (e.g. 0:2, 100, ::4), got {text!r}") from None
    if any(v is not None and v < 0 for v in vals[:2]) or (vals[2] is not None and vals[2] < 1):
        raise argparse.ArgumentTypeError(f"indices must be >= 0 and the step >= 1, got {text!r}")
    if vals[0] is not None and vals[1] is not None and vals[1] <= vals[0]:
        raise argparse.ArgumentTypeError(f"STOP must be larger than START, got {text!r}")
    return vals[0], vals[1], vals[2]


def _center_arg(text: str) -> float | str:
    if text.strip().lower() == "auto":
        return "auto"
    try:
        c = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {text!r}") from None
    if not np.isfinite(c):
        raise argparse.ArgumentTypeError(f"the centre must be finite, got {text!r}")
    return c


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def _key_value(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    key = key.strip().replace("-", "_")
    if not key.isidentifier():
        raise argparse.ArgumentTypeError(f"{key!r} is not a keyword name")
    raw = raw.strip()
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = {"none": None, "true": True, "false": False}.get(raw.lower(), raw)
    return key, value


# ---------------------------------------------------------------------------- parsers
class _Formatter(argparse.HelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


def _add_common(p: argparse.ArgumentParser, top: bool = False) -> None:
    """``--debug``, ``-v`` and ``-q``, on the top parser and (without defaults) on each sub-command."""
    d = None if top else argparse.SUPPRESS
    g = p.add_argument_group("general options")
    g.add_argument("--debug", action="store_true", default=False if top else d,
                   help="show debug messages and tracebacks")
    g.add_argument("-v", "--verbose", action="store_true", default=False if top else d,
                   help="show progress messages of the library")
    g.add_argument("-q", "--quiet", action="store_true", default=False if top else d,
                   help="no progress bars or step messages (the summary is still printed)")


def _add_threads(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=_threads_arg, default="auto", metavar="N|auto",
                   help="CPU threads of torch; auto: the cores not busy with other work [auto]")
