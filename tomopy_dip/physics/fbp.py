"""Filtered backprojection for parallel and flat-detector fan beam.

The ramp filter is the exact band-limited (Ram-Lak) kernel of Kak & Slaney, optionally
apodised by a window; the backprojection is the adjoint of the
:class:`~tomopy_dip.physics.projector.RayTransform`, so FBP works wherever the projector does (any
geometry, CPU or CUDA). Fan-beam data are first weighted by the cosine of the ray angle and
filtered on the detector scaled to the rotation axis; the distance weight of exact fan-beam
FBP is dropped, which over a full 360° scan leaves only a second-order error (about
``1.5 (r / source_origin)^2`` at radius ``r``).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from tomopy_dip.physics.geometry import DIVERGENT
from tomopy_dip.physics.projector import RayTransform

__all__ = ["fbp", "ramp_filter", "FILTERS"]

FILTERS = ("ramp", "shepp-logan", "cosine", "hamming", "hann")


def _window(name: str, freq: torch.Tensor) -> torch.Tensor:
    """Apodisation window on frequencies ``freq`` in cycles per sample (|freq| <= 0.5)."""
    f = freq.abs()
    if name == "ramp":
        return torch.ones_like(f)
    if name == "shepp-logan":
        return torch.special.sinc(f)
    if name == "cosine":
        return torch.cos(math.pi * f)
    if name == "hamming":
        return 0.54 + 0.46 * torch.cos(2 * math.pi * f)
    if name == "hann":
        return 0.5 + 0.5 * torch.cos(2 * math.pi * f)
    raise ValueError(f"filter_name must be one of {FILTERS}, got {name!r}")


def ramp_filter(sino: torch.Tensor, spacing: float = 1.0, filter_name: str = "ramp") -> torch.Tensor:
    """Ramp-filter the last axis of ``sino`` (detector spacing ``spacing``).

    Parameters
    ----------
    sino : torch.Tensor
        ``(..., ndet)`` projections.
    spacing : float
        Detector pixel pitch in the units of the image pixels.
    filter_name : str
        One of :data:`FILTERS`.

    Returns
    -------
    torch.Tensor
        Filtered projections, same shape; ``spacing * (h * p)`` with the Ram-Lak kernel ``h``.
    """
    ndet = sino.shape[-1]
    size = 1 << int(math.ceil(math.log2(2 * ndet)))
    n = torch.arange(size, device=sino.device, dtype=torch.float64)
    n = torch.where(n > size // 2, n - size, n)
    kernel = torch.zeros(size, dtype=torch.float64, device=sino.device)
    kernel[0] = 0.25
    odd = (n.abs() % 2) == 1
    kernel[odd] = -1.0 / (math.pi * n[odd]) ** 2
    response = torch.fft.rfft(kernel).real
    response = response * _window(filter_name, torch.fft.rfftfreq(size, device=sino.device))
    spec = torch.fft.rfft(sino.to(torch.float64), n=size, dim=-1) * response
    out = torch.fft.irfft(spec, n=size, dim=-1)[..., :ndet]
    return (out / spacing).to(sino.dtype)


def fbp(sino: torch.Tensor, op: RayTransform, filter_name: str = "ramp") -> torch.Tensor:
    """Filtered backprojection of ``(B, nproj, ndet)`` (or 2-D) sinograms; with cone beam the
    ``B`` sinograms are the detector rows of one scan, and this is FDK's reconstruction (its
    cosine weighting, the ramp filter along the rows, the backprojection).

    Parameters
    ----------
    sino : torch.Tensor
        Sinograms in the geometry of ``op``.
    op : RayTransform
        The ray transform whose adjoint backprojects.
    filter_name : str
        ``"ramp"`` (Ram-Lak), ``"shepp-logan"``, ``"cosine"``, ``"hamming"`` or ``"hann"``.

    Returns
    -------
    torch.Tensor
        Images ``(B, num_gridx, num_gridy)`` in the units of the attenuation per pixel.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from tomopy_dip.physics.geometry import Geometry
    >>> from tomopy_dip.physics.projector import RayTransform
    >>> op = RayTransform(Geometry(np.linspace(0, np.pi, 90, endpoint=False), ndet=48))
    >>> disc = torch.zeros(48, 48); disc[14:34, 14:34] = 1.0
    >>> rec = fbp(op(disc), op)
    >>> round(float(rec[20:28, 20:28].mean()), 1)
    1.0
    """
    g = op.geometry
    squeeze = sino.ndim == 2
    if squeeze:
        sino = sino.unsqueeze(0)
    with torch.no_grad():
        if g.beam in DIVERGENT:
            # Each ray weighted by the cosine of its angle to the detector's normal (cone beam:
            # FDK's weighting, the rows of the batch being the detector rows).
            rows = sino.shape[0] if g.beam == "cone" else 1
            sino = sino * torch.as_tensor(g.ray_cosines(rows), dtype=sino.dtype, device=sino.device)
        filtered = ramp_filter(sino, g.spacing_at_axis, filter_name)
        # pi / nproj: 180 deg parallel scans, and 360 deg scans (parallel or fan) counted twice.
        # A partial parallel scan weights each view by its angular step.
        scale = math.pi / g.nproj
        span = float(np.ptp(g.theta))
        if g.beam == "parallel" and g.nproj > 1 and span < 1.5 * np.pi:
            scale = span / (g.nproj - 1)
        rec = op.adjoint(filtered) * (scale * g.spacing_at_axis)
    return rec[0] if squeeze else rec
