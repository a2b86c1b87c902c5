"""The fitting engine shared by every method of the package.

:func:`reconstruct` is the documented lower-level API: it takes sinograms in TomoPy's layout,
returns the images in the input's units plus the per-iteration history. The TomoPy callables
(:mod:`tomopy_dip.interfaces.tomopy`) are thin wrappers around it.

How a batch of slices is fitted
-------------------------------
The pieces live beside this module: the data of a batch (:mod:`.problem`), the loss terms
(:mod:`.losses`), the method hooks (:mod:`.hooks`), the selection rules (:mod:`.selection`),
the loop (:mod:`.loop`), the slabs of ``dims=3`` (:mod:`.slabs`) and the result
(:mod:`.result`).

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

Memory and Ctrl-C
-----------------
Before anything large is allocated, :func:`run` estimates the memory of the call and refuses
one that cannot fit with a :class:`MemoryError` (:mod:`.memory`). During the fit, Ctrl-C in
any thread's call ends the running fits after their iteration and starts no further slice
(:mod:`.interrupt`): the call returns what it has, with a :class:`RuntimeWarning`.
"""

from __future__ import annotations

import logging
import threading
import warnings
from typing import Any

import numpy as np
import torch

from tomopy_dip.data.history import history_columns
from tomopy_dip.fitting import interrupt
from tomopy_dip.fitting.loop import fit_batch
from tomopy_dip.fitting.memory import check_memory, estimate_memory, memory_fits
from tomopy_dip.fitting.method import Method, get_method
from tomopy_dip.fitting.problem import check_sinograms, slice_centers, slice_geometries
from tomopy_dip.fitting.result import Reconstruction, check_divergence, warn_stopped
from tomopy_dip.fitting.slabs import blend_weights, slabs
from tomopy_dip.fitting.uncertainty import ESTIMATORS, check_uncertainty
from tomopy_dip.options import with_changes
from tomopy_dip.utils import cpu_bfloat16_units

__all__ = ["reconstruct", "Reconstruction", "run", "COMPUTE_LOCK"]

log = logging.getLogger(__name__)

#: Serialises fitting across threads: concurrent calls (e.g. TomoPy's thread pool) share the
#: machine's cores instead of multiplying torch's threads by the number of callers.
COMPUTE_LOCK = threading.RLock()


def run(method: Method, tomo: Any, theta: Any, center: Any = None, *, slice_offset: int | None = None,
        **kwargs: Any) -> Reconstruction:
    """Reconstruct with ``method``; the shared implementation behind every public entry point.

    In order: the keywords are validated, the sinograms checked and the geometries built; the
    memory the call needs is estimated and checked (:func:`~tomopy_dip.fitting.memory.
    check_memory`: an impossible request raises :class:`MemoryError` here, before any data is
    moved, operator built or network loaded; with ``backend="auto"`` a system matrix that would
    not leave room for the fit is replaced by on-the-fly projections); the pretrained network
    is loaded (EDIP); then the slices are fitted one after the other, each under
    :data:`COMPUTE_LOCK`.

    The whole call counts as an active fit for Ctrl-C (:mod:`~tomopy_dip.fitting.interrupt`):
    once a stop is requested the running fit ends after its iteration (``"interrupted"``,
    its selected image returned), no further slice starts (``"not_run"``, zeros), and a
    :class:`RuntimeWarning` names the slices. ``slice_offset`` numbers the slices in that
    warning (the call's first slice; None: "of this call").
    """
    with interrupt.active_fit():
        return _run(method, tomo, theta, center, slice_offset, kwargs)


