"""Random ellipse (2D) and ellipsoid (3D) phantoms: the synthetic training data of Educated DIP.

The distribution follows EDIP (Barbano, Leuschner et al. 2022) and dival's ``EllipsesDataset``,
on a field of view normalised to ``[-1, 1]`` along every axis:

* number of ellipses ``min(Poisson(40), 70)`` (2D) or ellipsoids ``min(Poisson(120), 210)`` (3D);
* additive value ``U(-0.4, 1.0)`` each;
* semi-axes ``0.2 * Exp(1)`` (3D: the same, as the 3D description in METHODS.md gives none);
* centres ``U(-0.9, 0.9)`` per axis (2D), uniform in the ball of radius ``0.7`` (3D);
* rotation ``U(0, 2 pi)`` (2D), a uniformly random rotation (3D);
* the foreground (non-zero pixels) is shifted up by ``-min`` when the image has negative values,
  then the image is divided by its maximum: values in ``[0, 1]``, background ``0``.

In 3D the volume is also zeroed outside the ball of radius 0.7, so that every ellipsoid lies
inside it (the support a cone-beam scan of the ball sees completely).

A second, optional 2D family, ``"holed_discs"`` (:func:`random_holed_disc`), imitates objects
of one material with voids, such as the HTC 2022 phantoms (a plastic disc with holes): a disc
of radius ``U(0.78, 0.95)`` with a radial cupping ``1 - c (1 - r^2 / R^2)``, ``c ~ U(0, 0.25)``
(beam hardening makes the rim brighter), and holes of value ``U(0, 0.25)`` in one of three
styles: ellipses, convex polygons, or the cells of a Voronoi partition separated by walls.
The holes are not empty in reconstructions of measured scans: in the HTC 2022 scanner's
dense-view reconstructions (the challenge's own FBP and a 720-view SIRT) they sit at 8-16 %
of the disc's level (presumably scatter and beam hardening), which the FBP of the sparse data shows too.
It is not EDIP's distribution; :func:`tomopy_dip.pretrain` uses it only when asked
(``phantoms="holed_discs"``).

Generation is deterministic per seed: ``random_ellipses(128, seed=7)`` is the same image on every
machine (NumPy's PCG64), and :func:`sample_rng` turns ``(seed, stream, index)`` into an
independent generator, so that a training sample can be re-created from its index alone (the
pretraining data stream is resumable without storing any random state). Each shape is drawn
inside its bounding box only, so a 128² image takes about a millisecond and a 512² one a few.
"""

from __future__ import annotations

import json
import math
from typing import Sequence

import numpy as np

__all__ = [
    "ellipse_parameters", "rasterize", "random_ellipses", "random_ellipsoids", "random_phantom",
    "ellipses_batch", "sample_rng", "DISTRIBUTIONS", "random_holed_disc", "PHANTOM_FAMILIES",
    "family_parameters",
]

#: Parameters of the distributions (see the module docstring).
DISTRIBUTIONS = {
    2: {"mean_count": 40, "max_count": 70, "value": (-0.4, 1.0), "axis_scale": 0.2,
        "center_box": 0.9, "ball_radius": None},
    3: {"mean_count": 120, "max_count": 210, "value": (-0.4, 1.0), "axis_scale": 0.2,
        "center_box": None, "ball_radius": 0.7},
}

#: Parameters of the holed-disc family (see the module docstring): ranges of ``U(lo, hi)`` draws,
#: integer ranges inclusive.
HOLED_DISC = {"radius": (0.78, 0.95), "offset": 0.04, "cupping": (0.0, 0.25), "holes": (3, 16),
              "hole_size": (0.05, 0.22), "hole_aspect": (0.4, 1.0), "hole_value": (0.0, 0.25),
              "cells": (6, 16), "wall": (0.05, 0.1), "styles": ("ellipses", "polygons", "cells")}

#: Stream numbers used by :func:`sample_rng` (pretraining: training samples, validation
#: samples and the per-step choice of geometry).
STREAMS = {"train": 0, "validation": 1, "geometry": 2}


