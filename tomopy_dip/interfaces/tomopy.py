"""The TomoPy caller contract: algorithms for ``tomopy.recon`` and a stand-in ``recon``.

``tomopy.recon(tomo, theta, center=..., algorithm=f, **kw)`` calls
``f(tomo, center, recon, theta, **kw)`` with ``tomo`` in sinogram order (``(nslab, nproj,
ndet)``, or 2-D ``(nproj, ndet)`` when ``nchunk=0``), one centre per slice, and a pre-allocated
``recon`` that ``f`` must fill in place; the return value is ignored. :func:`make_algorithm`
turns a :class:`~tomopy_dip.methods.base.Method` into such a callable.

:func:`recon` reproduces what ``tomopy.recon`` does around the call (layout swap, per-slice
centres, default ``ndet x ndet`` grid, chunking and threads) for environments without TomoPy.

TomoPy's accelerated path, ``tomopy.recon(..., accelerated=True, device="gpu", ncore=n)``, runs
the chunks in worker processes (:mod:`~tomopy_dip.interfaces.workers`): the algorithms are
:class:`Algorithm` objects, which pickle by name (the package's methods) or by value (a method
registered at run time). :func:`recon` has the same process path with ``accelerated=True``.

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
the parent, whose pool workers count as an active fit (:func:`watch_pool_workers`), goes on
waiting for them; errors raised in a worker reach the caller through the pool.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import pickle
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator

import numpy as np
import torch

from tomopy_dip.fitting import interrupt
from tomopy_dip.fitting.engine import run
from tomopy_dip.fitting.problem import check_sinograms
from tomopy_dip.options import KEYWORDS, int_check
from tomopy_dip.methods import METHODS, Method
from tomopy_dip.physics.geometry import default_center
from tomopy_dip.interfaces.workers import (CHUNK, accelerated_flag, call_chunk, parent_device, recon_in_processes,
                                           tomopy_device, tomopy_keywords, share_cores, wait_for, watch_pool_workers)

__all__ = ["make_algorithm", "recon", "ALGORITHMS", "Algorithm", "tomopy_device"]

#: The package's own methods, sent to a worker process by name (others go by value).
_OWN_METHODS: dict[str, Method] = dict(METHODS)

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
        accelerated = accelerated_flag(kwargs.pop("accelerated", False))
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
        opts = kwargs.get("options")
        if kwargs.get("uncertainty") or (isinstance(opts, dict) and opts.get("uncertainty")):
            raise ValueError(
                f"uncertainty: {self.method.name} as a TomoPy algorithm fills recon only, so the map would be lost; "
                f"use tomopy_dip.reconstruct(tomo, theta, center, method={self.method.name!r}, "
                "uncertainty=True), whose result has .images and .uncertainty")
        kwargs = tomopy_keywords(kwargs)
        if accelerated and multiprocessing.parent_process() is not None:
            share_cores()
        if threading.current_thread() is threading.main_thread():
            interrupt.install()  # e.g. tomopy.recon(ncore=1) after the application reset SIGINT
        result = run(self.method, tomo, theta, center, slice_offset=getattr(CHUNK, "first", None), **kwargs)
        if "not_run" not in result.stop_reason:
            recon[...] = result.images
        elif recon.ndim == 3:  # Ctrl-C: the slices not started keep recon's content
            done = np.array([r != "not_run" for r in result.stop_reason])
            recon[done] = result.images[done]
        # TomoPy's process path takes a worker's result back as the chunk.
        return recon if accelerated else None

    def __reduce__(self) -> tuple[Callable[..., Algorithm], tuple[str, Method | None]]:
        name = self.method.name
        watch_pool_workers()
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
            call_chunk(first, algorithm, t, c, r, theta, **kwargs)
    elif "accelerated" in kwargs and accelerated_flag(kwargs["accelerated"]):
        _check_keywords(algorithm, kwargs)
        recon_in_processes(calls, min(ncore, len(calls)), algorithm, theta, kwargs)
    else:
        pool = ThreadPoolExecutor(ncore)
        futures = [pool.submit(call_chunk, first, algorithm, t, c, r, theta, **kwargs) for first, t, c, r in calls]
        wait_for(pool, futures)
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
        kw["options"] = {**opts, "device": parent_device(opts["device"], cuda)}
    device = parent_device(kw.get("device"), cuda)
    if "device" in kw or device is not None:
        kw["device"] = device
    algorithm.method.parse(kw)


