"""Regularisation terms."""

from __future__ import annotations

import torch

__all__ = ["tv_aniso"]


def tv_aniso(x: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation ``sum |x[i+1, j] - x[i, j]| + |x[i, j+1] - x[i, j]|``.

    Parameters
    ----------
    x : torch.Tensor
        Images ``(..., H, W)``.

    Returns
    -------
    torch.Tensor
        One value per image, shape ``x.shape[:-2]``.

    Examples
    --------
    >>> x = torch.zeros(1, 4, 4); x[0, :, 2:] = 1.0
    >>> tv_aniso(x)
    tensor([4.])
    """
    dh = (x[..., 1:, :] - x[..., :-1, :]).abs().sum((-2, -1))
    dv = (x[..., :, 1:] - x[..., :, :-1]).abs().sum((-2, -1))
    return dh + dv
