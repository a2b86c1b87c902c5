"""Supervised pretraining of the U-Net for Educated DIP (EDIP stage 1).

:func:`pretrain` trains ``f(FBP(y) / s) ~ x / s`` on synthetic phantoms ``x``
(:mod:`tomopy_dip.learning.phantoms`: EDIP's random ellipses by default, or holed discs) measured in the
target geometry, ``y = A x + noise * mean(|A x|) * N(0, 1)`` (EDIP's "5 %" noise for
``noise=0.05``; a pair draws the level per sample), where ``s`` is the 99.9th percentile of
``|FBP(y)|`` of that sample: exactly the normalisation the fitting engine applies to real data
(:mod:`tomopy_dip.fitting.engine`), with the same FBP filter. The network thus works at unit scale,
whatever the data units, and its output is what the engine expects at iteration 0 of EDIP.
With ``level`` the scale is instead drawn per sample so that the target's maximum is spread over
a range, which keeps the network from learning one typical intensity level (see
:func:`simulate_pairs`).

Recipe (EDIP's): MSE loss, Adam with weight decay, a one-cycle learning-rate schedule (PyTorch's
``OneCycleLR``, peak ``lr_max``), validation PSNR on a fixed set of held-out phantoms, the best
network (by validation PSNR) kept as the output file, periodic checkpoints besides it. Training
samples are never repeated: sample ``i`` is drawn from its own seed ``(seed, i)``, so the data
stream has no state to store and a resumed run sees exactly the samples it would have seen.

Resuming: the file ``<out stem>.state`` holds the weights, Adam's moments, the schedule, the
step and the best PSNR so far (a torch file read with ``weights_only=True``). It is written at
every validation, every periodic checkpoint, every few minutes, on Ctrl-C and at the end; calling
:func:`pretrain` again with the same arguments continues from it (``resume=True``), and the
result is the same as an uninterrupted run. The first Ctrl-C finishes the current step, saves
and raises :class:`KeyboardInterrupt`; a second one aborts at once.

Several view counts: ``views=[20, 30, ..., 720]`` trains one network for all of them, each
batch drawn with one view count chosen at random (angles evenly spaced over the arc of
``theta``), validation cycling through them.

The command line is ``tomopy-dip pretrain`` (:func:`add_cli`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import shlex
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from tomopy_dip.learning.checkpoints import default_serves, geometry_summary, save_checkpoint
from tomopy_dip.learning.phantoms import PHANTOM_FAMILIES, family_parameters, random_phantom, sample_rng
from tomopy_dip.physics.fbp import FILTERS, fbp
from tomopy_dip.physics.geometry import BEAMS, Geometry
from tomopy_dip.networks import UNet, UNetConfig, default_skip_channels
from tomopy_dip.options import Options, _device
from tomopy_dip.physics.projector import RayTransform, get_operator

__all__ = ["pretrain", "simulate_pairs", "view_geometry", "state_path", "add_cli"]

log = logging.getLogger(__name__)

_GEOMETRY_KEYWORDS = ("beam", "source_origin", "origin_detector", "detector_spacing", "projector")
_STATE_FORMAT = "tomopy_dip.pretrain_state"
_STATE_EVERY_SECONDS = 300.0

#: What the checkpoint metadata says about each phantom family.
PHANTOM_DESCRIPTIONS = {
    "ellipses": "random ellipses (tomopy_dip.learning.phantoms, EDIP's distribution)",
    "holed_discs": "discs of one material with holes (tomopy_dip.learning.phantoms.random_holed_disc)",
}


# ---------------------------------------------------------------------------- data
def view_geometry(geometry: Geometry, nproj: int) -> Geometry:
    """``geometry`` with ``nproj`` evenly spaced angles over the same arc, from the same start."""
    th = geometry.theta
    if th.size < 2:
        raise ValueError("several view counts need at least two angles in theta to define the arc")
    steps = np.diff(th)
    if not np.allclose(steps, steps[0], rtol=1e-3, atol=1e-9):
        raise ValueError("views= needs evenly spaced angles in theta (they define the arc covered)")
    arc = float(steps[0]) * th.size
    return geometry.replace(theta=th[0] + np.arange(int(nproj)) * (arc / int(nproj)))


def _phantoms_and_noise(shape: tuple, nsino: tuple, seed: int, indices: Sequence[int],
                        stream: str, family: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Phantoms, unit noise and three uniform numbers per sample (noise level, intensity level
    and blur draws; drawn last, so phantoms and noise are those of runs without them)."""
    xs, ns, us = [], [], []
    for i in indices:
        rng = sample_rng(seed, i, stream)
        xs.append(random_phantom(shape, rng, family))
        ns.append(rng.standard_normal(nsino, dtype=np.float32))
        us.append(rng.random(3))
    return np.stack(xs), np.stack(ns), np.stack(us)


