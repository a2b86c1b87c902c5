"""Ctrl-C during a fit: stop every fit of the process and return what it has.

A fit can run in the main thread (:func:`tomopy_dip.reconstruct`, ``tomopy.recon(...,
ncore=1)``) or in worker threads (``tomopy.recon`` and :func:`tomopy_dip.recon` with
``ncore > 1`` run the algorithm in a ``ThreadPoolExecutor``). Python delivers SIGINT to the main
thread only, as a :class:`KeyboardInterrupt`: the main thread of a thread pool leaves its wait
while the workers fit on, and the results are lost. This module replaces the exception by a
process-wide *stop request* that every fit polls once per iteration.

The rules
---------
* **The handler.** :func:`install` puts :func:`_handle_sigint` on SIGINT, from the main thread
  only and only where the current handler is Python's own
  (:func:`signal.default_int_handler`): a handler of the application is never replaced. It is
  called at ``import tomopy_dip`` and again by every top-level call made from the main thread.
  On Ctrl-C, while a fit is active (:func:`active_fit`: a whole engine call, set-up included,
  :func:`~tomopy_dip.fitting.engine.run`) and no stop is requested yet, it
  requests a stop, writes one line to stderr and returns: the main thread goes on waiting.
  Otherwise (no fit active, or a second Ctrl-C) it calls the previous handler, which raises
  :class:`KeyboardInterrupt` at once.
* **What a request does.** The fitting loop checks :func:`requested` before every iteration
  and ends the fit as interrupted (stop reason ``"interrupted"``; it returns its selected
  iterate: the minimum-loss image, the moving average or the last iterate). The engine starts
  no further slice once a stop is requested (stop reason ``"not_run"``) and warns with a
  :class:`RuntimeWarning` naming the slices. A :class:`KeyboardInterrupt` raised inside a
  fitting loop ends that fit and its call the same way; where the handler is not installed
  (an application's own handler) it also requests a stop, so that the other fits end too.
  While a stop is requested, a :class:`KeyboardInterrupt` (the second Ctrl-C) is raised on:
  it aborts the call. :func:`tomopy_dip.recon`, whose main thread waits on worker threads,
  turns a first :class:`KeyboardInterrupt` there into a request and keeps the results.
* **How long a request lasts.** TomoPy starts the queued chunks of a ``tomopy.recon`` call
  (``nchunk`` smaller than the slices per thread) *after* the running ones returned, each
  as a new call of the algorithm: they must not fit either. A request therefore stays while
  any fit is active and for :data:`GRACE` seconds after the last one ended (or after the
  request, when none was active); then it lapses by itself.
* **A new call starts afresh.** The package's own top-level entry points,
  :func:`tomopy_dip.reconstruct` and :func:`tomopy_dip.recon`, call :func:`new_call` first:
  made from the main thread while no fit is active, it clears a request left by an earlier
  call. The TomoPy algorithm callables (``tomopy_dip.dip`` ...) do not clear it: TomoPy calls
  them chunk after chunk within one ``tomopy.recon``. So after an interrupted
  ``tomopy.recon``, a new ``tomopy.recon`` started within :data:`GRACE` seconds returns at
  once with nothing fitted; :func:`clear` starts it afresh. In a loop of
  :func:`tomopy_dip.reconstruct` calls, Ctrl-C stops the current call and the loop goes on
  (check :attr:`Reconstruction.interrupted <tomopy_dip.fitting.engine.Reconstruction>`);
  Ctrl-C twice aborts it with :class:`KeyboardInterrupt`.

Examples
--------
>>> from tomopy_dip.fitting import interrupt
>>> interrupt.clear(); interrupt.requested()
False
>>> interrupt.request(); interrupt.requested()
True
>>> interrupt.clear()
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import time
from typing import Any, Iterator

__all__ = ["requested", "request", "clear", "install", "uninstall", "installed", "active_fit",
           "active_fits", "new_call", "GRACE", "MESSAGE"]

log = logging.getLogger(__name__)

#: Seconds a stop request outlives the last active fit (see the module docstring).
GRACE = 2.0
#: The line the handler writes to stderr on the first Ctrl-C during a fit.
MESSAGE = "tomopy-dip: stopping after the current iteration; Ctrl-C again to abort"

_event = threading.Event()
# Reentrant: the handler runs in the main thread, possibly while that thread holds the lock.
_lock = threading.RLock()
_state = {"active": 0, "since": 0.0}  # active fits; when the request or the last fit ended
_previous: list[Any] = []  # the handler replaced by install()


def requested() -> bool:
    """Whether a stop is requested (and has not lapsed: see the module docstring)."""
    if not _event.is_set():
        return False
    with _lock:
        if _state["active"] == 0 and time.monotonic() - _state["since"] > GRACE:
            _event.clear()
            return False
    return True


def request() -> None:
    """Request that every fit of the process stops after its current iteration and that no
    new slice starts (what Ctrl-C does during a fit)."""
    with _lock:
        if not _event.is_set() or _state["active"] == 0:
            _state["since"] = time.monotonic()
        _event.set()
    log.info("stop requested")


def clear() -> None:
    """Withdraw a stop request."""
    _event.clear()


def active_fits() -> int:
    """Number of fits (engine calls) running now, in all threads."""
    return _state["active"]


@contextlib.contextmanager
def active_fit() -> Iterator[None]:
    """Mark the enclosed code as a running fit: Ctrl-C then requests a stop instead of raising
    :class:`KeyboardInterrupt`, and a request does not lapse while it runs."""
    with _lock:
        _state["active"] += 1
    try:
        yield
    finally:
        with _lock:
            _state["active"] -= 1
            if _state["active"] == 0:
                _state["since"] = time.monotonic()


def new_call() -> None:
    """Start a top-level call (:func:`~tomopy_dip.reconstruct`, :func:`~tomopy_dip.recon`): from
    the main thread, install the handler if possible and, when no fit is active, clear a
    request left by an earlier call."""
    if threading.current_thread() is not threading.main_thread():
        return
    install()
    with _lock:
        if _state["active"] == 0:
            _event.clear()


def _handle_sigint(signum: int, frame: Any) -> None:
    """SIGINT: request a stop during a fit; otherwise (or the second time) the previous handler."""
    if _state["active"] > 0 and not requested():
        request()
        try:
            sys.stderr.write(MESSAGE + "\n")
            sys.stderr.flush()
        except Exception:  # pragma: no cover - a closed stderr must not hide the request
            pass
        return
    previous = _previous[0] if _previous else signal.default_int_handler
    if callable(previous):
        previous(signum, frame)
    else:  # pragma: no cover - install() only replaces the default handler
        raise KeyboardInterrupt


def installed() -> bool:
    """Whether this module's handler is the current SIGINT handler."""
    try:
        return signal.getsignal(signal.SIGINT) is _handle_sigint
    except (ValueError, AttributeError):  # pragma: no cover - platforms without SIGINT
        return False


def install() -> bool:
    """Install the SIGINT handler; returns whether it is installed.

    Only from the main thread, and only in place of Python's default handler
    (:func:`signal.default_int_handler`): an application's own handler, ``SIG_IGN`` or a
    handler set outside Python are left alone (False).
    """
    if installed():
        return True
    if threading.current_thread() is not threading.main_thread():
        return False
    try:
        current = signal.getsignal(signal.SIGINT)
        if current is not signal.default_int_handler:
            return False
        signal.signal(signal.SIGINT, _handle_sigint)
    except (ValueError, OSError, AttributeError):  # pragma: no cover - embedded interpreters
        return False
    _previous[:] = [current]
    return True


def uninstall() -> bool:
    """Put back the handler :func:`install` replaced; returns whether it did (False where this
    module's handler is not the current one)."""
    if not installed() or threading.current_thread() is not threading.main_thread():
        return False
    signal.signal(signal.SIGINT, _previous[0] if _previous else signal.default_int_handler)
    return True
