"""Cone-beam vectors: one row ``(sx, sy, sz, dx, dy, dz, ux, uy, uz, vx, vy, vz)`` per view,
ASTRA's ``cone_vec`` convention (the source, the detector's centre, and the steps from detector
pixel ``(0, 0)`` to ``(0, 1)`` and to ``(1, 0)``), in voxel units, in the frame of
:mod:`tomopy_dip.physics.geometry`.

The rules that read a geometry from its vectors live here, so that a circular geometry (whose
vectors ASTRA computes) and a geometry given by its vectors share them: the check of given
vectors (:func:`check_vectors`), the distance of each source to its detector's plane
(:func:`source_detector_distance`) and the cosines of the rays (:func:`ray_cosines`).

Examples
--------
>>> import numpy as np
>>> vec = np.array([[0, -100, 0, 0, 50, 0, 1, 0, 0, 0, 0, 1]], dtype=float)  # source, detector, u, v
>>> source_detector_distance(check_vectors(vec))
array([150.])
>>> ray_cosines(vec, ndet=3, rows=1).round(6)
array([[[0.999978, 1.      , 0.999978]]])
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["check_vectors", "source_detector_distance", "in_plane_vectors", "ray_cosines"]


def check_vectors(vectors: Any) -> np.ndarray:
    """``vectors`` as a read-only float64 ``(nproj, 12)`` array of cone-beam vectors (ASTRA's
    ``cone_vec``: source, detector centre, column step ``u``, row step ``v``).

    Raises
    ------
    TypeError
        ``vectors`` is not numeric.
    ValueError
        Not ``(nproj, 12)``, not finite, a detector step of zero length, ``u`` parallel to ``v``,
        or a source on its detector's plane.
    """
    try:
        vec = np.array(vectors, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"vectors must be an array of numbers (nproj, 12), got {type(vectors).__name__}") from None
    if vec.ndim != 2 or vec.shape[1] != 12 or vec.shape[0] == 0:
        raise ValueError(f"vectors must have shape (nproj, 12) - source, detector centre, u and v per view "
                         f"(ASTRA's cone_vec) - got {vec.shape}")
    if not np.all(np.isfinite(vec)):
        raise ValueError("vectors must contain only finite values")
    u, v = vec[:, 6:9], vec[:, 9:12]
    scale = np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1)
    bad = np.flatnonzero(~(np.linalg.norm(np.cross(u, v), axis=1) > 1e-9 * np.maximum(scale, 1e-300)))
    if bad.size:
        raise ValueError(f"vectors: view {bad[0]} has a detector step u or v of zero length, or u parallel to v")
    bad = np.flatnonzero(~(source_detector_distance(vec) > 1e-6))
    if bad.size:
        raise ValueError(f"vectors: the source of view {bad[0]} lies on its detector's plane")
    vec.setflags(write=False)
    return vec


def source_detector_distance(vec: np.ndarray) -> np.ndarray:
    """Distance from each view's source to its detector's plane (normal ``u x v``), ``(nproj,)``,
    of ``(nproj, 12)`` cone-beam vectors."""
    normal = np.cross(vec[:, 6:9], vec[:, 9:12])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    return np.abs(np.einsum("ij,ij->i", vec[:, 3:6] - vec[:, 0:3], normal))


def in_plane_vectors(vec2: np.ndarray) -> np.ndarray:
    """ASTRA's ``fanflat_vec`` vectors ``(nproj, 6)`` (source, detector centre, ``u`` in the
    plane) as ``(nproj, 12)`` cone-beam vectors of one detector row in the plane ``z = 0``."""
    vec = np.zeros((vec2.shape[0], 12))
    vec[:, [0, 1, 3, 4, 6, 7]] = vec2
    vec[:, 11] = 1.0  # a unit row step along z: one row, in the plane
    return vec


def ray_cosines(vec: np.ndarray, ndet: int, rows: int = 1) -> np.ndarray:
    """Cosine of the angle between each ray and its detector's normal, ``(rows, nproj, ndet)``,
    of ``(nproj, 12)`` cone-beam vectors on a detector of ``rows`` rows of ``ndet`` pixels."""
    w, u, v = vec[:, 3:6] - vec[:, 0:3], vec[:, 6:9], vec[:, 9:12]  # source -> detector centre, steps
    dot = lambda a, b: np.einsum("ij,ij->i", a, b)[None, :, None]  # noqa: E731 - per view
    c = (np.arange(ndet) - (ndet - 1) / 2.0)[None, None, :]
    r = (np.arange(rows) - (rows - 1) / 2.0)[:, None, None]
    # the ray to pixel (r, c) is w + c u + r v; u and v lie in the detector plane
    length2 = (dot(w, w) + c * c * dot(u, u) + r * r * dot(v, v) + 2 * c * dot(w, u) + 2 * r * dot(w, v)
               + 2 * c * r * dot(u, v))
    return source_detector_distance(vec)[None, :, None] / np.sqrt(length2)
