"""Image-quality metrics as used in the DIP papers (data range from the reference)."""

from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import gaussian_filter

__all__ = ["psnr", "ssim", "psnr_batch"]


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