def _check_plan(method: Method, options: Any, geoms: list, nslices: int, network: Any = None) -> Any:
    """Estimate and check the memory of the call (under :data:`COMPUTE_LOCK`, so that no other
    thread's fit is holding memory meanwhile); returns the options, with ``backend="astra"``
    when ``"auto"`` would build a system matrix that leaves no room for the fit."""
    g = geoms[0]
    where = f"tomopy_dip.{method.name}"
    with COMPUTE_LOCK:
        plan = estimate_memory(method, options, g.nproj, g.ndet, nslices=nslices, geometries=geoms,
                               network=network)
        if options.backend == "auto" and plan.backend == "matrix" and not memory_fits(plan, options):
            alt_options = with_changes(options, backend="astra")
            alt = estimate_memory(method, alt_options, g.nproj, g.ndet, nslices=nslices, geometries=geoms,
                                  network=network)
            if memory_fits(alt, alt_options):
                log.info("%s: a system matrix would leave no room for the fit (%s): projecting on the fly",
                         where, plan.text())
                return alt_options
        check_memory(plan, method=method, options=options, where=where)
    return options


def _run(method: Method, tomo: Any, theta: Any, center: Any, slice_offset: int | None,
         kwargs: dict) -> Reconstruction:
    options = method.parse(kwargs)
    check_uncertainty(options, method)
    sino, th, two_d = check_sinograms(tomo, theta)
    nslices, _, ndet = sino.shape
    centers = slice_centers(center, nslices, ndet, options.beam, vectors=options.vectors is not None)
    if options.beam == "cone" and np.unique(centers).size > 1:
        raise ValueError(f"beam='cone': the scan has one rotation centre, got {np.unique(centers).size} "
                         "different values in center")
    geoms = slice_geometries(th, ndet, centers, options)
    network = options.network(geoms[0].shape_image)
    network.check_image(geoms[0].shape_image)
    options = _check_plan(method, options, geoms, nslices)
    # The pretrained start, resolved once per call (and before any work: a bad checkpoint fails here).
    if options.init_network is not None:
        pretrained = options.init_network
        if pretrained.config.dims != options.dims:
            raise ValueError(f"init_network is a {pretrained.config.dims}-D network, the fit asks for "
                             f"dims={options.dims}")
    else:
        pretrained = method.load_network(options, geoms[0]) if method.load_network is not None else None
    if pretrained is not None and pretrained[0] != network:
        pretrained[0].check_image(geoms[0].shape_image)
        options = _check_plan(method, options, geoms, nslices, network=pretrained[0])
    if options.precision == "bfloat16" and options.device.type == "cpu" and cpu_bfloat16_units() is False:
        warnings.warn("precision='bfloat16': this CPU has no bfloat16 matrix units (AMX or AVX512-BF16; "
                      f"torch uses {torch.backends.cpu.get_cpu_capability()}), so bfloat16 is emulated and "
                      "the network runs many times slower than in float32 (40-65x measured on an AVX2-only "
                      "CPU); use precision='float32' here", RuntimeWarning, stacklevel=4)
    if options.batch_size is not None:
        warnings.warn("batch_size has no effect: every slice is fitted by its own network, so that "
                      "its result does not depend on the other slices", FutureWarning, stacklevel=4)
    parts = []
    stopped = False
    # 2-D: one fit per slice; 3-D: one fit per slab; cone beam: the rows are one volume
    groups = [[i] for i in range(nslices)] if options.dims == 2 else [list(range(nslices))] \
        if options.beam == "cone" else slabs(nslices, options.slab, options.slab_overlap)
    for idx in groups:
        with COMPUTE_LOCK:
            if interrupt.requested():  # checked under the lock: a thread waiting for it starts nothing
                stopped = True
                break
            part = fit_batch(method, options, sino[idx], [geoms[i] for i in idx], idx, pretrained)
            if options.uncertainty and ESTIMATORS[options.uncertainty].members > 1 and not part["interrupted"]:
                _members(method, options, sino[idx], [geoms[i] for i in idx], idx, pretrained, part)
        parts.append((idx, part))
        if part["interrupted"]:
            stopped = True
            break
    gx, gy = geoms[0].shape_image
    images = np.zeros((nslices, gx, gy), np.float32)
    sigma = np.zeros((nslices, gx, gy), np.float32) if options.uncertainty else None
    weight = np.zeros(nslices)
    owner_weight = np.zeros(nslices)
    n_done = max((len(p["history"]["loss"]) for _, p in parts), default=0)
    keys = parts[0][1]["history"] if parts else history_columns()
    history = {k: np.full((n_done, nslices), np.nan, np.float32) for k in keys}
    iteration = np.full(nslices, -1)
    scale = np.ones(nslices, np.float32)
    runs = np.zeros(nslices, np.int64)
    reasons = ["not_run"] * nslices
    ranges = np.full((nslices, 2), np.nan, np.float32)
    for idx, part in parts:
        w = blend_weights(idx, nslices, options.slab_overlap) if options.dims == 3 else np.ones(len(idx))
        images[idx] += w[:, None, None] * part["images"]
        if sigma is not None:
            sigma[idx] += w[:, None, None] * part["uncertainty"]
        weight[idx] += w
        own = [j for j, i in enumerate(idx) if w[j] > owner_weight[i]]  # the records of the heavier slab
        rows = [idx[j] for j in own]
        owner_weight[rows] = w[own]
        for key, v in part["history"].items():
            history[key][:, rows] = np.nan
            history[key][: len(v), rows] = v[:, own]
        iteration[rows] = np.asarray(part["iteration"])[own]
        scale[rows] = np.asarray(part["scale"])[own]
        runs[rows] = len(part["history"]["loss"])
        ranges[rows] = np.asarray(part["output_range"])[own]
        for i in rows:
            reasons[i] = part["stop_reason"]
    fitted = weight > 0
    images[fitted] /= weight[fitted, None, None].astype(np.float32)
    if sigma is not None:
        sigma[fitted] /= weight[fitted, None, None].astype(np.float32)
    check_divergence(method, options, reasons, runs)
    if stopped:
        warn_stopped(method, reasons, runs, slice_offset)
    if two_d:
        images = images[0]
        sigma = None if sigma is None else sigma[0]
    networks = [None] * nslices
    for idx, part in parts:
        for i in idx:  # 3-D: the slab's slices share one network (the last slab's in an overlap)
            networks[i] = part["network"]
    return Reconstruction(images, history, iteration, scale, stopped, geoms, runs, reasons, ranges,
                          networks if options.keep_network else [], sigma)


