"""The schema of the keywords: :class:`Keyword` records, the shared :data:`KEYWORDS`, the
:class:`Options` of a call and :func:`parse_options` (see :mod:`tomopy_dip.options`)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, make_dataclass, replace
from typing import Any, Callable, Mapping, Sequence

from tomopy_dip.networks import DEFAULT_WIDTH, UNetConfig, default_channels, default_skip_channels
from tomopy_dip.options.checks import (MAX_LR, _backtrack, _device, _dims, _init_network, _int_list_text,
                                       _int_tuple, _memory, _seed, _select, _stop, _uncertainty,
                                       _vectors, bool_check, callable_check,
                                       choice_check, float_check, int_check, optional_check)
from tomopy_dip.physics.fbp import FILTERS
from tomopy_dip.physics.geometry import BEAMS, PROJECTORS
from tomopy_dip.physics.projector import BACKENDS

__all__ = ["Keyword", "KEYWORDS", "SHARED_KEYWORDS", "GEOMETRY_KEYWORDS", "Options", "parse_options", "with_changes"]


# ---------------------------------------------------------------------------- the schema
@dataclass(frozen=True)
class Keyword:
    """One keyword of the reconstruction methods.

    Parameters
    ----------
    name : str
        The Python keyword (``"num_iter"``).
    default : object
        The default; a method may override it in :attr:`Method.defaults`.
    check : callable
        Validates a value and returns the clean one; raises :class:`TypeError` or
        :class:`ValueError` naming the keyword.
    help : str
        One line for the command line and the documentation (without the default).
    parse : callable, optional
        Reads the command line's text (``int``, ``float``, ...); None: no option of its own
        (still available as ``--set NAME=VALUE``).
    metavar : str
        Placeholder shown in the command line's help.
    """

    name: str
    default: Any
    check: Callable[[Any], Any]
    help: str
    parse: Callable[[str], Any] | None = None
    metavar: str = "V"

    @property
    def flag(self) -> str:
        """The command-line option, ``--num-iter`` for ``num_iter``."""
        return "--" + self.name.replace("_", "-")


def _kw(name, default, check, help, parse=None, metavar=None) -> Keyword:
    meta = metavar or {int: "N", float: "X", str: "NAME"}.get(parse, "V")
    return Keyword(name, default, check, help, parse, meta)


_SHARED = [
    _kw("num_iter", 4000, int_check("num_iter", 0),
        "most iterations of the fit (Adam steps); the stopping rule usually ends it sooner", int),
    _kw("lr", 1e-3, float_check("lr", 0.0, strict=True, hi=MAX_LR), "Adam learning rate", float),
    _kw("lr_warmup", 0, int_check("lr_warmup", 0),
        "iterations of linear learning-rate warm-up (iteration k uses lr * (k + 1) / lr_warmup)", int),
    _kw("tv_weight", 0.0, float_check("tv_weight", 0.0),
        "weight of the total-variation term (TV-DIP's gamma)", float),
    _kw("tv_kind", "anisotropic", choice_check("tv_kind", ("anisotropic", "isotropic")),
        "total variation: anisotropic (|dx| + |dy|) or isotropic (sqrt(dx^2 + dy^2))", str),
    _kw("select", "min_loss", lambda v: _select(v),
        "which image to return: min_loss, last, average (moving average of the iterates) or variance "
        "(the mean of the stop_window iterates of least moving variance, ES-WMV's choice)", str),
    _kw("stop", "plateau", lambda v: _stop(v),
        "stopping rule (num_iter is then a cap): plateau (the loss stopped improving), variance "
        "(the iterates stopped changing, ES-WMV) or none", str),
    _kw("stop_patience", 700, int_check("stop_patience", 1),
        "iterations over which the stopping rule looks for progress", int),
    _kw("stop_tolerance", 0.05, float_check("stop_tolerance", 0.0),
        "plateau: the fit stops when the lowest loss improved by less than this fraction over "
        "stop_patience iterations", float),
    _kw("stop_window", 50, int_check("stop_window", 2),
        "stop or select variance: iterates in the moving variance", int),
    _kw("seed", 0, _seed, "seed of the network and its input", int),
    _kw("device", None, _device, "torch device: cpu, cuda, cuda:1 (default: cuda when available)", str),
    _kw("progress", True, bool_check("progress"), "show a progress bar"),
    _kw("callback", None, callable_check("callback"),
        "called with {slice, iteration, loss, image, estimate} every callback_every iterations"),
    _kw("callback_every", 1, int_check("callback_every", 1), "iterations between callback calls"),
    _kw("init_network", None, _init_network,
        "start from this network instead of a random or pretrained one: a FittedNetwork, e.g. "
        "Reconstruction.networks[i] of a neighbouring slice (with noise input, its input is reused)"),
    _kw("uncertainty", None, _uncertainty,
        "a per-pixel standard deviation beside each image (Reconstruction.uncertainty): spread (the late "
        "iterates' spread, nearly free; True means it) or ensemble (fits from several seeds)"),
    _kw("keep_network", False, bool_check("keep_network"),
        "keep each slice's fitted network in Reconstruction.networks"),
    _kw("precision", "float32", choice_check("precision", ("float32", "bfloat16")),
        "arithmetic of the network: float32, or bfloat16 autocast (weights, loss and projector "
        "stay float32)", str),
    _kw("network_input", "noise", choice_check("network_input", ("noise", "fbp", "backprojection")),
        "network input: noise, fbp or backprojection", str),
    _kw("clip_grad", 1.0, float_check("clip_grad", 0.0), "gradient-norm clipping per slice, 0 = off", float),
    _kw("backtrack", 0.0, lambda v: _backtrack(v),
        "undo loss spikes: when the loss exceeds this factor (> 1) times its lowest value, restore the "
        "network and optimiser of that lowest loss and halve the learning rate; 0 = off", float),
    _kw("filter_name", "hann", choice_check("filter_name", FILTERS),
        "FBP filter of the data scaling and the FBP input", str),
    _kw("batch_size", None, optional_check(int_check("batch_size", 1)),
        "no effect (kept for old scripts): every slice is fitted by its own network"),
    _kw("backend", "auto", choice_check("backend", BACKENDS), "projector backend: auto, matrix or astra", str),
    _kw("memory_limit", None, _memory, "bytes the projector's system matrix may use"),
    _kw("dims", 2, _dims,
        "2: every slice is fitted by its own 2-D U-Net; 3: the slices of the call are fitted together, "
        "slab by slab, each slab by one 3-D U-Net", int),
    _kw("slab", 16, int_check("slab", 1),
        "dims=3: rows per slab (a call with more rows is fitted as overlapping slabs)", int),
    _kw("slab_overlap", 4, int_check("slab_overlap", 0),
        "dims=3: rows shared by neighbouring slabs, blended linearly (fewer than slab)", int),
    _kw("channels", None, optional_check(_int_tuple("channels")),
        "U-Net feature channels per scale, e.g. 32,32,64,64,128 (default: 32 per scale, as many "
        "scales as bring the image to about 16 pixels: 4 at 128², 5 at 256²)", _int_list_text, "C1,C2,..."),
    _kw("skip_channels", None, optional_check(_int_tuple("skip_channels")),
        "U-Net skip channels per scale, e.g. 0,0,0,4,4 (default: by the network input)",
        _int_list_text, "C1,C2,..."),
    _kw("norm_groups", UNetConfig.norm_groups, optional_check(int_check("norm_groups", 1)),
        "GroupNorm groups of the U-Net (default: one per channel)"),
    _kw("out_activation", UNetConfig.out_activation, choice_check("out_activation", ("none", "sigmoid")),
        "output non-linearity of the U-Net: sigmoid or none"),
    _kw("num_gridx", None, optional_check(int_check("num_gridx", 1)),
        "output rows (TomoPy's num_gridx; default: detector width)", int),
    _kw("num_gridy", None, optional_check(int_check("num_gridy", 1)),
        "output columns (TomoPy's num_gridy; default: detector width)", int),
    _kw("beam", "parallel", choice_check("beam", BEAMS),
        "beam: parallel, fanflat or cone (cone: the rows are one volume, dims=3, ASTRA's CUDA projectors)", str),
    _kw("source_origin", None, optional_check(float_check("source_origin", 0.0, strict=True)),
        "fan and cone beam: source to rotation axis, in image pixels", float),
    _kw("origin_detector", None, optional_check(float_check("origin_detector", 0.0, strict=True)),
        "fan and cone beam: rotation axis to detector, in image pixels", float),
    _kw("detector_spacing", None, optional_check(float_check("detector_spacing", 0.0, strict=True)),
        "detector pixel pitch in image pixels (default 1)", float),
    _kw("detector_row_spacing", None, optional_check(float_check("detector_row_spacing", 0.0, strict=True)),
        "cone beam: pitch of the detector rows in image pixels (default detector_spacing)", float),
    _kw("vectors", None, optional_check(_vectors),
        "cone beam: the whole geometry as ASTRA cone_vec vectors, (nproj, 12) in voxel units, or a .npy or "
        "text file of them (instead of source_origin, origin_detector, the spacings and center)"),
    _kw("projector", None, optional_check(choice_check("projector", sum(PROJECTORS.values(), ()))),
        "ASTRA projector: line, linear, strip (parallel), line_fanflat (fan beam), cuda3d (cone beam)", str),
]

#: The keywords every method accepts, by name, in display order.
KEYWORDS: dict[str, Keyword] = {k.name: k for k in _SHARED}

#: Names of :data:`KEYWORDS`.
SHARED_KEYWORDS: tuple[str, ...] = tuple(KEYWORDS)

GEOMETRY_KEYWORDS = ("num_gridx", "num_gridy", "beam", "source_origin", "origin_detector",
                      "detector_spacing", "projector", "detector_row_spacing", "vectors")


class _OptionsBase:
    """Validated keyword arguments of one call (see :func:`tomopy_dip.reconstruct`).

    One attribute per shared keyword (:data:`KEYWORDS`); a method's own keywords are in
    :attr:`extra` and read as attributes too (``options.inner_steps`` for aSeqDIP).
    """

    def __getattr__(self, name: str) -> Any:
        extra = self.__dict__.get("extra") or {}
        if name in extra:
            return extra[name]
        raise AttributeError(f"{type(self).__name__} has no keyword {name!r}")

    def network(self, shape: Sequence[int]) -> UNetConfig:
        """The U-Net these keywords describe for an image of ``shape`` (num_gridx, num_gridy).

        Unset ``channels`` follow the image (:func:`~tomopy_dip.networks.default_channels`;
        with ``skip_channels`` given, one scale per entry), unset ``skip_channels`` the network
        input (:func:`~tomopy_dip.networks.default_skip_channels`).
        """
        channels = self.channels
        if channels is None:
            channels = (default_channels(shape) if self.skip_channels is None
                        else (DEFAULT_WIDTH,) * len(self.skip_channels))
        skips = self.skip_channels
        if skips is None:
            skips = default_skip_channels(len(channels), self.network_input != "noise")
        return UNetConfig(channels=channels, skip_channels=skips, norm_groups=self.norm_groups,
                          out_activation=self.out_activation, dims=self.dims)

    def geometry_keywords(self) -> dict:
        """The keywords of :class:`~tomopy_dip.physics.geometry.Geometry`."""
        return {k: getattr(self, k) for k in GEOMETRY_KEYWORDS}


Options = make_dataclass(
    "Options",
    [(k.name, Any, field(default=k.default)) for k in _SHARED]
    + [("extra", Mapping[str, Any], field(default_factory=dict))],
    bases=(_OptionsBase,), frozen=True,
)
Options.__doc__ = _OptionsBase.__doc__
Options.__module__ = "tomopy_dip.options"  # where it is documented and imported from


def parse_options(kwargs: Mapping[str, Any], keywords: Mapping[str, Keyword],
                  defaults: Mapping[str, Any], where: str,
                  defaults_3d: Mapping[str, Any] | None = None) -> Options:
    """Validate ``kwargs`` against ``keywords``.

    Parameters
    ----------
    kwargs : mapping
        The caller's keywords. TomoPy's ``options`` dict, when present, is merged in (explicit
        keywords win).
    keywords : mapping of str to Keyword
        The keywords accepted (:data:`KEYWORDS` plus the method's own).
    defaults : mapping
        The method's own defaults, overriding the keywords' defaults.
    where : str
        Name used in error messages (e.g. ``"tomopy_dip.tv_dip"``).
    defaults_3d : mapping, optional
        The method's defaults with ``dims=3``, overriding ``defaults`` there.
    """
    kwargs = dict(kwargs)
    opts = kwargs.pop("options", None)
    if opts is not None:
        if not isinstance(opts, Mapping):
            raise TypeError(f"options must be a dict of keyword arguments, got {type(opts).__name__}")
        kwargs = {**opts, **kwargs}
    unknown = sorted(k for k in kwargs if k not in keywords)
    if unknown:
        raise TypeError(
            f"{where} got unexpected keyword argument(s) {', '.join(map(repr, unknown))}; "
            f"accepted: {', '.join(keywords)}"
        )
    values = {name: kw.default for name, kw in keywords.items()}
    values.update(defaults)
    if defaults_3d and keywords["dims"].check(kwargs.get("dims", values["dims"])) == 3:
        values.update(defaults_3d)
    values.update(kwargs)
    clean = {name: keywords[name].check(v) for name, v in values.items()}
    shared = {f.name for f in fields(Options)}
    out = Options(**{k: v for k, v in clean.items() if k in shared},
                  extra={k: v for k, v in clean.items() if k not in shared})
    out.network((256, 256))  # validates channels / skip_channels / norm_groups together
    if out.slab_overlap >= out.slab:
        raise ValueError(f"slab_overlap ({out.slab_overlap}) must be smaller than slab ({out.slab})")
    if out.beam == "cone":
        if out.dims != 3:
            raise ValueError("beam='cone' couples the rows of a scan (one volume, one 3-D U-Net): pass dims=3")
        if out.backend == "matrix":
            raise ValueError("beam='cone' has no system matrix: backend must be 'auto' or 'astra'")
        from tomopy_dip.physics.projector import require_cone_cuda

        require_cone_cuda(out.device)
    return out


def with_changes(options: Options, **changes: Any) -> Options:
    """A copy of ``options`` with some shared keywords replaced (validated)."""
    return replace(options, **{k: KEYWORDS[k].check(v) for k, v in changes.items()})
