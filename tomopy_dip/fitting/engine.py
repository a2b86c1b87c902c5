"""The fitting engine shared by every method of the package.

:func:`reconstruct` is the documented lower-level API: it takes sinograms in TomoPy's layout,
returns the images in the input's units plus the per-iteration history. The TomoPy callables
(:mod:`tomopy_dip.interfaces.tomopy`) are thin wrappers around it.

How a batch of slices is fitted
-------------------------------
1. Each slice gets a :class:`~tomopy_dip.physics.geometry.Geometry`; slices sharing one share a
   :class:`~tomopy_dip.physics.projector.RayTransform`.
2. Data scaling: ``s`` = the 99.9th percentile of ``|FBP(y)|``; the network fits ``y / s`` so it
   works at unit scale whatever the input's units, and the result is multiplied by ``s``.
3. Loss per slice (``N = sqrt(num_gridx * num_gridy)``, ``x = f(z)`` at unit scale)::

       mean((A x - y/s)^2) / N^2  +  tv_weight * TV(x) / N  [+ ae_weight * ||A||^2 sum((x - z)^2) / (M N^2)]

   The data term is a mean squared error in image units (ray sums divided by the grid size)
   and ``TV / N`` is the continuum total variation, so ``tv_weight`` means the same for any
   number of views, image size and data units. aSeqDIP's autoencoding term is weighed
   against the data term as in its paper, both as sums, with the operator normalised to unit
   norm: ``||A f(z) - y||^2 / ||A||^2 + ae_weight ||f(z) - z||^2`` (image at unit scale), then
   multiplied by the data term's ``||A||^2 / (M N^2)`` (``M`` = number of rays). Without the
   operator norm, ``A`` integrating over ~N pixels per ray makes the data term about ``M``
   times larger than the autoencoding term and ``ae_weight`` meaningless.
4. With ``calibrate`` (EDIP), the pretrained start is first scaled by the least-squares factor
   ``a`` that fits the data, ``x = a f(z)`` with ``a`` fixed: a normalised network cannot see
   the absolute level of its input.
5. Adam on the trainable parameters, gradient-norm clipping per slice, and selection of the
   iterate of minimum loss (``select="min_loss"``), the last one, or a moving average of the
   iterates (``select="average"``, see :func:`average_weight`).

Slices are seeded from their own data (``seed``, the float32 sinogram, angles and centre), so
a slice's initialisation does not depend on which other slices share its call or batch; its
result is the same up to floating-point rounding. Grouped and single convolutions round
differently, and Adam amplifies rounding in near-zero gradients: on a 24² test problem the
largest pixel difference between a 4-slice batch and one-by-one fits is 1e-5 (relative) after 4
iterations but 2 % after 50 with lr 1e-3 (0.2 % RMS), and 13 % (0.9 % RMS) with lr 3e-3. Pass
``batch_size=1`` for results that do not depend on how the slices were grouped.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from tomopy_dip.physics.fbp import fbp
from tomopy_dip.physics.geometry import Geometry
from tomopy_dip.methods.base import Method
from tomopy_dip.networks import UNet
from tomopy_dip.options import Options, parse_options
from tomopy_dip.physics.projector import RayTransform, get_operator
from tomopy_dip.fitting.losses import tv_aniso

__all__ = ["reconstruct", "Reconstruction", "slice_geometries", "check_sinograms", "average_weight",
           "COMPUTE_LOCK"]

log = logging.getLogger(__name__)

#: Serialises fitting across threads: concurrent calls (e.g. TomoPy's thread pool) share the
#: machine's cores instead of multiplying torch's threads by the number of callers.
COMPUTE_LOCK = threading.RLock()

#: Pixels per batch when ``batch_size`` is not given (grouped convolutions pay off for small images).
_BATCH_PIXELS = 4 * 128 * 128


@dataclass
class Reconstruction:
    """Result of :func:`reconstruct`.

    Attributes
    ----------
    images : numpy.ndarray
        ``(nslices, num_gridx, num_gridy)`` float32, in the input's units (2-D for 2-D input).
    history : dict of numpy.ndarray
        Per-iteration ``"loss"``, ``"data"``, ``"tv"`` and ``"ae"`` terms, shape ``(n_iter,
        nslices)``; ``"seconds"`` since the start of each slice's batch, shape ``(n_iter,
        nslices)``. Terms are at unit data scale.
    iteration : numpy.ndarray
        For each slice, the iteration whose image was returned (``select="average"``: the last
        iterate taken into the average); -1 for slices that were never
        fitted because Ctrl-C stopped an earlier batch (their images are zeros).
    scale : numpy.ndarray
        The data scale ``s`` of each slice.
    interrupted : bool
        True when Ctrl-C stopped the fit early.
    """

    images: np.ndarray
    history: dict[str, np.ndarray]
    iteration: np.ndarray
    scale: np.ndarray
    interrupted: bool = False
    geometries: list = field(default_factory=list, repr=False)


# ---------------------------------------------------------------------------- validation
def check_sinograms(tomo: Any, theta: Any, name: str = "tomo") -> tuple[np.ndarray, np.ndarray, bool]:
    """Validate sinograms ``(nslices, nproj, ndet)`` or ``(nproj, ndet)`` and angles.

    Returns float32 sinograms (3-D, a copy only when needed: never written), float64 angles and
    whether the input was 2-D.
    """
    if isinstance(tomo, torch.Tensor):
        tomo = tomo.detach().cpu().numpy()
    arr = np.asarray(tomo)
    if arr.dtype.kind not in "fiu" or arr.dtype == np.bool_:
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if arr.ndim not in (2, 3):
        raise ValueError(
            f"{name} must be 3-D (nslices, nproj, ndet) or 2-D (nproj, ndet), got shape {arr.shape}"
        )
    two_d = arr.ndim == 2
    if two_d:
        arr = arr[None]
    if min(arr.shape) < 1 or arr.shape[2] < 2:
        raise ValueError(f"{name} must have at least one angle and two detector pixels, got shape {arr.shape}")
    arr = np.asarray(arr, dtype=np.float32)
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} non-finite values (NaN or inf); clean them first")
    th = np.asarray(theta, dtype=np.float64) if not isinstance(theta, torch.Tensor) else theta.cpu().numpy()
    th = np.asarray(th, dtype=np.float64)
    if th.ndim != 1:
        raise ValueError(f"theta must be 1-D (nproj,) in radians, got shape {th.shape}")
    if th.size != arr.shape[1]:
        raise ValueError(
            f"theta has {th.size} angles but {name} has {arr.shape[1]} projections (axis -2)"
        )
    if not np.all(np.isfinite(th)):
        raise ValueError("theta contains non-finite values")
    return arr, th, two_d


def _centers(center: Any, nslices: int, ndet: int, beam: str) -> np.ndarray:
    if center is None:
        return np.full(nslices, (ndet - 1) / 2.0 if beam == "fanflat" else ndet / 2.0)
    try:
        c = np.asarray(center, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise TypeError(f"center must be a number or one number per slice, got {center!r}") from None
    if c.size == 1:
        c = np.full(nslices, c[0])
    if c.size != nslices:
        raise ValueError(f"center must be a scalar or have one value per slice ({nslices}), got {c.size}")
    if not np.all(np.isfinite(c)):
        raise ValueError("center contains non-finite values")
    bad = (c < -0.5) | (c > ndet - 0.5)
    if bad.any():
        raise ValueError(
            f"center must lie on the detector (between -0.5 and {ndet - 0.5}), got {c[bad][0]:g}"
        )
    return c


def slice_geometries(theta: np.ndarray, ndet: int, centers: np.ndarray, options: Options) -> list[Geometry]:
    """One :class:`Geometry` per slice (identical ones are the same object)."""
    cache: dict[float, Geometry] = {}
    out = []
    for c in centers:
        c = float(c)
        if c not in cache:
            cache[c] = Geometry(theta, ndet, center=c, **options.geometry_keywords())
        out.append(cache[c])
    return out


def _slice_seed(seed: int, sino: np.ndarray, geometry: Geometry) -> int:
    """Seed of a slice from ``seed`` and the slice's own data (float32, as TomoPy passes it)."""
    h = hashlib.blake2b(digest_size=8)
    h.update(str(seed).encode())
    h.update(np.ascontiguousarray(sino, dtype=np.float32).tobytes())
    h.update(geometry.theta.astype(np.float32).tobytes())
    h.update(repr((float(np.float32(geometry.center)), geometry.shape_image, geometry.beam)).encode())
    return int.from_bytes(h.digest(), "little") & ((1 << 63) - 1)


