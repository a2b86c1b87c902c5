"""The problem a fit solves: validated sinograms, one geometry and seed per slice, and the data of
a batch of slices on the compute device (scaled measurement, FBP, network input)."""

from __future__ import annotations

import hashlib
from typing import Any, Sequence

import numpy as np
import torch

from tomopy_dip.options import Options
from tomopy_dip.physics.fbp import fbp
from tomopy_dip.physics.geometry import Geometry, check_center, default_center
from tomopy_dip.physics.measurement import data_scale
from tomopy_dip.physics.projector import RayTransform, get_operator

__all__ = ["check_sinograms", "check_angles", "output_range", "slice_centers", "slice_geometries", "slice_seed", "SliceBatch"]


def check_sinograms(tomo: Any, theta: Any, name: str = "tomo") -> tuple[np.ndarray, np.ndarray, bool]:
    """Validate sinograms ``(nslices, nproj, ndet)`` or ``(nproj, ndet)`` and angles.

    Returns float32 sinograms (3-D, a copy only when needed: never written), float64 angles and
    whether the input was 2-D.
    """
    if isinstance(tomo, torch.Tensor):
        tomo = tomo.detach().cpu().numpy()
    arr = np.asarray(tomo)
    if arr.dtype.kind not in "fiu" or arr.dtype == np.bool_:
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if arr.ndim not in (2, 3):
        raise ValueError(
            f"{name} must be 3-D (nslices, nproj, ndet) or 2-D (nproj, ndet), got shape {arr.shape}"
        )
    two_d = arr.ndim == 2
    if two_d:
        arr = arr[None]
    if min(arr.shape) < 1 or arr.shape[2] < 2:
        raise ValueError(f"{name} must have at least one angle and two detector pixels, got shape {arr.shape}")
    arr = np.asarray(arr, dtype=np.float32)
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} non-finite values (NaN or inf); clean them first")
    th = theta.cpu().numpy() if isinstance(theta, torch.Tensor) else theta
    try:
        th = np.asarray(th, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"theta must be numbers (angles in radians), got {np.asarray(th, dtype=object).ravel()[:3]!r}"
                        "...") from None
    if th.ndim != 1:
        raise ValueError(f"theta must be 1-D (nproj,) in radians, got shape {th.shape}")
    if th.size != arr.shape[1]:
        raise ValueError(
            f"theta has {th.size} angles but {name} has {arr.shape[1]} projections (axis -2)"
        )
    if not np.all(np.isfinite(th)):
        raise ValueError("theta contains non-finite values")
    check_angles(th)
    return arr, th, two_d


#: Largest angular span (radians) accepted: a full turn and a margin. Angles in degrees span
#: far more (``np.arange(0, 180, 3)``: 177).
MAX_SPAN = 2 * np.pi + 0.5


def check_angles(theta: np.ndarray) -> None:
    """Refuse angles that cannot be radians (a span far beyond 2π: degrees) or that are all
    equal (no tomography).

    Examples
    --------
    >>> check_angles(np.deg2rad(np.arange(0, 180, 3)))
    >>> check_angles(np.arange(0, 180, 3))
    Traceback (most recent call last):
    ...
    ValueError: theta spans 177 (from 0 to 177), far more than a full turn of 2π radians: the angles look like degrees; pass np.deg2rad(theta)
    """
    if theta.size < 2:
        return
    lo, hi = float(theta.min()), float(theta.max())
    if hi - lo > MAX_SPAN:
        raise ValueError(f"theta spans {hi - lo:g} (from {lo:g} to {hi:g}), far more than a full turn of 2π "
                         "radians: the angles look like degrees; pass np.deg2rad(theta)")
    if hi == lo:
        raise ValueError(f"theta holds {theta.size} equal angles ({lo:g} rad): a reconstruction needs "
                         "projections from different directions")


