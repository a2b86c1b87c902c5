"""The resumable state of a pretraining run: its file, its writing and reading, and Ctrl-C.

The file ``<out stem>.state`` holds the weights, Adam's moments, the schedule, the step and the
best PSNR so far (a torch file read with ``weights_only=True``), and the run's signature: a state
is only resumed by a run with the same arguments.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any

import torch

from tomopy_dip.utils import atomic_write

__all__ = ["state_path", "write_state", "read_state"]

log = logging.getLogger(__name__)

_STATE_FORMAT = "tomopy_dip.pretrain_state"
_STATE_EVERY_SECONDS = 300.0


def state_path(out: str | os.PathLike) -> Path:
    """The resume file of a pretraining run writing ``out``: ``<stem>.state`` beside it."""
    return Path(out).with_suffix(".state")


def write_state(path: Path, signature: dict, **fields: Any) -> None:
    """Write the state of a run with ``signature`` to ``path`` (atomically): ``fields`` are the
    step, the weights, the optimiser and schedule states, the best PSNR, the history, ..."""
    state = {"format": _STATE_FORMAT, "version": 1, "signature": json.dumps(signature, sort_keys=True),
             **fields}
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def read_state(path: Path, signature: dict) -> dict:
    """The state in ``path``, checked to belong to a run with ``signature``.

    Raises
    ------
    ValueError
        The file does not load, is not a pretraining state, or belongs to a run with other
        arguments (the message names the differing ones).
    """
    try:
        st = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"cannot resume from {path}: {exc}; delete it or pass "
                         "resume=False") from None
    if not isinstance(st, dict) or st.get("format") != _STATE_FORMAT:
        raise ValueError(f"{path} is not a tomopy-dip pretraining state; delete it or "
                         "pass resume=False")
    theirs = json.loads(st["signature"])
    if theirs != signature:
        diff = sorted(k for k in set(theirs) | set(signature) if theirs.get(k) != signature.get(k))
        raise ValueError(
            f"{path} belongs to a pretraining run with other arguments (differing: "
            f"{', '.join(diff)}); pass resume=False to start over or choose another out"
        )
    return st


class _DeferInterrupt:
    """First Ctrl-C: set a flag (the loop saves and stops after the step); second: abort at once
    without saving (the last saved state stays)."""

    def __init__(self) -> None:
        self.requested = False
        self.aborted = False
        self._old = None

    def __enter__(self) -> "_DeferInterrupt":
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:  # pragma: no cover - needs a real signal
        if self.requested:
            self.aborted = True
            raise KeyboardInterrupt
        self.requested = True
        log.warning("interrupt: finishing the current step and saving the state (Ctrl-C again to abort)")

    def __exit__(self, *exc) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
