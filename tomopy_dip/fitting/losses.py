"""The terms of the fitting loss, each a small object a method selects."""

from __future__ import annotations

from typing import Any

import torch

from tomopy_dip.data.history import declare_term, history_columns, history_terms

__all__ = ["image_gradient", "total_variation", "volume_gradient", "volume_total_variation", "LossTerm", "DataFidelity", "TotalVariation", "Autoencoding",
           "HISTORY_TERMS", "history_terms", "history_columns"]


def __getattr__(name: str) -> Any:
    if name == "HISTORY_TERMS":  # the terms declared now, a new one included (history_terms)
        return history_terms()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def image_gradient(x: torch.Tensor) -> torch.Tensor:
    """Forward differences of images ``(..., H, W)``, stacked ``(2, ..., H, W)``: ``x[i+1, j] -
    x[i, j]`` and ``x[i, j+1] - x[i, j]``, zero on the last row / column."""
    gx = torch.zeros_like(x)
    gy = torch.zeros_like(x)
    gx[..., :-1, :] = x[..., 1:, :] - x[..., :-1, :]
    gy[..., :, :-1] = x[..., :, 1:] - x[..., :, :-1]
    return torch.stack([gx, gy])


def total_variation(x: torch.Tensor, isotropic: bool = False) -> torch.Tensor:
    """Total variation of images ``(..., H, W)`` with forward differences (:func:`image_gradient`).

    Anisotropic: ``sum |dx| + |dy|``; isotropic: ``sum sqrt(dx^2 + dy^2)`` (its gradient at a
    flat pixel is 0).

    Parameters
    ----------
    x : torch.Tensor
        Images ``(..., H, W)``.
    isotropic : bool
        Which of the two.

    Returns
    -------
    torch.Tensor
        One value per image, shape ``x.shape[:-2]``.

    Examples
    --------
    >>> x = torch.zeros(1, 4, 4); x[0, :, 2:] = 1.0
    >>> total_variation(x), total_variation(x, isotropic=True)
    (tensor([4.]), tensor([4.]))
    >>> d = torch.zeros(1, 4, 4); d[0, 1, 1] = 1.0
    >>> total_variation(d), total_variation(d, isotropic=True)
    (tensor([4.]), tensor([3.4142]))
    """
    if isotropic:
        return torch.linalg.vector_norm(image_gradient(x), dim=0).sum((-2, -1))
    dh = (x[..., 1:, :] - x[..., :-1, :]).abs().sum((-2, -1))
    dv = (x[..., :, 1:] - x[..., :, :-1]).abs().sum((-2, -1))
    return dh + dv


def volume_gradient(x: torch.Tensor) -> torch.Tensor:
    """Forward differences of a volume ``(D, H, W)``, stacked ``(3, D, H, W)``: the two of
    :func:`image_gradient` and ``x[b + 1] - x[b]`` along the slab, zero for the last slice."""
    dz = torch.zeros_like(x)
    dz[:-1] = x[1:] - x[:-1]
    return torch.cat([image_gradient(x), dz[None]])


def volume_total_variation(x: torch.Tensor, isotropic: bool = False) -> torch.Tensor:
    """Total variation of a volume ``(D, H, W)`` (a slab of slices), per slice: as
    :func:`total_variation`, with the forward difference along the slab (slice ``b + 1`` minus
    slice ``b``, zero for the last) as a third component. The values sum to the volume's TV.

    Examples
    --------
    >>> v = torch.zeros(3, 4, 4); v[2] = 1.0  # a step between slices 1 and 2
    >>> volume_total_variation(v), volume_total_variation(v, isotropic=True)
    (tensor([ 0., 16.,  0.]), tensor([ 0., 16.,  0.]))
    """
    g = volume_gradient(x)
    if isotropic:
        return torch.linalg.vector_norm(g, dim=0).sum((-2, -1))
    return g.abs().sum(0).sum((-2, -1))


# ---------------------------------------------------------------------------- loss terms
class LossTerm:
    """One term of the fitting loss, evaluated per slice.

    A method lists the classes of its terms (:attr:`tomopy_dip.methods.Method.losses`), the
    data term first; the loop builds each with ``Term(options, batch)`` and adds ``weight *
    term.value(fit)`` (shape ``(B,)``, ``fit.x`` the current images at unit scale) to the data
    term. ``name`` is the key of the term in the history; a term of weight 0 records zeros and
    costs nothing. A subclass that sets its own ``name`` declares that record: every history
    has it from then on (:func:`~tomopy_dip.data.history.history_terms`, also
    ``HISTORY_TERMS`` here), zeros in the fits of methods without the term.
    """

    name = "term"
    weight = 1.0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in vars(cls):
            declare_term(cls.name)

    def __init__(self, options, batch) -> None:
        self.options, self.batch = options, batch

    def value(self, fit) -> torch.Tensor:
        raise NotImplementedError

    def _zeros(self, fit) -> torch.Tensor:
        return torch.zeros(fit.x.shape[0], device=fit.x.device)


class DataFidelity(LossTerm):
    """``mean((A x - y/s)^2) / N^2``: a mean squared error in image units (ray sums divided by
    the grid size ``N = sqrt(num_gridx * num_gridy)``), independent of views and units."""

    name = "data"

    def value(self, fit) -> torch.Tensor:
        n = self.batch.n
        return (self.batch.project(fit.x) - self.batch.y).pow(2).mean((1, 2)) / n**2


class TotalVariation(LossTerm):
    """``tv_weight * TV(x) / N``: the continuum total variation (anisotropic or isotropic,
    ``tv_kind``), so that ``tv_weight`` means the same for any number of views, image size and
    data units; with ``dims=3`` that of the slab as a volume (:func:`volume_total_variation`)."""

    name = "tv"

    def __init__(self, options, batch) -> None:
        super().__init__(options, batch)
        self.weight = options.tv_weight
        self.isotropic = options.tv_kind == "isotropic"
        self.volume = options.dims == 3  # a slab: the differences between its slices count too

    def value(self, fit) -> torch.Tensor:
        if self.weight > 0:
            tv = volume_total_variation if self.volume else total_variation
            return tv(fit.x, self.isotropic) / self.batch.n
        return self._zeros(fit)


class Autoencoding(LossTerm):
    """aSeqDIP's autoencoding term ``ae_weight * ||f(z) - z||^2``, weighed against the data
    term as in its paper, both as sums with the operator at unit norm:
    ``||A f(z) - y||^2 / ||A||^2 + ae_weight ||f(z) - z||^2``, then multiplied by the data
    term's ``||A||^2 / (M N^2)`` (``M`` rays). Without the operator norm, ``A`` integrating over
    ~N pixels per ray makes the data term about ``M`` times larger and ``ae_weight``
    meaningless. ``||A||`` is found once per geometry by power iteration."""

    name = "ae"

    def __init__(self, options, batch) -> None:
        super().__init__(options, batch)
        self.weight = options.ae_weight
        m = batch.y.shape[1] * batch.y.shape[2]
        self.norm = batch.operator_norms().pow(2) / (m * batch.n**2) if self.weight > 0 else None

    def value(self, fit) -> torch.Tensor:
        if self.weight > 0:
            return (fit.x - fit.z[0]).pow(2).sum((1, 2)) * self.norm
        return self._zeros(fit)
