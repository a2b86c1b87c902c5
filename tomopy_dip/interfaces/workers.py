"""TomoPy's process path: one worker process per chunk (and per GPU), as ``accelerated=True`` runs.

TomoPy's accelerated path, ``tomopy.recon(..., accelerated=True, device="gpu", ncore=n)``
(TomoPy 1.15.2, ``recon/algorithm.py``), runs the chunks in a ``ProcessPoolExecutor`` of ``n``
processes: each task pickles the algorithm and its chunk, sets ``TOMOPY_DEVICE_NUM`` to the
chunk's index in the worker and calls the algorithm there, and the parent takes the worker's
``recon`` back as the chunk. The algorithms are :class:`Algorithm` objects, which pickle by
name (the package's methods) or by value (a method registered at run time), and understand
TomoPy's keywords: ``accelerated``, and ``device="gpu"``/``"cpu"`` besides the torch names.
An unindexed CUDA device (``"gpu"``, ``"cuda"``, or the default where CUDA is present) is
``cuda:<TOMOPY_DEVICE_NUM modulo the devices present>`` when that variable is set, and each
worker uses its share of the cores (the cores over TomoPy's ``TOMOPY_PYTHON_THREADS``, the
number of workers). :func:`recon` has the same process path with ``accelerated=True``.

This module holds what that path needs around an algorithm's call: TomoPy's keywords
(``accelerated``, ``device``), the device and the share of the cores of each worker, the pool of
:func:`~tomopy_dip.interfaces.tomopy.recon`, and Ctrl-C while the parent waits for its workers.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures import process as _futures_process
from typing import Any, Callable, Sequence

import numpy as np
import torch

from tomopy_dip.fitting import interrupt

__all__ = ["tomopy_device", "tomopy_keywords", "accelerated_flag", "share_cores", "watch_pool_workers",
           "recon_in_processes", "call_chunk", "call_chunk_in_process", "wait_for", "parent_device", "CHUNK",
           "NO_GPU"]

#: Messages for TomoPy's ``device="gpu"`` where torch sees no CUDA device.
NO_GPU = ("device='gpu' (TomoPy's name for a CUDA device) was requested but torch has no CUDA device "
           "here: pass device='cpu', or install torch and astra-toolbox with CUDA")


#: The first slice of the chunk a worker of :func:`~tomopy_dip.interfaces.tomopy.recon` is running (names slices in warnings).
CHUNK = threading.local()


def accelerated_flag(value: Any) -> bool:
    """TomoPy's ``accelerated`` keyword (True: its process path)."""
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, np.ndarray) and value.shape == ()
                                               and value.dtype == bool):
        return bool(value)
    raise TypeError(f"accelerated must be True or False, got {value!r}")


def tomopy_device(value: Any) -> Any:
    """The torch device of TomoPy's ``device`` keyword in this process.

    ``"gpu"`` is TomoPy's name for CUDA (an error where torch sees no CUDA device) and ``"cpu"``
    stays; torch's names stay valid. Where ``TOMOPY_DEVICE_NUM`` is set (TomoPy sets it to the
    chunk's index in each worker of its process path) and CUDA is present, an unindexed CUDA
    device (``"gpu"``, ``"cuda"``, or None, the default, which is CUDA where present) becomes
    ``cuda:<TOMOPY_DEVICE_NUM modulo the number of devices>``. The count comes from
    :func:`torch.cuda.device_count`, which does not initialise CUDA (a process that forks
    workers must not).

    Parameters
    ----------
    value : str, torch.device or None
        The ``device`` keyword.

    Returns
    -------
    str, torch.device or None
        The keyword for the options (``"cuda:1"``, or ``value`` unchanged).

    Examples
    --------
    >>> tomopy_device("cpu")
    'cpu'
    """
    gpu = isinstance(value, str) and value.strip().lower() == "gpu"
    num = os.environ.get("TOMOPY_DEVICE_NUM")
    if not gpu and (num is None or not (value is None or _unindexed_cuda(value))):
        return value
    count = torch.cuda.device_count()
    if count == 0:
        if gpu:
            raise ValueError(NO_GPU)
        return value
    if num is None:
        return "cuda"
    try:
        index = int(num)
    except ValueError:
        raise ValueError(f"TOMOPY_DEVICE_NUM must be an integer (the worker's index), got {num!r}") from None
    return f"cuda:{index % count}"


