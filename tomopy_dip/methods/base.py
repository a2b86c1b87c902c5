"""What distinguishes one DIP-family method from another.

A :class:`Method` is a small declarative record read by the fitting engine
(:mod:`tomopy_dip.fitting.engine`): which network input it uses, which parameters it trains, whether
its network starts from a checkpoint, whether its input is updated during fitting (aSeqDIP),
and its default keywords. Everything else (projector, data scaling, loss, optimiser, batching,
progress, callbacks, selection, Ctrl-C) is shared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from tomopy_dip.options import SHARED_KEYWORDS

__all__ = ["Method"]


@dataclass(frozen=True)
class Method:
    """A reconstruction method of the DIP family.

    Parameters
    ----------
    name : str
        Public name (``"dip"``, ``"tv_dip"``, ...).
    defaults : mapping
        Default keyword values that differ from :class:`~tomopy_dip.options.Options`.
    keywords : tuple of str
        Method-specific keywords accepted besides the shared ones.
    trainable : {"all", "decoder"}
        Parameters updated during fitting; with ``"decoder"`` the encoder is frozen and its
        features are computed once.
    sequential : bool
        aSeqDIP: every ``inner_steps`` iterations the input becomes the network's output, and
        an autoencoding term ``ae_weight * ||f(z) - z||^2`` joins the loss (scaled as
        described in :mod:`tomopy_dip.fitting.engine`).
    load_network : callable, optional
        ``load_network(options, geometry) -> (UNetConfig, state_dict)``: a pretrained start.
    description : str
        One line for listings.
    """

    name: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    keywords: tuple[str, ...] = ()
    trainable: str = "all"
    sequential: bool = False
    load_network: Callable[..., Any] | None = None
    description: str = ""

    @property
    def accepted(self) -> tuple[str, ...]:
        return SHARED_KEYWORDS + self.keywords
