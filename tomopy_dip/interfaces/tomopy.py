"""The TomoPy caller contract: algorithms for ``tomopy.recon`` and a stand-in ``recon``.

``tomopy.recon(tomo, theta, center=..., algorithm=f, **kw)`` calls
``f(tomo, center, recon, theta, **kw)`` with ``tomo`` in sinogram order (``(nslab, nproj,
ndet)``, or 2-D ``(nproj, ndet)`` when ``nchunk=0``), one centre per slice, and a pre-allocated
``recon`` that ``f`` must fill in place; the return value is ignored. :func:`make_algorithm`
turns a :class:`~tomopy_dip.methods.base.Method` into such a callable.

:func:`recon` reproduces what ``tomopy.recon`` does around the call (layout swap, per-slice
centres, default ``ndet x ndet`` grid, chunking and threads) for environments without TomoPy.

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

Ctrl-C (:mod:`~tomopy_dip.fitting.interrupt`): ``tomopy.recon`` runs the algorithm in a
``ThreadPoolExecutor`` when ``ncore > 1``, and its main thread only waits. The package's SIGINT
handler turns Ctrl-C during a fit into a stop request that every worker sees after its current
iteration: each call fills ``recon`` with its finished slices and the selected image so far of
the interrupted ones, leaves the slices it did not start as they were (TomoPy's initial
``recon``), and warns (:class:`RuntimeWarning`); the chunks TomoPy starts afterwards return at
once. ``tomopy.recon`` then returns normally. A second Ctrl-C raises :class:`KeyboardInterrupt`.
:func:`recon` behaves the same way (and also when the package's handler is not installed: a
:class:`KeyboardInterrupt` reaching its wait becomes a stop request, and the second one aborts).
In the process path Ctrl-C reaches every process of the terminal's process group: each worker
stops its fit the same way and returns its chunk (its warning is printed by the worker), while
the parent, whose pool workers count as an active fit (:func:`_watch_pool_workers`), goes on
waiting for them; errors raised in a worker reach the caller through the pool.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import pickle
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import process as _futures_process
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from tomopy_dip.fitting import interrupt
from tomopy_dip.fitting.engine import run
from tomopy_dip.fitting.problem import check_sinograms
from tomopy_dip.options import KEYWORDS, int_check
from tomopy_dip.methods import METHODS, Method
from tomopy_dip.physics.geometry import default_center

__all__ = ["make_algorithm", "recon", "ALGORITHMS", "Algorithm", "tomopy_device"]

#: The first slice of the chunk a worker of :func:`recon` is running (names slices in warnings).
_CHUNK = threading.local()


#: The package's own methods, sent to a worker process by name (others go by value).
_OWN_METHODS: dict[str, Method] = dict(METHODS)

#: Messages for TomoPy's ``device="gpu"`` where torch sees no CUDA device.
_NO_GPU = ("device='gpu' (TomoPy's name for a CUDA device) was requested but torch has no CUDA device "
           "here: pass device='cpu', or install torch and astra-toolbox with CUDA")


class Algorithm:
    """The TomoPy callable of a :class:`~tomopy_dip.methods.base.Method` (:func:`make_algorithm`).

    ``algorithm(tomo, center, recon, theta, **kwargs)`` fills ``recon`` in place, as
    ``tomopy.recon`` requires. An :class:`Algorithm` survives pickling, so that TomoPy's process
    pool (``accelerated=True``) can send it to its workers: the package's own methods travel by
    name, any other method (registered at run time, or never registered) by value, which needs
    its declaration to pickle (hooks, losses, keyword checks and ``load_network`` defined at the
    top level of an importable module); where it cannot, pickling raises
    :class:`pickle.PicklingError` naming the method and the reason.

    Parameters
    ----------
    method : Method
        The method it runs.
    """

    def __init__(self, method: Method) -> None:
        self.method = method
        self.__name__ = self.__qualname__ = method.name
        self.__doc__ = _algorithm_doc(method)

    def __call__(self, tomo: np.ndarray, center: Any, recon: np.ndarray, theta: np.ndarray,
                 **kwargs: Any) -> np.ndarray | None:
        accelerated = _accelerated(kwargs.pop("accelerated", False))
        if not isinstance(recon, np.ndarray) or recon.dtype.kind != "f":
            raise TypeError("recon must be a floating-point numpy array to fill in place")
        if not recon.flags.writeable:
            raise ValueError("recon must be writeable: the result is written into it in place")
        tomo_ndim = np.ndim(tomo)
        if recon.ndim != tomo_ndim or recon.ndim not in (2, 3):
            raise ValueError(
                f"recon must have the same number of dimensions as tomo (2 or 3), got recon "
                f"{recon.shape} for tomo {np.shape(tomo)}"
            )
        if recon.ndim == 3 and recon.shape[0] != np.shape(tomo)[0]:
            raise ValueError(
                f"recon has {recon.shape[0]} slices but tomo has {np.shape(tomo)[0]}"
            )
        gx, gy = recon.shape[-2:]
        for name, value in (("num_gridx", gx), ("num_gridy", gy)):
            given = kwargs.setdefault(name, value)
            if given != value:
                raise ValueError(f"{name}={given} does not match recon's shape {recon.shape}")
        kwargs = _tomopy_keywords(kwargs)
        if accelerated and multiprocessing.parent_process() is not None:
            _share_cores()
        if threading.current_thread() is threading.main_thread():
            interrupt.install()  # e.g. tomopy.recon(ncore=1) after the application reset SIGINT
        result = run(self.method, tomo, theta, center, slice_offset=getattr(_CHUNK, "first", None), **kwargs)
        if "not_run" not in result.stop_reason:
            recon[...] = result.images
        elif recon.ndim == 3:  # Ctrl-C: the slices not started keep recon's content
            done = np.array([r != "not_run" for r in result.stop_reason])
            recon[done] = result.images[done]
        # TomoPy's process path takes a worker's result back as the chunk.
        return recon if accelerated else None

    def __reduce__(self) -> tuple[Callable[..., Algorithm], tuple[str, Method | None]]:
        name = self.method.name
        _watch_pool_workers()
        if _OWN_METHODS.get(name) is self.method:
            return _algorithm, (name, None)
        try:
            pickle.dumps(self.method)
        except Exception as exc:
            raise pickle.PicklingError(
                f"tomopy_dip algorithm {name!r} cannot be sent to a worker process: its Method cannot "
                f"be pickled ({type(exc).__name__}: {exc}). Define its hooks, losses, keyword checks and "
                "load_network at the top level of an importable module (not as lambdas or local "
                "functions), or run it without accelerated=True (TomoPy's thread pool)"
            ) from exc
        return _algorithm, (name, self.method)

    def __repr__(self) -> str:
        return f"<tomopy_dip algorithm {self.method.name}>"


def _algorithm(name: str, method: Method | None = None) -> Algorithm:
    """Unpickle an :class:`Algorithm`: the package's method ``name``, or ``method`` itself."""
    return ALGORITHMS[name] if method is None else make_algorithm(method)


