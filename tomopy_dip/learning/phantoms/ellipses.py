"""Random ellipse (2D) and ellipsoid (3D) phantoms: the synthetic training data of Educated DIP.

The distribution follows EDIP (Barbano, Leuschner et al. 2022) and dival's ``EllipsesDataset``,
on a field of view normalised to ``[-1, 1]`` along every axis (:data:`DISTRIBUTIONS`):

* number of ellipses ``min(Poisson(40), 70)`` (2D) or ellipsoids ``min(Poisson(120), 210)`` (3D);
* additive value ``U(-0.4, 1.0)`` each;
* semi-axes ``0.2 * Exp(1)`` (3D: the same, as the 3D description in METHODS.md gives none);
* centres ``U(-0.9, 0.9)`` per axis (2D), uniform in the ball of radius ``0.7`` (3D);
* rotation ``U(0, 2 pi)`` (2D), a uniformly random rotation (3D);
* the foreground (non-zero pixels) is shifted up by ``-min`` when the image has negative values,
  then the image is divided by its maximum: values in ``[0, 1]``, background ``0``.

In 3D the volume is also zeroed outside the ball of radius 0.7, so that every ellipsoid lies
inside it (the support a cone-beam scan of the ball sees completely).

Each shape is drawn inside its bounding box only, so a 128² image takes about a millisecond
and a 512² one a few.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from tomopy_dip.learning.phantoms.sampling import _as_rng, _coords, _shape2d

__all__ = ["DISTRIBUTIONS", "ellipse_parameters", "rasterize", "random_ellipses", "random_ellipsoids",
           "random_ellipsoid_slab"]

#: Parameters of the distributions (see the module docstring).
DISTRIBUTIONS = {
    2: {"mean_count": 40, "max_count": 70, "value": (-0.4, 1.0), "axis_scale": 0.2,
        "center_box": 0.9, "ball_radius": None},
    3: {"mean_count": 120, "max_count": 210, "value": (-0.4, 1.0), "axis_scale": 0.2,
        "center_box": None, "ball_radius": 0.7},
}


def _random_rotations(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` uniformly distributed 3D rotation matrices (from random unit quaternions)."""
    q = rng.standard_normal((n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
    ], 1)


def ellipse_parameters(seed: int | np.random.Generator | None = None, dims: int = 2) -> dict:
    """Draw the shapes of one phantom.

    Parameters
    ----------
    seed : int or numpy.random.Generator, optional
        Seed or generator.
    dims : {2, 3}
        Ellipses or ellipsoids.

    Returns
    -------
    dict
        ``value`` ``(n,)``, ``axes`` ``(n, dims)`` semi-axes, ``center`` ``(n, dims)`` and
        ``rotation`` ``(n, dims, dims)`` (rows: the shape's own axes in image coordinates);
        ``angle`` ``(n,)`` too in 2D. Coordinates are normalised: the field of view is
        ``[-1, 1]`` along every array axis.
    """
    if dims not in DISTRIBUTIONS:
        raise ValueError(f"dims must be 2 or 3, got {dims!r}")
    d = DISTRIBUTIONS[dims]
    rng = _as_rng(seed)
    n = int(min(rng.poisson(d["mean_count"]), d["max_count"]))
    value = rng.uniform(*d["value"], n)
    axes = d["axis_scale"] * rng.exponential(1.0, (n, dims))
    out = {"value": value, "axes": axes}
    if dims == 2:
        out["center"] = rng.uniform(-d["center_box"], d["center_box"], (n, 2))
        angle = rng.uniform(0.0, 2 * np.pi, n)
        c, s = np.cos(angle), np.sin(angle)
        out["rotation"] = np.stack([np.stack([c, s], -1), np.stack([-s, c], -1)], 1)
        out["angle"] = angle
    else:
        direction = rng.standard_normal((n, 3))
        direction /= np.maximum(np.linalg.norm(direction, axis=1, keepdims=True), 1e-12)
        radius = d["ball_radius"] * rng.random(n) ** (1.0 / 3.0)
        out["center"] = direction * radius[:, None]
        out["rotation"] = _random_rotations(rng, n)
    return out


