"""Classical baselines on the same projector: SIRT and TV-regularised least squares.

They serve the benchmarks (side by side with the DIP methods, same operator, same run) and the
dense-view references of the real-data tests.
"""

from __future__ import annotations

import numpy as np
import torch

from tomopy_dip.physics.geometry import Geometry
from tomopy_dip.physics.projector import RayTransform, get_operator

__all__ = ["sirt", "tv_pdhg", "operator_for"]


def operator_for(sino: np.ndarray, theta: np.ndarray, center: float | None = None,
                 **geometry: object) -> RayTransform:
    """The shared operator for a sinogram ``(nproj, ndet)`` and geometry keywords."""
    return get_operator(Geometry(theta, np.shape(sino)[-1], center=center, **geometry))


def _as_tensor(sino: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(sino, dtype=np.float32))


def sirt(sino: np.ndarray, op: RayTransform, num_iter: int = 300, nonneg: bool = True,
         callback=None) -> np.ndarray:
    """SIRT as in ASTRA: ``x += C A^T R (y - A x)`` with inverse row/column sums ``R``, ``C``.

    Parameters
    ----------
    sino : numpy.ndarray
        ``(nproj, ndet)`` sinogram.
    op : RayTransform
        The operator.
    num_iter : int
        Iterations.
    nonneg : bool
        Clip negative values after each iteration (ASTRA's ``MinConstraint = 0``).
    callback : callable, optional
        ``callback(k, x)`` after each iteration.
    """
    y = _as_tensor(sino)[None]
    with torch.no_grad():
        ones_img = torch.ones((1, *op.geometry.shape_image))
        ones_sino = torch.ones_like(y)
        row = op(ones_img)
        col = op.adjoint(ones_sino)
        r = torch.where(row > 1e-6, 1.0 / row, torch.zeros_like(row))
        c = torch.where(col > 1e-6, 1.0 / col, torch.zeros_like(col))
        x = torch.zeros_like(ones_img)
        for k in range(num_iter):
            x = x + c * op.adjoint(r * (y - op(x)))
            if nonneg:
                x.clamp_(min=0)
            if callback is not None:
                callback(k, x[0].numpy())
    return x[0].numpy()


def _grad(x: torch.Tensor) -> torch.Tensor:
    gx = torch.zeros_like(x)
    gy = torch.zeros_like(x)
    gx[..., :-1, :] = x[..., 1:, :] - x[..., :-1, :]
    gy[..., :, :-1] = x[..., :, 1:] - x[..., :, :-1]
    return torch.stack([gx, gy])


def _div(p: torch.Tensor) -> torch.Tensor:
    """Negative adjoint of :func:`_grad`."""
    px, py = p[0], p[1]
    dx = torch.zeros_like(px)
    dy = torch.zeros_like(py)
    dx[..., 0, :] = px[..., 0, :]
    dx[..., 1:-1, :] = px[..., 1:-1, :] - px[..., :-2, :]
    dx[..., -1, :] = -px[..., -2, :]
    dy[..., :, 0] = py[..., :, 0]
    dy[..., :, 1:-1] = py[..., :, 1:-1] - py[..., :, :-2]
    dy[..., :, -1] = -py[..., :, -2]
    return dx + dy


def tv_pdhg(sino: np.ndarray, op: RayTransform, tv_weight: float, num_iter: int = 500,
            nonneg: bool = True, callback=None, op_norm: float | None = None,
            ratio: float = 10.0) -> np.ndarray:
    """Anisotropic-TV least squares by PDHG (Chambolle-Pock).

    Minimises ``mean((A x - y)^2) / N^2 + tv_weight * TV(x) / N`` (optionally ``x >= 0``), the
    same normalisation as TV-DIP's loss when the data are at unit scale (see
    :mod:`tomopy_dip.fitting.engine`), so the weights are comparable; here ``y`` is used as given.

    Parameters
    ----------
    sino : numpy.ndarray
        ``(nproj, ndet)``.
    op : RayTransform
        Operator.
    tv_weight : float
        ``gamma``.
    num_iter : int
        PDHG iterations.
    nonneg : bool
        Non-negativity constraint.
    callback : callable, optional
        ``callback(k, x)`` after each iteration.
    op_norm : float, optional
        ``||A||`` (estimated by power iteration when omitted).
    """
    y = _as_tensor(sino)[None]
    n = op.geometry.size
    m = y.numel()
    lam = tv_weight * m * n / 2.0  # 0.5 ||Ax - y||^2 + lam * TV(x)
    norm_a = op_norm if op_norm is not None else op.norm()
    # Precondition the data block so both blocks have unit norm: K = [A / norm_a; grad / sqrt(8)]
    L = np.sqrt(2.0)
    tau, sigma = 0.99 / (L * ratio), 0.99 * ratio / L
    sa, sg = 1.0 / norm_a, 1.0 / np.sqrt(8.0)
    with torch.no_grad():
        x = torch.zeros((1, *op.geometry.shape_image))
        xbar = x.clone()
        p = torch.zeros_like(y)  # dual of the data term (scaled operator sa*A, data sa*y)
        q = torch.zeros((2, *x.shape))  # dual of the TV term (scaled sg*grad, weight lam/sg)
        for k in range(num_iter):
            # prox of (0.5 ||. - sa y||^2 / sa^2)* ... written for f(u) = 0.5/sa^2 ||u - sa y||^2
            p = (p + sigma * (sa * op(xbar) - sa * y)) / (1.0 + sigma * sa**2)
            q = (q + sigma * sg * _grad(xbar)).clamp(-lam / sg, lam / sg)
            x_old = x
            x = x - tau * (sa * op.adjoint(p) - sg * _div(q))
            if nonneg:
                x.clamp_(min=0)
            xbar = 2 * x - x_old
            if callback is not None:
                callback(k, x[0].numpy())
    return x[0].numpy()
