"""Keyword arguments shared by all methods: defaults and validation.

Every public entry point funnels its keywords through :func:`parse_options`, which rejects
unknown names and bad values with a :class:`TypeError` or :class:`ValueError` that names the
argument, before any long work starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any, Callable, Mapping

import torch

from tomopy_dip.physics.geometry import BEAMS, PROJECTORS
from tomopy_dip.networks import UNetConfig, default_skip_channels

__all__ = ["Options", "parse_options", "SHARED_KEYWORDS"]


def _int(name: str, lo: int = 1) -> Callable[[Any], int]:
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            if hasattr(v, "__index__") and not isinstance(v, bool):
                v = v.__index__()
            else:
                raise TypeError(f"{name} must be an integer >= {lo}, got {v!r}")
        if v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
        return int(v)
    return check


def _float(name: str, lo: float = 0.0, strict: bool = False) -> Callable[[Any], float]:
    def check(v: Any) -> float:
        if isinstance(v, bool):
            raise TypeError(f"{name} must be a number, got {v!r}")
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a number, got {v!r}") from None
        if not math.isfinite(f) or f < lo or (strict and f == lo):
            rel = ">" if strict else ">="
            raise ValueError(f"{name} must be a finite number {rel} {lo}, got {v!r}")
        return f
    return check


def _choice(name: str, allowed: tuple) -> Callable[[Any], Any]:
    def check(v: Any) -> Any:
        if v not in allowed:
            raise ValueError(f"{name} must be one of {allowed}, got {v!r}")
        return v
    return check


def _bool(name: str) -> Callable[[Any], bool]:
    def check(v: Any) -> bool:
        if not isinstance(v, bool):
            raise TypeError(f"{name} must be True or False, got {v!r}")
        return v
    return check


def _seed(v: Any) -> int:
    if isinstance(v, bool) or not hasattr(v, "__index__"):
        raise TypeError(f"seed must be an integer, got {v!r}")
    return int(v.__index__())


def _device(v: Any) -> torch.device:
    if v is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(v)
    except (TypeError, RuntimeError):
        raise ValueError(f"device must be a torch device such as 'cpu' or 'cuda', got {v!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was requested but torch has no CUDA device here")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {v!r}")
    return dev


def _callback(v: Any) -> Any:
    if v is not None and not callable(v):
        raise TypeError(f"callback must be callable or None, got {v!r}")
    return v


def _int_tuple(name: str) -> Callable[[Any], tuple]:
    def check(v: Any) -> tuple:
        try:
            t = tuple(v)
        except TypeError:
            raise TypeError(f"{name} must be a sequence of integers, got {v!r}") from None
        if not t or any(isinstance(c, bool) or not hasattr(c, "__index__") for c in t):
            raise TypeError(f"{name} must be a non-empty sequence of integers, got {v!r}")
        return tuple(int(c) for c in t)
    return check


def _optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: None if v is None else check(v)


def _memory(v: Any) -> int | None:
    if v is None:
        return None
    return int(_float("memory_limit", 0.0, strict=True)(v))


@dataclass(frozen=True)
class Options:
    """Validated keyword arguments (see :func:`tomopy_dip.reconstruct` for their meaning)."""

    num_iter: int = 2000
    lr: float = 1e-3
    lr_warmup: int = 0
    tv_weight: float = 0.0
    select: str = "min_loss"
    seed: int = 0
    device: torch.device = field(default_factory=lambda: _device(None))
    progress: bool = True
    callback: Any = None
    callback_every: int = 1
    network_input: str = "noise"
    clip_grad: float = 1.0
    filter_name: str = "hann"
    batch_size: int | None = None
    backend: str = "auto"
    memory_limit: int | None = None
    # network
    channels: tuple = UNetConfig.channels
    #: None: :func:`~tomopy_dip.networks.default_skip_channels` for the network input.
    skip_channels: tuple | None = None
    norm_groups: int | None = UNetConfig.norm_groups
    out_activation: str = UNetConfig.out_activation
    # geometry (TomoPy's num_gridx / num_gridy, and fan beam)
    num_gridx: int | None = None
    num_gridy: int | None = None
    beam: str = "parallel"
    source_origin: float | None = None
    origin_detector: float | None = None
    detector_spacing: float | None = None
    projector: str | None = None
    # method-specific
    checkpoint: Any = None
    calibrate: bool = False
    inner_steps: int = 10
    ae_weight: float = 0.1
    #: Extra keywords defined by a method (validated by it).
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def network(self) -> UNetConfig:
        skips = self.skip_channels
        if skips is None:
            skips = default_skip_channels(len(self.channels), self.network_input != "noise")
        return UNetConfig(channels=self.channels, skip_channels=skips,
                          norm_groups=self.norm_groups, out_activation=self.out_activation)

    def geometry_keywords(self) -> dict:
        return {k: getattr(self, k) for k in ("num_gridx", "num_gridy", "beam", "source_origin",
                                              "origin_detector", "detector_spacing", "projector")}


_CHECKS: dict[str, Callable[[Any], Any]] = {
    "num_iter": _int("num_iter", 0),
    "lr": _float("lr", 0.0, strict=True),
    "lr_warmup": _int("lr_warmup", 0),
    "tv_weight": _float("tv_weight", 0.0),
    "select": _choice("select", ("min_loss", "last", "average")),
    "seed": _seed,
    "device": _device,
    "progress": _bool("progress"),
    "callback": _callback,
    "callback_every": _int("callback_every", 1),
    "network_input": _choice("network_input", ("noise", "fbp", "backprojection")),
    "clip_grad": _float("clip_grad", 0.0),
    "filter_name": _choice("filter_name", ("ramp", "shepp-logan", "cosine", "hamming", "hann")),
    "batch_size": _optional(_int("batch_size", 1)),
    "backend": _choice("backend", ("auto", "matrix", "astra")),
    "memory_limit": _memory,
    "channels": _int_tuple("channels"),
    "skip_channels": _optional(_int_tuple("skip_channels")),
    "norm_groups": _optional(_int("norm_groups", 1)),
    "out_activation": _choice("out_activation", ("none", "sigmoid")),
    "num_gridx": _optional(_int("num_gridx", 1)),
    "num_gridy": _optional(_int("num_gridy", 1)),
    "beam": _choice("beam", BEAMS),
    "source_origin": _optional(_float("source_origin", 0.0, strict=True)),
    "origin_detector": _optional(_float("origin_detector", 0.0, strict=True)),
    "detector_spacing": _optional(_float("detector_spacing", 0.0, strict=True)),
    "projector": _optional(_choice("projector", sum(PROJECTORS.values(), ()))),
    "checkpoint": lambda v: v,
    "calibrate": _bool("calibrate"),
    "inner_steps": _int("inner_steps", 1),
    "ae_weight": _float("ae_weight", 0.0),
}

#: Keywords every method accepts.
SHARED_KEYWORDS = tuple(k for k in _CHECKS if k not in ("checkpoint", "calibrate", "inner_steps", "ae_weight"))


def parse_options(kwargs: Mapping[str, Any], allowed: tuple[str, ...], defaults: Mapping[str, Any],
                  where: str) -> Options:
    """Validate ``kwargs`` for a method.

    Parameters
    ----------
    kwargs : mapping
        The caller's keywords. TomoPy's ``options`` dict, when present, is merged in (explicit
        keywords win).
    allowed : tuple of str
        Keywords the method accepts.
    defaults : mapping
        The method's own defaults, overriding :class:`Options`' defaults.
    where : str
        Name used in error messages (e.g. ``"tomopy_dip.tv_dip"``).
    """
    kwargs = dict(kwargs)
    opts = kwargs.pop("options", None)
    if opts is not None:
        if not isinstance(opts, Mapping):
            raise TypeError(f"options must be a dict of keyword arguments, got {type(opts).__name__}")
        kwargs = {**opts, **kwargs}
    unknown = sorted(k for k in kwargs if k not in allowed)
    if unknown:
        raise TypeError(
            f"{where} got unexpected keyword argument(s) {', '.join(map(repr, unknown))}; "
            f"accepted: {', '.join(allowed)}"
        )
    values = dict(defaults)
    values.update(kwargs)
    clean = {}
    for name, value in values.items():
        clean[name] = _CHECKS[name](value) if name in _CHECKS else value
    if "device" not in clean:
        clean["device"] = _device(None)
    out = Options(**{k: v for k, v in clean.items() if k in {f.name for f in fields(Options)}})
    out.network  # validates channels / skip_channels together
    return out


def with_changes(options: Options, **changes: Any) -> Options:
    """A copy of ``options`` with some values replaced (validated)."""
    return replace(options, **{k: _CHECKS[k](v) if k in _CHECKS else v for k, v in changes.items()})
