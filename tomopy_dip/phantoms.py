"""Test objects and simulated scans (the built-in default input of the demo and the tests)."""

from __future__ import annotations

import numpy as np
import torch

from .geometry import Geometry
from .projector import get_operator

__all__ = ["shepp_logan", "simulate"]

# (value, semi-axis a, semi-axis b, centre x, centre y, angle in degrees): modified Shepp-Logan.
_SHEPP_LOGAN = [
    (1.0, 0.69, 0.92, 0.0, 0.0, 0),
    (-0.8, 0.6624, 0.874, 0.0, -0.0184, 0),
    (-0.2, 0.11, 0.31, 0.22, 0.0, -18),
    (-0.2, 0.16, 0.41, -0.22, 0.0, 18),
    (0.1, 0.21, 0.25, 0.0, 0.35, 0),
    (0.1, 0.046, 0.046, 0.0, 0.1, 0),
    (0.1, 0.046, 0.046, 0.0, -0.1, 0),
    (0.1, 0.046, 0.023, -0.08, -0.605, 0),
    (0.1, 0.023, 0.023, 0.0, -0.606, 0),
    (0.1, 0.023, 0.046, 0.06, -0.605, 0),
]


def shepp_logan(n: int = 128) -> np.ndarray:
    """Modified Shepp-Logan phantom on an ``n x n`` grid (values in [0, 1]), float32.

    Examples
    --------
    >>> p = shepp_logan(64)
    >>> p.shape, float(p.max())
    ((64, 64), 1.0)
    """
    c = (np.arange(n) - (n - 1) / 2.0) / (n / 2.0)
    y, x = -c[:, None], c[None, :]
    img = np.zeros((n, n))
    for v, a, b, x0, y0, ang in _SHEPP_LOGAN:
        t = np.deg2rad(ang)
        xr = (x - x0) * np.cos(t) + (y - y0) * np.sin(t)
        yr = -(x - x0) * np.sin(t) + (y - y0) * np.cos(t)
        img[(xr / a) ** 2 + (yr / b) ** 2 <= 1] += v
    return np.clip(img, 0, None).astype(np.float32)


def simulate(image: np.ndarray, theta: np.ndarray, center: float | None = None,
             noise: float = 0.0, seed: int = 0, **geometry: object) -> np.ndarray:
    """Sinograms of ``image`` (``(nx, ny)`` or ``(nslices, nx, ny)``), optional Gaussian noise.

    Parameters
    ----------
    image : numpy.ndarray
        Image(s) on the output grid.
    theta : numpy.ndarray
        Angles in radians.
    center : float, optional
        Rotation centre (gridrec convention); default as :class:`~tomopy_dip.geometry.Geometry`.
    noise : float
        Relative noise level: ``y = A x + noise * mean(|A x|) * N(0, 1)`` (EDIP's "5%" is 0.05).
    seed : int
        Noise seed.
    **geometry
        ``ndet`` (default: the image width) and beam keywords of :class:`Geometry`.

    Returns
    -------
    numpy.ndarray
        ``(nproj, ndet)`` or ``(nslices, nproj, ndet)`` float32.
    """
    img = np.asarray(image, dtype=np.float32)
    squeeze = img.ndim == 2
    img = img[None] if squeeze else img
    ndet = int(geometry.pop("ndet", img.shape[-1]))
    g = Geometry(theta, ndet, center=center, num_gridx=img.shape[1], num_gridy=img.shape[2],
                 **geometry)
    with torch.no_grad():
        sino = get_operator(g)(torch.from_numpy(img)).numpy()
    if noise > 0:
        rng = np.random.default_rng(seed)
        sino = sino + noise * np.abs(sino).mean(axis=(1, 2), keepdims=True) * rng.standard_normal(
            sino.shape).astype(np.float32)
    return sino[0] if squeeze else sino