# ---------------------------------------------------------------------------- fitting
class _Batch:
    """Data of a batch of slices on the compute device."""

    def __init__(self, sino: np.ndarray, geoms: Sequence[Geometry], options: Options):
        dev = options.device
        self.geoms = list(geoms)
        self.B = len(geoms)
        y = torch.from_numpy(np.ascontiguousarray(sino)).to(dev)
        self.groups: list[tuple[RayTransform, torch.Tensor]] = []
        for g in dict.fromkeys(self.geoms):
            idx = torch.tensor([i for i, gi in enumerate(self.geoms) if gi is g], device=dev)
            self.groups.append((get_operator(g, options.backend, options.memory_limit), idx))
        rec = torch.empty((self.B, *self.geoms[0].shape_image), device=dev)
        for op, idx in self.groups:
            rec[idx] = fbp(y[idx], op, options.filter_name)
        s = torch.quantile(rec.reshape(self.B, -1).abs(), 0.999, dim=1)
        s = torch.where(s > 0, s, torch.ones_like(s))
        self.scale = s
        self.y = y / s[:, None, None]
        self.fbp = rec / s[:, None, None]
        self.n = self.geoms[0].size

    def operator_norms(self) -> torch.Tensor:
        """``||A||_2`` of each slice's operator, ``(B,)``."""
        out = torch.empty(self.B, device=self.y.device)
        for op, idx in self.groups:
            out[idx] = op.norm()
        return out

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """Forward-project a batch, each slice with its own operator."""
        if len(self.groups) == 1:
            return self.groups[0][0](x)
        out = x.new_zeros((x.shape[0], *self.y.shape[1:]))
        for op, idx in self.groups:
            out = out.index_copy(0, idx, op(x[idx]))
        return out


