"""The memory a reconstruction will take, estimated before anything large is allocated.

:func:`estimate_memory` adds up, for one call of the engine, what the process will hold at its
peak; :func:`check_memory` refuses a call that cannot fit with a :class:`MemoryError` that names
the estimate, the memory available and the settings that lower it. The engine checks every call
(:func:`tomopy_dip.fitting.engine.run`) after the geometries are built and before any data is
moved, any operator built or any network created, so that an impossible request (a 20000² grid,
a 4096-pixel detector with the system matrix forced) is refused in well under a second and the
process lives on.

The parts of a plan, the calibrated constants and :class:`MemoryPlan` are the model,
:mod:`tomopy_dip.fitting.memory_model`; what the machine has room for is probed by
:mod:`tomopy_dip.physics.resources`; the backend a plan counts is the projector's own choice
(:func:`tomopy_dip.physics.projector.choose_backend`). Their names are importable from here too.

Examples
--------
>>> from tomopy_dip.fitting.memory import estimate_memory
>>> plan = estimate_memory("tv_dip", {"device": "cpu"}, nproj=181, ndet=640, backend_choice=False)
>>> plan.backend, round(plan.network / 2**30, 2)
('matrix', 0.97)
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from typing import Any, Mapping

import numpy as np

from tomopy_dip.fitting.memory_model import (ACTIVATION_BYTES, BASELINE_BYTES, MATRIX_BUILD_FACTOR,
                                             NETWORK_FIXED_BYTES, MemoryPlan, activation_elements, format_bytes,
                                             on_the_fly_bytes, parameter_count)
from tomopy_dip.networks import UNetConfig
from tomopy_dip.physics.geometry import DIVERGENT, Geometry
from tomopy_dip.physics.projector import choose_backend, estimate_matrix_bytes, operator_cache_size, operator_cached
from tomopy_dip.physics.resources import available_memory, gpu_free_memory, resident_memory

__all__ = ["MemoryPlan", "estimate_memory", "check_memory", "memory_fits", "available_memory", "activation_elements",
           "parameter_count", "format_bytes", "ACTIVATION_BYTES", "NETWORK_FIXED_BYTES", "BASELINE_BYTES",
           "MATRIX_BUILD_FACTOR"]

log = logging.getLogger(__name__)

#: Share of the available memory a plan may take before it is refused.
USABLE_SHARE = 1.0


def _options(method: Any, options: Any):
    """``(Method, Options)`` from a method or its name and parsed options or a keyword dict."""
    from tomopy_dip.fitting.method import get_method

    if isinstance(method, str):
        method = get_method(method)
    if isinstance(options, Mapping) or options is None:
        options = method.parse(dict(options or {}))
    return method, options


def _geometry(options: Any, nproj: int, ndet: int) -> Geometry:
    """The default geometry of a call: ``nproj`` views over 180° (360° for a divergent beam)."""
    span = 2 * np.pi if options.beam in DIVERGENT else np.pi
    return Geometry(np.linspace(0, span, nproj, endpoint=False), ndet, **options.geometry_keywords())


_MATRIX_CACHE: dict[str, int] = {}


def _matrix_bytes(geometry: Any) -> int:
    """:func:`~tomopy_dip.physics.projector.estimate_matrix_bytes`, remembered per geometry."""
    if geometry.key not in _MATRIX_CACHE:
        if len(_MATRIX_CACHE) > 64:
            _MATRIX_CACHE.clear()
        _MATRIX_CACHE[geometry.key] = estimate_matrix_bytes(geometry)
    return _MATRIX_CACHE[geometry.key]


def _cached_operators(geometries: list, backend: str, memory_limit: Any) -> int:
    """How many of ``geometries``' operators the shared operator cache already holds."""
    return sum(operator_cached(g, backend, memory_limit) for g in geometries)


def _planned_backend(backend: str, need: int, memory_limit: Any) -> str:
    """The backend :class:`~tomopy_dip.physics.projector.RayTransform` will take
    (:func:`~tomopy_dip.physics.projector.choose_backend`)."""
    return choose_backend(backend, need, memory_limit)


