"""Figures: image previews, convergence plots and side-by-side comparisons (matplotlib).

Every function draws on its own :class:`matplotlib.figure.Figure` with the Agg canvas, so it
works without a display and never changes matplotlib's global backend or state.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["save_preview", "plot_convergence", "plot_comparison", "plot_psnr_curves", "display_range"]

log = logging.getLogger(__name__)


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: str | os.PathLike) -> Path:
    p = Path(path).expanduser()
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=fig.dpi, bbox_inches="tight")
    return p


def display_range(image: np.ndarray, percentiles: tuple[float, float] = (0.5, 99.5)) -> tuple[float, float]:
    """Robust grey-level window of an image: the given percentiles of its finite values."""
    vals = np.asarray(image, dtype=np.float64)
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(vals, percentiles)
    if hi <= lo:
        hi = lo + 1.0
    return float(lo), float(hi)


def save_preview(path: str | os.PathLike, images: np.ndarray, titles: Sequence[str] | None = None,
                 max_images: int = 4, percentiles: tuple[float, float] = (0.5, 99.5),
                 title: str | None = None) -> Path:
    """Write a PNG preview of up to ``max_images`` slices of a stack.

    Parameters
    ----------
    path : str or path-like
        Output PNG.
    images : numpy.ndarray
        ``(nslices, rows, columns)`` or one 2-D image.
    titles : sequence of str, optional
        One title per slice shown (default ``"slice k"``).
    max_images : int
        Slices shown, evenly spread over the stack.
    percentiles : tuple of float
        Grey-level window (common to all panels).
    title : str, optional
        Figure title.

    Returns
    -------
    pathlib.Path
        The PNG written.
    """
    arr = np.asarray(images, dtype=np.float32)
    arr = arr[None] if arr.ndim == 2 else arr
    if arr.ndim != 3:
        raise ValueError(f"images must be 2-D or 3-D, got shape {arr.shape}")
    n = arr.shape[0]
    idx = np.unique(np.linspace(0, n - 1, min(n, max_images)).round().astype(int))
    labels = list(titles) if titles is not None else [f"slice {i}" for i in range(n)]
    vmin, vmax = display_range(arr[idx], percentiles)
    k = len(idx)
    h, w = arr.shape[1:]
    size = 3.6
    fig = _figure(size * k * max(w / h, 0.5) + 0.8, size + 0.6)
    axes = fig.subplots(1, k, squeeze=False)[0]
    im = None
    for ax, i in zip(axes, idx):
        im = ax.imshow(arr[i], cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.set_title(labels[i] if i < len(labels) else f"slice {i}", fontsize=10)
        ax.set_axis_off()
    if im is not None:
        fig.colorbar(im, ax=list(axes), shrink=0.8, pad=0.02)
    if title:
        fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def plot_convergence(history: Mapping[str, np.ndarray], path: str | os.PathLike,
                     selected: Sequence[int] | np.ndarray | None = None,
                     slices: Sequence[int] | None = None, title: str | None = None) -> Path:
    """Plot the per-iteration loss terms of a reconstruction (log scale) and save a PNG.

    Parameters
    ----------
    history : mapping
        ``Reconstruction.history`` (arrays ``(n_iter, nslices)``).
    path : str or path-like
        Output PNG.
    selected : sequence of int, optional
        Iteration returned for each slice (``Reconstruction.iteration``), marked on the curves.
    slices : sequence of int, optional
        Slice labels for the legend.
    title : str, optional
        Figure title.

    Returns
    -------
    pathlib.Path
        The PNG written.
    """
    loss = np.asarray(history.get("loss", np.zeros((0, 1))), dtype=np.float64)
    loss = loss[:, None] if loss.ndim == 1 else loss
    n_iter, nsl = loss.shape
    labels = list(slices) if slices is not None else list(range(nsl))
    show = np.unique(np.linspace(0, nsl - 1, min(nsl, 8)).round().astype(int)) if nsl else []
    terms = [k for k in ("data", "tv", "ae") if k in history and np.nanmax(np.abs(
        np.asarray(history[k], dtype=np.float64)), initial=0.0) > 0]
    fig = _figure(10, 4)
    ax1, ax2 = fig.subplots(1, 2)
    it = np.arange(n_iter)
    for b in show:
        line, = ax1.plot(it, loss[:, b], lw=1.2, label=f"slice {labels[b]}")
        if selected is not None and 0 <= int(np.asarray(selected)[b]) < n_iter:
            k = int(np.asarray(selected)[b])
            ax1.plot([k], [loss[k, b]], "o", color=line.get_color(), ms=5)
    ax1.set_yscale("log")
    ax1.set_xlabel("iteration")
    ax1.set_ylabel("loss (unit data scale)")
    ax1.set_title("total loss" + (" (dot: returned iterate)" if selected is not None else ""), fontsize=10)
    if len(show) > 1:
        ax1.legend(fontsize=8)
    for key in terms:
        v = np.asarray(history[key], dtype=np.float64)
        v = v[:, None] if v.ndim == 1 else v
        ax2.plot(it, np.nanmean(v, axis=1), lw=1.2, label=key)
    if terms:
        ax2.set_yscale("log")
        ax2.legend(fontsize=8)
    ax2.set_xlabel("iteration")
    ax2.set_title("loss terms (mean over slices)", fontsize=10)
    for ax in (ax1, ax2):
        ax.grid(True, which="both", alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


def plot_comparison(images: Mapping[str, np.ndarray], path: str | os.PathLike,
                    reference: np.ndarray | None = None, ncols: int | None = None,
                    percentiles: tuple[float, float] = (0.5, 99.5), title: str | None = None,
                    common_range: bool = True, reference_label: str = "reference") -> Path:
    """Images side by side, titled with their PSNR / SSIM against ``reference`` when given.

    Parameters
    ----------
    images : mapping of str to numpy.ndarray
        Panel title -> 2-D image (all the same shape).
    path : str or path-like
        Output PNG.
    reference : numpy.ndarray, optional
        Shown first (titled ``reference_label``) and used for the metrics.
    ncols : int, optional
        Panels per row (default: all in one row up to 4, then 4 per row).
    percentiles : tuple of float
        Grey-level window.
    title : str, optional
        Figure title.
    common_range : bool
        One grey-level window for all panels (from the reference, or the first image).
    reference_label : str
        Title of the reference panel.

    Returns
    -------
    pathlib.Path
        The PNG written.
    """
    from tomopy_dip.metrics import psnr, ssim

    panels: list[tuple[str, np.ndarray]] = []
    if reference is not None:
        panels.append((reference_label, np.asarray(reference)))
    panels += [(k, np.asarray(v)) for k, v in images.items()]
    if not panels:
        raise ValueError("nothing to plot")
    n = len(panels)
    ncols = ncols or min(n, 4)
    nrows = math.ceil(n / ncols)
    h, w = panels[0][1].shape[-2:]
    size = 3.2
    fig = _figure(size * ncols * max(w / h, 0.5), (size + 0.5) * nrows + (0.4 if title else 0))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    rng = display_range(panels[0][1], percentiles) if common_range else None
    for ax, (name, img) in zip(axes, panels):
        vmin, vmax = rng if rng is not None else display_range(img, percentiles)
        ax.imshow(img, cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
        label = name
        if reference is not None and img is not panels[0][1] and img.shape == np.shape(reference):
            label += f"\nPSNR {psnr(img, reference):.2f} dB, SSIM {ssim(img, reference):.3f}"
        ax.set_title(label, fontsize=9)
    for ax in axes:
        ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return _save(fig, path)


def plot_psnr_curves(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], ax: Any = None,
                     path: str | os.PathLike | None = None, xlabel: str = "time (s)") -> Any:
    """PSNR against time (or iterations) for several methods.

    Parameters
    ----------
    curves : mapping of str to (x, psnr)
        One curve per method; a single point is drawn as a marker (e.g. FBP).
    ax : matplotlib Axes, optional
        Draw into it; otherwise a new figure is made and saved to ``path``.
    path : str or path-like, optional
        Output PNG when ``ax`` is not given.
    xlabel : str
        Label of the x axis.

    Returns
    -------
    matplotlib Axes or pathlib.Path
        ``ax`` when given, else the PNG written.
    """
    own = ax is None
    if own:
        fig = _figure(6, 4)
        ax = fig.subplots()
    for name, (x, y) in curves.items():
        x, y = np.atleast_1d(x), np.atleast_1d(y)
        if x.size == 1:
            ax.plot(x, y, "o", ms=7, label=name)
        else:
            ax.plot(x, y, lw=1.4, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("PSNR (dB)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    if own:
        if path is None:
            raise ValueError("path is required when ax is not given")
        fig.tight_layout()
        return _save(fig, path)
    return ax