def make_algorithm(method: Method) -> Algorithm:
    """Build the TomoPy callable of ``method`` (an :class:`Algorithm`).

    Examples
    --------
    >>> import pickle
    >>> from tomopy_dip.methods import Method
    >>> slow = make_algorithm(Method("dip_slow", defaults={"lr": 1e-4}))
    >>> pickle.loads(pickle.dumps(slow)).method == slow.method  # sent by value
    True
    """
    return Algorithm(method)


def _algorithm_doc(method: Method) -> str:
    """The docstring of ``method``'s TomoPy callable."""
    return f"""{method.description[:1].upper() + method.description[1:]}.

    TomoPy algorithm: use as ``tomopy.recon(tomo, theta, center=c,
    algorithm=tomopy_dip.{method.name}, **keywords)`` or with :func:`tomopy_dip.recon`; on GPUs
    ``tomopy.recon(..., accelerated=True, device="gpu", ncore=<number of GPUs>)``.

    Parameters
    ----------
    tomo : numpy.ndarray
        Sinograms ``(nslab, nproj, ndet)`` or ``(nproj, ndet)``; never modified.
    center : float or numpy.ndarray
        Rotation centre per slice, gridrec convention.
    recon : numpy.ndarray
        Output ``(nslab, num_gridx, num_gridy)`` (or 2-D), filled in place (after Ctrl-C: the
        finished slices and the selected image so far of the interrupted ones; the slices not
        started keep their content, and a :class:`RuntimeWarning` names them).
    theta : numpy.ndarray
        Angles in radians.
    **kwargs
        Keywords of :func:`tomopy_dip.reconstruct`{', plus ' + ', '.join(k.name for k in method.keywords) if method.keywords else ''};
        TomoPy's ``accelerated`` (True in its process path) and ``device="gpu"``/``"cpu"``
        (:func:`tomopy_device`).

    Returns
    -------
    numpy.ndarray or None
        ``recon`` with ``accelerated=True`` (TomoPy's process path takes it back); else None.
    """