def _range(value: Any, name: str) -> tuple[float, float]:
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


def simulate_pairs(op: RayTransform, seed: int, indices: Sequence[int], stream: str = "train",
                   noise: float | tuple[float, float] = 0.05, filter_name: str = "hann",
                   device: torch.device | str = "cpu", phantoms: str = "ellipses",
                   level: tuple[float, float] | None = None,
                   blur: float | tuple[float, float] | None = None) -> dict[str, torch.Tensor]:
    """Training pairs of samples ``indices``: network input ``FBP(y) / s`` and target ``x / s``.

    Parameters
    ----------
    op : RayTransform
        The operator of the (training) geometry.
    seed : int
        Data seed; sample ``i`` depends only on ``(seed, stream, i)``.
    indices : sequence of int
        Sample numbers.
    stream : {"train", "validation"}
        Independent sample streams.
    noise : float or (float, float)
        Relative Gaussian noise: ``y = A x + noise * mean(|A x|) * N(0, 1)`` per sample; a
        pair ``(lo, hi)`` draws each sample's level from ``U(lo, hi)``.
    filter_name : str
        FBP filter (the engine's ``filter_name``, default ``"hann"``).
    device : torch device
        Where the tensors go.
    phantoms : str
        Phantom family (:data:`tomopy_dip.learning.phantoms.PHANTOM_FAMILIES`).
    level : (float, float), optional
        Intensity-level augmentation: ``s`` is replaced per sample by the scale that puts the
        target's maximum at ``U(lo, hi)``. Without it (EDIP) ``max(x) / s`` depends on the noise
        level and on how sharp the phantoms' edges are, and a network learns the training set's
        typical level instead of reading it from its input; real data with other noise and
        blur then come out too dark or too bright.
    blur : float or (float, float), optional
        Gaussian blur of the phantom, standard deviation in pixels (a pair: drawn per sample
        from ``U(lo, hi)``), before it is measured; the target is the blurred phantom. A
        scanner's focal spot and detector soften every edge, and the rendered phantoms' sharp
        edges make the FBP overshoot (which lowers ``max(x) / s``, the intensity level the
        network learns).

    Returns
    -------
    dict
        ``input``, ``target`` ``(B, 1, nx, ny)``; ``sinogram`` ``(B, nproj, ndet)`` (the
        simulated data in image units) and ``scale`` ``(B,)``.
    """
    g = op.geometry
    x, n, u = _phantoms_and_noise(g.shape_image, g.shape_sino, seed, indices, stream, phantoms)
    if blur is not None:
        from scipy.ndimage import gaussian_filter

        blo, bhi = _range(blur, "blur")
        x = np.stack([gaussian_filter(xi, blo + (bhi - blo) * ui) if bhi > 0 else xi
                      for xi, ui in zip(x, u[:, 2])]).astype(np.float32)
    lo, hi = _range(noise, "noise")
    sigma = torch.from_numpy(lo + (hi - lo) * u[:, 0]).float().to(device)[:, None, None]
    x = torch.from_numpy(x).to(device)
    with torch.no_grad():
        y = op(x)
        y = y + sigma * y.abs().mean((1, 2), keepdim=True) * torch.from_numpy(n).to(device)
        # The engine's normalisation (tomopy_dip.fitting.engine._Batch), sample by sample.
        rec = fbp(y, op, filter_name)
        s = torch.quantile(rec.reshape(len(indices), -1).abs(), 0.999, dim=1)
        s = torch.where(s > 0, s, torch.ones_like(s))
        if level is not None:
            lo, hi = _range(level, "level")
            peak = x.reshape(len(indices), -1).amax(1)
            want = torch.from_numpy(lo + (hi - lo) * u[:, 1]).float().to(device)
            s = torch.where(peak > 0, peak / want, s)
    return {"input": (rec / s[:, None, None]).unsqueeze(1), "target": (x / s[:, None, None]).unsqueeze(1),
            "sinogram": y, "scale": s}


