"""The fitting engine shared by every method of the package.

:func:`reconstruct` is the documented lower-level API: it takes sinograms in TomoPy's layout,
returns the images in the input's units plus the per-iteration history. The TomoPy callables
(:mod:`tomopy_dip.interfaces.tomopy`) are thin wrappers around it.

How a batch of slices is fitted
-------------------------------
The pieces live beside this module: the data of a batch (:mod:`.problem`), the loss terms
(:mod:`.losses`), the method hooks (:mod:`.hooks`), the selection rules (:mod:`.selection`)
and the loop (:mod:`.loop`).

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

Every slice is fitted by its own network, seeded from its own data (``seed``, the float32
sinogram, angles and centre): a slice's result is bit-identical whatever the other slices of
its call, ``ncore``, ``nchunk`` or ``batch_size``. (Fitting several slices as one batched
network of grouped convolutions rounded differently, and Adam amplified the rounding to several
percent of the image; it was also slower per slice on the CPU: 1.05x at 64², 1.42x at 128²,
1.90x at 256².)
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tomopy_dip.fitting.loop import fit_batch
from tomopy_dip.fitting.problem import check_sinograms, slice_centers, slice_geometries
from tomopy_dip.methods.base import Method
from tomopy_dip.options import parse_options

__all__ = ["reconstruct", "Reconstruction", "run", "COMPUTE_LOCK"]

#: Serialises fitting across threads: concurrent calls (e.g. TomoPy's thread pool) share the
#: machine's cores instead of multiplying torch's threads by the number of callers.
COMPUTE_LOCK = threading.RLock()

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
    iterations_run : numpy.ndarray
        Iterations each slice ran (0 for a slice that was not fitted).
    stop_reason : list of str
        Why each slice's fit ended: ``"converged"`` (the stopping rule, ``stop``),
        ``"num_iter"`` (the cap), ``"diverged"``, ``"interrupted"`` or ``"not_run"``
        (:data:`~tomopy_dip.fitting.stopping.STOP_REASONS`).
    output_range : numpy.ndarray
        ``(nslices, 2)``: the range a bounded (sigmoid) network output was mapped onto, in the
        input's units: ``(0, s)`` for a non-negative object, ``(-s, 0)`` for a negative one,
        ``(-s, s)`` for both signs (:func:`~tomopy_dip.fitting.problem.output_range`).
    """

    images: np.ndarray
    history: dict[str, np.ndarray]
    iteration: np.ndarray
    scale: np.ndarray
    interrupted: bool = False
    geometries: list = field(default_factory=list, repr=False)
    iterations_run: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    stop_reason: list = field(default_factory=list)
    output_range: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))

    def stop_summary(self) -> str:
        """Why the fits ended, in words, e.g. ``"2 converged at 650-820 iterations, 1 reached
        num_iter (2000)"``."""
        parts = []
        for reason in ("converged", "num_iter", "diverged", "interrupted", "not_run"):
            its = [int(n) for n, r in zip(self.iterations_run, self.stop_reason) if r == reason]
            if its:
                span = f"{min(its)}" if min(its) == max(its) else f"{min(its)}-{max(its)}"
                words = {"converged": f"converged after {span} iterations",
                         "num_iter": f"reached num_iter ({span})",
                         "interrupted": f"interrupted after {span} iterations",
                         "diverged": f"diverged after {span} iterations",
                         "not_run": "not fitted"}[reason]
                parts.append(f"{len(its)} {words}")
        return ", ".join(parts)


