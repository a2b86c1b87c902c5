"""The entry point of pretraining: :func:`pretrain` checks its arguments against the settings'
schema (:mod:`tomopy_dip.learning.pretraining.settings`), describes the run (network, signature,
checkpoint metadata) and runs the trainer."""

from __future__ import annotations

import hashlib
import inspect
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tomopy_dip.learning.checkpoints import default_serves, geometry_summary
from tomopy_dip.learning.phantoms import family_parameters
from tomopy_dip.learning.pretraining.data import view_geometry
from tomopy_dip.learning.pretraining.settings import (
    GEOMETRY_KEYWORDS, PRETRAIN_KEYWORDS, PRETRAIN_NORM_GROUPS, REQUIRED, parse_settings,
)
from tomopy_dip.learning.pretraining.trainer import _Trainer
from tomopy_dip.networks import UNetConfig
from tomopy_dip.options import KEYWORDS, Options
from tomopy_dip.physics.geometry import Geometry

__all__ = ["pretrain", "PRETRAIN_NORM_GROUPS", "PHANTOM_DESCRIPTIONS"]

#: What the checkpoint metadata says about each phantom family.
PHANTOM_DESCRIPTIONS = {
    "ellipses": "random ellipses (tomopy_dip.learning.phantoms, EDIP's distribution)",
    "holed_discs": "discs of one material with holes (tomopy_dip.learning.phantoms.random_holed_disc)",
    "ellipsoids": "slabs of random-ellipsoid volumes (tomopy_dip.learning.phantoms.random_ellipsoid_slab, "
                  "EDIP's 3-D distribution)",
    "images": "the given images, rotated and mirrored (tomopy_dip.learning.phantoms.ImageFamily; "
              "their count and SHA-256 in family_parameters)",
}


def _network_config(channels: tuple | None, skip_channels: tuple | None, norm_groups: int | None,
                    out_activation: str | None, shape: tuple, dims: int = 2) -> UNetConfig:
    """The methods' ``dims``-D network for an FBP input on ``shape`` (:meth:`Options.network`),
    with :data:`PRETRAIN_NORM_GROUPS` unless given."""
    base = Options(channels=None if channels is None else tuple(channels),
                   skip_channels=None if skip_channels is None else tuple(skip_channels),
                   network_input="fbp", dims=dims).network(shape)
    return replace(base, norm_groups=PRETRAIN_NORM_GROUPS if norm_groups is None else int(norm_groups),
                   out_activation=base.out_activation if out_activation is None else out_activation)


def _default_command(arguments: dict) -> str:
    """A Python call equivalent to the run's ``arguments`` (the metadata's ``command``)."""
    th = np.asarray(arguments["theta"])
    args = dict(arguments)
    steps = np.diff(th) if th.size > 1 else np.zeros(0)
    if th.size > 1 and np.allclose(steps, steps[0], rtol=1e-6, atol=1e-12):
        args["theta"] = f"np.linspace({float(th[0])!r}, {float(th[0] + steps[0] * th.size)!r}, {th.size}, endpoint=False)"
    else:
        args["theta"] = f"<{th.size} angles: see arguments.theta>"
    body = ", ".join(f"{k}={v}" if k == "theta" else f"{k}={v!r}" for k, v in args.items()
                     if v is not None and k not in ("progress", "callback"))
    return f"python -c \"import numpy as np, tomopy_dip; tomopy_dip.pretrain({body})\""


