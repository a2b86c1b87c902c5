"""The modified Shepp-Logan phantom, the test image of the examples, tests and demos.

Import it from :mod:`tomopy_dip.learning.phantoms` (this module's name has a leading underscore
so that it does not shadow the function there).
"""

from __future__ import annotations

import numpy as np

from tomopy_dip.learning.phantoms.sampling import _coords

__all__ = ["shepp_logan"]

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
    c = _coords(n)
    y, x = -c[:, None], c[None, :]
    img = np.zeros((n, n))
    for v, a, b, x0, y0, ang in _SHEPP_LOGAN:
        t = np.deg2rad(ang)
        xr = (x - x0) * np.cos(t) + (y - y0) * np.sin(t)
        yr = -(x - x0) * np.sin(t) + (y - y0) * np.cos(t)
        img[(xr / a) ** 2 + (yr / b) ** 2 <= 1] += v
    return np.clip(img, 0, None).astype(np.float32)