def _members(method: Method, options: Any, sino: np.ndarray, geoms: list, idx: list, pretrained: Any,
             part: dict) -> None:
    """An estimator of several members (``uncertainty="ensemble"``): fit the other members of
    ``part`` (seeds ``seed + 1``, ...) and set its uncertainty to their combination; a member
    stopped by Ctrl-C ends the ensemble (``part`` then counts as interrupted, its map from the
    finished members)."""
    estimator = ESTIMATORS[options.uncertainty]
    images = [part["images"]]
    for j in range(1, estimator.members):
        other = with_changes(options, seed=options.seed + j, uncertainty=None, keep_network=False)
        member = fit_batch(method, other, sino, geoms, idx, pretrained)
        if member["interrupted"]:
            part["interrupted"], part["stop_reason"] = True, "interrupted"
            break
        images.append(member["images"])
    part["uncertainty"] = estimator.combine(images) if len(images) > 1 else np.zeros_like(part["images"])


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
        ``tv_kind`` ({"anisotropic", "isotropic"}, default "anisotropic")
            Anisotropic ``|dx| + |dy|`` or isotropic ``sqrt(dx^2 + dy^2)`` total variation.
        ``precision`` ({"float32", "bfloat16"}, default "float32")
            Arithmetic of the network: ``"bfloat16"`` runs it under bfloat16 autocast
            (weights, loss and projector stay float32), 1.2x faster at 256² and 2.1x at 512²
            on a CPU with AMX bfloat16 units (``benchmarks/versus.py``, 2026-11-27); emulated and 40-65x slower on CPUs without
            them (a :class:`RuntimeWarning` says so before the fit).
        ``select`` ({"min_loss", "last", "average", "variance"}; method default)
            Return the iterate of minimum loss, the last one, a moving average of the
            iterates (window ~100 iterations, :func:`average_weight`), or the mean of the
            ``stop_window`` iterates of least moving variance (ES-WMV's choice).
        ``uncertainty`` (None, True, "spread" or "ensemble"; default None)
            Return one standard deviation per pixel beside the images
            (``Reconstruction.uncertainty``, the images' shape and units; the images are those
            of the same call without it): ``"spread"`` (``True``) from the spread of the late
            iterates, nearly free; ``"ensemble"`` from fits with ``ENSEMBLE_MEMBERS`` seeds, that
            many times the cost (not for methods that start from a pretrained network). See
            :mod:`~tomopy_dip.fitting.uncertainty`.
        ``init_network`` (:class:`~tomopy_dip.networks.FittedNetwork`, default None)
            Start every slice from this network (e.g. ``Reconstruction.networks[i]`` of the
            neighbouring slice, with ``keep_network=True``) instead of a random or pretrained
            one; with noise input, its input is reused. ``keep_network`` (bool, False) keeps
            each slice's fitted network in ``Reconstruction.networks``.
        ``seed`` (int, 0), ``device`` (default CUDA when available), ``progress`` (bool),
        ``callback`` (called with ``{"slice", "iteration", "loss", "image", "estimate"}``:
        the current iterate, and the minimum-loss image or the average so far, i.e. what
        ``select`` would return if the fit stopped there; the iterate for ``"last"``),
        ``callback_every``,
        ``network_input`` ({"noise", "fbp"}), ``clip_grad`` (1.0), ``backtrack`` (0: off;
        a factor > 1: when the loss exceeds it times its lowest value, the fit returns to the
        network and optimiser state of that lowest loss and halves its learning rate,
        :mod:`~tomopy_dip.fitting.backtrack`), ``filter_name`` ("hann"),
        ``batch_size``, ``backend`` ({"auto", "matrix", "astra"}), ``memory_limit`` (bytes),
        ``channels``, ``skip_channels``, ``norm_groups``, ``out_activation``,
        ``dims`` (2: every slice fitted by its own 2-D U-Net; 3: the call's slices fitted
        together, slab by slab, each slab by one 3-D U-Net: one data scale, one stopping
        decision, results that depend on the slab; the methods' defaults there differ, see
        :data:`~tomopy_dip.methods.base.DEFAULTS_3D`), ``slab`` (16) and ``slab_overlap`` (4):
        rows per slab and rows shared by neighbouring slabs, blended linearly
        (:func:`slabs`, :func:`blend_weights`), ``num_gridx``, ``num_gridy``, ``beam``
        ({"parallel", "fanflat", "cone"}; cone: the call is one volume, ``dims=3``, CUDA only),
        ``source_origin``, ``origin_detector``, ``detector_spacing``, ``detector_row_spacing``
        (cone beam), ``vectors`` (cone beam: the whole geometry as ASTRA ``cone_vec`` vectors,
        ``(nproj, 12)`` in voxel units, or a file of them; see
        :mod:`~tomopy_dip.physics.geometry`), ``projector``.

        Method keywords: ``checkpoint``, ``mismatch`` and ``calibrate`` (EDIP, EDIP-FE;
        ``mismatch``, default "random": when no registered checkpoint suits the data, start from
        a random network, "use" the closest anyway, or "error"; ``calibrate``, default False:
        scale the pretrained network's output by the factor that best fits the data before
        fine-tuning), ``inner_steps`` and ``ae_weight`` (aSeqDIP).

    Returns
    -------
    Reconstruction
        Images (float32, input units) and per-iteration history.

    Raises
    ------
    MemoryError
        The call cannot fit into the available memory (estimated before anything large is
        allocated, :func:`~tomopy_dip.fitting.memory.estimate_memory`); the message names the
        estimate, the memory available and the settings that lower it.

    Notes
    -----
    Ctrl-C during the fit stops it after the current iteration and returns: finished slices,
    the selected image so far of the interrupted one (``stop_reason`` ``"interrupted"``) and
    zeros for those not started (``"not_run"``), with a :class:`RuntimeWarning`;
    ``interrupted`` is True. A second Ctrl-C raises :class:`KeyboardInterrupt` at once. This
    holds in the main thread and in worker threads alike (:mod:`~tomopy_dip.fitting.interrupt`;
    a call from the main thread first clears a stop request left by an earlier call).

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
    interrupt.new_call()
    return run(get_method(method), tomo, theta, center, slice_offset=0, **kwargs)
