"""Image-quality metrics as used in the DIP papers (data range from the reference)."""

from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

__all__ = ["psnr", "ssim", "psnr_batch", "disc_mask", "calibration"]


def _pair(image: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    x = np.asarray(image, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    if x.shape != ref.shape:
        raise ValueError(f"image shape {x.shape} differs from reference shape {ref.shape}")
    rng = float(ref.max() - ref.min())
    if rng <= 0:
        raise ValueError("reference must not be constant (its data range is 0)")
    return x, ref, rng


def psnr(image: np.ndarray, reference: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB with data range ``max(ref) - min(ref)``.

    Examples
    --------
    >>> ref = np.zeros((8, 8)); ref[2:6, 2:6] = 1
    >>> round(psnr(ref + 0.1, ref), 1)
    20.0
    """
    x, ref, rng = _pair(image, reference)
    mse = float(np.mean((x - ref) ** 2))
    return float("inf") if mse == 0 else float(10.0 * np.log10(rng**2 / mse))


def ssim(image: np.ndarray, reference: np.ndarray, sigma: float = 1.5) -> float:
    """Structural similarity (Wang et al. 2004) with a Gaussian window, data range of ``ref``.

    Examples
    --------
    >>> ref = np.random.default_rng(0).random((32, 32))
    >>> ssim(ref, ref)
    1.0
    """
    x, ref, rng = _pair(image, reference)
    c1, c2 = (0.01 * rng) ** 2, (0.03 * rng) ** 2
    f = lambda a: gaussian_filter(a, sigma, truncate=3.5)  # noqa: E731
    mx, my = f(x), f(ref)
    vx, vy, cxy = f(x * x) - mx**2, f(ref * ref) - my**2, f(x * ref) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(np.round(s.mean(), 12))


def psnr_batch(images: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
    """PSNR of each sample of a batch (first axis), as :func:`psnr` (data range of each
    reference), in float64; a perfect match is capped at ``mse = 1e-30`` instead of ``inf``.

    Examples
    --------
    >>> ref = torch.zeros(1, 8, 8); ref[:, 2:6, 2:6] = 1
    >>> [round(v, 1) for v in psnr_batch(ref + 0.1, ref).tolist()]
    [20.0]
    """
    o, r = images.flatten(1).double(), references.flatten(1).double()
    rng = (r.max(1).values - r.min(1).values).clamp_min(1e-12)
    mse = (o - r).pow(2).mean(1).clamp_min(1e-30)
    return 10 * torch.log10(rng**2 / mse)


def disc_mask(shape: tuple[int, int], fraction: float = 0.9) -> np.ndarray:
    """The pixels of a centred disc whose diameter is ``fraction`` of the image's shorter side
    (the reconstruction circle of a scan, where its pixels are judged).

    Examples
    --------
    >>> int(disc_mask((8, 8)).sum()), bool(disc_mask((8, 8))[0, 0])
    (44, False)
    """
    ny, nx = shape
    yy, xx = np.mgrid[:ny, :nx]
    r = fraction * min(ny, nx) / 2
    return (yy - (ny - 1) / 2) ** 2 + (xx - (nx - 1) / 2) ** 2 < r**2


def calibration(image: np.ndarray, sigma: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None,
                k: float = 2.0, block: int = 8) -> dict[str, float]:
    """How well a per-pixel standard deviation ``sigma`` describes the error of ``image``.

    Parameters
    ----------
    image, sigma, reference : numpy.ndarray
        The reconstruction, its uncertainty (one standard deviation per pixel, same units) and
        the truth or dense reference, all of one 2-D shape.
    mask : numpy.ndarray of bool, optional
        The pixels judged (default :func:`disc_mask`).
    k : float
        Width of the interval of ``coverage``, in standard deviations.
    block : int
        Side of the blocks of ``rank_correlation``.

    Returns
    -------
    dict
        ``coverage``: the fraction of the pixels whose error lies within ``±k sigma`` (about
        0.95 for ``k=2`` when ``sigma`` is calibrated and the error Gaussian);
        ``rank_correlation``: Spearman's rank correlation between the mean ``sigma`` and the
        mean ``|error|`` over the ``block × block`` blocks that lie wholly in the mask (does
        ``sigma`` point at where the errors are? 0 for a constant map); ``nll``: the mean Gaussian negative
        log-likelihood of the errors under ``sigma``; ``nll_constant``: the same for the one
        constant ``sigma`` that fits the errors best (their root mean square), the baseline that
        a useful map beats.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ref = np.zeros((64, 64)); s = np.linspace(0.01, 0.2, 64)[None].repeat(64, 0)
    >>> c = calibration(ref + s * rng.standard_normal(ref.shape), s, ref)
    >>> round(c["coverage"], 2), c["rank_correlation"] > 0.8, c["nll"] < c["nll_constant"]
    (0.95, True, True)
    """
    from scipy.stats import spearmanr

    x, s, ref = (np.asarray(a, dtype=np.float64) for a in (image, sigma, reference))
    if not (x.ndim == 2 and x.shape == s.shape == ref.shape):
        raise ValueError(f"image, sigma and reference must be 2-D of one shape, got {x.shape}, {s.shape}, {ref.shape}")
    m = disc_mask(x.shape) if mask is None else np.asarray(mask, dtype=bool)
    err = x - ref
    e, sm = err[m], np.maximum(s[m], 1e-12 * max(float(np.abs(ref).max()), 1e-30))
    half_log_2pi = 0.5 * np.log(2 * np.pi)
    rms = float(np.sqrt(np.mean(e**2)))
    nb0, nb1 = x.shape[0] // block, x.shape[1] // block
    blocks = lambda a: a[:nb0 * block, :nb1 * block].reshape(nb0, block, nb1, block)  # noqa: E731
    inside = blocks(m).all((1, 3))
    s_blocks, e_blocks = blocks(s).mean((1, 3))[inside], blocks(np.abs(err)).mean((1, 3))[inside]
    # a map that is the same everywhere points nowhere: correlation 0
    rho = np.nan if inside.sum() < 3 else 0.0 if np.ptp(s_blocks) == 0 or np.ptp(e_blocks) == 0 \
        else spearmanr(s_blocks, e_blocks)[0]
    return {"coverage": float(np.mean(np.abs(e) <= k * sm)),
            "rank_correlation": float(rho),
            "nll": float(np.mean(half_log_2pi + np.log(sm) + 0.5 * (e / sm) ** 2)),
            "nll_constant": float(half_log_2pi + np.log(max(rms, 1e-300)) + 0.5)}