def _unindexed_cuda(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "cuda"
    return isinstance(value, torch.device) and value.type == "cuda" and value.index is None


def tomopy_keywords(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with TomoPy's ``device`` (also in its ``options`` dict) for this process."""
    opts = kwargs.get("options")
    in_options = isinstance(opts, Mapping) and "device" in opts
    if in_options:  # TomoPy shares this dict between calls: change a copy
        kwargs["options"] = {**opts, "device": tomopy_device(opts["device"])}
    if "device" in kwargs or not in_options:
        device = tomopy_device(kwargs.get("device"))
        if device is not None:
            kwargs["device"] = device
    return kwargs


def share_cores() -> None:
    """In a worker process of a process pool: use at most this process's share of the cores (the
    cores over ``TOMOPY_PYTHON_THREADS``, which TomoPy sets to the number of workers)."""
    try:
        workers = max(1, int(os.environ.get("TOMOPY_PYTHON_THREADS") or 1))
    except ValueError:
        workers = 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    share = max(1, cores // workers)
    if torch.get_num_threads() > share:
        torch.set_num_threads(share)


#: The thread that counts live pool workers as an active fit (:func:`watch_pool_workers`).
_WATCH = threading.Lock()
_watching = [False]


def _pool_workers() -> list[multiprocessing.process.BaseProcess]:
    """The live worker processes of this process's ``ProcessPoolExecutor`` pools (read from the
    pools' manager threads, which live while a pool has work or is not shut down)."""
    for _ in range(3):
        try:
            managers = [t for t in list(getattr(_futures_process, "_threads_wakeups", {})) if t.is_alive()]
            return [p for t in managers for p in list(dict(getattr(t, "processes", None) or {}).values())
                    if p.is_alive()]
        except RuntimeError:  # a pool started or ended meanwhile: look again
            continue
    return []


def watch_pool_workers() -> None:
    """Count the live workers of a process pool as an active fit, from a daemon thread.

    Called where an algorithm is pickled for a worker, in the process that waits for the pool
    (TomoPy's process path): there Ctrl-C, which the terminal also sends to the workers (one
    process group), then requests a stop instead of raising :class:`KeyboardInterrupt` while
    the workers end their fits and send their chunks back; a second Ctrl-C raises.
    """
    with _WATCH:
        if _watching[0] or not _pool_workers():
            return
        _watching[0] = True
    threading.Thread(target=_hold_while_pool_workers, name="tomopy-dip pool workers", daemon=True).start()


def _hold_while_pool_workers() -> None:
    try:
        with interrupt.active_fit():
            while True:
                with _WATCH:
                    if not _pool_workers():
                        _watching[0] = False
                        return
                time.sleep(0.1)
    finally:
        _watching[0] = False


def parent_device(value: Any, cuda: bool) -> Any:
    """The ``device`` keyword as the parent of a process pool checks it: TomoPy's names
    translated, and ``"cpu"`` in place of a CUDA device where one is present (each worker
    chooses its own)."""
    device = tomopy_device(value)
    if cuda and (device is None or _unindexed_cuda(device) or str(device).startswith("cuda:")):
        return "cpu"
    return device


def recon_in_processes(calls: list, workers: int, algorithm: Callable, theta: np.ndarray,
                        kwargs: dict[str, Any]) -> None:
    """Run the chunks of :func:`~tomopy_dip.interfaces.tomopy.recon` in a pool of ``workers`` processes, as TomoPy's
    ``accelerated=True`` path does, and copy each worker's result into its chunk.

    The pool uses the default start method (``fork`` on Linux, as TomoPy's), or ``spawn``
    where a CUDA device is present: a forked worker cannot use CUDA once its parent touched it.
    """
    context = multiprocessing.get_context()
    if context.get_start_method() == "fork" and torch.cuda.device_count() > 0:
        context = multiprocessing.get_context("spawn")
    with interrupt.active_fit():  # Ctrl-C here: the workers stop and send their chunks back
        pool = ProcessPoolExecutor(workers, mp_context=context)
        futures = [pool.submit(call_chunk_in_process, index, workers, first, algorithm, t, c, r, theta, **kwargs)
                   for index, (first, t, c, r) in enumerate(calls)]
        wait_for(pool, futures)
    for (_, _, _, r), fut in zip(calls, futures):
        r[...] = fut.result()


def call_chunk_in_process(index: int, workers: int, first: int, algorithm: Callable, tomo: np.ndarray,
                           center: Any, recon: np.ndarray, *args: Any, **kwargs: Any) -> np.ndarray:
    """A worker of :func:`_recon_in_processes`: TomoPy's environment (``TOMOPY_DEVICE_NUM`` the
    chunk's index, ``TOMOPY_PYTHON_THREADS`` the number of workers), then the chunk; returns it."""
    os.environ["TOMOPY_DEVICE_NUM"] = str(index)
    os.environ["TOMOPY_PYTHON_THREADS"] = str(workers)
    call_chunk(first, algorithm, tomo, center, recon, *args, **kwargs)
    return recon


def call_chunk(first: int, algorithm: Callable, *args: Any, **kwargs: Any) -> None:
    """Call ``algorithm`` on the chunk that starts at slice ``first`` of :func:`~tomopy_dip.interfaces.tomopy.recon`."""
    CHUNK.first = first
    try:
        algorithm(*args, **kwargs)
    finally:
        CHUNK.first = None


def wait_for(pool: Executor, futures: Sequence[Future]) -> None:
    """Wait for the workers of :func:`~tomopy_dip.interfaces.tomopy.recon`, as TomoPy's thread pool does, and shut the pool.

    A :class:`KeyboardInterrupt` here (Ctrl-C without the package's handler) becomes a stop
    request: the workers end their fits after the current iteration, the queued chunks return
    at once, and the results are kept. A :class:`KeyboardInterrupt` while a stop is requested
    (the second Ctrl-C) aborts at once: the queued chunks are cancelled, the running workers end
    after their iteration in the background.
    """
    try:
        try:
            for fut in futures:
                fut.result()
        except KeyboardInterrupt:
            if interrupt.requested():
                raise
            interrupt.request()
            for fut in futures:
                fut.result()
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