def _accelerated(value: Any) -> bool:
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
            raise ValueError(_NO_GPU)
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


def _tomopy_keywords(kwargs: dict[str, Any]) -> dict[str, Any]:
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


def _share_cores() -> None:
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


#: The thread that counts live pool workers as an active fit (:func:`_watch_pool_workers`).
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


def _watch_pool_workers() -> None:
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


class _Algorithms(Mapping):
    """The TomoPy callables of the registered methods by name, read live from
    :data:`tomopy_dip.methods.METHODS` (a method registered at run time is here too)."""

    def __init__(self) -> None:
        self._made: dict[int, Algorithm] = {}

    def __getitem__(self, name: str) -> Algorithm:
        method = METHODS[name]
        if id(method) not in self._made:
            self._made[id(method)] = make_algorithm(method)
        return self._made[id(method)]

    def __iter__(self) -> Iterator[str]:
        return iter(list(METHODS))

    def __len__(self) -> int:
        return len(METHODS)

    def __repr__(self) -> str:
        return f"ALGORITHMS({', '.join(METHODS)})"


#: TomoPy callables by method name.
ALGORITHMS: Mapping[str, Algorithm] = _Algorithms()


def _tomopy_center(center: Any, nslices: int, ndet: int, beam: str) -> np.ndarray:
    if center is None:
        return np.full(nslices, default_center(ndet, beam), np.float32)
    try:
        c = np.asarray(center, dtype=np.float32).reshape(-1)
    except (TypeError, ValueError):
        raise TypeError(f"center must be a number or one number per slice, got {center!r}") from None
    if c.size == 1:
        return np.full(nslices, c[0], np.float32)
    if c.size != nslices:
        raise ValueError("There must be one center for every slice.")
    return c


