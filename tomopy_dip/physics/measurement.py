"""The measurement model: simulated scans, their noise, and the data scale of a fit.

Written once for the fitting engine, pretraining and the phantoms alike:

* **Noise**: ``y = A x + level * mean(|A x|) * N(0, 1)`` per sinogram (:func:`add_noise`;
  EDIP's "5 %" is ``level = 0.05``).
* **Data scale**: ``s`` = the 99.9th percentile of ``|FBP(y)|`` per slice (:func:`data_scale`).
  A fit works on ``y / s`` so that the network sees images of values about 1 whatever the
  data's units; pretraining scales its pairs the same way, so a checkpoint serves data in any
  units.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from tomopy_dip.physics.geometry import Geometry
from tomopy_dip.physics.projector import get_operator

__all__ = ["simulate", "add_noise", "data_scale", "relative_misfit", "SCALE_QUANTILE"]

#: Quantile of ``|FBP(y)|`` that defines the data scale (robust to a few hot pixels).
SCALE_QUANTILE = 0.999


def add_noise(sino: Any, level: Any, unit_noise: Any) -> Any:
    """``sino + level * mean(|sino|) * unit_noise``, the mean taken per sinogram.

    Parameters
    ----------
    sino : numpy.ndarray or torch.Tensor
        Noise-free sinograms ``(..., nproj, ndet)``.
    level : float or array
        Relative noise level (broadcast against ``(..., 1, 1)``).
    unit_noise : same kind as ``sino``
        Standard normal draws of ``sino``'s shape.

    Examples
    --------
    >>> y = np.ones((1, 2, 2), np.float32)
    >>> round(float(add_noise(y, 0.1, np.ones_like(y))[0, 0, 0]), 6)
    1.1
    """
    if isinstance(sino, torch.Tensor):
        return sino + level * sino.abs().mean((-2, -1), keepdim=True) * unit_noise
    return sino + level * np.abs(sino).mean(axis=(-2, -1), keepdims=True) * unit_noise


def relative_misfit(sinogram: np.ndarray, image: np.ndarray, op: Any) -> float:
    """The data misfit of ``image`` relative to its projections, as the noise model counts it:
    ``std(y - A x) / mean(|A x|)`` (``op`` the ray transform, ``A``). For a good reconstruction
    it estimates the data's relative noise level (plus what the model misses).

    Examples
    --------
    >>> from tomopy_dip.physics.projector import get_operator
    >>> theta = np.linspace(0, np.pi, 30, endpoint=False)
    >>> x = np.zeros((32, 32), np.float32); x[8:24, 8:24] = 1
    >>> y = simulate(x, theta, noise=0.03, seed=1)
    >>> round(relative_misfit(y, x, get_operator(Geometry(theta, 32))), 2)
    0.03
    """
    with torch.no_grad():
        ax = op(torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))).numpy()
    return float(np.std(np.asarray(sinogram, dtype=np.float64) - ax) / max(np.abs(ax).mean(), 1e-30))


def data_scale(images: torch.Tensor) -> torch.Tensor:
    """The data scale ``s`` of each image ``(B, nx, ny)``: the :data:`SCALE_QUANTILE` quantile
    of its absolute values, 1 where that is 0.

    Examples
    --------
    >>> data_scale(torch.ones(2, 4, 4)).tolist()
    [1.0, 1.0]
    """
    s = torch.quantile(images.reshape(images.shape[0], -1).abs(), SCALE_QUANTILE, dim=1)
    return torch.where(s > 0, s, torch.ones_like(s))


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
        Rotation centre (gridrec convention); default as :class:`~tomopy_dip.physics.geometry.Geometry`.
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
        sino = add_noise(sino, noise, rng.standard_normal(sino.shape).astype(np.float32))
    return sino[0] if squeeze else sino