def estimate_memory(method: Any, options: Any, nproj: int, ndet: int, *, nslices: int = 1,
                    geometries: list | None = None, network: UNetConfig | None = None,
                    backend_choice: bool = True, in_process: bool = True) -> MemoryPlan:
    """Estimate the peak memory of reconstructing ``nslices`` sinograms ``(nproj, ndet)``.

    Allocates nothing large and returns in well under a second at any size (the system matrix
    is sampled on a small grid, the network laid out on the ``meta`` device).

    Parameters
    ----------
    method : str or Method
        The method (``"tv_dip"``, ...).
    options : Options or mapping
        The call's parsed options, or its keywords (``{"num_gridx": 2048, "backend": "astra"}``).
    nproj, ndet : int
        Views and detector pixels.
    nslices : int
        Slices of the call (they are fitted one after the other).
    geometries : list of Geometry, optional
        The call's geometries, one per slice (default: ``nproj`` views over 180°, or 360° for
        fan beam, with the options' grid and beam); operators are counted once per distinct one.
    network : UNetConfig, optional
        The network when it is not the options' (EDIP: the checkpoint's).
    backend_choice : bool
        With ``backend="auto"``, plan the backend the projector would choose now (by the
        matrix budget and the free memory); False: plan the matrix.
    in_process : bool
        Count what this process already holds (libraries, operators already built) as
        :attr:`MemoryPlan.resident`.

    Returns
    -------
    MemoryPlan
    """
    method, options = _options(method, options)
    if geometries is None:
        geometries = [_geometry(options, int(nproj), int(ndet))]
    distinct = list(dict.fromkeys(geometries))
    g = distinct[0]
    gx, gy = g.shape_image
    pixels = gx * gy
    config = network if network is not None else options.network((gx, gy))
    precision = options.precision
    # slices one fit holds at once (cone beam: the whole call is one volume)
    slab = 1 if config.dims == 2 else int(nslices) if options.beam == "cone" else min(int(nslices), options.slab)
    elements = activation_elements(config, gx, gy, slab)
    act = NETWORK_FIXED_BYTES + int(ACTIVATION_BYTES.get(precision, ACTIVATION_BYTES["float32"]) * elements)
    n_par = parameter_count(config)
    params = n_par * (16 + (2 if precision == "bfloat16" else 0) + (12 if options.backtrack > 0 else 0))
    n_ops = min(len(distinct), operator_cache_size())
    backend = options.backend
    matrix = 0
    if backend in ("auto", "matrix") and options.beam != "cone":  # cone beam: on the fly, on the GPU
        matrix = _matrix_bytes(g)
        if backend_choice or backend == "matrix":
            backend = _planned_backend(backend, matrix, options.memory_limit)
        else:
            backend = "matrix"
    sino = nproj * ndet
    if backend == "matrix":
        projector, build = n_ops * matrix, int((MATRIX_BUILD_FACTOR - 1) * matrix)
    else:
        matrix = 0
        projector, build = n_ops * on_the_fly_bytes(pixels, sino), 0
    pad = 1 << max(6, math.ceil(math.log2(2 * ndet)))
    data = 4 * nslices * (sino + pixels)  # the call's float32 sinograms and its output images
    data += 4 * slab * (2 * sino + 8 * pixels)  # scaled data, FBP, input, iterate, selection, TV ...
    data += 8 * nproj * (ndet + 3 * pad)  # the FBP's float64 filtering (before the fit)
    windows = int("variance" in (options.stop, options.select))  # ES-WMV's iterates (one shared window)
    data += windows * (4 * options.stop_window + 16) * pixels * slab
    data += 6 * 4 * 2 * min(max(1024, options.num_iter), 20000)  # history (grows with the fit: a cap costs nothing)
    resident = 0
    if in_process:
        now = resident_memory()
        resident = min(now, BASELINE_BYTES) if now is not None else 0
        if backend == "matrix":
            resident += _cached_operators(distinct[:n_ops], options.backend, options.memory_limit) * matrix
    return MemoryPlan(network=act, parameters=params, projector=int(projector), projector_build=build,
                      data=int(data), baseline=BASELINE_BYTES, backend=backend, device=str(options.device),
                      precision=precision, nslices=int(nslices), nproj=int(nproj), ndet=int(ndet),
                      shape=(gx, gy), resident=int(resident), matrix_bytes=int(matrix))