def sample_rng(seed: int, index: int, stream: int | str = "train") -> np.random.Generator:
    """An independent generator for sample ``index`` of ``stream`` under ``seed``.

    Parameters
    ----------
    seed : int
        Base seed of the data set.
    index : int
        Sample (or step) number, ``>= 0``.
    stream : int or {"train", "validation", "geometry"}
        Independent sub-streams of the same seed.

    Examples
    --------
    >>> a = sample_rng(0, 5).random(); b = sample_rng(0, 5).random()
    >>> a == b, a == sample_rng(0, 6).random()
    (True, False)
    """
    s = STREAMS[stream] if isinstance(stream, str) else int(stream)
    if int(seed) < 0 or int(index) < 0 or s < 0:
        raise ValueError("seed, index and stream must be non-negative integers")
    return np.random.default_rng(np.random.SeedSequence([int(seed), s, int(index)]))


def _as_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


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


def _coords(n: int) -> np.ndarray:
    """Normalised pixel-centre coordinates of an axis of ``n`` pixels (field ``[-1, 1]``)."""
    return (np.arange(n) - (n - 1) / 2.0) / (n / 2.0)


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


def _shape2d(size: int | Sequence[int]) -> tuple[int, int]:
    """``n`` -> ``(n, n)``; a pair as given; anything else a ValueError naming ``size``."""
    shape = (size, size) if np.ndim(size) == 0 else tuple(size)
    if len(shape) != 2:
        raise ValueError(f"size must be an int or a pair of ints, got {size!r}")
    return shape


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


def _holed_disc_parameters(rng: np.random.Generator) -> dict:
    d = HOLED_DISC
    p = {"radius": rng.uniform(*d["radius"]), "center": rng.uniform(-d["offset"], d["offset"], 2),
         "cupping": rng.uniform(*d["cupping"]), "style": d["styles"][int(rng.integers(len(d["styles"])))],
         "hole_value": rng.uniform(*d["hole_value"])}
    inner = p["radius"] - 0.1
    if p["style"] == "cells":
        n = int(rng.integers(*d["cells"], endpoint=True))
        r, a = inner * np.sqrt(rng.random(n)), rng.uniform(0, 2 * np.pi, n)
        p["points"] = p["center"] + np.stack([r * np.cos(a), r * np.sin(a)], 1)
        p["wall"] = rng.uniform(*d["wall"])
        return p
    holes = []
    for _ in range(int(rng.integers(*d["holes"], endpoint=True))):
        size = rng.uniform(*d["hole_size"])
        r, a = (inner - size) * math.sqrt(rng.random()), rng.uniform(0, 2 * np.pi)
        k = 0 if p["style"] == "ellipses" else int(rng.integers(3, 8, endpoint=True))
        holes.append({
            "center": p["center"] + np.array([r * math.cos(a), r * math.sin(a)]), "size": size,
            "aspect": rng.uniform(*d["hole_aspect"]), "angle": rng.uniform(0, np.pi),
            # Vertex angles of a convex polygon inscribed in the unit circle (jittered k-gon).
            "vertices": (2 * np.pi * (np.arange(k) + rng.uniform(-0.35, 0.35, k)) / k
                         + rng.uniform(0, 2 * np.pi)) if k else None,
        })
    p["holes"] = holes
    return p


