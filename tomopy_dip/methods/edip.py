"""Educated DIP (Barbano, Leuschner et al., IEEE TCI 2022) and its fixed-encoder variant.

EDIP starts (TV-)DIP from a U-Net pretrained on synthetic data of the measurement's geometry
(:func:`tomopy_dip.pretrain`), with the FBP as network input, and fine-tunes all its weights on
the measurement: the pretrained network's output is already a fair reconstruction at iteration
0. Where the data resemble the pretraining this saves iterations (TomoPy's tooth: DIP's steady
PSNR in 50 iterations against 840), where they do not it need not (HTC at 60 views: sooner on 1
of 5 phantoms; ``benchmarks/README.md``); a network pretrained on the scan's own rows starts
above DIP's result (``scan_pretrain``, :mod:`tomopy_dip.volume.seeding`). EDIP-FE fine-tunes only the
decoder: the frozen encoder's features of the fixed input are computed once, which makes each
iteration cheaper.

Keyword ``checkpoint``: a registry name (``tomopy-dip checkpoints list``) or a checkpoint file;
without it the best-matching registered checkpoint for the data's geometry is chosen
(:func:`tomopy_dip.learning.checkpoints.choose_checkpoint`). When even the best does not suit the
data (another beam type, or views, size, span or detector outside what it serves), keyword
``mismatch`` decides, and a :class:`~tomopy_dip.learning.checkpoints.CheckpointMatchWarning`
says which before any fitting: ``"random"`` (default) starts from a random network with the FBP
as input (what DIP does, with EDIP's settings) rather than fine-tuning a network trained for
other data; ``"use"`` fine-tunes the closest anyway; ``"error"`` refuses. The
network configuration comes from the checkpoint; ``channels`` and the other network keywords
may be given only when they agree with it. A checkpoint that cannot serve the data (another beam
type, another input channel count) or a corrupt file raises :class:`ValueError` before fitting.

Data scaling is the engine's (input ``FBP(y) / s``, output at unit scale), the same as in
pretraining, so a checkpoint serves data in any units. Keyword ``calibrate`` (default False):
before fine-tuning, multiply the pretrained output by the factor that fits the data best in the
least-squares sense (one projection). A network that normalises its features cannot see the
absolute level of its input and outputs the level of its training set; when that level is off,
the factor restores it. But the factor fits the data, not the truth, so any other misfit moves
it: HTC scans, 60 views, 256², the shipped checkpoint's start +0.0-0.9 dB (factors
0.98-1.02), a half-trained one that was 4-6 % too bright +1.4-2.7 dB; TomoPy's tooth (31
views, ``edip_parallel``, whose level is right there: best factor against the reference 0.999)
factor 0.87, start 26.1 instead of 27.9 dB and a 0.8 dB lower maximum over 1000 iterations.
Hence off by default; try it when the image at ``num_iter=0`` is uniformly too dark or bright.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from tomopy_dip.fitting.hooks import FrozenEncoder, LevelCalibration
from tomopy_dip.learning.checkpoints import Checkpoint, CheckpointMatchWarning, resolve_checkpoint
from tomopy_dip.learning.checkpoints.matching import MISMATCH_CHOICES
from tomopy_dip.methods.base import DEFAULTS_3D, Method
from tomopy_dip.methods.dip import DEFAULT_TV_WEIGHT
from tomopy_dip.networks import UNetConfig
from tomopy_dip.options import KEYWORDS, Keyword, bool_check, choice_check, yes_no
from tomopy_dip.physics.geometry import Geometry

__all__ = ["EDIP", "EDIP_FE", "EDIP_KEYWORDS", "LR_WARMUP", "load_network"]

#: Iterations of linear learning-rate warm-up when fine-tuning (``lr_warmup``). Adam's first
#: updates move every weight by about ``lr``, whatever its gradient: without a warm-up the
#: pretrained start is lost in the first iterations. With 50 warm-up iterations EDIP reached
#: 35.81 dB on TomoPy's tooth against 35.39 without (``benchmarks/HISTORY.md``, the tooth's
#: EDIP tables; ``python benchmarks/edip.py --problems tooth --tag _warmup ...``).
LR_WARMUP = 50

_NETWORK_FIELDS = ("channels", "skip_channels", "norm_groups", "out_activation")


def _checkpoint(value: Any) -> Any:
    """Keyword ``checkpoint``: None, a registry name or file path (str or path-like), or a
    loaded :class:`~tomopy_dip.learning.checkpoints.Checkpoint`; returned as given."""
    if value is None or isinstance(value, (str, os.PathLike, Checkpoint)):
        return value
    raise TypeError(f"checkpoint must be a registry name or a file path, got {value!r}")


#: The keywords of EDIP and EDIP-FE besides the shared ones.
EDIP_KEYWORDS = (
    Keyword("checkpoint", None, _checkpoint,
            "EDIP / EDIP-FE: pretrained checkpoint, registry NAME or file PATH (default: the best match)",
            str, "NAME"),
    Keyword("mismatch", "random", choice_check("mismatch", MISMATCH_CHOICES),
            "EDIP / EDIP-FE without checkpoint: when no registered checkpoint suits the data, start "
            "from a random network (random), fine-tune the closest anyway (use), or refuse (error)",
            str, "|".join(MISMATCH_CHOICES)),
    Keyword("calibrate", False, bool_check("calibrate"),
            "EDIP / EDIP-FE: scale the pretrained image to fit the data before fine-tuning, yes or no",
            yes_no, "yes|no"),
)


def load_network(options: Any, geometry: Geometry) -> tuple[UNetConfig, dict] | None:
    """The pretrained start for ``geometry``: ``(UNetConfig, single-network state dict)``, or None
    (a random start) when no registered checkpoint suits the data and ``mismatch="random"``.

    Raises
    ------
    ValueError
        The checkpoint cannot serve the data, is corrupt, or network keywords contradict it.
    TypeError
        ``checkpoint`` is neither a name nor a path.
    """
    ckpt = resolve_checkpoint(options.checkpoint, geometry, options.mismatch, options.dims)
    if ckpt is None:
        return None
    defaults = {name: KEYWORDS[name].default for name in _NETWORK_FIELDS}
    for name in _NETWORK_FIELDS:
        given = getattr(options, name)
        if given != defaults[name] and given != getattr(ckpt.config, name):
            raise ValueError(
                f"{name}={given!r} contradicts checkpoint {ckpt.label}, whose network has "
                f"{name}={getattr(ckpt.config, name)!r}; EDIP takes the network from the "
                f"checkpoint: drop {name} (or pretrain a network with it)"
            )
    data = ckpt.metadata.get("data", {})
    trained_filter = data.get("filter_name")
    if trained_filter and trained_filter != options.filter_name:
        warnings.warn(
            f"checkpoint {ckpt.label} was pretrained on FBPs with filter_name={trained_filter!r}, "
            f"the network input here uses {options.filter_name!r}: its start will be worse",
            CheckpointMatchWarning, stacklevel=3,
        )
    if data.get("input", "fbp") != options.network_input:
        warnings.warn(
            f"checkpoint {ckpt.label} was pretrained on {data.get('input', 'fbp')!r} inputs, the "
            f"network input here is {options.network_input!r}",
            CheckpointMatchWarning, stacklevel=3,
        )
    return ckpt.config, ckpt.state


EDIP = Method(
    name="edip",
    defaults={"network_input": "fbp", "tv_weight": DEFAULT_TV_WEIGHT, "lr_warmup": LR_WARMUP},
    defaults_3d=DEFAULTS_3D,
    keywords=EDIP_KEYWORDS,
    hooks=(LevelCalibration,),
    load_network=load_network,
    description="educated DIP: a pretrained U-Net on the FBP, fine-tuned to the data",
)

EDIP_FE = Method(
    name="edip_fe",
    defaults={"network_input": "fbp", "tv_weight": DEFAULT_TV_WEIGHT, "lr_warmup": LR_WARMUP},
    defaults_3d=DEFAULTS_3D,
    keywords=EDIP_KEYWORDS,
    hooks=(FrozenEncoder, LevelCalibration),
    load_network=load_network,
    description="educated DIP with a fixed encoder: only the decoder is fine-tuned",
)