# ---------------------------------------------------------------------------- the check
def _shrunk(plan: MemoryPlan, k: int) -> MemoryPlan:
    """``plan`` with the detector and the grid binned ``k`` times (pixels ``k²`` fewer)."""
    per = NETWORK_FIXED_BYTES
    return replace(plan, network=per + (plan.network - per) // k**2, projector=plan.projector // k**2,
                   projector_build=plan.projector_build // k**2, data=plan.data // k**2,
                   matrix_bytes=plan.matrix_bytes // k**2)


def _knobs(plan: MemoryPlan) -> list[str]:
    """The settings that lower ``plan``, each with its estimate where one can be made."""
    knobs = []
    gx, gy = plan.shape
    if max(gx, gy) > plan.ndet:
        knobs.append(f"a smaller grid (num_gridx={gx}, num_gridy={gy}: more pixels than the {plan.ndet} "
                     "detector pixels)")
    binned = ", ".join(f"downsample={k}: about {format_bytes(_shrunk(plan, k).total)}" for k in (2, 4))
    knobs.append(f"bin the detector ({binned}{', with the grid binned alike' if max(gx, gy) > plan.ndet else ''}; "
                 "downsample in reconstruct_file, --downsample on the command line, "
                 "tomopy_dip.data.preprocess.bin_detector for arrays)")
    if plan.backend == "matrix":
        astra = replace(plan, projector=on_the_fly_bytes(gx * gy, plan.nproj * plan.ndet), projector_build=0,
                        backend="astra", matrix_bytes=0)
        knobs.append(f"backend='astra' (no system matrix: about {format_bytes(astra.total)})")
        knobs.append("a smaller memory_limit (bytes the system matrix may take; also $TOMOPY_DIP_MATRIX_MEMORY): "
                     "backend='auto' then projects on the fly")
    one = replace(plan, nslices=1, data=plan.data - 4 * (plan.nslices - 1) * (plan.nproj * plan.ndet + gx * gy))
    if plan.nslices > 1 and one.total < 0.9 * plan.total:
        knobs.append(f"fewer slices per call or task ({plan.nslices} now, about {format_bytes(one.total)} "
                     "with one; nchunk, rows_per_task)")
    other = "bfloat16" if plan.precision == "float32" else "float32"
    if plan.precision in ACTIVATION_BYTES:
        alt = NETWORK_FIXED_BYTES + int(ACTIVATION_BYTES[other] * (plan.network - NETWORK_FIXED_BYTES)
                                        / ACTIVATION_BYTES[plan.precision])
        alt_plan = replace(plan, network=alt, precision=other)
        if alt_plan.total < plan.total:
            knobs.append(f"precision='{other}' (about {format_bytes(alt_plan.total)})")
    return knobs


def _problems(plan: MemoryPlan, available: int | None, options: Any) -> list[str]:
    """Why ``plan`` cannot fit, in words (empty when it fits)."""
    problems = []
    if available is None:
        available = available_memory()
    if available is not None and plan.additional > USABLE_SHARE * available:
        held = f" besides the {format_bytes(plan.resident)} this process already holds" if plan.resident else ""
        problems.append(f"{format_bytes(plan.additional)} more{held}, but {format_bytes(available)} "
                        "of memory are available")
    if plan.on_gpu:
        free = gpu_free_memory(plan.device)
        if free is not None and plan.device_bytes > USABLE_SHARE * free:
            problems.append(f"{format_bytes(plan.device_bytes)} on {plan.device}, which has "
                            f"{format_bytes(free)} free")
    limit = getattr(options, "memory_limit", None)
    if plan.backend == "matrix" and getattr(options, "backend", None) == "matrix" and limit is not None \
            and plan.matrix_bytes > limit:
        problems.append(f"a system matrix of {format_bytes(plan.matrix_bytes)}, more than memory_limit="
                        f"{format_bytes(limit)}")
    return problems


def memory_fits(plan: MemoryPlan, options: Any = None, available: int | None = None) -> bool:
    """Whether :func:`check_memory` would accept ``plan``."""
    return not _problems(plan, available, options)


def check_memory(plan: MemoryPlan, available: int | None = None, *, method: Any = None, options: Any = None,
                 where: str = "tomopy_dip") -> None:
    """Refuse a plan that cannot fit.

    Parameters
    ----------
    plan : MemoryPlan
        From :func:`estimate_memory`.
    available : int, optional
        Bytes available; default :func:`available_memory` (and the GPU's free memory for a
        plan on CUDA).
    method, options : optional
        The call's method and options: ``options.memory_limit`` is checked against the
        system matrix of ``backend="matrix"``, and the message names better settings.
    where : str
        Name used in the message (e.g. ``"tomopy_dip.tv_dip"``).

    Raises
    ------
    MemoryError
        The plan needs more than what is available (or, with ``backend="matrix"``, its system
        matrix exceeds ``memory_limit``): the message names the estimate, what is available
        and the settings that lower it (binning the detector, ``backend="astra"``,
        ``memory_limit``, fewer slices, ``precision``).

    Examples
    --------
    >>> plan = estimate_memory("dip", {"num_gridx": 20000, "num_gridy": 20000, "device": "cpu"}, 181, 640)
    >>> check_memory(plan)
    Traceback (most recent call last):
    ...
    MemoryError: tomopy_dip: 1 slice of 181 views x 640 pixels on a 20000x20000 grid, ...
    """
    problems = _problems(plan, available, options)
    if not problems:
        log.debug("%s: memory plan %s for %s", where, plan.text(), plan.describe())
        return
    raise MemoryError(
        f"{where}: {plan.describe()} needs {plan.text()}; that is {' and '.join(problems)}. "
        f"To lower it: {'; '.join(_knobs(plan))}"
    )