def _psnr(out: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """PSNR per sample with data range ``max(ref) - min(ref)``."""
    o, r = out.flatten(1).double(), ref.flatten(1).double()
    rng = (r.max(1).values - r.min(1).values).clamp_min(1e-12)
    mse = (o - r).pow(2).mean(1).clamp_min(1e-30)
    return 10 * torch.log10(rng**2 / mse)


# ---------------------------------------------------------------------------- state
def state_path(out: str | os.PathLike) -> Path:
    """The resume file of a pretraining run writing ``out``: ``<stem>.state`` beside it."""
    return Path(out).with_suffix(".state")


def _atomic_torch_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class _DeferInterrupt:
    """First Ctrl-C: set a flag (the loop saves and stops after the step); second: abort at once
    without saving (the last saved state stays)."""

    def __init__(self) -> None:
        self.requested = False
        self.aborted = False
        self._old = None

    def __enter__(self) -> "_DeferInterrupt":
        if threading.current_thread() is threading.main_thread() and \
                signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:  # pragma: no cover - needs a real signal
        if self.requested:
            self.aborted = True
            raise KeyboardInterrupt
        self.requested = True
        log.warning("interrupt: finishing the current step and saving the state (Ctrl-C again to abort)")

    def __exit__(self, *exc) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


# ---------------------------------------------------------------------------- training
#: GroupNorm groups of a pretrained network. The engine's per-channel normalisation suits
#: fitting one image (DIP) but learns slowly from many: after 300 steps of the shipped parallel
#: run, validation PSNR 21.7 dB with 4 groups against 17.2 dB per channel (FBP: 19.7 dB).
#: The trade-off: EDIP fine-tunes the checkpoint's network, and a 4-group network fits one image
#: worse (TV-DIP from noise on HTC ``ta`` at 128²: 34.5 dB in 1500 iterations against 37.2 dB per
#: channel). Pass ``norm_groups`` equal to the channel count for per-channel normalisation.
PRETRAIN_NORM_GROUPS = 4


def _network_config(channels, skip_channels, norm_groups, out_activation) -> UNetConfig:
    base = Options().network
    channels = base.channels if channels is None else tuple(channels)
    return UNetConfig(
        channels=channels,
        skip_channels=(default_skip_channels(len(channels), image_input=True) if skip_channels is None
                       else tuple(skip_channels)),
        norm_groups=PRETRAIN_NORM_GROUPS if norm_groups is None else int(norm_groups),
        out_activation=base.out_activation if out_activation is None else out_activation,
    )


def _default_command(arguments: dict) -> str:
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
             num_gridy: int | None = None, *, out: str | os.PathLike, num_steps: int = 10000,
             batch_size: int = 8, lr_max: float = 5e-4, weight_decay: float = 1e-5,
             val_size: int = 32, val_every: int | None = None, checkpoint_every: int | None = None,
             seed: int = 0, resume: bool = True, views: Sequence[int] | None = None,
             noise: float | tuple[float, float] = 0.05, filter_name: str = "hann",
             phantoms: str = "ellipses", level: tuple[float, float] | None = None,
             blur: float | tuple[float, float] | None = None,
             channels: Sequence[int] | None = None, skip_channels: Sequence[int] | None = None,
             norm_groups: int | None = None, out_activation: str | None = None,
             serves: dict | None = None, device: Any = None, backend: str = "auto",
             threads: int | None = None, progress: bool = True, command: str | None = None,
             description: str = "", callback: Callable[[dict], Any] | None = None,
             **beam_keywords: Any) -> Path:
    """Pretrain a U-Net for EDIP on synthetic phantoms in a given geometry; returns the best file.

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
        View counts to train one network for (see the module docstring).
    noise : float or (float, float)
        Relative noise level (EDIP: 0.05), or a range each sample's level is drawn from.
    filter_name : str
        FBP filter of the network input; must equal the engine's ``filter_name`` (``"hann"``).
    phantoms : {"ellipses", "holed_discs"}
        Training phantoms (:mod:`tomopy_dip.learning.phantoms`): EDIP's random ellipses (default), or
        discs of one material with holes, for objects like the HTC 2022 phantoms.
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
    **beam_keywords
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
    unknown = sorted(set(beam_keywords) - set(_GEOMETRY_KEYWORDS))
    if unknown:
        raise TypeError(f"pretrain got unexpected keyword argument(s) {', '.join(map(repr, unknown))}; "
                        f"geometry keywords: {', '.join(_GEOMETRY_KEYWORDS)}")
    for name, value, lo in (("num_steps", num_steps, 1), ("batch_size", batch_size, 1),
                            ("val_size", val_size, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {value!r}")
    if not (lr_max > 0 and math.isfinite(lr_max)) or not weight_decay >= 0:
        raise ValueError("lr_max must be positive and weight_decay non-negative")
    noise_range = _range(noise, "noise")
    level_range = None if level is None else _range(level, "level")
    if level_range is not None and not (level_range[0] > 0 and level_range[1] <= 1):
        raise ValueError(f"level must be a pair 0 < lo <= hi <= 1 (the network's output range), got {level!r}")
    blur_range = None if blur is None else _range(blur, "blur")
    if filter_name not in FILTERS:
        raise ValueError(f"filter_name must be one of {FILTERS}, got {filter_name!r}")
    if phantoms not in PHANTOM_FAMILIES:
        raise ValueError(f"phantoms must be one of {tuple(PHANTOM_FAMILIES)}, got {phantoms!r}")
    if beam_keywords.get("beam", "parallel") not in BEAMS:
        raise ValueError(f"beam must be one of {BEAMS}, got {beam_keywords.get('beam')!r}")
    num_steps, batch_size, val_size = int(num_steps), int(batch_size), int(val_size)
    val_every = int(val_every) if val_every else max(1, math.ceil(num_steps / 20))
    checkpoint_every = max(1, math.ceil(num_steps / 4)) if checkpoint_every is None else int(checkpoint_every)
    theta_arr = np.asarray(theta, dtype=np.float64).reshape(-1)
    base = Geometry(theta_arr, ndet, center=center, num_gridx=num_gridx, num_gridy=num_gridy,
                    **beam_keywords)
    view_counts = sorted({int(v) for v in views}) if views else [base.nproj]
    if any(v < 1 for v in view_counts):
        raise ValueError(f"views must be positive integers, got {views!r}")
    geoms = [view_geometry(base, v) for v in view_counts] if views else [base]
    config = _network_config(channels, skip_channels, norm_groups, out_activation)
    dev = _device(device)
    out = Path(out)
    if out.suffix != ".safetensors":
        raise ValueError(f"out must be a .safetensors file, got {out}")
    summary = geometry_summary(base, view_counts)
    serves = serves or default_serves(summary)
    arguments = {
        "theta": theta_arr.tolist(), "ndet": int(ndet), "center": base.center, "num_gridx": base.num_gridx,
        "num_gridy": base.num_gridy, **{k: beam_keywords[k] for k in sorted(beam_keywords)},
        "num_steps": num_steps, "batch_size": batch_size, "lr_max": lr_max, "weight_decay": weight_decay,
        "val_size": val_size, "val_every": val_every, "checkpoint_every": checkpoint_every,
        "seed": int(seed), "views": view_counts if views else None,
        "noise": noise_range[0] if noise_range[0] == noise_range[1] else list(noise_range),
        "filter_name": filter_name, "phantoms": phantoms,
        "level": None if level_range is None else list(level_range), "channels": list(config.channels),
        "skip_channels": list(config.skip_channels), "norm_groups": config.norm_groups,
        "out_activation": config.out_activation,
    }
    if blur_range is not None:  # only when given: signatures of earlier runs stay valid
        arguments["blur"] = blur_range[0] if blur_range[0] == blur_range[1] else list(blur_range)
    signature = {k: arguments[k] for k in arguments if k not in ("val_every", "checkpoint_every")}
    signature["theta"] = hashlib.sha1(theta_arr.tobytes()).hexdigest()
    # the family's own parameters (tomopy_dip.learning.phantoms): a run drawn from another version of the
    # distribution must not be continued with this one
    family = family_parameters(phantoms)
    signature["family_parameters"] = hashlib.sha1(json.dumps(family, sort_keys=True).encode()).hexdigest()
    command = command or _default_command(arguments)

    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        return _Trainer(
            geoms=geoms, config=config, device=dev, backend=backend, out=out, num_steps=num_steps,
            batch_size=batch_size, lr_max=lr_max, weight_decay=weight_decay, val_size=val_size,
            val_every=val_every, checkpoint_every=checkpoint_every, seed=int(seed), noise=noise_range,
            filter_name=filter_name, phantoms=phantoms, level=level_range, blur=blur_range, resume=resume, progress=progress, callback=callback,
            signature=signature, metadata_base={
                "geometry": summary, "serves": serves,
                "noise": {"model": "relative_gaussian", "level": arguments["noise"],
                          "formula": "y = A x + level * mean(|A x|) * N(0, 1), per sample"},
                "data": {"phantoms": PHANTOM_DESCRIPTIONS[phantoms], "family": phantoms,
                         "family_parameters": family,
                         "dims": 2, "seed": int(seed), "filter_name": filter_name, "input": "fbp",
                         "level_augmentation": arguments["level"], "blur_pixels": arguments.get("blur"),
                         "scaling": "input FBP(y)/s, target x/s, s = 0.999-quantile of |FBP(y)| "
                                    "per sample (as tomopy_dip.fitting.engine)"},
                "command": command, "arguments": arguments, "description": description,
            },
        ).run()
    finally:
        torch.set_num_threads(old_threads)


@dataclass
class _Trainer:
    geoms: list
    config: UNetConfig
    device: torch.device
    backend: str
    out: Path
    num_steps: int
    batch_size: int
    lr_max: float
    weight_decay: float
    val_size: int
    val_every: int
    checkpoint_every: int
    seed: int
    noise: tuple[float, float]
    filter_name: str
    phantoms: str
    level: tuple[float, float] | None
    blur: tuple[float, float] | None
    resume: bool
    progress: bool
    callback: Callable[[dict], Any] | None
    signature: dict
    metadata_base: dict

    def __post_init__(self) -> None:
        self.state_file = state_path(self.out)
        self.ops = [get_operator(g, self.backend) for g in self.geoms]  # held: the shared cache is small

    # -- data -------------------------------------------------------------------------
    def _pairs(self, gi: int, indices: Sequence[int], stream: str) -> dict:
        return simulate_pairs(self.ops[gi], self.seed, indices, stream, self.noise, self.filter_name,
                              self.device, self.phantoms, self.level, self.blur)

    def train_batch(self, step: int) -> dict:
        gi = 0 if len(self.ops) == 1 else int(sample_rng(self.seed, step, "geometry").integers(len(self.ops)))
        idx = range(step * self.batch_size, (step + 1) * self.batch_size)
        return self._pairs(gi, idx, "train")

    def _validation_set(self) -> list[dict]:
        sets = []
        for gi in range(len(self.ops)):
            idx = [i for i in range(self.val_size) if i % len(self.ops) == gi]
            for k in range(0, len(idx), self.batch_size):
                sets.append(self._pairs(gi, idx[k:k + self.batch_size], "validation"))
        return sets

    def validate(self, net: UNet) -> float:
        vals = []
        with torch.no_grad():
            for b in self.val_set:
                vals.append(_psnr(net(b["input"]), b["target"]))
        return float(torch.cat(vals).mean())

    # -- files ------------------------------------------------------------------------
    def _metadata(self, kind: str, step: int, val_psnr: float | None) -> dict:
        meta = dict(self.metadata_base)
        meta["training"] = {
            "kind": kind, "steps": step, "num_steps": self.num_steps, "batch_size": self.batch_size,
            "samples_seen": step * self.batch_size, "optimizer": "Adam",
            "lr_max": self.lr_max, "weight_decay": self.weight_decay, "schedule": "OneCycleLR",
            "loss": "MSE", "val_size": self.val_size, "val_psnr": val_psnr,
            "val_psnr_fbp": self.val_fbp, "best_step": self.best_step, "best_val_psnr": self.best,
            "seconds": round(self.seconds(), 1),
            "seconds_per_step": round((time.perf_counter() - self.t0) / (step - self.start_step), 4)
            if step > self.start_step else None,
            "device": str(self.device), "threads": torch.get_num_threads(),
        }
        return meta

    def seconds(self) -> float:
        return self.seconds_before + (time.perf_counter() - self.t0)

    def save_state(self, step: int) -> None:
        _atomic_torch_save({
            "format": _STATE_FORMAT, "version": 1, "signature": json.dumps(self.signature, sort_keys=True),
            "step": step, "model": self.net.copy_state(0), "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(), "best_psnr": self.best, "best_step": self.best_step,
            "history": self.history, "seconds": self.seconds(),
        }, self.state_file)
        self.last_state_save = time.perf_counter()

    def _load_state(self) -> dict | None:
        if not (self.resume and self.state_file.is_file()):
            return None
        try:
            st = torch.load(self.state_file, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ValueError(f"cannot resume from {self.state_file}: {exc}; delete it or pass "
                             "resume=False") from None
        if not isinstance(st, dict) or st.get("format") != _STATE_FORMAT:
            raise ValueError(f"{self.state_file} is not a tomopy-dip pretraining state; delete it or "
                             "pass resume=False")
        theirs = json.loads(st["signature"])
        if theirs != self.signature:
            diff = sorted(k for k in set(theirs) | set(self.signature) if theirs.get(k) != self.signature.get(k))
            raise ValueError(
                f"{self.state_file} belongs to a pretraining run with other arguments (differing: "
                f"{', '.join(diff)}); pass resume=False to start over or choose another out"
            )
        return st

    # -- loop -------------------------------------------------------------------------
    def run(self) -> Path:
        cfg, dev = self.config, self.device
        self.net = UNet(cfg, 1, [torch.Generator().manual_seed(self.seed)]).to(dev)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=self.lr_max, weight_decay=self.weight_decay)
        self.sched = torch.optim.lr_scheduler.OneCycleLR(self.opt, max_lr=self.lr_max,
                                                         total_steps=self.num_steps)
        self.best, self.best_step = -math.inf, 0
        self.history: dict[str, list] = {"step": [], "loss": [], "val_step": [], "val_psnr": []}
        self.start_step, self.seconds_before = 0, 0.0
        st = self._load_state()
        if st is not None:
            self.net.load_copy_state(st["model"])
            self.opt.load_state_dict(st["optimizer"])
            self.sched.load_state_dict(st["scheduler"])
            self.start_step, self.best, self.best_step = int(st["step"]), float(st["best_psnr"]), int(st["best_step"])
            self.history = {k: list(v) for k, v in st["history"].items()}
            self.seconds_before = float(st["seconds"])
            log.info("resuming %s at step %d of %d", self.out, self.start_step, self.num_steps)
            if self.start_step >= self.num_steps and self.out.is_file():
                log.info("%s: pretraining already complete", self.out)
                return self.out
        self.t0 = self.last_state_save = time.perf_counter()
        self.val_set = self._validation_set()
        self.val_fbp = float(torch.cat([_psnr(b["input"], b["target"]) for b in self.val_set]).mean())
        width = len(str(self.num_steps))
        done = self.start_step
        bar = tqdm(total=self.num_steps, initial=done, disable=not self.progress, dynamic_ncols=True,
                   desc=f"pretrain {self.out.name}")
        recent: list[float] = []
        val = None
        interrupt = _DeferInterrupt()
        try:
            with interrupt:
                for step in range(self.start_step, self.num_steps):
                    batch = self.train_batch(step)
                    out = self.net(batch["input"])
                    loss = (out - batch["target"]).pow(2).mean()
                    self.opt.zero_grad(set_to_none=True)
                    loss.backward()
                    self.opt.step()
                    self.sched.step()
                    done = step + 1
                    lv = float(loss.detach())
                    if not math.isfinite(lv):
                        raise FloatingPointError(
                            f"the training loss became {lv} at step {done}; lower lr_max (the last "
                            f"good state is in {self.state_file})")
                    recent = (recent + [lv])[-50:]
                    self.history["step"].append(done)
                    self.history["loss"].append(lv)
                    val = None
                    save = False
                    if done % self.val_every == 0 or done == self.num_steps:
                        val = self.validate(self.net)
                        self.history["val_step"].append(done)
                        self.history["val_psnr"].append(val)
                        if val > self.best:
                            self.best, self.best_step = val, done
                            save_checkpoint(self.out, self.net.copy_state(0), cfg,
                                            self._metadata("best", done, val))
                        save = True
                    if self.checkpoint_every and done % self.checkpoint_every == 0:
                        path = self.out.with_name(f"{self.out.stem}-step{done:0{width}d}{self.out.suffix}")
                        save_checkpoint(path, self.net.copy_state(0), cfg, self._metadata("periodic", done, val))
                        save = True
                    if save or done == self.num_steps or \
                            time.perf_counter() - self.last_state_save > _STATE_EVERY_SECONDS:
                        self.save_state(done)
                    post = {"loss": f"{np.mean(recent):.3e}", "lr": f"{self.sched.get_last_lr()[0]:.1e}"}
                    if self.history["val_psnr"]:
                        post["val"] = f"{self.history['val_psnr'][-1]:.2f}dB"
                        post["best"] = f"{self.best:.2f}dB"
                    bar.set_postfix(post, refresh=False)
                    bar.update(1)
                    if self.callback is not None:
                        self.callback({"step": done, "loss": lv, "lr": self.sched.get_last_lr()[0],
                                       "val_psnr": val})
                    if interrupt.requested:
                        raise KeyboardInterrupt
        except KeyboardInterrupt:
            if interrupt.aborted:
                log.warning("pretraining aborted; the last saved state (if any) is in %s", self.state_file)
                raise
            self.save_state(done)
            log.warning("pretraining interrupted after step %d of %d; state saved to %s: run the "
                        "same command again to resume", done, self.num_steps, self.state_file)
            raise
        finally:
            bar.close()
        if not self.out.is_file():  # validation never gave a finite PSNR: keep the last network
            save_checkpoint(self.out, self.net.copy_state(0), cfg, self._metadata("last", done, val))
        log.info("pretraining done: best validation PSNR %.2f dB at step %d (FBP %.2f dB), %s",
                 self.best, self.best_step, self.val_fbp, self.out)
        return self.out


# ---------------------------------------------------------------------------- command line
def _theta_from_args(args: argparse.Namespace) -> np.ndarray:
    if args.theta_file:
        return np.asarray(np.load(args.theta_file), dtype=np.float64).reshape(-1)
    nproj = args.nproj or (max(args.views) if args.views else None)
    if not nproj:
        raise ValueError("give --nproj (or --views, or --theta-file)")
    return np.deg2rad(args.theta_start) + np.arange(nproj) * (np.deg2rad(args.arc) / nproj)


def _run_cli(args: argparse.Namespace) -> int:
    theta = _theta_from_args(args)
    beam = {k: getattr(args, k) for k in _GEOMETRY_KEYWORDS if getattr(args, k) is not None}
    serves = None
    if args.serves_views or args.serves_size:
        serves = {"views": args.serves_views or [min(args.views or [len(theta)]), max(args.views or [len(theta)])],
                  "size": args.serves_size or [args.num_gridx or args.ndet] * 2}
    argv = list(getattr(args, "argv", None) or sys.argv)
    command = "tomopy-dip " + shlex.join(argv[1:]) if argv else None
    path = pretrain(
        theta, args.ndet, args.center, args.num_gridx, args.num_gridy, out=args.out,
        num_steps=args.steps, batch_size=args.batch_size, lr_max=args.lr_max,
        weight_decay=args.weight_decay, val_size=args.val_size, val_every=args.val_every,
        checkpoint_every=args.checkpoint_every, seed=args.seed, resume=not args.no_resume,
        views=args.views, noise=args.noise, level=args.level, blur=args.blur,
        filter_name=args.filter_name, phantoms=args.phantoms,
        channels=args.channels,
        skip_channels=args.skip_channels, norm_groups=args.norm_groups,
        out_activation=args.out_activation, serves=serves, device=args.device,
        backend=args.backend, threads=args.threads, progress=not args.no_progress,
        command=command, description=args.description, **beam,
    )
    print(path)
    return 0


def add_cli(subparsers: "argparse._SubParsersAction") -> argparse.ArgumentParser:
    """Add the ``pretrain`` sub-command to an argparse sub-command set (sets ``func``)."""
    p = subparsers.add_parser(
        "pretrain", help="pretrain an EDIP checkpoint for a geometry",
        description="Supervised pretraining on synthetic phantoms (EDIP stage 1). The geometry "
                    "takes the algorithms' keywords; angles are evenly spaced over --arc degrees "
                    "unless --theta-file gives them.",
    )
    g = p.add_argument_group("geometry")
    g.add_argument("--ndet", type=int, required=True, help="detector pixels")
    g.add_argument("--nproj", type=int, help="number of views (default: the largest of --views)")
    g.add_argument("--views", type=int, nargs="+", help="train for several view counts at once")
    g.add_argument("--arc", type=float, default=180.0, help="angular range in degrees (default 180)")
    g.add_argument("--theta-start", type=float, default=0.0, help="first angle in degrees")
    g.add_argument("--theta-file", help=".npy file of angles in radians (instead of --nproj/--arc)")
    g.add_argument("--center", type=float, help="rotation centre (gridrec convention)")
    g.add_argument("--num-gridx", type=int)
    g.add_argument("--num-gridy", type=int)
    g.add_argument("--beam", choices=BEAMS)
    g.add_argument("--source-origin", type=float, help="fan beam, in image pixels")
    g.add_argument("--origin-detector", type=float, help="fan beam, in image pixels")
    g.add_argument("--detector-spacing", type=float, help="detector pitch in image pixels")
    g.add_argument("--projector")
    t = p.add_argument_group("training")
    t.add_argument("--out", required=True, help="output checkpoint (.safetensors)")
    t.add_argument("--steps", type=int, default=10000)
    t.add_argument("--batch-size", type=int, default=8)
    t.add_argument("--lr-max", type=float, default=5e-4)
    t.add_argument("--weight-decay", type=float, default=1e-5)
    t.add_argument("--val-size", type=int, default=32)
    t.add_argument("--val-every", type=int)
    t.add_argument("--checkpoint-every", type=int)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--no-resume", action="store_true", help="start over even if a .state file exists")
    t.add_argument("--noise", type=float, nargs="+", default=[0.05], metavar="LEVEL",
                   help="relative noise level (EDIP: 0.05), or LO HI: drawn per sample")
    t.add_argument("--level", type=float, nargs=2, metavar=("LO", "HI"),
                   help="intensity-level augmentation: target maximum drawn from U(LO, HI)")
    t.add_argument("--blur", type=float, nargs="+", metavar="PIXELS",
                   help="Gaussian blur of the phantoms (standard deviation in pixels), or LO HI: "
                        "drawn per sample")
    t.add_argument("--filter-name", default="hann", choices=FILTERS)
    t.add_argument("--phantoms", default="ellipses", choices=tuple(PHANTOM_FAMILIES),
                   help="training phantoms: EDIP's random ellipses (default) or discs with holes")
    t.add_argument("--channels", type=int, nargs="+")
    t.add_argument("--skip-channels", type=int, nargs="+")
    t.add_argument("--norm-groups", type=int)
    t.add_argument("--out-activation", choices=("none", "sigmoid"))
    t.add_argument("--serves-views", type=int, nargs=2, metavar=("LO", "HI"))
    t.add_argument("--serves-size", type=int, nargs=2, metavar=("LO", "HI"))
    t.add_argument("--device")
    t.add_argument("--backend", default="auto", choices=("auto", "matrix", "astra"))
    t.add_argument("--threads", type=int)
    t.add_argument("--description", default="")
    t.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_run_cli)
    return p

