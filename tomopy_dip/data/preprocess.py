"""Pre-processing as TomoPy does it: normalisation, minus-log, centre of rotation, binning.

Each function uses TomoPy's own when TomoPy is importable (``backend="auto"``) and otherwise
the same formula in NumPy:

* :func:`normalize`: ``(proj - dark) / max(flat - dark, 1e-6)`` with the float32 means of
  the flats and darks (``tomopy.normalize``);
* :func:`minus_log`: ``-log(x)`` in float32, without clamping (``tomopy.minus_log``);
* :func:`find_center`: TomoPy's ``find_center_vo`` / ``find_center`` when present, otherwise
  Vo's method (Vo, Atwood, Drakopoulos, Opt. Express 22, 19078 (2014)) implemented here:
  the 0–180° sinogram and its mirrored copy are joined into a 0–360° sinogram whose Fourier
  transform has least energy outside the double-wedge region at the correct centre. The
  result is in the **gridrec convention** (detector pixel ``d`` at ``t = d - center``), the
  one :func:`tomopy_dip.reconstruct` takes.

:func:`bin_detector` and :func:`binned_center` downsample the detector by an integer factor
``K``; a centre ``c`` becomes ``(c - (K - 1) / 2) / K`` on the binned detector.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

import numpy as np
import scipy.fft
from scipy import ndimage

__all__ = [
    "tomopy_available", "normalize", "minus_log", "find_center", "find_center_vo",
    "bin_detector", "binned_center", "to_sinograms",
]

log = logging.getLogger(__name__)

_TOMOPY: Any = None


def _tomopy() -> Any:
    global _TOMOPY
    if _TOMOPY is None:
        try:
            _TOMOPY = importlib.import_module("tomopy")
        except Exception as exc:  # ImportError or a broken build
            log.debug("TomoPy is not usable: %s", exc)
            _TOMOPY = False
    return _TOMOPY or None


def tomopy_available() -> bool:
    """True when TomoPy can be imported."""
    return _tomopy() is not None


def _use_tomopy(backend: str) -> Any:
    if backend not in ("auto", "tomopy", "numpy"):
        raise ValueError(f"backend must be 'auto', 'tomopy' or 'numpy', got {backend!r}")
    tp = _tomopy() if backend != "numpy" else None
    if backend == "tomopy" and tp is None:
        raise RuntimeError("backend='tomopy' was requested but TomoPy is not importable")
    return tp


def normalize(proj: np.ndarray, flat: np.ndarray, dark: np.ndarray, cutoff: float | None = None,
              backend: str = "auto") -> np.ndarray:
    """Flat- and dark-field correction, ``(proj - dark) / (flat - dark)``.

    Parameters
    ----------
    proj : numpy.ndarray
        Projections ``(nproj, nrows, ndet)``.
    flat, dark : numpy.ndarray
        Flat and dark fields ``(n, nrows, ndet)`` (averaged over axis 0) or ``(nrows, ndet)``.
    cutoff : float, optional
        Clip values above it (``tomopy.normalize``'s ``cutoff``).
    backend : {"auto", "tomopy", "numpy"}
        TomoPy's ``normalize`` (when importable, for ``"auto"``) or the same formula in NumPy.

    Returns
    -------
    numpy.ndarray
        float32 transmission, same shape as ``proj``. The denominator is clamped to at least
        1e-6, as TomoPy does.
    """
    tp = _use_tomopy(backend)
    flat = np.asarray(flat)
    dark = np.asarray(dark)
    flat = flat[None] if flat.ndim == 2 else flat
    dark = dark[None] if dark.ndim == 2 else dark
    if tp is not None:
        return np.asarray(tp.normalize(proj, flat, dark, cutoff=cutoff), dtype=np.float32)
    arr = np.asarray(proj, dtype=np.float32)
    f = np.mean(flat, axis=0, dtype=np.float32)
    d = np.mean(dark, axis=0, dtype=np.float32)
    denom = f - d
    np.maximum(denom, np.float32(1e-6), out=denom)
    out = arr - d
    out /= denom
    if cutoff is not None:
        np.minimum(out, np.float32(cutoff), out=out)
    return out


def minus_log(arr: np.ndarray, backend: str = "auto") -> np.ndarray:
    """``-log(arr)`` in float32 (no clamping: zeros give inf, negatives NaN, as in TomoPy)."""
    tp = _use_tomopy(backend)
    if tp is not None:
        return np.asarray(tp.minus_log(np.asarray(arr, dtype=np.float32)), dtype=np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(np.asarray(arr, dtype=np.float32))
    np.negative(out, out=out)
    return out


def to_sinograms(proj: np.ndarray) -> np.ndarray:
    """Projection order ``(nproj, nrows, ndet)`` to sinogram order ``(nrows, nproj, ndet)``."""
    arr = np.asarray(proj)
    if arr.ndim != 3:
        raise ValueError(f"projections must be 3-D (nproj, nrows, ndet), got shape {arr.shape}")
    return np.ascontiguousarray(arr.swapaxes(0, 1), dtype=np.float32)


def bin_detector(arr: np.ndarray, factor: int) -> np.ndarray:
    """Average groups of ``factor`` detector pixels (the last axis); a remainder is dropped."""
    if isinstance(factor, bool) or int(factor) != factor or factor < 1:
        raise ValueError(f"the binning factor must be a positive integer, got {factor!r}")
    factor = int(factor)
    a = np.asarray(arr, dtype=np.float32)
    if factor == 1:
        return a
    n = a.shape[-1] // factor
    if n < 2:
        raise ValueError(f"cannot bin {a.shape[-1]} detector pixels by {factor}")
    return a[..., : n * factor].reshape(*a.shape[:-1], n, factor).mean(-1, dtype=np.float32)


def binned_center(center: float | np.ndarray, factor: int) -> float | np.ndarray:
    """A centre on the detector binned by ``factor``: ``(c - (factor - 1) / 2) / factor``.

    Binned pixel ``b`` averages pixels ``b K .. b K + K - 1``, whose mean position is
    ``b K + (K - 1) / 2``; in the gridrec convention ``t = d - c`` this maps ``c`` as given.
    """
    return (np.asarray(center, dtype=np.float64) - (factor - 1) / 2.0) / factor if np.ndim(center) \
        else (float(center) - (factor - 1) / 2.0) / factor


# ---------------------------------------------------------------------------- centre finding
def _fft_energy(mat: np.ndarray, mask: np.ndarray) -> float:
    """Mean of ``|FFT2(mat)|`` over the mask (given in unshifted frequency order)."""
    spec = scipy.fft.fft2(np.asarray(mat, dtype=np.float32), workers=1)
    return float(np.sum(np.abs(spec)[mask]) / mat.size)


def _wedge_mask(nrow: int, ncol: int, radius: float, drop: int) -> np.ndarray:
    """Binary mask of the Fourier coefficients outside the double wedge (Vo 2014, eq. 3)."""
    du = 1.0 / ncol
    dv = (nrow - 1.0) / (nrow * 2.0 * np.pi)
    cen_row = int(np.ceil(nrow / 2.0) - 1)
    cen_col = int(np.ceil(ncol / 2.0) - 1)
    drop = min(drop, int(np.ceil(0.1 * nrow)))
    rows = np.arange(nrow)
    half = np.round(((rows - cen_row) * dv / radius) / du).astype(int)
    lo = np.clip(np.minimum(-half, half) + cen_col, 0, ncol - 1)
    hi = np.clip(np.maximum(-half, half) + cen_col, 0, ncol - 1)
    cols = np.arange(ncol)
    mask = ((cols[None, :] >= lo[:, None]) & (cols[None, :] <= hi[:, None])).astype(np.float32)
    mask[max(cen_row - drop, 0): cen_row + drop + 1, :] = 0.0
    mask[:, max(cen_col - 1, 0): cen_col + 2] = 0.0
    return mask


def _joined(sino: np.ndarray, flip: np.ndarray, comp: np.ndarray, shift: float) -> np.ndarray:
    """The 0-360 sinogram: ``sino`` above the mirrored one shifted by ``shift`` pixels."""
    if float(shift).is_integer():
        s = int(shift)
        moved = np.roll(flip, s, axis=1)
        if s > 0:
            moved[:, :s] = comp[:, :s]
        elif s < 0:
            moved[:, s:] = comp[:, s:]
    else:
        moved = ndimage.shift(flip, (0, shift), order=3, prefilter=True)
        if shift >= 0:
            k = int(np.ceil(shift))
            moved[:, :k] = comp[:, :k]
        else:
            k = int(np.floor(shift))
            moved[:, k:] = comp[:, k:]
    return np.vstack((sino, moved))


def _vo_search(sino: np.ndarray, centres: np.ndarray, ratio: float, drop: int) -> tuple[float, np.ndarray]:
    nrow, ncol = sino.shape
    mid = (ncol - 1.0) / 2.0
    flip = np.fliplr(sino)
    comp = np.flipud(sino)  # fills the columns the shift uncovers; avoids local minima
    mask = np.fft.ifftshift(_wedge_mask(2 * nrow, ncol, 0.5 * ratio * ncol, drop)) > 0
    metric = np.array([_fft_energy(_joined(sino, flip, comp, 2.0 * (c - mid)), mask) for c in centres])
    return float(centres[int(np.argmin(metric))]), metric


def _vo_numpy(sino: np.ndarray, smin: float, smax: float, srad: float, step: float,
              ratio: float, drop: int) -> float:
    nrow, ncol = sino.shape
    coarse_s = ndimage.gaussian_filter(sino, (3, 1))
    fine_s = ndimage.gaussian_filter(sino, (2, 2))
    mid = (ncol - 1.0) / 2.0
    factor = 1
    if nrow * ncol > 4e6:  # large sinograms: coarse search on a 4x binned copy
        factor = 4
        coarse_s = bin_detector(coarse_s, 4)
        coarse_s = coarse_s[: coarse_s.shape[0] // 4 * 4].reshape(-1, 4, coarse_s.shape[1]).mean(1)
    n = coarse_s.shape[1]
    cmid = (n - 1.0) / 2.0
    lo = int(np.clip(smin / factor + cmid, 0, n - 1) - cmid)
    hi = int(np.clip(smax / factor + cmid, 0, n - 1) - cmid)
    # shifts of the mirrored sinogram by whole pixels: centres in half-pixel steps
    coarse_centres = cmid + np.arange(lo, hi + 1) / 2.0
    init, metric = _vo_search(coarse_s, coarse_centres, ratio, drop)
    if np.argmin(metric) in (0, len(metric) - 1):
        # At the edge of the range: look once more over a range twice as wide.
        lo2 = int(np.clip(2 * lo + cmid, 0, n - 1) - cmid)
        hi2 = int(np.clip(2 * hi + cmid, 0, n - 1) - cmid)
        if (lo2, hi2) != (lo, hi):
            wide = cmid + np.arange(lo2, hi2 + 1) / 2.0
            init, metric = _vo_search(coarse_s, wide, ratio, drop)
            log.info("find_center_vo: minimum at the edge of the coarse range; searched "
                     "[%g, %g] instead", wide[0] * factor, wide[-1] * factor)
        if np.argmin(metric) in (0, len(metric) - 1):
            log.warning("find_center_vo: the minimum is at the edge of the search range; "
                        "check the centre (or give it explicitly)")
    init = (init - cmid) * factor + mid if factor > 1 else init
    srad = float(np.clip(abs(srad), 1.0, ncol / 4.0))
    step = float(np.clip(abs(step), 0.1, srad))
    init = float(np.clip(init, srad, ncol - srad - 1))
    fine_centres = init + np.arange(-srad, srad + step, step)
    best, _ = _vo_search(fine_s, fine_centres, ratio, drop)
    return best


def find_center_vo(tomo: np.ndarray, ind: int | None = None, smin: float = -50, smax: float = 50,
                   srad: float = 6, step: float = 0.25, ratio: float = 0.5, drop: int = 20,
                   sinogram_order: bool = False, backend: str = "auto") -> float:
    """Rotation centre by Vo's Fourier method, gridrec convention.

    Parameters
    ----------
    tomo : numpy.ndarray
        Minus-log data, projection order ``(nproj, nrows, ndet)`` (or sinogram order with
        ``sinogram_order=True``, or one sinogram ``(nproj, ndet)``), covering 0–180°.
    ind : int, optional
        Detector row to use; default the middle row (TomoPy averages the 10 middle rows of
        taller data).
    smin, smax : float
        Coarse search range, as in TomoPy: shifts of the mirrored sinogram in pixels, i.e.
        centres from ``mid + smin / 2`` to ``mid + smax / 2`` in half-pixel steps
        (``mid = (ndet - 1) / 2``). When the best centre is at an edge, a range twice as
        wide is searched once more.
    srad, step : float
        Fine search radius and step, pixels.
    ratio : float
        Object size relative to the field of view (sets the wedge mask).
    drop : int
        Rows dropped around the zero frequency of the mask.
    sinogram_order : bool
        ``tomo`` is ``(nrows, nproj, ndet)``.
    backend : {"auto", "tomopy", "numpy"}
        ``tomopy.find_center_vo`` when importable (``"auto"``) or the implementation here.

    Returns
    -------
    float
        The centre (detector pixel ``d`` at ``t = d - center``), as ``tomopy.find_center_vo``.

    Examples
    --------
    >>> import numpy as np
    >>> from tomopy_dip.learning.phantoms import shepp_logan
    >>> from tomopy_dip.physics.measurement import simulate
    >>> theta = np.linspace(0, np.pi, 180, endpoint=False)
    >>> sino = simulate(shepp_logan(64), theta, center=30.0)
    >>> abs(find_center_vo(sino, backend="numpy") - 30.0) <= 0.5
    True
    """
    arr = np.asarray(tomo, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[:, None, :]
    elif arr.ndim == 3 and sinogram_order:
        arr = arr.swapaxes(0, 1)
    elif arr.ndim != 3:
        raise ValueError(f"tomo must be 2-D or 3-D, got shape {arr.shape}")
    tp = _use_tomopy(backend)
    if tp is not None:
        return float(tp.find_center_vo(np.ascontiguousarray(arr), ind=ind, smin=smin, smax=smax,
                                       srad=srad, step=step, ratio=ratio, drop=drop))
    height = arr.shape[1]
    if ind is None:
        ind = height // 2
        sino = arr[:, ind - 5: ind + 5, :].mean(axis=1) if height > 10 else arr[:, ind, :]
    else:
        if not -height <= ind < height:
            raise ValueError(f"ind={ind} is outside the {height} detector rows")
        sino = arr[:, ind, :]
    if not np.all(np.isfinite(sino)):
        raise ValueError("the sinogram contains non-finite values (zero or negative transmission "
                         "before minus_log?); clean it before finding the centre")
    return _vo_numpy(np.asarray(sino, dtype=np.float32), smin, smax, srad, step, ratio, drop)


def find_center(tomo: np.ndarray, theta: np.ndarray | None = None, ind: int | None = None,
                method: str = "vo", sinogram_order: bool = False, backend: str = "auto",
                **kwargs: Any) -> float:
    """Find the rotation centre (gridrec convention) of minus-log data.

    Parameters
    ----------
    tomo : numpy.ndarray
        Projection order ``(nproj, nrows, ndet)`` (or sinogram order with ``sinogram_order``).
    theta : numpy.ndarray, optional
        Angles in radians; required by ``method="entropy"``.
    ind : int, optional
        Detector row used.
    method : {"vo", "entropy"}
        ``"vo"``: Vo's Fourier method (:func:`find_center_vo`; TomoPy's or ours).
        ``"entropy"``: TomoPy's ``find_center`` (image-entropy minimisation over gridrec
        reconstructions; needs TomoPy).
    sinogram_order : bool
        Layout of ``tomo``.
    backend : {"auto", "tomopy", "numpy"}
        Use TomoPy when importable (``"auto"``), require it, or never use it.
    **kwargs
        Passed to the finder (e.g. ``init``, ``tol`` for ``"entropy"``; ``smin``, ``smax``
        for ``"vo"``).

    Returns
    -------
    float
        The centre in detector pixels (``t = d - center``).
    """
    if method == "vo":
        return find_center_vo(tomo, ind=ind, sinogram_order=sinogram_order, backend=backend, **kwargs)
    if method == "entropy":
        tp = _use_tomopy(backend)
        if tp is None:
            raise RuntimeError("method='entropy' uses TomoPy's find_center (gridrec), which is not "
                               "importable here; use method='vo'")
        if theta is None:
            raise ValueError("method='entropy' needs theta")
        res = tp.find_center(np.asarray(tomo, dtype=np.float32), np.asarray(theta, dtype=np.float32),
                             ind=ind, sinogram_order=sinogram_order, **kwargs)
        return float(np.ravel(res)[0])
    raise ValueError(f"method must be 'vo' or 'entropy', got {method!r}")