def _draw_2d(img: np.ndarray, params: dict, coords: list[np.ndarray]) -> None:
    """Add 2-D ellipses to ``img``, each inside its bounding box (the fast path of
    :func:`rasterize`: plain scalar arithmetic per ellipse, NumPy on the box)."""
    n0, n1 = img.shape
    c0, c1 = coords
    h0, h1 = n0 / 2.0, n1 / 2.0
    m0, m1 = (n0 - 1) / 2.0, (n1 - 1) / 2.0
    for v, (a0, a1), (x0, x1), rot in zip(params["value"].tolist(), params["axes"].tolist(),
                                           params["center"].tolist(), params["rotation"].tolist()):
        if v == 0 or a0 <= 0 or a1 <= 0:
            continue
        (r00, r01), (r10, r11) = rot
        e0 = math.sqrt((r00 * a0) ** 2 + (r10 * a1) ** 2)
        e1 = math.sqrt((r01 * a0) ** 2 + (r11 * a1) ** 2)
        lo0, hi0 = max(int(math.floor((x0 - e0) * h0 + m0)), 0), min(int(math.ceil((x0 + e0) * h0 + m0)) + 1, n0)
        lo1, hi1 = max(int(math.floor((x1 - e1) * h1 + m1)), 0), min(int(math.ceil((x1 + e1) * h1 + m1)) + 1, n1)
        if hi0 <= lo0 or hi1 <= lo1:
            continue
        d0 = (c0[lo0:hi0] - x0)[:, None]
        d1 = (c1[lo1:hi1] - x1)[None, :]
        u = (r00 * d0 + r01 * d1) / a0
        w = (r10 * d0 + r11 * d1) / a1
        img[lo0:hi0, lo1:hi1] += v * ((u * u + w * w) <= 1.0)


def rasterize(params: dict, shape: Sequence[int], normalize: bool = True,
              ball_radius: float | None = None) -> np.ndarray:
    """Draw shapes on a grid of ``shape`` (2 or 3 axes), summing the values where they overlap.

    Parameters
    ----------
    params : dict
        As returned by :func:`ellipse_parameters`.
    shape : sequence of int
        Grid size per axis; pixel ``k`` of an ``n``-pixel axis is centred at
        ``(k - (n - 1) / 2) / (n / 2)``.
    normalize : bool
        Shift the foreground to be non-negative and divide by the maximum (values in [0, 1]).
    ball_radius : float, optional
        Zero the image outside this radius.

    Returns
    -------
    numpy.ndarray
        float32 image of ``shape``.
    """
    shape = tuple(int(s) for s in shape)
    dims = len(shape)
    centers = np.asarray(params["center"], dtype=np.float64)
    if centers.ndim != 2 or centers.shape[1] != dims:
        raise ValueError(f"shapes of dimension {centers.shape[-1]} cannot be drawn on a {dims}-D grid")
    img = np.zeros(shape, dtype=np.float64)
    coords = [_coords(n) for n in shape]
    half = np.array(shape, dtype=np.float64) / 2.0
    if dims == 2:
        _draw_2d(img, params, coords)
        shapes = ()
    else:
        shapes = zip(params["value"], params["axes"], centers, params["rotation"])
    for v, a, c, rot in shapes:
        if v == 0 or np.any(a <= 0):
            continue
        # Half extent of the rotated shape along each image axis.
        extent = np.sqrt(((rot * a[:, None]) ** 2).sum(0))
        lo = np.floor((c - extent) * half + (np.array(shape) - 1) / 2.0).astype(int)
        hi = np.ceil((c + extent) * half + (np.array(shape) - 1) / 2.0).astype(int) + 1
        lo = np.maximum(lo, 0)
        hi = np.minimum(hi, shape)
        if np.any(hi <= lo):
            continue
        sub = [coords[k][lo[k]:hi[k]] - c[k] for k in range(dims)]
        grids = np.meshgrid(*sub, indexing="ij", sparse=True)
        # Coordinates along the shape's own axes: local_j = sum_k rot[j, k] * (p_k - c_k).
        q = 0.0
        for j in range(dims):
            local = sum(rot[j, k] * grids[k] for k in range(dims))
            q = q + (local / a[j]) ** 2
        box = tuple(slice(lo[k], hi[k]) for k in range(dims))
        img[box] += v * (q <= 1.0)
    if ball_radius is not None:
        r2 = sum(g**2 for g in np.meshgrid(*coords, indexing="ij", sparse=True))
        img[r2 > ball_radius**2] = 0.0
    if normalize:
        lo_val = img.min()
        if lo_val < 0:
            img[img != 0] -= lo_val
        hi_val = img.max()
        if hi_val > 0:
            img /= hi_val
    return img.astype(np.float32)


