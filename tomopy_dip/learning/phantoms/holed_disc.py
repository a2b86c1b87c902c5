"""Discs of one material with holes: the optional ``"holed_discs"`` phantom family.

The family (:func:`random_holed_disc`) imitates objects of one material with voids, such as the
HTC 2022 phantoms (a plastic disc with holes): a disc of radius ``U(0.78, 0.95)`` with a radial
cupping ``1 - c (1 - r^2 / R^2)``, ``c ~ U(0, 0.25)`` (beam hardening makes the rim brighter),
and holes of value ``U(0, 0.25)`` in one of three styles: ellipses, convex polygons, or the
cells of a Voronoi partition separated by walls. The holes are not empty in reconstructions of
measured scans: in the HTC 2022 scanner's dense-view reconstructions (the challenge's own FBP
and a 720-view SIRT) they sit at 8-16 % of the disc's level (presumably scatter and beam
hardening), which the FBP of the sparse data shows too. It is not EDIP's distribution;
:func:`tomopy_dip.pretrain` uses it only when asked (``phantoms="holed_discs"``).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from tomopy_dip.learning.phantoms.sampling import _as_rng, _coords, _shape2d

__all__ = ["HOLED_DISC", "random_holed_disc"]

#: Parameters of the holed-disc family (see the module docstring): ranges of ``U(lo, hi)`` draws,
#: integer ranges inclusive.
HOLED_DISC = {"radius": (0.78, 0.95), "offset": 0.04, "cupping": (0.0, 0.25), "holes": (3, 16),
              "hole_size": (0.05, 0.22), "hole_aspect": (0.4, 1.0), "hole_value": (0.0, 0.25),
              "cells": (6, 16), "wall": (0.05, 0.1), "styles": ("ellipses", "polygons", "cells")}


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
