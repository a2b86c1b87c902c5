"""Which checkpoint serves which data: the match score and the automatic choice.

:func:`choose_checkpoint` keeps the registered checkpoints of the data's beam type and ranks them
by geometry similarity, all in relative terms: number of views against the view counts served,
image size, angular span, and for fan beam the source and detector distances and the detector's
field of view relative to the image width. A poor best match (any of these outside what the
checkpoint serves) is returned with the reasons; :func:`resolve_checkpoint` then starts EDIP from
a random network, fine-tunes the poor match, or refuses (``mismatch``), saying which before
any fitting (:class:`CheckpointMatchWarning`).

The geometry summaries compared here are the file format's
(:func:`~tomopy_dip.learning.checkpoints.format.geometry_summary`,
:func:`~tomopy_dip.learning.checkpoints.format.default_serves`); they are importable from here too.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from typing import Any, Mapping

import tomopy_dip.learning.checkpoints.registry as registry
from tomopy_dip.learning.checkpoints.format import Checkpoint, default_serves, geometry_summary, scan_arc
from tomopy_dip.physics.geometry import Geometry

__all__ = ["CheckpointMatchWarning", "MISMATCH_CHOICES", "scan_arc", "geometry_summary", "default_serves", "match_geometry",
           "choose_checkpoint", "check_compatible", "resolve_checkpoint"]

log = logging.getLogger(__name__)


class CheckpointMatchWarning(UserWarning):
    """The automatically chosen checkpoint was trained for a rather different geometry."""


def _ratio(a: float, b: float) -> float:
    return abs(math.log(a / b)) if a > 0 and b > 0 else math.inf


def match_geometry(trained: Mapping[str, Any], serves: Mapping[str, Any] | None,
                   geometry: Geometry) -> tuple[float, list[str]]:
    """How well a checkpoint trained for ``trained`` suits data of ``geometry``.

    Parameters
    ----------
    trained : mapping
        The checkpoint's ``geometry`` metadata (see :func:`geometry_summary`).
    serves : mapping, optional
        Its ``serves`` metadata (default: :func:`default_serves`).
    geometry : Geometry
        The data's geometry.

    Returns
    -------
    score : float
        Lower is better; ``inf`` when the beam types differ.
    reasons : list of str
        Why the match is poor (empty for a good match).
    """
    if trained.get("beam") != geometry.beam:
        return math.inf, [f"it was trained for {trained.get('beam')} beam, the data are {geometry.beam} beam"]
    serves = serves or default_serves(trained)
    reasons: list[str] = []
    score = 0.0
    n = geometry.nproj
    lo, hi = serves["views"]
    views = trained.get("views") or [trained.get("nproj", n)]
    score += 0.5 * min(_ratio(n, v) for v in views)
    if not lo <= n <= hi:
        reasons.append(f"the data have {n} views, it serves {lo}-{hi}")
        score += 1.0 + min(_ratio(n, lo), _ratio(n, hi))
    size = geometry.size
    tsize = float(trained.get("size") or math.sqrt(trained["num_gridx"] * trained["num_gridy"]))
    slo, shi = serves["size"]
    score += 0.25 * _ratio(size, tsize)
    if not slo <= size <= shi:
        reasons.append(f"the image is {geometry.num_gridx}x{geometry.num_gridy}, it serves sizes {slo}-{shi}")
        score += 1.0 + min(_ratio(size, slo), _ratio(size, shi))
    arc, tarc = scan_arc(geometry.theta), float(trained.get("arc") or 0.0)
    if n > 1 and tarc > 0:
        r = _ratio(arc, tarc)
        score += r
        if r > math.log(1.1):
            reasons.append(f"the scan spans {math.degrees(arc):.0f}°, it was trained on "
                           f"{math.degrees(tarc):.0f}°")
    checks = []
    if geometry.beam == "fanflat":
        checks += [("source-origin distance", geometry.source_origin / size,
                    trained["source_origin"] / tsize, 1.15),
                   ("origin-detector distance", geometry.origin_detector / size,
                    trained["origin_detector"] / tsize, 1.15)]
        tmag = (trained["source_origin"] + trained["origin_detector"]) / trained["source_origin"]
    else:
        tmag = 1.0
    fov = geometry.ndet * geometry.spacing_at_axis / size
    tfov = trained["ndet"] * trained["detector_spacing"] / tmag / tsize
    checks.append(("detector width", fov, tfov, 1.25))
    for what, a, b, tol in checks:
        r = _ratio(a, b)
        score += r
        if r > math.log(tol):
            reasons.append(f"the {what} relative to the image is {a:.3g}, it was trained on {b:.3g}")
    return score, reasons


def choose_checkpoint(geometry: Geometry, dims: int = 2) -> tuple[str, list[str]]:
    """The registered checkpoint of a ``dims``-D network that best matches ``geometry``, and
    why its match is poor.

    Raises
    ------
    ValueError
        When no registered checkpoint has the data's beam type, or a ``dims``-D network.
    """
    if not any(e.dims == dims for e in registry.CHECKPOINTS.values()):
        raise ValueError(f"no registered checkpoint holds a {dims}-D network (dims={dims})")
    ranked = []
    for name, e in registry.CHECKPOINTS.items():
        if e.dims != dims:
            continue
        score, reasons = match_geometry(e.geometry, e.serves, geometry)
        if math.isfinite(score):
            ranked.append((score, name, reasons))
    if not ranked:
        have = sorted({e.beam for e in registry.CHECKPOINTS.values()})
        raise ValueError(
            f"no registered checkpoint serves {geometry.beam}-beam data (registered beams: "
            f"{', '.join(have) or 'none'}); pretrain one for this geometry with "
            "tomopy_dip.pretrain(...) (or `tomopy-dip pretrain`) and pass checkpoint=<file>"
        )
    ranked.sort(key=lambda r: (r[0], r[1]))
    _, name, reasons = ranked[0]
    return name, reasons


def check_compatible(ckpt: Checkpoint, geometry: Geometry, dims: int = 2) -> None:
    """Raise :class:`ValueError` when ``ckpt`` cannot serve data of ``geometry`` fitted by a
    ``dims``-D network."""
    trained = ckpt.geometry
    if ckpt.config.dims != dims:
        raise ValueError(
            f"checkpoint {ckpt.label} holds a {ckpt.config.dims}-D network, the fit asks for dims={dims}; "
            f"give a {dims}-D checkpoint or dims={ckpt.config.dims}"
        )
    if ckpt.config.in_channels != 1:
        raise ValueError(
            f"checkpoint {ckpt.label} expects {ckpt.config.in_channels} input channels; EDIP feeds "
            "the network one channel (the FBP)"
        )
    if trained.get("beam") != geometry.beam:
        raise ValueError(
            f"checkpoint {ckpt.label} was trained for {trained.get('beam')}-beam data but the data "
            f"are {geometry.beam}-beam; choose a {geometry.beam}-beam checkpoint or pretrain one "
            "for this geometry (tomopy_dip.pretrain)"
        )


#: What EDIP may do when no registered checkpoint suits the data: the values of its keyword
#: ``mismatch``, whose default is the method's (:data:`tomopy_dip.methods.edip.EDIP_KEYWORDS`).
MISMATCH_CHOICES = ("random", "use", "error")


def resolve_checkpoint(checkpoint: "str | os.PathLike | Checkpoint | None", geometry: Geometry,
                       mismatch: str, dims: int = 2) -> Checkpoint | None:
    """The checkpoint EDIP starts from: the one given, or the best registered one for ``geometry``.

    Parameters
    ----------
    checkpoint : str, path-like, Checkpoint or None
        A registry name or file; None chooses automatically (:func:`choose_checkpoint`).
    geometry : Geometry
        The data's geometry.
    mismatch : {"use", "random", "error"}
        When the automatic choice does not suit the data (another beam type, views, size, span
        or detector outside what it serves): ``"use"`` fine-tunes it anyway, with a
        :class:`CheckpointMatchWarning`; ``"random"`` returns None (the caller starts from a
        random network) with a warning saying so; ``"error"`` raises :class:`ValueError`. A
        checkpoint given explicitly is always used. No default here: EDIP passes the value of
        its keyword ``mismatch``, whose one default is declared on the method
        (:data:`tomopy_dip.methods.edip.EDIP_KEYWORDS`).
    dims : {2, 3}
        The network the fit needs: only checkpoints of a ``dims``-D U-Net qualify.

    Returns
    -------
    Checkpoint or None
        None when ``mismatch="random"`` and no registered checkpoint suits the data.

    Raises
    ------
    ValueError
        The checkpoint cannot serve the data (see :func:`check_compatible`), or none suits them
        with ``mismatch="error"``.
    """
    if mismatch not in MISMATCH_CHOICES:
        raise ValueError(f"mismatch must be one of {MISMATCH_CHOICES}, got {mismatch!r}")
    if checkpoint is not None:
        ckpt = registry.load_checkpoint(checkpoint)
        check_compatible(ckpt, geometry, dims)
        return ckpt
    try:
        name, reasons = choose_checkpoint(geometry, dims)
    except ValueError as exc:  # no checkpoint of this beam type or dimension
        if mismatch == "use":
            raise
        name, reasons = None, [str(exc).split(";")[0]]
    if reasons and mismatch != "use":
        what = f"the closest registered checkpoint, {name!r}, does not suit these data" if name else \
            "no registered checkpoint suits these data"
        advice = ("pretrain one for this geometry (tomopy_dip.pretrain or `tomopy-dip pretrain`) and pass "
                  "checkpoint=<file>" + (f", or pass checkpoint={name!r} (mismatch='use') to fine-tune it "
                                         "anyway" if name else "")) if dims == 2 else \
            "pretrain a 3-D one for this geometry (tomopy_dip.pretrain(..., dims=3) or `tomopy-dip pretrain --dims 3`) " \
            "and pass checkpoint=<file>"
        if mismatch == "error":
            raise ValueError(f"{what}: {'; '.join(reasons)}; {advice}")
        warnings.warn(f"{what} ({'; '.join(reasons)}): EDIP starts from a random network with the FBP as "
                      f"input (as DIP does) instead of fine-tuning a mismatched one; {advice}",
                      CheckpointMatchWarning, stacklevel=3)
        return None
    ckpt = registry.load_checkpoint(name)
    if reasons:
        warnings.warn(
            f"tomopy-dip chose checkpoint {name!r}, a poor match for these data: "
            f"{'; '.join(reasons)}. Pretrain one for this geometry (tomopy_dip.pretrain) "
            "and pass checkpoint=<file> for a better start.",
            CheckpointMatchWarning, stacklevel=3,
        )
    else:
        log.info("using checkpoint %s", name)
    check_compatible(ckpt, geometry, dims)
    return ckpt