def _convex_polygon(u: np.ndarray, w: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Inside the convex polygon with vertices on the unit circle at increasing ``angles``."""
    vx, vy = np.cos(angles), np.sin(angles)
    inside = np.ones(np.broadcast(u, w).shape, bool)
    for i in range(len(angles)):
        j = (i + 1) % len(angles)
        inside &= (vx[j] - vx[i]) * (w - vy[i]) - (vy[j] - vy[i]) * (u - vx[i]) >= 0
    return inside


def random_holed_disc(size: int | Sequence[int], seed: int | np.random.Generator | None = None) -> np.ndarray:
    """A disc of one material with holes, values in ``[0, 1]`` (the ``"holed_discs"`` family).

    Parameters
    ----------
    size : int or (int, int)
        Image size ``n`` (``n x n``) or ``(rows, columns)``.
    seed : int or numpy.random.Generator, optional
        Same seed, same image.

    Returns
    -------
    numpy.ndarray
        float32 ``(rows, columns)``: background 0, the disc's maximum 1.

    Examples
    --------
    >>> img = random_holed_disc(64, seed=1)
    >>> img.shape, float(img.max()), float(img[0, 0])
    ((64, 64), 1.0, 0.0)
    """
    shape = _shape2d(size)
    p = _holed_disc_parameters(_as_rng(seed))
    g0, g1 = _coords(shape[0])[:, None], _coords(shape[1])[None, :]
    r2 = ((g0 - p["center"][0]) ** 2 + (g1 - p["center"][1]) ** 2) / p["radius"] ** 2
    img = np.where(r2 <= 1, 1.0 - p["cupping"] * (1 - r2), 0.0)
    if p["style"] == "cells":
        pts = p["points"]
        d2 = (g0[None] - pts[:, 0, None, None]) ** 2 + (g1[None] - pts[:, 1, None, None]) ** 2
        two = np.sqrt(np.partition(d2, 1, axis=0)[:2])  # nearest and second-nearest point
        inner = np.sqrt(r2) <= 1 - 2 * p["wall"] / p["radius"]
        hole = ((two[1] - two[0]) > p["wall"]) & inner
    else:
        hole = np.zeros(shape, bool)
        m0, m1 = (shape[0] - 1) / 2.0, (shape[1] - 1) / 2.0
        for h in p["holes"]:
            (x0, x1), e = h["center"], h["size"]  # the hole lies in the disc of radius size
            lo0, hi0 = max(int((x0 - e) * shape[0] / 2 + m0), 0), min(int((x0 + e) * shape[0] / 2 + m0) + 2, shape[0])
            lo1, hi1 = max(int((x1 - e) * shape[1] / 2 + m1), 0), min(int((x1 + e) * shape[1] / 2 + m1) + 2, shape[1])
            ca, sa = math.cos(h["angle"]), math.sin(h["angle"])
            d0, d1 = g0[lo0:hi0] - x0, g1[:, lo1:hi1] - x1
            u = (ca * d0 + sa * d1) / e
            w = (-sa * d0 + ca * d1) / (e * h["aspect"])
            hole[lo0:hi0, lo1:hi1] |= (u * u + w * w <= 1) if h["vertices"] is None else _convex_polygon(u, w, h["vertices"])
    img[hole & (r2 <= 1)] = p["hole_value"]
    return (img / img.max()).astype(np.float32)


#: Synthetic phantom families: name -> 2D generator (3D: ellipsoids only).
PHANTOM_FAMILIES = {"ellipses": random_ellipses, "holed_discs": random_holed_disc}


def family_parameters(family: str) -> dict:
    """The parameters that define ``family``'s 2-D distribution (a copy, JSON-ready).

    Pretraining records them in a checkpoint's metadata and in its run signature, so that a run
    is not resumed after the distribution changed.

    Examples
    --------
    >>> family_parameters("ellipses")["mean_count"], family_parameters("holed_discs")["holes"]
    (40, [3, 16])
    """
    if family not in PHANTOM_FAMILIES:
        raise ValueError(f"family must be one of {tuple(PHANTOM_FAMILIES)}, got {family!r}")
    params = DISTRIBUTIONS[2] if family == "ellipses" else HOLED_DISC
    return json.loads(json.dumps(params))


def random_phantom(shape: Sequence[int], seed: int | np.random.Generator | None = None,
                   family: str = "ellipses") -> np.ndarray:
    """A phantom of ``family`` (:data:`PHANTOM_FAMILIES`) for a 2-D ``shape``;
    :func:`random_ellipsoids` for a 3-D one (``family="ellipses"`` only)."""
    shape = tuple(shape)
    if family not in PHANTOM_FAMILIES:
        raise ValueError(f"family must be one of {tuple(PHANTOM_FAMILIES)}, got {family!r}")
    if len(shape) == 2:
        return PHANTOM_FAMILIES[family](shape, seed)
    if len(shape) == 3 and family != "ellipses":
        raise ValueError(f"family {family!r} is 2D only; 3D phantoms are ellipsoids")
    if len(shape) == 3:
        return random_ellipsoids(shape, seed)
    raise ValueError(f"shape must have 2 or 3 entries, got {shape!r}")


def ellipses_batch(shape: Sequence[int], seed: int, indices: Sequence[int],
                   stream: int | str = "train", family: str = "ellipses") -> np.ndarray:
    """Phantoms number ``indices`` of the stream ``(seed, stream)``, stacked: ``(B, *shape)``.

    Sample ``i`` depends on ``(seed, stream, i)`` only, not on the other indices requested.
    """
    return np.stack([random_phantom(shape, sample_rng(seed, i, stream), family) for i in indices])