def pretrain(theta: Any, ndet: int, center: float | None = None, num_gridx: int | None = None,
             num_gridy: int | None = None, **settings: Any) -> Path:
    """Pretrain a U-Net for EDIP on synthetic phantoms in a given geometry; returns the best file.

    The keyword arguments (all but the scan's five) are the settings of
    :data:`~tomopy_dip.learning.pretraining.settings.PRETRAIN_KEYWORDS`: their defaults, checks
    and command-line options (``tomopy-dip pretrain``) are declared there once.

    Parameters
    ----------
    theta : array_like
        Projection angles in radians (TomoPy's ``theta``). With ``views``, evenly spaced angles
        whose arc (``nproj * step``) and start define the scans of every view count.
    ndet : int
        Detector pixels.
    center : float, optional
        Rotation centre (gridrec convention), as for the algorithms.
    num_gridx, num_gridy : int, optional
        Image grid (default ``ndet``).
    out : path-like
        Output checkpoint (``.safetensors``): the best network by validation PSNR. Periodic
        checkpoints go beside it as ``<stem>-step<N>.safetensors``, the resume state as
        ``<stem>.state``.
    num_steps : int
        Optimiser steps (the length of the one-cycle schedule).
    batch_size : int
        Samples per step.
    lr_max, weight_decay : float
        Peak learning rate of the one-cycle schedule and Adam's weight decay (EDIP's values).
        EDIP's 5e-4 suits its long runs (about 100 000 steps of batch 32); for the few thousand
        small batches a CPU affords, a higher peak learns faster: on the HTC geometry (256²,
        batch 4, holed discs) 2e-3 reached in 400 steps the validation PSNR that 5e-4 reached
        in 1500.
    val_size : int
        Validation phantoms (a fixed set, disjoint from training).
    val_every : int, optional
        Steps between validations (default ``ceil(num_steps / 20)``).
    checkpoint_every : int, optional
        Steps between periodic checkpoints (default ``ceil(num_steps / 4)``; 0: none).
    seed : int
        Seed of the data and of the initial weights.
    resume : bool
        Continue from ``<stem>.state`` when it exists (it must come from the same arguments
        and the same phantom distribution, :func:`tomopy_dip.learning.phantoms.family_parameters`);
        False starts over.
    views : sequence of int, optional
        View counts to train one network for (see :mod:`tomopy_dip.learning.pretraining`).
    noise : float or (float, float)
        Relative noise level (EDIP: 0.05), or a range each sample's level is drawn from.
    filter_name : str
        FBP filter of the network input; must equal the engine's ``filter_name`` (``"hann"``).
    phantoms : {"ellipses", "holed_discs", "images"}, optional
        Training phantoms (:mod:`tomopy_dip.learning.phantoms`): EDIP's random ellipses (the
        default without ``images``), discs of one material with holes, for objects like the HTC
        2022 phantoms, or ``"images"`` (the default with ``images``).
    images : array_like, optional
        Pretrain on the scan itself: images ``(n, num_gridx, num_gridy)`` (or one image), e.g.
        a few rows of the scan reconstructed at a method's defaults, each sample one of them
        rotated by a random angle and mirrored (:class:`~tomopy_dip.learning.phantoms.ImageFamily`),
        then measured and reconstructed in this geometry like any phantom. A checkpoint so
        trained starts EDIP on the scan's other rows from a network that has seen the object
        (pass it as ``checkpoint=``). Not modified; recorded by count and SHA-256.
    level : (float, float), optional
        Intensity-level augmentation (see :func:`simulate_pairs`): each sample is scaled so
        that its target's maximum lies in ``U(lo, hi)``, which teaches the network to keep the
        input's intensity level. Default none (EDIP's plain normalisation).
    blur : float or (float, float), optional
        Gaussian blur of the phantoms in pixels, fixed or drawn per sample (see
        :func:`simulate_pairs`). Default none (EDIP's sharp phantoms).
    channels, skip_channels, norm_groups, out_activation
        Network; default the engine's default network for an FBP input
        (:class:`~tomopy_dip.options.Options`, no skip into the finest scale:
        :func:`~tomopy_dip.networks.default_skip_channels`) with GroupNorm over 4 groups
        (``norm_groups=4``), which learns faster from many images than the engine's
        per-channel default. EDIP fine-tunes the network as pretrained.
    serves : dict, optional
        ``{"views": [lo, hi], "size": [lo, hi]}`` recorded for the automatic checkpoint choice
        (default: close to the trained view counts and size).
    device : str or torch.device, optional
        Default CUDA when available.
    backend : {"auto", "matrix", "astra"}
        Projector backend (the matrix is fastest).
    threads : int, optional
        Torch threads during the run.
    progress : bool
        Progress bar with loss and validation PSNR.
    command : str, optional
        The command that produced the file, stored in its metadata (default: an equivalent
        Python call).
    description : str
        Free text stored in the metadata.
    callback : callable, optional
        Called after every step with ``{"step", "loss", "lr", "val_psnr"}`` (``val_psnr``
        None when not validated at that step).
    dims : {2, 3}
        2: a 2-D U-Net on single slices; 3: a 3-D U-Net on slabs of ``slab`` rows of
        random-ellipsoid volumes (EDIP's 3-D distribution,
        :func:`~tomopy_dip.learning.phantoms.random_ellipsoid_slab`; ``phantoms="ellipses"``),
        each row measured in the given 2-D geometry, for EDIP with ``dims=3``.
    slab : int, optional
        ``dims=3``: rows per training slab (default the fitting keyword ``slab``, 16).
    **geometry
        ``beam``, ``source_origin``, ``origin_detector``, ``detector_spacing``, ``projector``
        as for the algorithms.

    Returns
    -------
    Path
        ``out``.

    Examples
    --------
    >>> import numpy as np, tomopy_dip
    >>> theta = np.linspace(0, np.pi, 60, endpoint=False)
    >>> path = tomopy_dip.pretrain(theta, 64, out="/tmp/tiny.safetensors", num_steps=2,
    ...                            batch_size=2, val_size=2, channels=(8, 8), skip_channels=(0, 4),
    ...                            resume=False, progress=False)  # doctest: +SKIP
    >>> rec = tomopy_dip.reconstruct(sino, theta, method="edip", checkpoint=path)  # doctest: +SKIP
    """
    s = parse_settings(settings)
    phantoms, images, dims, slab = s.phantoms, s.images, s.dims, s.slab
    if phantoms is None:
        phantoms = "ellipses" if images is None else "images"
    if (phantoms == "images") != (images is not None):
        raise ValueError("phantoms='images' needs images= (the images to train on)" if images is None else
                         f"images= trains on those images: leave phantoms out or set it to 'images', "
                         f"got {phantoms!r}")
    if dims == 3:
        if phantoms != "ellipses":
            raise ValueError(f"dims=3 pretrains on random ellipsoids: phantoms must be 'ellipses', got {phantoms!r}")
        slab = KEYWORDS["slab"].default if slab is None else slab
    elif slab is not None:
        raise ValueError("slab is a dims=3 argument (rows per training slab); leave it out for dims=2")
    if s.geometry.get("beam") == "cone":
        raise ValueError("pretraining for beam='cone' is not implemented: pretrain a dims=3 network for the "
                         "scan's parallel or fan-beam rows, or fit from a random start")
    num_steps, batch_size, val_size, seed = s.num_steps, s.batch_size, s.val_size, s.seed
    val_every = s.val_every or max(1, math.ceil(num_steps / 20))
    checkpoint_every = max(1, math.ceil(num_steps / 4)) if s.checkpoint_every is None else s.checkpoint_every
    noise_range, level_range, blur_range, filter_name = s.noise, s.level, s.blur, s.filter_name
    theta_arr = np.asarray(theta, dtype=np.float64).reshape(-1)
    base = Geometry(theta_arr, ndet, center=center, num_gridx=num_gridx, num_gridy=num_gridy,
                    **s.geometry)
    view_counts = s.views or [base.nproj]
    geoms = [view_geometry(base, v) for v in view_counts] if s.views else [base]
    config = _network_config(s.channels, s.skip_channels, s.norm_groups, s.out_activation, base.shape_image, dims)
    family = images if images is not None else phantoms
    if images is not None and family.shape != tuple(base.shape_image):
        raise ValueError(f"images are {family.shape[0]} x {family.shape[1]}, the grid is "
                         f"{base.shape_image[0]} x {base.shape_image[1]} (num_gridx x num_gridy): give "
                         f"images on the grid the network will reconstruct")
    parameters = family_parameters(family, dims)
    if dims == 3 and slab > base.num_gridx:
        raise ValueError(f"slab ({slab}) must not exceed the grid's rows num_gridx ({base.num_gridx})")
    summary = geometry_summary(base, view_counts)
    serves = s.serves or default_serves(summary)
    arguments = {
        "theta": theta_arr.tolist(), "ndet": int(ndet), "center": base.center, "num_gridx": base.num_gridx,
        "num_gridy": base.num_gridy, **{k: s.geometry[k] for k in sorted(s.geometry)},
        "num_steps": num_steps, "batch_size": batch_size, "lr_max": s.lr_max, "weight_decay": s.weight_decay,
        "val_size": val_size, "val_every": val_every, "checkpoint_every": checkpoint_every,
        "seed": seed, "views": view_counts if s.views else None,
        "noise": noise_range[0] if noise_range[0] == noise_range[1] else list(noise_range),
        "filter_name": filter_name, "phantoms": phantoms,
        "level": None if level_range is None else list(level_range), "channels": list(config.channels),
        "skip_channels": list(config.skip_channels), "norm_groups": config.norm_groups,
        "out_activation": config.out_activation,
    }
    if images is not None:  # the values are in the signature through the family's parameters
        arguments["images"] = f"<{parameters['count']} images, SHA-256 {parameters['sha256']}>"
    if blur_range is not None:  # only when given: signatures of earlier runs stay valid
        arguments["blur"] = blur_range[0] if blur_range[0] == blur_range[1] else list(blur_range)
    if dims == 3:  # likewise
        arguments.update(dims=3, slab=slab)
    signature = {k: arguments[k] for k in arguments if k not in ("val_every", "checkpoint_every")}
    signature["theta"] = hashlib.sha1(theta_arr.tobytes()).hexdigest()
    # the family's own parameters (tomopy_dip.learning.phantoms): a run drawn from another version of the
    # distribution must not be continued with this one
    signature["family_parameters"] = hashlib.sha1(json.dumps(parameters, sort_keys=True).encode()).hexdigest()
    command = s.command or _default_command(arguments)

    old_threads = torch.get_num_threads()
    if s.threads:
        torch.set_num_threads(s.threads)
    try:
        return _Trainer(
            geoms=geoms, config=config, device=s.device, backend=s.backend, out=s.out, num_steps=num_steps,
            batch_size=batch_size, lr_max=s.lr_max, weight_decay=s.weight_decay, val_size=val_size,
            val_every=val_every, checkpoint_every=checkpoint_every, seed=seed, noise=noise_range,
            filter_name=filter_name, phantoms=family, level=level_range, blur=blur_range,
            slab=slab if dims == 3 else None, resume=s.resume, progress=s.progress, callback=s.callback,
            signature=signature, metadata_base={
                "geometry": summary, "serves": serves,
                "noise": {"model": "relative_gaussian", "level": arguments["noise"],
                          "formula": "y = A x + level * mean(|A x|) * N(0, 1), per sample"},
                "dims": dims,
                "data": {"phantoms": PHANTOM_DESCRIPTIONS[phantoms] if dims == 2 else PHANTOM_DESCRIPTIONS["ellipsoids"],
                         "family": phantoms, "family_parameters": parameters, "slab": slab if dims == 3 else None,
                         "dims": dims, "seed": seed, "filter_name": filter_name, "input": "fbp",
                         "level_augmentation": arguments["level"], "blur_pixels": arguments.get("blur"),
                         "scaling": "input FBP(y)/s, target x/s, s = 0.999-quantile of |FBP(y)| per sample"
                                    + (" (the largest of a slab's rows')" if dims == 3 else "")
                                    + " (as tomopy_dip.fitting.engine)"},
                "command": command, "arguments": arguments, "description": s.description,
            },
        ).run()
    finally:
        torch.set_num_threads(old_threads)


def _signature() -> inspect.Signature:
    """:func:`pretrain`'s signature as the schema declares it: the scan's five parameters, the
    settings as keyword-only parameters with their defaults, then ``**geometry``."""
    P = inspect.Parameter
    scan = [P("theta", P.POSITIONAL_OR_KEYWORD), P("ndet", P.POSITIONAL_OR_KEYWORD)]
    scan += [P(k, P.POSITIONAL_OR_KEYWORD, default=None) for k in ("center", "num_gridx", "num_gridy")]
    keywords = [P(k, P.KEYWORD_ONLY, default=P.empty if s.default is REQUIRED else s.default)
                for k, s in PRETRAIN_KEYWORDS.items() if k not in GEOMETRY_KEYWORDS]
    return inspect.Signature([*scan, *keywords, P("geometry", P.VAR_KEYWORD)], return_annotation=Path)


pretrain.__signature__ = _signature()  # type: ignore[attr-defined]