#: Decay of ``select="average"``'s exponential moving average (a window of ~100 iterations),
#: the output smoothing of the original DIP code. Measured with aSeqDIP on HTC 60 views, 128²,
#: 3000 iterations: the largest drop below the running peak after iteration 500 fell from
#: 5.2 / 2.8 dB (``ta`` / ``tb``, the iterates themselves) to 0.19 / 0.03 dB, the peak within
#: 0.06 dB; decay 0.95 left 0.70 / 0.43 dB, 0.995 0.05 / 0.00 dB.
AVERAGE_DECAY = 0.99

#: ``select="average"`` leaves out an iterate whose data term exceeds its minimum over the
#: previous ``AVERAGE_GATE[1]`` iterations by more than the factor ``AVERAGE_GATE[0]``: Adam's
#: loss spikes (the data term of aSeqDIP on HTC rises 2-6x over a few iterations and needs ~45
#: to recover) then do not reach the average. Measured with aSeqDIP on HTC 60 views, 128², 8000
#: iterations: largest drop of the average below its running peak within 4x DIP's peak
#: iteration 0.53 / 0.81 / 1.21 dB without the gate (``ta`` / ``tb`` / ``tc``), 0.28 / 0.20 /
#: 0.48 dB with (1.05, 100), returned PSNR unchanged (+0.02 dB on ``tc``); on ``tb`` over 6400
#: iterations a factor 1.02 gave 0.18 dB, 1.1 0.32 dB, a window of 200 or 300 0.16 dB.
AVERAGE_GATE = (1.05, 100)


