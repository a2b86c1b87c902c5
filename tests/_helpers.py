"""Small independent helpers for the tests (analytic sinograms, correlation, centroids).

Nothing here uses the package's projector: the analytic sinograms follow the conventions stated
in TOMOPY.md and measured on TomoPy 1.15.2, so comparing the package against them is a real
check and not a tautology.
"""

from __future__ import annotations

import math

import numpy as np


def corr(a, b, mask=None) -> float:
    """Pearson correlation of two images (optionally inside ``mask``)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if mask is not None:
        a, b = a[mask], b[mask]
    a = a.ravel() - a.mean()
    b = b.ravel() - b.mean()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def grid_xy(nx: int, ny: int) -> tuple[np.ndarray, np.ndarray]:
    """Physical coordinates of pixel centres on gridrec's grid (measured on TomoPy 1.15.2).

    ``recon[i, j]`` sits at ``x = j - ceil(ny / 2)``, ``y = (nx // 2 - 1) - i``.
    """
    i, j = np.mgrid[:nx, :ny]
    return (j - math.ceil(ny / 2)).astype(np.float64), (nx // 2 - 1 - i).astype(np.float64)


def pixel_of(x: float, y: float, nx: int, ny: int) -> tuple[float, float]:
    """(row, column) of the physical point ``(x, y)`` on gridrec's grid."""
    return nx // 2 - 1 - y, x + math.ceil(ny / 2)


def gaussian_image(nx: int, ny: int, x0: float, y0: float, sigma: float) -> np.ndarray:
    x, y = grid_xy(nx, ny)
    return np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * sigma**2)).astype(np.float32)


def disc_image(nx: int, ny: int, x0: float, y0: float, radius: float, supersample: int = 4) -> np.ndarray:
    """Area fraction of each pixel covered by a disc (supersampled)."""
    x, y = grid_xy(nx, ny)
    off = (np.arange(supersample) + 0.5) / supersample - 0.5
    acc = np.zeros((nx, ny))
    for dx in off:
        for dy in off:
            acc += (x + dx - x0) ** 2 + (y + dy - y0) ** 2 <= radius**2
    return (acc / supersample**2).astype(np.float32)


def parallel_gaussian_sino(theta, ndet, center, x0, y0, sigma) -> np.ndarray:
    """Analytic parallel-beam sinogram of a unit Gaussian blob, gridrec convention ``t = d - c``."""
    th = np.asarray(theta, np.float64)[:, None]
    t = np.arange(ndet)[None, :] - center
    p = x0 * np.cos(th) + y0 * np.sin(th)
    return (math.sqrt(2 * math.pi) * sigma * np.exp(-((t - p) ** 2) / (2 * sigma**2))).astype(np.float32)


def parallel_disc_sino(theta, ndet, center, x0, y0, radius) -> np.ndarray:
    """Analytic parallel-beam sinogram (chord lengths) of a uniform unit disc."""
    th = np.asarray(theta, np.float64)[:, None]
    t = np.arange(ndet)[None, :] - center
    h = t - (x0 * np.cos(th) + y0 * np.sin(th))
    return (2 * np.sqrt(np.clip(radius**2 - h**2, 0, None))).astype(np.float32)


def _fan_frames(theta, source_origin, origin_detector):
    """ASTRA's ``fanflat`` convention: source, detector centre, detector direction per angle."""
    th = np.asarray(theta, np.float64)
    s, c = np.sin(th), np.cos(th)
    src = np.stack([s * source_origin, -c * source_origin], -1)
    det = np.stack([-s * origin_detector, c * origin_detector], -1)
    u = np.stack([c, s], -1)
    return src, det, u


def fan_hit(theta, x0, y0, center, source_origin, origin_detector, spacing) -> np.ndarray:
    """Detector coordinate (pixels, ``t = d - center`` convention) where the ray through a point lands."""
    src, det, u = _fan_frames(theta, source_origin, origin_detector)
    normal = np.stack([-u[:, 1], u[:, 0]], -1)
    p = np.array([x0, y0], np.float64)
    lam = ((det - src) * normal).sum(1) / ((p - src) * normal).sum(1)
    hit = src + lam[:, None] * (p - src)
    return center + ((hit - det) * u).sum(1) / spacing


def fan_disc_sino(theta, ndet, center, x0, y0, radius, source_origin, origin_detector, spacing):
    """Analytic flat-detector fan-beam sinogram (chord lengths) of a uniform unit disc."""
    src, det, u = _fan_frames(theta, source_origin, origin_detector)
    pos = det[:, None, :] + ((np.arange(ndet) - center) * spacing)[None, :, None] * u[:, None, :]
    v = pos - src[:, None, :]
    v /= np.linalg.norm(v, axis=2, keepdims=True)
    w = np.array([x0, y0]) - src[:, None, :]
    h2 = (w * w).sum(2) - (w * v).sum(2) ** 2
    return (2 * np.sqrt(np.clip(radius**2 - h2, 0, None))).astype(np.float32)


def centroid(img, i0, j0, radius: float = 5.0) -> tuple[float, float]:
    """Centroid of the positive part of ``img`` within ``radius`` of ``(i0, j0)``."""
    img = np.asarray(img, np.float64)
    i, j = np.mgrid[: img.shape[0], : img.shape[1]]
    w = np.clip(img, 0, None) * (((i - i0) ** 2 + (j - j0) ** 2) <= radius**2)
    return float((w * i).sum() / w.sum()), float((w * j).sum() / w.sum())


def tomopy_angles(n: int) -> np.ndarray:
    """``tomopy.angles(n)``: ``n`` angles from 0 to pi inclusive."""
    return np.linspace(0, np.pi, n)
