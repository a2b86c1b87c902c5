"""The TomoPy caller contract: algorithms for ``tomopy.recon`` and a stand-in ``recon``.

``tomopy.recon(tomo, theta, center=..., algorithm=f, **kw)`` calls
``f(tomo, center, recon, theta, **kw)`` with ``tomo`` in sinogram order (``(nslab, nproj,
ndet)``, or 2-D ``(nproj, ndet)`` when ``nchunk=0``), one centre per slice, and a pre-allocated
``recon`` that ``f`` must fill in place; the return value is ignored. :func:`make_algorithm`
turns a :class:`~tomopy_dip.methods.base.Method` into such a callable.

:func:`recon` reproduces what ``tomopy.recon`` does around the call (layout swap, per-slice
centres, default ``ndet x ndet`` grid, chunking and threads) for environments without TomoPy.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator

import numpy as np

from tomopy_dip.fitting.engine import run
from tomopy_dip.fitting.problem import check_sinograms
from tomopy_dip.options import KEYWORDS, int_check
from tomopy_dip.methods import METHODS, Method
from tomopy_dip.physics.geometry import default_center

__all__ = ["make_algorithm", "recon", "ALGORITHMS"]


def make_algorithm(method: Method) -> Callable[..., None]:
    """Build the TomoPy callable of ``method``."""

    def algorithm(tomo: np.ndarray, center: Any, recon: np.ndarray, theta: np.ndarray,
                  **kwargs: Any) -> None:
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
        result = run(method, tomo, theta, center, **kwargs)
        recon[...] = result.images

    algorithm.__name__ = algorithm.__qualname__ = method.name
    algorithm.__doc__ = f"""{method.description[:1].upper() + method.description[1:]}.

    TomoPy algorithm: use as ``tomopy.recon(tomo, theta, center=c,
    algorithm=tomopy_dip.{method.name}, **keywords)`` or with :func:`tomopy_dip.recon`.

    Parameters
    ----------
    tomo : numpy.ndarray
        Sinograms ``(nslab, nproj, ndet)`` or ``(nproj, ndet)``; never modified.
    center : float or numpy.ndarray
        Rotation centre per slice, gridrec convention.
    recon : numpy.ndarray
        Output ``(nslab, num_gridx, num_gridy)`` (or 2-D), filled in place.
    theta : numpy.ndarray
        Angles in radians.
    **kwargs
        Keywords of :func:`tomopy_dip.reconstruct`{', plus ' + ', '.join(k.name for k in method.keywords) if method.keywords else ''}.
    """
    algorithm.method = method
    return algorithm


class _Algorithms(Mapping):
    """The TomoPy callables of the registered methods by name, read live from
    :data:`tomopy_dip.methods.METHODS` (a method registered at run time is here too)."""

    def __init__(self) -> None:
        self._made: dict[int, Callable[..., None]] = {}

    def __getitem__(self, name: str) -> Callable[..., None]:
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
ALGORITHMS: Mapping[str, Callable[..., None]] = _Algorithms()


def _tomopy_center(center: Any, nslices: int, ndet: int, beam: str) -> np.ndarray:
    if center is None:
        return np.full(nslices, default_center(ndet, beam), np.float32)
    c = np.asarray(center, dtype=np.float32).reshape(-1)
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
        Fitting is serialised across threads, so results and core usage do not depend on them.
    **kwargs
        Passed to the algorithm (e.g. ``num_iter``, ``num_gridx``).

    Returns
    -------
    numpy.ndarray
        ``(nslices, num_gridx, num_gridy)`` float32.

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
    out = np.full((nslices, gx, gy), 1e-6, np.float32) if init_recon is None else np.array(
        init_recon, dtype=np.float32)
    if out.shape != (nslices, gx, gy):
        raise ValueError(f"init_recon must have shape {(nslices, gx, gy)}, got {out.shape}")
    ncore = ncore or os.cpu_count() or 1
    if nchunk is None:
        nchunk = max(1, math.ceil(nslices / ncore))
    kwargs.update(num_gridx=gx, num_gridy=gy)
    if nchunk == 0:
        calls = [(arr[i], centers[i], out[i]) for i in range(nslices)]
    else:
        calls = [(arr[i:i + nchunk], centers[i:i + nchunk], out[i:i + nchunk])
                 for i in range(0, nslices, nchunk)]
    if ncore == 1 or len(calls) == 1:
        for t, c, r in calls:
            algorithm(t, c, r, theta, **kwargs)
    else:
        with ThreadPoolExecutor(ncore) as pool:
            for fut in [pool.submit(algorithm, t, c, r, theta, **kwargs) for t, c, r in calls]:
                fut.result()
    return out