def run(method: Method, tomo: Any, theta: Any, center: Any = None, **kwargs: Any) -> Reconstruction:
    """Reconstruct with ``method``; the shared implementation behind every public entry point."""
    options = parse_options(kwargs, method.accepted, method.defaults, f"tomopy_dip.{method.name}")
    sino, th, two_d = check_sinograms(tomo, theta)
    nslices, _, ndet = sino.shape
    centers = slice_centers(center, nslices, ndet, options.beam)
    geoms = slice_geometries(th, ndet, centers, options)
    # The pretrained start, resolved once per call (and before any work: a bad checkpoint fails here).
    pretrained = method.load_network(options, geoms[0]) if method.load_network is not None else None
    if options.batch_size is not None:
        warnings.warn("batch_size has no effect: every slice is fitted by its own network, so that "
                      "its result does not depend on the other slices", FutureWarning, stacklevel=3)
    parts = []
    interrupted = False
    for i in range(nslices):
        idx = [i]
        with COMPUTE_LOCK:
            part = fit_batch(method, options, sino[idx], [geoms[i]], idx, pretrained)
        parts.append((idx, part))
        if part["interrupted"]:
            interrupted = True
            break
    gx, gy = geoms[0].shape_image
    images = np.zeros((nslices, gx, gy), np.float32)
    n_done = max((len(p["history"]["loss"]) for _, p in parts), default=0)
    history = {k: np.full((n_done, nslices), np.nan, np.float32) for k in parts[0][1]["history"]}
    iteration = np.full(nslices, -1)
    scale = np.ones(nslices, np.float32)
    runs = np.zeros(nslices, np.int64)
    reasons = ["not_run"] * nslices
    ranges = np.full((nslices, 2), np.nan, np.float32)
    for idx, part in parts:
        images[idx] = part["images"]
        for key, v in part["history"].items():
            history[key][: len(v), idx] = v
        iteration[idx] = part["iteration"]
        scale[idx] = part["scale"]
        runs[idx] = len(part["history"]["loss"])
        ranges[idx] = part["output_range"]
        for i in idx:
            reasons[i] = part["stop_reason"]
    _check_divergence(method, options, reasons, runs)
    if two_d:
        images = images[0]
    return Reconstruction(images, history, iteration, scale, interrupted, geoms, runs, reasons, ranges)


def _check_divergence(method: Method, options: Any, reasons: list, runs: np.ndarray) -> None:
    """A fit whose loss became NaN or inf: an error when no slice succeeded, else a warning
    naming the slices (their images are those before the divergence)."""
    bad = [i for i, r in enumerate(reasons) if r == "diverged"]
    if not bad:
        return
    at = ", ".join(f"{i} (iteration {runs[i] - 1})" for i in bad[:8]) + (", ..." if len(bad) > 8 else "")
    cause = (f"the learning rate lr={options.lr:g} may be too large for these data"
             + (" or the checkpoint may be corrupt" if method.load_network is not None else ""))
    msg = f"{method.name}: the loss became NaN or infinite in slice(s) {at}; {cause}"
    if len(bad) == len(reasons):
        raise FloatingPointError(msg)
    warnings.warn(msg + "; those slices hold the image before it (Reconstruction.stop_reason says "
                  "'diverged')", RuntimeWarning, stacklevel=3)


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

        ``num_iter`` (int, default 4000)
            Most Adam iterations: a cap, the stopping rule usually ends the fit sooner.
        ``stop`` ({"plateau", "variance", "none"}, default "plateau")
            Stopping rule (:mod:`~tomopy_dip.fitting.stopping`): ``"plateau"`` stops when the
            lowest loss improved by less than ``stop_tolerance`` (0.05) over ``stop_patience``
            (700) iterations; ``"variance"`` when the moving variance of the last
            ``stop_window`` (50) iterates has not reached a new minimum for ``stop_patience``
            iterations (ES-WMV); ``"none"`` runs ``num_iter`` iterations.
        ``lr`` (float; method default: 3e-3 for DIP and TV-DIP, 1e-3 otherwise)
            Learning rate.
        ``lr_warmup`` (int; method default: 50 for EDIP and EDIP-FE, 0 otherwise)
            Iterations of linear learning-rate warm-up (iteration ``k`` uses
            ``lr * (k + 1) / lr_warmup``).
        ``tv_weight`` (float; TV-DIP's gamma, method default)
            Weight of the total variation (see the engine docs for its normalisation).
        ``precision`` ({"float32", "bfloat16"}, default "float32")
            Arithmetic of the network: ``"bfloat16"`` runs it under bfloat16 autocast
            (weights, loss and projector stay float32), 1.4x faster at 256² and 2.4x at 512²
            on CPUs with bfloat16 matrix units.
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
    >>> from tomopy_dip.learning.phantoms import shepp_logan
    >>> from tomopy_dip.physics.measurement import simulate
    >>> theta = np.linspace(0, np.pi, 30, endpoint=False)
    >>> sino = simulate(shepp_logan(32), theta)
    >>> res = reconstruct(sino, theta, method="dip", num_iter=5, progress=False,
    ...                   channels=(8, 8), skip_channels=(0, 4))
    >>> res.images.shape, res.history["loss"].shape
    ((32, 32), (5, 1))
    """
    from tomopy_dip.methods import get_method

    return run(get_method(method), tomo, theta, center, **kwargs)