def recon(tomo: Any, theta: Any, center: Any = None, sinogram_order: bool = False,
          algorithm: str | Callable = "tv_dip", init_recon: np.ndarray | None = None,
          ncore: int | None = None, nchunk: int | None = None, **kwargs: Any) -> np.ndarray:
    """Stand-in for ``tomopy.recon`` with the same layout rules, for use without TomoPy.

    Parameters
    ----------
    tomo : array_like
        3-D data, projection order ``(nproj, nslices, ndet)`` unless ``sinogram_order``.
    theta : array_like
        Angles in radians ``(nproj,)``.
    center : float or array_like, optional
        Rotation centre per slice (gridrec convention); default ``ndet / 2`` (TomoPy's; for
        ``beam="fanflat"`` the detector middle ``(ndet - 1) / 2``).
    sinogram_order : bool
        True when ``tomo`` is ``(nslices, nproj, ndet)``.
    algorithm : str or callable
        A method name (``"dip"``, ``"tv_dip"``, ...) or a TomoPy-style callable.
    init_recon : numpy.ndarray, optional
        Initial content of the output array (TomoPy semantics; the DIP methods overwrite it).
    ncore, nchunk : int, optional
        Threads and slices per call, as in TomoPy (``nchunk=0``: one 2-D call per slice).
        Fitting is serialised across threads, so results and core usage do not depend on them
        with ``dims=2``. With ``dims=3`` each call's slices are fitted together in
        overlapping slabs (default: all slices in one call; through ``tomopy.recon`` pass
        ``ncore=1`` for that).
    **kwargs
        Passed to the algorithm (e.g. ``num_iter``, ``num_gridx``). ``accelerated=True`` with
        ``ncore > 1`` runs the chunks in a process pool of ``ncore`` processes, as TomoPy does
        (``TOMOPY_DEVICE_NUM`` is the chunk's index in its worker: with ``device="gpu"`` chunk
        ``i`` runs on ``cuda:<i modulo the GPUs>``); the keywords of a
        :class:`Algorithm` are checked once here, before any worker starts.

    Returns
    -------
    numpy.ndarray
        ``(nslices, num_gridx, num_gridy)`` float32.

    Notes
    -----
    Ctrl-C during the fit, whatever ``ncore``: every worker stops after its current iteration
    and ``recon`` returns the finished slices, the selected image so far of the interrupted
    ones and, for the slices not started, the initial content (``init_recon`` or TomoPy's
    ``1e-6``), with a :class:`RuntimeWarning` naming them. A second Ctrl-C raises
    :class:`KeyboardInterrupt` at once. A call from the main thread first clears a stop request
    left by an earlier call (:mod:`~tomopy_dip.fitting.interrupt`).

    Examples
    --------
    >>> import numpy as np, tomopy_dip
    >>> from tomopy_dip.learning.phantoms import shepp_logan
    >>> from tomopy_dip.physics.measurement import simulate
    >>> theta = np.linspace(0, np.pi, 20, endpoint=False)
    >>> proj = simulate(shepp_logan(24)[None], theta).swapaxes(0, 1)  # projection order
    >>> rec = tomopy_dip.recon(proj, theta, algorithm=tomopy_dip.dip, num_iter=3,
    ...                        progress=False, channels=(8, 8), skip_channels=(0, 4))
    >>> rec.shape
    (1, 24, 24)
    """
    interrupt.new_call()
    arr = np.asarray(tomo)
    if arr.ndim != 3:
        raise ValueError(f"tomo must be 3-D, {'(nslices, nproj, ndet)' if sinogram_order else '(nproj, nslices, ndet)'}, "
                         f"got shape {arr.shape}")
    if not sinogram_order:
        arr = arr.swapaxes(0, 1)
    # The validation of every entry point (dtype, shape, finite values, angles), then
    # TomoPy's float32 angles.
    arr, theta, _ = check_sinograms(np.ascontiguousarray(arr), theta)
    theta = theta.astype(np.float32)
    ncore = None if ncore is None else int_check("ncore", 1)(ncore)
    nchunk = None if nchunk is None else int_check("nchunk", 0)(nchunk)
    for name in ("num_gridx", "num_gridy"):
        KEYWORDS[name].check(kwargs.get(name))
    if isinstance(algorithm, str):
        if algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {tuple(ALGORITHMS)} or a callable, got {algorithm!r}")
        algorithm = ALGORITHMS[algorithm]
    elif not callable(algorithm):
        raise TypeError(f"algorithm must be a method name or a callable, got {algorithm!r}")
    nslices, _, ndet = arr.shape
    centers = _tomopy_center(center, nslices, ndet, kwargs.get("beam", "parallel"))
    gx = kwargs.pop("num_gridx", None) or ndet
    gy = kwargs.pop("num_gridy", None) or ndet
    _check_output_size(nslices, gx, gy)
    out = np.full((nslices, gx, gy), 1e-6, np.float32) if init_recon is None else np.array(
        init_recon, dtype=np.float32)
    if out.shape != (nslices, gx, gy):
        raise ValueError(f"init_recon must have shape {(nslices, gx, gy)}, got {out.shape}")
    ncore = ncore or os.cpu_count() or 1
    if nchunk is None:  # dims=3: the call's slices are one slab, as through tomopy.recon(ncore=1)
        nchunk = nslices if kwargs.get("dims") == 3 else max(1, math.ceil(nslices / ncore))
    kwargs.update(num_gridx=gx, num_gridy=gy)
    if nchunk == 0:
        calls = [(i, arr[i], centers[i], out[i]) for i in range(nslices)]
    else:
        calls = [(i, arr[i:i + nchunk], centers[i:i + nchunk], out[i:i + nchunk])
                 for i in range(0, nslices, nchunk)]
    if ncore == 1 or len(calls) == 1:
        for first, t, c, r in calls:
            _call_chunk(first, algorithm, t, c, r, theta, **kwargs)
    elif "accelerated" in kwargs and _accelerated(kwargs["accelerated"]):
        _check_keywords(algorithm, kwargs)
        _recon_in_processes(calls, min(ncore, len(calls)), algorithm, theta, kwargs)
    else:
        pool = ThreadPoolExecutor(ncore)
        futures = [pool.submit(_call_chunk, first, algorithm, t, c, r, theta, **kwargs) for first, t, c, r in calls]
        _wait(pool, futures)
    return out