def random_ellipses(size: int | Sequence[int], seed: int | np.random.Generator | None = None) -> np.ndarray:
    """A random-ellipse image with values in ``[0, 1]`` (EDIP's 2D training distribution).

    Parameters
    ----------
    size : int or (int, int)
        Image size ``n`` (``n x n``) or ``(rows, columns)``.
    seed : int or numpy.random.Generator, optional
        Same seed, same image.

    Returns
    -------
    numpy.ndarray
        float32 ``(rows, columns)``.

    Examples
    --------
    >>> img = random_ellipses(64, seed=3)
    >>> img.shape, float(img.min()), float(img.max())
    ((64, 64), 0.0, 1.0)
    >>> bool((random_ellipses(64, seed=3) == img).all())
    True
    """
    return rasterize(ellipse_parameters(seed, 2), _shape2d(size))


def random_ellipsoids(size: int | Sequence[int], seed: int | np.random.Generator | None = None) -> np.ndarray:
    """A random-ellipsoid volume with values in ``[0, 1]``, supported in the ball of radius 0.7.

    Parameters
    ----------
    size : int or (int, int, int)
        Volume size ``n`` (``n x n x n``) or three sizes.
    seed : int or numpy.random.Generator, optional
        Same seed, same volume.

    Returns
    -------
    numpy.ndarray
        float32 volume.
    """
    shape = (size,) * 3 if np.ndim(size) == 0 else tuple(size)
    if len(shape) != 3:
        raise ValueError(f"size must be an int or three ints, got {size!r}")
    return rasterize(ellipse_parameters(seed, 3), shape, ball_radius=DISTRIBUTIONS[3]["ball_radius"])


def random_ellipsoid_slab(shape: Sequence[int], seed: int | np.random.Generator | None = None) -> np.ndarray:
    """``shape[0]`` consecutive rows of a random-ellipsoid volume: a slab, as a 3-D fit sees one.

    The volume is a cube of side ``shape[1]`` (:func:`random_ellipsoids`, the ball of radius
    0.7 inside it) with ``shape[2]`` columns, so an ellipsoid keeps its proportions whatever the
    slab's thickness; the slab's centre row is drawn uniformly from the central half of the cube
    (where the ball is widest). A cube (``shape[0] == shape[1]``) is the whole volume.

    Parameters
    ----------
    shape : (int, int, int)
        ``(rows, nx, ny)``, ``rows <= nx``.
    seed : int or numpy.random.Generator, optional
        Same seed, same slab.

    Returns
    -------
    numpy.ndarray
        float32 ``shape``, values in ``[0, 1]`` (normalised over the whole volume).

    Examples
    --------
    >>> slab = random_ellipsoid_slab((4, 32, 32), seed=1)
    >>> slab.shape, bool(slab.max() <= 1)
    ((4, 32, 32), True)
    """
    rows, nx, ny = (int(v) for v in shape) if len(shape) == 3 else (0, 0, 0)
    if len(shape) != 3 or not 1 <= rows <= nx or ny < 1:
        raise ValueError(f"shape must be (rows, nx, ny) with 1 <= rows <= nx, got {tuple(shape)!r}")
    rng = _as_rng(seed)
    params = ellipse_parameters(rng, 3)
    vol = rasterize(params, (nx, nx, ny), ball_radius=DISTRIBUTIONS[3]["ball_radius"])
    lo, hi = (nx - rows) // 2 - nx // 4, (nx - rows) // 2 + nx // 4
    start = int(rng.integers(max(lo, 0), min(hi, nx - rows) + 1))
    return np.ascontiguousarray(vol[start:start + rows])
