"""The training data of pretraining: phantoms measured in the target geometry, as network pairs.

Sample ``i`` of a stream depends only on ``(seed, stream, i)``
(:func:`tomopy_dip.learning.phantoms.sample_rng`); the noise model and the data scale are the
fitting engine's (:mod:`tomopy_dip.physics.measurement`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from tomopy_dip.learning.phantoms import ImageFamily, random_phantom, sample_rng
from tomopy_dip.learning.pretraining.settings import value_range
from tomopy_dip.physics.fbp import fbp
from tomopy_dip.physics.geometry import Geometry
from tomopy_dip.physics.measurement import add_noise, data_scale
from tomopy_dip.physics.projector import RayTransform

__all__ = ["view_geometry", "simulate_pairs"]


def view_geometry(geometry: Geometry, nproj: int) -> Geometry:
    """``geometry`` with ``nproj`` evenly spaced angles over the same arc, from the same start."""
    th = geometry.theta
    if th.size < 2:
        raise ValueError("several view counts need at least two angles in theta to define the arc")
    steps = np.diff(th)
    if not np.allclose(steps, steps[0], rtol=1e-3, atol=1e-9):
        raise ValueError("views= needs evenly spaced angles in theta (they define the arc covered)")
    arc = float(steps[0]) * th.size
    return geometry.replace(theta=th[0] + np.arange(int(nproj)) * (arc / int(nproj)))


def _phantoms_and_noise(shape: tuple, nsino: tuple, seed: int, indices: Sequence[int],
                        stream: str, family: str | ImageFamily) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Phantoms, unit noise and three uniform numbers per sample (noise level, intensity level
    and blur draws; drawn last, so phantoms and noise are those of runs without them)."""
    xs, ns, us = [], [], []
    for i in indices:
        rng = sample_rng(seed, i, stream)
        xs.append(random_phantom(shape, rng, family))
        ns.append(rng.standard_normal(nsino, dtype=np.float32))
        us.append(rng.random(3))
    return np.stack(xs), np.stack(ns), np.stack(us)


def simulate_pairs(op: RayTransform, seed: int, indices: Sequence[int], stream: str = "train",
                   noise: float | tuple[float, float] = 0.05, filter_name: str = "hann",
                   device: torch.device | str = "cpu", phantoms: str | ImageFamily = "ellipses",
                   level: tuple[float, float] | None = None,
                   blur: float | tuple[float, float] | None = None,
                   slab: int | None = None) -> dict[str, torch.Tensor]:
    """Training pairs of samples ``indices``: network input ``FBP(y) / s`` and target ``x / s``.

    Parameters
    ----------
    op : RayTransform
        The operator of the (training) geometry.
    seed : int
        Data seed; sample ``i`` depends only on ``(seed, stream, i)``.
    indices : sequence of int
        Sample numbers.
    stream : {"train", "validation"}
        Independent sample streams.
    noise : float or (float, float)
        Relative Gaussian noise: ``y = A x + noise * mean(|A x|) * N(0, 1)`` per sample; a
        pair ``(lo, hi)`` draws each sample's level from ``U(lo, hi)``.
    filter_name : str
        FBP filter (the engine's ``filter_name``, default ``"hann"``).
    device : torch device
        Where the tensors go.
    phantoms : str or ImageFamily
        Phantom family (:data:`tomopy_dip.learning.phantoms.PHANTOM_FAMILIES`), or images to
        draw from (:class:`~tomopy_dip.learning.phantoms.ImageFamily`).
    level : (float, float), optional
        Intensity-level augmentation: ``s`` is replaced per sample by the scale that puts the
        target's maximum at ``U(lo, hi)``. Without it (EDIP) ``max(x) / s`` depends on the noise
        level and on how sharp the phantoms' edges are, and a network learns the training set's
        typical level instead of reading it from its input; real data with other noise and
        blur then come out too dark or too bright.
    blur : float or (float, float), optional
        Gaussian blur of the phantom, standard deviation in pixels (a pair: drawn per sample
        from ``U(lo, hi)``), before it is measured; the target is the blurred phantom. A
        scanner's focal spot and detector soften every edge, and the rendered phantoms' sharp
        edges make the FBP overshoot (which lowers ``max(x) / s``, the intensity level the
        network learns).
    slab : int, optional
        3-D samples: slabs of ``slab`` rows of random-ellipsoid volumes
        (:func:`~tomopy_dip.learning.phantoms.random_ellipsoid_slab`), each row measured by ``op``
        (parallel beam's per-slice ray transform), one noise level and one scale ``s`` per slab
        (the largest of its rows', as the engine's ``dims=3``).

    Returns
    -------
    dict
        ``input``, ``target`` ``(B, 1, nx, ny)`` (3-D: ``(B, 1, slab, nx, ny)``); ``sinogram``
        ``(B, nproj, ndet)`` (3-D: ``(B, slab, nproj, ndet)``; the simulated data in image units)
        and ``scale`` ``(B,)``.
    """
    g = op.geometry
    rows = () if slab is None else (int(slab),)
    x, n, u = _phantoms_and_noise((*rows, *g.shape_image), (*rows, *g.shape_sino), seed, indices, stream,
                                  phantoms)
    if blur is not None:
        from scipy.ndimage import gaussian_filter

        blo, bhi = value_range(blur, "blur")
        x = np.stack([gaussian_filter(xi, blo + (bhi - blo) * ui) if bhi > 0 else xi
                      for xi, ui in zip(x, u[:, 2])]).astype(np.float32)
    lo, hi = value_range(noise, "noise")
    per = rows[0] if rows else 1  # images per sample
    sigma = torch.from_numpy(lo + (hi - lo) * u[:, 0]).float().to(device).repeat_interleave(per)[:, None, None]
    x = torch.from_numpy(x).to(device)
    with torch.no_grad():
        y = op(x.reshape(-1, *g.shape_image))
        y = add_noise(y, sigma, torch.from_numpy(n).to(device).reshape(y.shape))
        # The engine's normalisation (tomopy_dip.fitting.problem.SliceBatch), sample by sample.
        rec = fbp(y, op, filter_name)
        s = data_scale(rec).reshape(len(indices), per).amax(1)
        y, rec = y.reshape(*x.shape[:-2], *g.shape_sino), rec.reshape(x.shape)
        if level is not None:
            lo, hi = value_range(level, "level")
            peak = x.reshape(len(indices), -1).amax(1)
            want = torch.from_numpy(lo + (hi - lo) * u[:, 1]).float().to(device)
            s = torch.where(peak > 0, peak / want, s)
    sb = s.reshape(-1, *(1,) * (x.ndim - 1))
    return {"input": (rec / sb).unsqueeze(1), "target": (x / sb).unsqueeze(1), "sinogram": y, "scale": s}