def _check_output_size(nslices: int, gx: int, gy: int) -> None:
    """Refuse an output array that alone cannot fit in the memory available (before allocating it)."""
    from tomopy_dip.fitting.memory import available_memory, format_bytes

    need, room = 4 * nslices * gx * gy, available_memory()
    if room is not None and need > room:
        raise MemoryError(f"num_gridx x num_gridy = {gx} x {gy} for {nslices} slice(s) needs {format_bytes(need)} "
                          f"for the result alone, {format_bytes(room)} is available: choose a smaller grid "
                          "(num_gridx, num_gridy) or fewer slices")


def _check_keywords(algorithm: Callable, kwargs: Mapping[str, Any]) -> None:
    """Check the keywords of a process-pool call once, in the process that starts the workers:
    that each can be sent to a worker, and, for an :class:`Algorithm`, its method's checks
    (without initialising CUDA here, which a forked worker could not then use)."""
    for name, value in kwargs.items():
        try:
            pickle.dumps(value)
        except Exception as exc:
            raise pickle.PicklingError(f"keyword {name}={value!r} cannot be sent to a worker process with "
                                       f"accelerated=True ({type(exc).__name__}: {exc}); define it at the top "
                                       "level of an importable module") from exc
    if not isinstance(algorithm, Algorithm):
        return
    kw = {k: v for k, v in kwargs.items() if k != "accelerated"}
    cuda = torch.cuda.device_count() > 0
    opts = kw.get("options")
    if isinstance(opts, Mapping) and "device" in opts:
        kw["options"] = {**opts, "device": _parent_device(opts["device"], cuda)}
    device = _parent_device(kw.get("device"), cuda)
    if "device" in kw or device is not None:
        kw["device"] = device
    algorithm.method.parse(kw)


def _parent_device(value: Any, cuda: bool) -> Any:
    """The ``device`` keyword as the parent of a process pool checks it: TomoPy's names
    translated, and ``"cpu"`` in place of a CUDA device where one is present (each worker
    chooses its own)."""
    device = tomopy_device(value)
    if cuda and (device is None or _unindexed_cuda(device) or str(device).startswith("cuda:")):
        return "cpu"
    return device


def _recon_in_processes(calls: list, workers: int, algorithm: Callable, theta: np.ndarray,
                        kwargs: dict[str, Any]) -> None:
    """Run the chunks of :func:`recon` in a pool of ``workers`` processes, as TomoPy's
    ``accelerated=True`` path does, and copy each worker's result into its chunk.

    The pool uses the default start method (``fork`` on Linux, as TomoPy's), or ``spawn``
    where a CUDA device is present: a forked worker cannot use CUDA once its parent touched it.
    """
    context = multiprocessing.get_context()
    if context.get_start_method() == "fork" and torch.cuda.device_count() > 0:
        context = multiprocessing.get_context("spawn")
    with interrupt.active_fit():  # Ctrl-C here: the workers stop and send their chunks back
        pool = ProcessPoolExecutor(workers, mp_context=context)
        futures = [pool.submit(_call_chunk_in_process, index, workers, first, algorithm, t, c, r, theta, **kwargs)
                   for index, (first, t, c, r) in enumerate(calls)]
        _wait(pool, futures)
    for (_, _, _, r), fut in zip(calls, futures):
        r[...] = fut.result()


def _call_chunk_in_process(index: int, workers: int, first: int, algorithm: Callable, tomo: np.ndarray,
                           center: Any, recon: np.ndarray, *args: Any, **kwargs: Any) -> np.ndarray:
    """A worker of :func:`_recon_in_processes`: TomoPy's environment (``TOMOPY_DEVICE_NUM`` the
    chunk's index, ``TOMOPY_PYTHON_THREADS`` the number of workers), then the chunk; returns it."""
    os.environ["TOMOPY_DEVICE_NUM"] = str(index)
    os.environ["TOMOPY_PYTHON_THREADS"] = str(workers)
    _call_chunk(first, algorithm, tomo, center, recon, *args, **kwargs)
    return recon


def _call_chunk(first: int, algorithm: Callable, *args: Any, **kwargs: Any) -> None:
    """Call ``algorithm`` on the chunk that starts at slice ``first`` of :func:`recon`."""
    _CHUNK.first = first
    try:
        algorithm(*args, **kwargs)
    finally:
        _CHUNK.first = None


def _wait(pool: Executor, futures: Sequence[Future]) -> None:
    """Wait for the workers of :func:`recon`, as TomoPy's thread pool does, and shut the pool.

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