def average_weight(k: int, decay: float = AVERAGE_DECAY) -> float:
    """Weight of iterate ``k`` (from 0) in ``select="average"``'s running average.

    ``avg_k = avg_{k-1} + w_k (x_k - avg_{k-1})`` with ``w_k = max(1 - decay, 2 / (k + 2))``:
    while ``k < 2 / (1 - decay) - 2`` the average weighs iterate ``j`` in proportion to
    ``j + 1`` (polynomial-decay averaging, so that the first, poor iterates of a short run fade),
    then it is an exponential moving average of window ``1 / (1 - decay)``. ``k`` counts the
    iterates taken into the average (see :data:`AVERAGE_GATE` for those left out).

    Examples
    --------
    >>> [round(average_weight(k), 3) for k in (0, 1, 98, 198, 1000)]
    [1.0, 0.667, 0.02, 0.01, 0.01]
    """
    return max(1.0 - decay, 2.0 / (k + 2))


def _ranges(ids: Sequence[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2,5"`` (progress-bar labels)."""
    out, start, prev = [], None, None
    for i in list(ids) + [None]:
        if start is not None and (i is None or i != prev + 1):
            out.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = None
        if start is None and i is not None:
            start = i
        prev = i
    return ",".join(out)


def _make_network(method: Method, options: Options, batch: _Batch, seeds: Sequence[int]):
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    if method.load_network is not None:
        config, state = method.load_network(options, batch.geoms[0])
        net = UNet(config, batch.B, gens)
        net.load_copy_state(state)
    else:
        net = UNet(options.network, batch.B, gens)
    return net.to(options.device), gens


def _network_input(options: Options, batch: _Batch, gens) -> torch.Tensor:
    if options.network_input == "fbp":
        return batch.fbp.unsqueeze(0).clone()
    if options.network_input == "backprojection":
        bp = torch.empty_like(batch.fbp)
        for op, idx in batch.groups:
            bp[idx] = op.adjoint(batch.y[idx])
        q = torch.quantile(bp.reshape(batch.B, -1).abs(), 0.999, dim=1).clamp_min(1e-12)
        return (bp / q[:, None, None]).unsqueeze(0)
    shape = batch.geoms[0].shape_image
    z = torch.stack([0.1 * torch.randn(shape, generator=g) for g in gens])
    return z.unsqueeze(0).to(options.device)


#: Bounds of the level calibration's gain (``calibrate``): outside them the pretrained image
#: does not resemble the data and scaling it would hide that.
GAIN_BOUNDS = (0.5, 2.0)


def _level_gain(x0: torch.Tensor, batch: _Batch, slice_ids: Sequence[int]) -> torch.Tensor:
    """Per-slice factor ``a`` minimising ``||A (a x0) - y||^2`` (``calibrate``), ``(B, 1, 1)``.

    A pretrained network normalises its features, so it cannot see the absolute level of its
    input and outputs the level of its training set; on data of another kind its image is
    uniformly too dark or too bright. One projection of the start image fixes that from the
    measurement alone.
    """
    ax = batch.project(x0)
    a = (ax * batch.y).sum((1, 2)) / (ax * ax).sum((1, 2)).clamp_min(1e-30)
    lo, hi = GAIN_BOUNDS
    for i, ai in zip(slice_ids, a.tolist()):
        if not lo <= ai <= hi:
            log.warning("slice %d: the pretrained image fits the data only scaled by %.3g; level "
                        "calibration clipped to [%g, %g]: the checkpoint may not suit these data",
                        i, ai, lo, hi)
    log.debug("level calibration: gains %s", [round(v, 4) for v in a.tolist()])
    return a.clamp(lo, hi)[:, None, None]


def _fit_batch(method: Method, options: Options, sino: np.ndarray, geoms: Sequence[Geometry],
               slice_ids: Sequence[int]) -> dict[str, Any]:
    batch = _Batch(sino, geoms, options)
    seeds = [_slice_seed(options.seed, sino[i], g) for i, g in enumerate(geoms)]
    net, gens = _make_network(method, options, batch, seeds)
    z = _network_input(options, batch, gens)
    B, N = batch.B, batch.n
    n_meas = batch.y.shape[1] * batch.y.shape[2]

    frozen = method.trainable == "decoder"
    if frozen:
        for p in net.encoder_parameters():
            p.requires_grad_(False)
        params = list(net.decoder_parameters())
    else:
        params = list(net.parameters())
    feats, gain = None, None

    def forward(inp: torch.Tensor) -> torch.Tensor:
        nonlocal feats
        if frozen:
            if feats is None:
                with torch.no_grad():
                    feats = net.encode(inp)
            out = net.decode(feats)[0]
        else:
            out = net(inp)[0]
        return out if gain is None else out * gain

    if options.calibrate:
        gain = _level_gain(forward(z).detach(), batch, slice_ids)

    opt = torch.optim.Adam(params, lr=options.lr)
    # Linear warm-up: iteration k (from 0) uses lr * (k + 1) / lr_warmup. Adam's first updates
    # are about lr in every weight whatever the gradient; a pretrained network loses its start.
    warm = options.lr_warmup
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda j: min(1.0, (j + 1) / warm)) if warm > 1 else None
    n_iter = options.num_iter
    hist = {k: np.full((n_iter, B), np.nan, np.float32) for k in ("loss", "data", "tv", "ae")}
    hist["seconds"] = np.full((n_iter, B), np.nan, np.float32)
    best_loss = torch.full((B,), math.inf, device=options.device)
    best = batch.fbp.clone()
    best_it = np.full(B, -1)
    average = options.select == "average"
    n_averaged = np.zeros(B, dtype=np.int64)
    gamma, lam = options.tv_weight, options.ae_weight if method.sequential else 0.0
    inner = options.inner_steps if method.sequential else 0
    ae_norm = batch.operator_norms().pow(2) / (n_meas * N**2) if lam > 0 else None
    scale = batch.scale[:, None, None]
    t0 = time.perf_counter()
    interrupted = False
    bar = tqdm(total=n_iter, disable=not options.progress, leave=False, dynamic_ncols=True,
               desc=f"{method.name} slice{'s' if B > 1 else ''} {_ranges(slice_ids)}")
    k, x, n_done = 0, None, 0
    try:
        for k in range(n_iter):
            if inner and k > 0 and k % inner == 0:
                with torch.no_grad():
                    z = forward(z).unsqueeze(0).detach()
                feats = None
            x = forward(z)
            data = (batch.project(x) - batch.y).pow(2).mean((1, 2)) / N**2
            loss = data
            tv = tv_aniso(x) / N if gamma > 0 else torch.zeros_like(data)
            loss = loss + gamma * tv
            # aSeqDIP: ||A f(z) - y||^2 / ||A||^2 + ae_weight ||f(z) - z||^2 (both sums, the
            # operator at unit norm), times the data term's ||A||^2 / (M N^2).
            ae = ((x - z[0]).pow(2).sum((1, 2)) * ae_norm if lam > 0 else torch.zeros_like(data))
            loss = loss + lam * ae
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            if options.clip_grad > 0:
                norms = net.per_model_grad_norm(params)
                net.scale_grads(params, torch.clamp(options.clip_grad / (norms + 1e-12), max=1.0))
            opt.step()
            if sched is not None:
                sched.step()
            lv = loss.detach()
            for key, val in (("loss", lv), ("data", data), ("tv", tv), ("ae", ae)):
                hist[key][k] = val.detach().cpu().numpy()
            with torch.no_grad():
                if average:
                    taken = np.ones(B, dtype=bool)
                    if k > 0:
                        recent = hist["data"][max(0, k - AVERAGE_GATE[1]):k].min(0)
                        taken = hist["data"][k] <= AVERAGE_GATE[0] * recent
                    w = [average_weight(int(j)) if t else 0.0 for j, t in zip(n_averaged, taken)]
                    best.lerp_(x.detach(), torch.tensor(w).to(best)[:, None, None])
                    n_averaged += taken
                    best_it[taken] = k
                else:
                    improved = lv < best_loss
                    if improved.any():
                        best_loss = torch.where(improved, lv, best_loss)
                        best[improved] = x.detach()[improved]
                        best_it[improved.cpu().numpy()] = k
            hist["seconds"][k] = time.perf_counter() - t0
            n_done = k + 1
            if options.callback is not None and (k % options.callback_every == 0 or k == n_iter - 1):
                imgs = (x.detach() * scale).cpu().numpy()
                est = imgs if options.select == "last" else (best * scale).cpu().numpy()
                for b in range(B):
                    img = imgs[b]  # the same object as "estimate" when select="last"
                    options.callback({"slice": int(slice_ids[b]), "iteration": k,
                                      "loss": float(hist["loss"][k, b]), "image": img,
                                      "estimate": img if est is imgs else est[b]})
            if k % 10 == 0 or k == n_iter - 1:
                bar.set_postfix(loss=f"{float(lv.mean()):.3e}", refresh=False)
            bar.update(1)
    except KeyboardInterrupt:
        interrupted = True
        log.warning("interrupted at iteration %d: returning the %s image so far", k, options.select)
    finally:
        bar.close()
    if n_iter == 0 or (options.select == "last" and not interrupted):
        # The network after the last update (for aSeqDIP: z_K = f(z_{K-1})).
        with torch.no_grad():
            best = forward(z).detach()
        best_it[:] = n_iter
    elif options.select == "last" and x is not None:
        best, best_it[:] = x.detach(), k
    return {
        "images": (best * scale).cpu().numpy().astype(np.float32),
        "history": {key: v[:n_done] for key, v in hist.items()},
        "iteration": best_it,
        "scale": batch.scale.cpu().numpy(),
        "interrupted": interrupted,
    }


def run(method: Method, tomo: Any, theta: Any, center: Any = None, **kwargs: Any) -> Reconstruction:
    """Reconstruct with ``method``; the shared implementation behind every public entry point."""
    options = parse_options(kwargs, method.accepted, method.defaults, f"tomopy_dip.{method.name}")
    sino, th, two_d = check_sinograms(tomo, theta)
    nslices, _, ndet = sino.shape
    centers = _centers(center, nslices, ndet, options.beam)
    geoms = slice_geometries(th, ndet, centers, options)
    if method.load_network is not None:
        method.load_network(options, geoms[0])  # fail early on a bad checkpoint
    bsize = options.batch_size or max(1, _BATCH_PIXELS // (geoms[0].num_gridx * geoms[0].num_gridy))
    # Group slices of equal geometry so that each batch shares one operator.
    order = sorted(range(nslices), key=lambda i: (geoms[i].key, i))
    parts = []
    interrupted = False
    for start in range(0, nslices, bsize):
        idx = order[start:start + bsize]
        if interrupted:
            break
        with COMPUTE_LOCK:
            part = _fit_batch(method, options, sino[idx], [geoms[i] for i in idx], idx)
        parts.append((idx, part))
        interrupted = part["interrupted"]
    gx, gy = geoms[0].shape_image
    images = np.zeros((nslices, gx, gy), np.float32)
    n_done = max((len(p["history"]["loss"]) for _, p in parts), default=0)
    history = {k: np.full((n_done, nslices), np.nan, np.float32) for k in parts[0][1]["history"]}
    iteration = np.full(nslices, -1)
    scale = np.ones(nslices, np.float32)
    for idx, part in parts:
        images[idx] = part["images"]
        for key, v in part["history"].items():
            history[key][: len(v), idx] = v
        iteration[idx] = part["iteration"]
        scale[idx] = part["scale"]
    if two_d:
        images = images[0]
    return Reconstruction(images, history, iteration, scale, interrupted, geoms)


def reconstruct(tomo: Any, theta: Any, center: Any = None, method: str = "tv_dip",
                **kwargs: Any) -> Reconstruction:
    """Reconstruct sinograms with a DIP-family method; returns images and history.

    Parameters
    ----------
    tomo : array_like
        Sinograms ``(nslices, nproj, ndet)`` or one sinogram ``(nproj, ndet)`` (TomoPy's
        sinogram order), e.g. after ``tomopy.minus_log``. Never modified.
    theta : array_like
        Projection angles in radians, ``(nproj,)``.
    center : float or array_like, optional
        Rotation centre per slice, gridrec convention (as ``tomopy.find_center`` returns it).
        Default ``ndet / 2`` (parallel) or ``(ndet - 1) / 2`` (fan beam).
    method : {"dip", "tv_dip", "edip", "edip_fe", "aseqdip"}
        The method.
    **kwargs
        Shared keywords:

        ``num_iter`` (int, default 2000)
            Adam iterations.
        ``lr`` (float; method default: 3e-3 for DIP and TV-DIP, 1e-3 otherwise)
            Learning rate.
        ``lr_warmup`` (int; method default: 50 for EDIP and EDIP-FE, 0 otherwise)
            Iterations of linear learning-rate warm-up (iteration ``k`` uses
            ``lr * (k + 1) / lr_warmup``).
        ``tv_weight`` (float; TV-DIP's gamma, method default)
            Weight of the total variation (see the engine docs for its normalisation).
        ``select`` ({"min_loss", "last", "average"}; method default)
            Return the iterate of minimum loss, the last one, or a moving average of the
            iterates (window ~100 iterations, :func:`average_weight`).
        ``seed`` (int, 0), ``device`` (default CUDA when available), ``progress`` (bool),
        ``callback`` (called with ``{"slice", "iteration", "loss", "image", "estimate"}``:
        the current iterate, and the minimum-loss image or the average so far, i.e. what
        ``select`` would return if the fit stopped there; the iterate for ``"last"``),
        ``callback_every``,
        ``network_input`` ({"noise", "fbp"}), ``clip_grad`` (1.0), ``filter_name`` ("hann"),
        ``batch_size``, ``backend`` ({"auto", "matrix", "astra"}), ``memory_limit`` (bytes),
        ``channels``, ``skip_channels``, ``norm_groups``, ``out_activation``,
        ``num_gridx``, ``num_gridy``, ``beam`` ({"parallel", "fanflat"}), ``source_origin``,
        ``origin_detector``, ``detector_spacing``, ``projector``.

        Method keywords: ``checkpoint`` and ``calibrate`` (EDIP, EDIP-FE; ``calibrate``,
        default False: scale the pretrained network's output by the factor that best fits the
        data before fine-tuning), ``inner_steps`` and ``ae_weight`` (aSeqDIP).

    Returns
    -------
    Reconstruction
        Images (float32, input units) and per-iteration history.

    Examples
    --------
    >>> import numpy as np
    >>> from tomopy_dip import reconstruct
    >>> from tomopy_dip.physics.measurement import shepp_logan, simulate
    >>> theta = np.linspace(0, np.pi, 30, endpoint=False)
    >>> sino = simulate(shepp_logan(32), theta)
    >>> res = reconstruct(sino, theta, method="dip", num_iter=5, progress=False,
    ...                   channels=(8, 8), skip_channels=(0, 4))
    >>> res.images.shape, res.history["loss"].shape
    ((32, 32), (5, 1))
    """
    from tomopy_dip.methods import get_method

    return run(get_method(method), tomo, theta, center, **kwargs)