def slice_centers(center: Any, nslices: int, ndet: int, beam: str, vectors: bool = False) -> np.ndarray:
    """One rotation centre per slice: ``center`` broadcast and checked, or the default.

    With cone-beam ``vectors`` (which place the detector themselves) the centre must be left
    out; TomoPy's default ``ndet / 2``, which ``tomopy.recon`` passes when none was given, counts
    as left out.
    """
    if vectors and center is not None:
        given = np.unique(np.asarray(center, dtype=np.float64).reshape(-1))
        if not np.all(np.isin(given, (ndet / 2.0, default_center(ndet, beam)))):
            raise ValueError(f"center: with vectors the detector's position is in the vectors; leave center out "
                             f"(got {given[0]:g})")
        center = None
    if center is None:
        return np.full(nslices, default_center(ndet, beam))
    try:
        c = np.asarray(center, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise TypeError(f"center must be a number or one number per slice, got {center!r}") from None
    if c.size == 1:
        c = np.full(nslices, c[0])
    if c.size != nslices:
        raise ValueError(f"center must be a scalar or have one value per slice ({nslices}), got {c.size}")
    for v in c:
        check_center(v, ndet)
    return c


def slice_geometries(theta: np.ndarray, ndet: int, centers: np.ndarray, options: Options) -> list[Geometry]:
    """One :class:`Geometry` per slice (identical ones are the same object)."""
    cache: dict[float, Geometry] = {}
    out = []
    for c in centers:
        c = float(c)
        if c not in cache:
            cache[c] = Geometry(theta, ndet, center=c, **options.geometry_keywords())
        out.append(cache[c])
    return out


def slice_seed(seed: int, sino: np.ndarray, geometry: Geometry) -> int:
    """Seed of a slice from ``seed`` and the slice's own data (float32, as TomoPy passes it),
    so that a slice's initialisation does not depend on the other slices of its call."""
    h = hashlib.blake2b(digest_size=8)
    h.update(str(seed).encode())
    h.update(np.ascontiguousarray(sino, dtype=np.float32).tobytes())
    h.update(geometry.theta.astype(np.float32).tobytes())
    h.update(repr((float(np.float32(geometry.center)), geometry.shape_image, geometry.beam)).encode())
    return int.from_bytes(h.digest(), "little") & ((1 << 63) - 1)


#: The weaker side of the FBP (its 99.9 % quantile against the stronger side's) from which an
#: object counts as having values of both signs. A positive object's FBP undershoots to 0.14-0.21
#: of its peak at 60 HTC views and 0.41-0.45 at 20.
TWO_SIDED = 0.75


def output_range(fbp: torch.Tensor) -> torch.Tensor:
    """The range ``(lo, hi)`` of each slice's object at unit scale, from its FBP ``(B, nx, ny)``:
    ``(0, 1)`` for a non-negative object (attenuation), ``(-1, 0)`` when the FBP's negative side
    dominates (a negated sinogram, background-subtracted data), ``(-1, 1)`` when both sides reach
    :data:`TWO_SIDED` of the peak (phase data). A bounded network output (sigmoid) is mapped onto it.

    Examples
    --------
    >>> x = torch.linspace(-0.2, 1.0, 100).reshape(1, 10, 10)
    >>> output_range(x).tolist(), output_range(-x).tolist()
    ([[0.0, 1.0]], [[-1.0, 0.0]])
    """
    flat = fbp.reshape(fbp.shape[0], -1)
    pos = torch.quantile(flat, 0.999, dim=1).clamp_min(0)
    neg = (-torch.quantile(flat, 0.001, dim=1)).clamp_min(0)
    peak = torch.maximum(pos, neg)
    lo = torch.where(neg >= TWO_SIDED * peak, -1.0, 0.0)
    hi = torch.where(pos >= TWO_SIDED * peak, 1.0, 0.0)
    return torch.stack([lo, hi], 1)


class SliceBatch:
    """A batch of slices on the compute device, at unit data scale.

    Attributes
    ----------
    y : torch.Tensor
        Measurement divided by the data scale, ``(B, nproj, ndet)``.
    fbp : torch.Tensor
        FBP of ``y``, ``(B, nx, ny)``.
    scale : torch.Tensor
        The data scale ``s`` per slice (:func:`tomopy_dip.physics.measurement.data_scale`).
    groups : list of (RayTransform, index tensor)
        Slices that share one operator.
    n : int
        ``sqrt(num_gridx * num_gridy)`` of the output grid.
    output_range : torch.Tensor
        ``(B, 2)``: the range of each object at unit scale (:func:`output_range`).
    """

    def __init__(self, sino: np.ndarray, geoms: Sequence[Geometry], options: Options):
        dev = options.device
        self.geoms = list(geoms)
        self.B = len(geoms)
        y = torch.from_numpy(np.ascontiguousarray(sino)).to(dev)
        self.groups: list[tuple[RayTransform, torch.Tensor]] = []
        for g in dict.fromkeys(self.geoms):
            idx = torch.tensor([i for i, gi in enumerate(self.geoms) if gi is g], device=dev)
            self.groups.append((get_operator(g, options.backend, options.memory_limit), idx))
        rec = torch.empty((self.B, *self.geoms[0].shape_image), device=dev)
        for op, idx in self.groups:
            rec[idx] = fbp(y[idx], op, options.filter_name)
        s = data_scale(rec)
        coupled = options.dims == 3  # one network for the slab: one scale and one range
        if coupled:
            s = s.max().expand(self.B).clone()
        self.scale = s
        self.y = y / s[:, None, None]
        self.fbp = rec / s[:, None, None]
        self.n = self.geoms[0].size
        self.device = dev
        self.output_range = output_range(self.fbp)
        if coupled:
            lo, hi = self.output_range[:, 0].min(), self.output_range[:, 1].max()
            self.output_range = torch.stack([lo, hi]).expand(self.B, 2).clone()

    def operator_norms(self) -> torch.Tensor:
        """``||A||_2`` of each slice's operator, ``(B,)``."""
        out = torch.empty(self.B, device=self.y.device)
        for op, idx in self.groups:
            out[idx] = op.norm()
        return out

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """Forward-project a batch, each slice with its own operator."""
        if len(self.groups) == 1:
            return self.groups[0][0](x)
        out = x.new_zeros((x.shape[0], *self.y.shape[1:]))
        for op, idx in self.groups:
            out = out.index_copy(0, idx, op(x[idx]))
        return out

    def backproject(self, y: torch.Tensor) -> torch.Tensor:
        """Adjoint of :meth:`project`."""
        out = torch.empty_like(self.fbp)
        for op, idx in self.groups:
            out[idx] = op.adjoint(y[idx])
        return out

    def network_input(self, kind: str, generators: Sequence[torch.Generator]) -> torch.Tensor:
        """The network input ``(1, B, nx, ny)``: ``"fbp"``, ``"backprojection"`` (normalised by
        its data scale, the 99.9th percentile) or ``"noise"`` (``0.1 N(0, 1)`` from each slice's generator)."""
        if kind == "fbp":
            return self.fbp.unsqueeze(0).clone()
        if kind == "backprojection":
            bp = self.backproject(self.y)
            return (bp / data_scale(bp)[:, None, None]).unsqueeze(0)
        shape = self.geoms[0].shape_image
        z = torch.stack([0.1 * torch.randn(shape, generator=g) for g in generators])
        return z.unsqueeze(0).to(self.device)
