"""The settings of pretraining: one schema with defaults, checks, help and command-line spelling.

:data:`PRETRAIN_KEYWORDS` is the single source of the keyword arguments of
:func:`tomopy_dip.pretrain` (all but the scan's ``theta``, ``ndet``, ``center``, ``num_gridx``
and ``num_gridy``), as :data:`tomopy_dip.options.KEYWORDS` is of the reconstruction methods':
each :class:`Setting` holds its default, its check, its one-line help and how
``tomopy-dip pretrain`` reads it. :func:`parse_settings` validates a call's keywords against it
(a :class:`TypeError` or :class:`ValueError` naming the argument, before any work starts);
:func:`tomopy_dip.pretrain`'s signature and the command line's options, defaults, choices and
help are generated from it, and its docstring is checked against it by the tests.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, make_dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from tomopy_dip.learning.phantoms import PHANTOM_KINDS, ImageFamily
from tomopy_dip.options import KEYWORDS, Keyword, bool_check, choice_check, int_check, optional_check
from tomopy_dip.physics.fbp import FILTERS
from tomopy_dip.physics.geometry import BEAMS
from tomopy_dip.physics.projector import BACKENDS

__all__ = ["Setting", "PRETRAIN_KEYWORDS", "GEOMETRY_KEYWORDS", "PRETRAIN_NORM_GROUPS", "REQUIRED",
           "PretrainSettings", "parse_settings", "value_range"]

#: GroupNorm groups of a pretrained network. The engine's per-channel normalisation suits
#: fitting one image (DIP) but learns slowly from many: after 300 steps of the shipped parallel
#: run, validation PSNR 21.7 dB with 4 groups against 17.2 dB per channel (FBP: 19.7 dB).
#: The trade-off: EDIP fine-tunes the checkpoint's network, and a 4-group network fits one image
#: worse (TV-DIP from noise on HTC ``ta`` at 128²: 34.5 dB in 1500 iterations against 37.2 dB per
#: channel). Pass ``norm_groups`` equal to the channel count for per-channel normalisation.
PRETRAIN_NORM_GROUPS = 4


class _Required:
    """The default of a setting that every call must give."""

    def __repr__(self) -> str:
        return "REQUIRED"


#: The default of a required setting (``out``).
REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Setting(Keyword):
    """One setting of pretraining: a :class:`~tomopy_dip.options.Keyword` and its command line.

    Parameters
    ----------
    name, default, check, help
        As for :class:`~tomopy_dip.options.Keyword`; ``default`` :data:`REQUIRED` for a setting
        every call must give.
    parse : callable, optional
        Reads one command-line word (``int``, ``float``, ``str``); ``bool`` makes the option a
        switch ``--no-NAME`` that turns a True default off; None: no option of its own.
    metavar : str or tuple of str, optional
        Placeholder of the help (default: argparse's).
    option : str, optional
        The command-line option when it is not ``--name`` (``--steps`` for ``num_steps``).
    nargs : int or str, optional
        argparse's ``nargs`` (``"+"``: one or more words, given as a list).
    choices : tuple, optional
        The values the command line accepts (the check accepts the same).
    group : {"training", "geometry"}
        The help section of the option.
    """

    metavar: Any = None
    option: str | None = None
    nargs: int | str | None = None
    choices: tuple | None = None
    group: str = "training"

    @property
    def switch(self) -> bool:
        """Whether the command line turns the setting off with ``--no-NAME``."""
        return self.parse is bool

    @property
    def flag(self) -> str:
        """The command-line option: ``--batch-size`` for ``batch_size``, ``--no-resume`` for
        the switch ``resume``."""
        if self.option:
            return self.option
        return ("--no-" if self.switch else "--") + self.name.replace("_", "-")


# ---------------------------------------------------------------------------- value checks
def value_range(value: Any, name: str) -> tuple[float, float]:
    """``value``, ``(value,)`` (as a command line's ``nargs="+"`` gives it) or ``(lo, hi)`` as a
    checked pair ``0 <= lo <= hi``."""
    try:
        if np.ndim(value) == 1 and len(value) == 1:
            value = value[0]
        lo, hi = (float(value), float(value)) if np.ndim(value) == 0 else (float(value[0]), float(value[1]))
        if np.ndim(value) == 1 and len(value) != 2:
            raise ValueError
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"{name} must be a number or a pair (lo, hi), got {value!r}") from None
    if not (0 <= lo <= hi and math.isfinite(hi)):
        raise ValueError(f"{name} must satisfy 0 <= lo <= hi, got {value!r}")
    return lo, hi


def _count(name: str, lo: int = 1) -> Callable[[Any], int]:
    """A Python or NumPy integer ``>= lo`` (a :class:`ValueError` otherwise), as an int."""
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
        return int(v)
    return check


def _number(name: str, positive: bool) -> Callable[[Any], Any]:
    """A finite number ``> 0`` (``positive``) or a number ``>= 0``, returned as given (the
    run's recorded arguments keep the caller's value)."""
    def check(v: Any) -> Any:
        try:
            ok = (v > 0 and math.isfinite(v)) if positive else v >= 0
        except TypeError:
            raise TypeError(f"{name} must be a number, got {v!r}") from None
        if not ok:
            raise ValueError(f"{name} must be {'a finite number > 0' if positive else 'a number >= 0'}, got {v!r}")
        return v
    return check


def _level(v: Any) -> tuple[float, float]:
    lo, hi = value_range(v, "level")
    if not (lo > 0 and hi <= 1):
        raise ValueError(f"level must be a pair 0 < lo <= hi <= 1 (the network's output range), got {v!r}")
    return lo, hi


def _views(v: Any) -> list[int] | None:
    """The distinct view counts, sorted; None for none (the scan's own)."""
    if v is None or len(v) == 0:
        return None
    try:
        counts = sorted({int(c) for c in v})
    except (TypeError, ValueError):
        raise TypeError(f"views must be a sequence of positive integers, got {v!r}") from None
    if counts[0] < 1:
        raise ValueError(f"views must be positive integers, got {v!r}")
    return counts


def _instance(name: str, kind: type | tuple, what: str) -> Callable[[Any], Any]:
    """A value of type ``kind`` (``what`` says which in the error), returned as given."""
    def check(v: Any) -> Any:
        if isinstance(v, kind):
            return v
        raise TypeError(f"{name} must be {what}, got {v!r}")
    return check


def _out(v: Any) -> Path:
    if not isinstance(v, (str, os.PathLike)):
        raise TypeError(f"out must be a file path, got {v!r}")
    path = Path(v)
    if path.suffix != ".safetensors":
        raise ValueError(f"out must be a .safetensors file, got {path}")
    return path


def _geometry(name: str) -> Callable[[Any], Any]:
    """The shared keyword's check (:data:`tomopy_dip.options.KEYWORDS`), the value as given."""
    def check(v: Any) -> Any:
        KEYWORDS[name].check(v)
        return v
    return check


# ---------------------------------------------------------------------------- the schema
def _set(name: str, default: Any, check: Callable[[Any], Any], help: str, parse: Any = None,
         **cli: Any) -> Setting:
    return Setting(name, default, check, help, parse, **cli)


def _choice(name: str, default: Any, choices: tuple, help: str, optional: bool = False,
            parse: Any = str) -> Setting:
    check = choice_check(name, choices)
    return Setting(name, default, optional_check(check) if optional else check, help, parse, choices=choices)


def _shared(name: str, help: str | None = None, **cli: Any) -> Setting:
    """A setting of the geometry that is also a keyword of the methods: its check, help and
    command line are the keyword's (:data:`tomopy_dip.options.KEYWORDS`), its default None
    (the geometry's: only a given value is used)."""
    kw = KEYWORDS[name]
    return Setting(name, None, _geometry(name), help or kw.help, kw.parse, group="geometry", **cli)


_SERVES = '{"views": [lo, hi], "size": [lo, hi]}'

_SETTINGS = [
    _set("out", REQUIRED, _out, "output checkpoint (.safetensors): the best network by validation PSNR",
         str, metavar="FILE"),
    _set("num_steps", 10000, _count("num_steps"), "optimiser steps (the length of the one-cycle schedule)",
         int, option="--steps"),
    _set("batch_size", 8, _count("batch_size"), "samples per step", int),
    _set("lr_max", 5e-4, _number("lr_max", positive=True),
         "peak learning rate of the one-cycle schedule (EDIP's)", float),
    _set("weight_decay", 1e-5, _number("weight_decay", positive=False), "Adam's weight decay (EDIP's)", float),
    _set("val_size", 32, _count("val_size"), "validation phantoms (a fixed set, disjoint from training)", int),
    _set("val_every", None, optional_check(_count("val_every", 0)),
         "steps between validations (default: num_steps / 20, rounded up)", int),
    _set("checkpoint_every", None, optional_check(_count("checkpoint_every", 0)),
         "steps between periodic checkpoints (default: num_steps / 4, rounded up; 0: none)", int),
    _set("seed", 0, KEYWORDS["seed"].check, "seed of the data and of the initial weights", int),
    _set("resume", True, bool_check("resume"),
         "continue from the <out stem>.state file of an earlier run with the same arguments", bool),
    _set("views", None, _views, "view counts to train one network for (angles evenly spaced over the "
         "arc of theta)", int, nargs="+", metavar="V", group="geometry"),
    _set("noise", 0.05, lambda v: value_range(v, "noise"),
         "relative noise level (EDIP's), or LO HI: drawn per sample", float, nargs="+", metavar="LEVEL"),
    _choice("filter_name", "hann", FILTERS, "FBP filter of the network input (the fitting engine's)"),
    _choice("phantoms", None, PHANTOM_KINDS,
            "training phantoms: ellipses (EDIP's random ellipses, the default without images), "
            "holed_discs (discs of one material with holes) or images (the default with images)", optional=True),
    _set("images", None, optional_check(ImageFamily),
         "images (n, num_gridx, num_gridy) to train on, rotated and mirrored (phantoms images)"),
    _set("level", None, optional_check(_level), "intensity-level augmentation: each target's maximum "
         "drawn from U(LO, HI), 0 < LO <= HI <= 1", float, nargs=2, metavar=("LO", "HI")),
    _set("blur", None, optional_check(lambda v: value_range(v, "blur")),
         "Gaussian blur of the phantoms (standard deviation in pixels), or LO HI: drawn per sample",
         float, nargs="+", metavar="PIXELS"),
    _set("channels", None, KEYWORDS["channels"].check,
         "U-Net feature channels per scale (default: the engine's network for an FBP input)", int, nargs="+"),
    _set("skip_channels", None, KEYWORDS["skip_channels"].check,
         "U-Net skip channels per scale (default: none into the finest scale)", int, nargs="+"),
    _set("norm_groups", None, KEYWORDS["norm_groups"].check,
         f"GroupNorm groups of the U-Net (default {PRETRAIN_NORM_GROUPS}; the channel count: per channel)", int),
    _choice("out_activation", None, ("none", "sigmoid"),
            "output non-linearity of the U-Net (default: the engine's)", optional=True),
    _set("serves", None, optional_check(_instance("serves", Mapping, f"a dict {_SERVES}")),
         f"what the checkpoint serves, {_SERVES} (default: close to the trained view counts and size)"),
    _set("device", None, KEYWORDS["device"].check, KEYWORDS["device"].help, str),
    _choice("backend", "auto", BACKENDS, "projector backend (the matrix is fastest)"),
    _set("threads", None, optional_check(int_check("threads", 0)), "torch threads during the run", int),
    _set("progress", True, bool_check("progress"), "show a progress bar with loss and validation PSNR", bool),
    _set("command", None, optional_check(_instance("command", str, "a string")),
         "the command that produced the file, stored in its metadata (default: an equivalent Python call)"),
    _set("description", "", _instance("description", str, "a string"), "free text stored in the metadata",
         str, metavar="TEXT"),
    _set("callback", None, KEYWORDS["callback"].check,
         "called after every step with {step, loss, lr, val_psnr} (val_psnr None when not validated)"),
    _set("dims", 2, KEYWORDS["dims"].check,
         "2: a 2-D U-Net on slices; 3: a 3-D U-Net on slabs of random ellipsoids", int, choices=(2, 3)),
    _set("slab", None, optional_check(KEYWORDS["slab"].check),
         f"dims=3: rows per training slab (default the fitting keyword's, {KEYWORDS['slab'].default})", int),
    _shared("beam", "beam: parallel or fanflat (pretraining for cone beam is not implemented)", choices=BEAMS),
    _shared("source_origin"),
    _shared("origin_detector"),
    _shared("detector_spacing"),
    _shared("projector"),
]

#: The keyword arguments of :func:`tomopy_dip.pretrain` by name, in the order of its signature.
PRETRAIN_KEYWORDS: dict[str, Setting] = {s.name: s for s in _SETTINGS}

#: The settings of the geometry, as for the algorithms (:class:`~tomopy_dip.physics.geometry.Geometry`'s
#: defaults when left out): only those given are used and recorded.
GEOMETRY_KEYWORDS: tuple[str, ...] = ("beam", "source_origin", "origin_detector", "detector_spacing", "projector")

PretrainSettings = make_dataclass(
    "PretrainSettings",
    [(s.name, Any) for s in _SETTINGS if s.name not in GEOMETRY_KEYWORDS] + [("geometry", dict)],
    frozen=True,
)
PretrainSettings.__doc__ = """The checked settings of one pretraining run (:func:`parse_settings`).

One attribute per setting of :data:`PRETRAIN_KEYWORDS` but the geometry's, which are in
``geometry`` (those given only)."""
PretrainSettings.__module__ = __name__


def parse_settings(kwargs: Mapping[str, Any], where: str = "pretrain") -> PretrainSettings:
    """Validate the keyword arguments of a pretraining run against :data:`PRETRAIN_KEYWORDS`.

    Parameters
    ----------
    kwargs : mapping
        The caller's keywords; the others take their defaults.
    where : str
        Name used in error messages.

    Returns
    -------
    PretrainSettings
        The checked values.

    Raises
    ------
    TypeError
        An unknown keyword, a required one missing, or a value of the wrong type.
    ValueError
        A value out of range.
    """
    unknown = sorted(k for k in kwargs if k not in PRETRAIN_KEYWORDS)
    if unknown:
        raise TypeError(f"{where} got unexpected keyword argument(s) {', '.join(map(repr, unknown))}; "
                        f"accepted: {', '.join(PRETRAIN_KEYWORDS)}")
    missing = [k for k, s in PRETRAIN_KEYWORDS.items() if s.default is REQUIRED and k not in kwargs]
    if missing:
        raise TypeError(f"{where} missing required keyword argument(s) {', '.join(map(repr, missing))}")
    values = {k: s.check(kwargs.get(k, s.default)) for k, s in PRETRAIN_KEYWORDS.items()
              if k not in GEOMETRY_KEYWORDS}
    geometry = {k: PRETRAIN_KEYWORDS[k].check(kwargs[k]) for k in GEOMETRY_KEYWORDS if k in kwargs}
    return PretrainSettings(**values, geometry=geometry)
