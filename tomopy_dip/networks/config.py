"""The configuration of the U-Net (:class:`UNetConfig`), its defaults, and a fitted network to
start another fit from (:class:`FittedNetwork`); the network itself is
:class:`tomopy_dip.networks.unet.UNet`."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import NamedTuple, Sequence

import torch

__all__ = ["UNetConfig", "FittedNetwork", "default_channels", "default_skip_channels", "COARSEST_SCALE",
           "DEFAULT_WIDTH"]

#: Side of the coarsest scale the default depth aims at, in pixels (:func:`default_channels`).
COARSEST_SCALE = 16

#: Feature channels of every scale of the default network.
DEFAULT_WIDTH = 32


@dataclass(frozen=True)
class UNetConfig:
    """Network options.

    Parameters
    ----------
    channels : sequence of int
        Feature channels per scale (its length is the number of scales).
    skip_channels : sequence of int
        Channels of the 1x1 skip connection per scale (0 = no skip), same length, indexed as in
        EDIP's code: ``skip_channels[k]`` serves the up-sampling from scale ``k`` into scale
        ``k - 1`` (so ``skip_channels[0]`` is unused and EDIP's ``(0, 0, 0, 0, 4, 4)`` puts skips
        on the two coarsest merges only).
    norm_groups : int, optional
        GroupNorm groups in the main convolutions; None (default): one group per channel.

    Notes
    -----
    The default, 4 scales of 32 channels with 4-channel skips at every merge, per-channel
    normalisation and a sigmoid output, is the CPU-sized configuration that fitted real sparse
    data best in our tests at 128² (the methods add scales for larger images,
    :func:`default_channels`): on HTC-60 at 128² (phantom ``ta``) TV-DIP reached 37.2 dB after 1500
    iterations, against 30.3 dB with EDIP's deeper layout (32-32-64-64-128, skips on the coarse
    merges, 4 groups) and 35.4 dB for TV alone. The methods' keyword default drops the skip into
    the finest scale when the input is an image (:func:`default_skip_channels`).
    in_channels : int
        Input channels (1: noise or FBP).
    norm_groups : int
        GroupNorm groups in the main convolutions.
    out_activation : {"none", "sigmoid"}
        Output non-linearity.
    dims : {2, 3}
        2: images ``(N, C, H, W)``; 3: volumes ``(N, C, D, H, W)`` (3-D convolutions, strides and
        trilinear up-sampling; a slab of ``D`` slices fitted by one network).
    """

    channels: tuple[int, ...] = (DEFAULT_WIDTH,) * 4
    skip_channels: tuple[int, ...] = (4, 4, 4, 4)
    in_channels: int = 1
    norm_groups: int | None = None
    out_activation: str = "sigmoid"
    dims: int = 2

    def __post_init__(self) -> None:
        ch = tuple(int(c) for c in self.channels)
        sk = tuple(int(c) for c in self.skip_channels)
        object.__setattr__(self, "channels", ch)
        object.__setattr__(self, "skip_channels", sk)
        if len(ch) < 1 or any(c < 1 for c in ch):
            raise ValueError(f"channels must be a non-empty sequence of positive integers, got {ch}")
        if len(sk) != len(ch) or any(c < 0 for c in sk):
            raise ValueError(
                f"skip_channels must have one non-negative entry per scale ({len(ch)}), got {sk}"
            )
        if self.in_channels < 1:
            raise ValueError(f"in_channels must be positive, got {self.in_channels}")
        if self.norm_groups is not None and (self.norm_groups < 1 or any(c % self.norm_groups for c in ch)):
            raise ValueError(
                f"norm_groups ({self.norm_groups}) must divide every entry of channels {ch}"
            )
        if self.out_activation not in ("none", "sigmoid"):
            raise ValueError(f"out_activation must be 'none' or 'sigmoid', got {self.out_activation!r}")
        if self.dims not in (2, 3):
            raise ValueError(f"dims must be 2 or 3, got {self.dims!r}")

    @property
    def scales(self) -> int:
        return len(self.channels)

    def check_image(self, shape: Sequence[int], names: Sequence[str] = ("num_gridx", "num_gridy")) -> None:
        """Refuse an image too small for the network's scales (before any work).

        Each scale halves the image (rounding up); the normalisation of the coarsest scale
        needs more than one value per group.

        Examples
        --------
        >>> UNetConfig(channels=(8, 8, 8, 8)).check_image((9, 9))
        >>> UNetConfig(channels=(8, 8, 8, 8)).check_image((8, 8))
        Traceback (most recent call last):
        ...
        ValueError: num_gridx x num_gridy = 8 x 8 is too small for a network of 4 scales (channels has 4 entries): its coarsest scale would be 1 x 1; give an image larger than 8 x 8 or fewer scales (e.g. channels=(8, 8, 8))
        """
        h, w = (int(v) for v in shape)
        ch, cw = h, w
        for _ in range(self.scales - 1):
            ch, cw = -(-ch // 2), -(-cw // 2)
        per_group = ch * cw * (1 if self.norm_groups is None else min(self.channels) // self.norm_groups)
        if per_group <= 1:
            fewer = max(1, self.scales - 1)
            raise ValueError(
                f"{names[0]} x {names[1]} = {h} x {w} is too small for a network of {self.scales} scales "
                f"(channels has {self.scales} entries): its coarsest scale would be {ch} x {cw}; give an "
                f"image larger than {2 ** (self.scales - 1)} x {2 ** (self.scales - 1)} or fewer scales "
                f"(e.g. channels={tuple(self.channels[:fewer])})")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        d["skip_channels"] = list(self.skip_channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "UNetConfig":
        known = {k: d[k] for k in ("channels", "skip_channels", "in_channels", "norm_groups",
                                   "out_activation", "dims") if k in d}
        return cls(**known)


class FittedNetwork(NamedTuple):
    """A network as a fit left it, to start another fit from (keyword ``init_network``).

    Attributes
    ----------
    config : UNetConfig
        Topology.
    state : dict of str to torch.Tensor
        Single-network weights (:meth:`UNet.copy_state`).
    input : torch.Tensor or None
        The noise input it was fitted with ``(nx, ny)``, reused by a fit with noise input on
        the same grid; None for an image input (FBP), which comes from each slice's data.
    """

    config: UNetConfig
    state: dict
    input: torch.Tensor | None = None


def default_channels(shape: Sequence[int]) -> tuple[int, ...]:
    """The default feature channels for an image of ``shape``: 32 per scale, with as many scales
    as bring the image's shorter side down to about :data:`COARSEST_SCALE` pixels.

    The depth follows the image so that the network sees the same share of the object at its
    coarsest scale at every size: 4 scales at 128², 5 at 256², 6 at 512² (and TomoPy's 640²
    tooth). Measured on the five HTC training phantoms at 256², 20 views, TV-DIP: median
    32.95 dB with 5 scales, 31.39 dB with 4 (the converged, oracle-tuned TV: 31.95 dB); at 128²
    the rule gives the 4 scales the other defaults were tuned with (benchmarks/README.md).

    Examples
    --------
    >>> default_channels((128, 128)), len(default_channels((256, 256))), len(default_channels((640, 640)))
    ((32, 32, 32, 32), 5, 6)
    >>> default_channels((8, 8))
    (32,)
    """
    side = min(int(v) for v in shape)
    if side < 1:
        raise ValueError(f"image shape must be positive, got {tuple(shape)}")
    scales = max(1, round(math.log2(side / COARSEST_SCALE)) + 1)
    return (DEFAULT_WIDTH,) * scales


def default_skip_channels(scales: int, image_input: bool) -> tuple[int, ...]:
    """The default 1x1 skip channels for a U-Net of ``scales`` scales.

    4-channel skips into every scale, except, when the network's input is an image (FBP or
    backprojection), into the finest one: there a skip passes the input's own noise and streaks
    straight to the output, and the fit stalls near them (the shipped HTC checkpoint re-trained
    without that skip: ``benchmarks/HISTORY.md``, "earlier edip_htc2022"); aSeqDIP on HTC
    ``ta`` (60 views, 128²) after 2000 iterations 36.0 / 36.9 dB with / without it (the
    median over HTC ``ta``, ``tb``, ``tc`` is unchanged, 35.9 dB; FIPS gel, 18 views, 256²:
    25.7 / 26.2 dB after 3200). EDIP's own U-Net has skips on its two coarsest merges only.

    Examples
    --------
    >>> default_skip_channels(4, image_input=False), default_skip_channels(4, image_input=True)
    ((4, 4, 4, 4), (0, 0, 4, 4))
    """
    if scales < 1:
        raise ValueError(f"scales must be positive, got {scales}")
    return tuple(0 if image_input and k < 2 else 4 for k in range(scales))
