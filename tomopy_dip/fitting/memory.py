"""The memory a reconstruction will take, estimated before anything large is allocated.

:func:`estimate_memory` adds up, for one call of the engine, what the process will hold at its
peak; :func:`check_memory` refuses a call that cannot fit with a :class:`MemoryError` that names
the estimate, the memory available and the settings that lower it. The engine checks every call
(:func:`tomopy_dip.fitting.engine.run`) after the geometries are built and before any data is
moved, any operator built or any network created, so that an impossible request (a 20000² grid,
a 4096-pixel detector with the system matrix forced) is refused in well under a second and the
process lives on.

The parts of a plan
-------------------
``network``
    The U-Net's feature maps of one slice's fit, kept for the backward pass, with their
    gradients and the allocator's slack: :data:`ACTIVATION_BYTES` bytes per element of
    :func:`activation_elements` (counted from the layer list of
    :class:`~tomopy_dip.networks.UNet`), plus what a fit allocates once whatever its size
    (:data:`NETWORK_FIXED_BYTES`: oneDNN's kernels, autograd, the allocator's arenas). Slices
    are fitted one after the other, so only one slice's network is alive at a time.
``parameters``
    Weights, their gradients and Adam's two moments (plus the bfloat16 copies of autocast, and
    the copy of weights and moments that ``backtrack`` keeps).
``projector``
    The system matrices (``A`` and ``A^T``, :func:`~tomopy_dip.physics.projector.
    estimate_matrix_bytes`, which builds a few angles on a small grid only), one per distinct
    geometry of the call (at most the operator cache's size), or the buffers of the on-the-fly
    backend. Building a matrix briefly holds :data:`MATRIX_BUILD_FACTOR` times its size (ASTRA's
    copy, SciPy's, the transpose): ``projector_build`` is that transient excess, before the fit.
``data``
    Sinograms and output images of the call, and per fit the scaled data, FBP (and its
    float64 filtering), network input, selected image, the stopping rule's window and the
    history.
``baseline``
    The interpreter and its libraries (Python, torch, NumPy, SciPy, ASTRA):
    :data:`BASELINE_BYTES`.

The peak is ``baseline + data + projector + max(network + parameters, projector_build)``: the
matrix is built before the fit starts.

Calibration
-----------
Measured as peak resident memory of fresh processes running a few iterations of TV-DIP with
the default network (``benchmarks/memory.py --calibrate``; CPU, one thread, torch 2.13,
glibc's allocator). The imports took 261-262 MiB. The fit's own peak above the built operator,
at 128², 256², 384², 512² and 640² (180 views), was ``154-193 MiB + 5.21-5.35 bytes x E`` by
least squares in two runs (``E`` = 380 elements per pixel for the default network, 95 MiB of
float32 feature maps at 256²); single points lie up to 30 % off the line and vary between runs
(384²: 504 and 625 MiB), as the allocator reuses freed maps differently with their size. In
bfloat16 it was ``101 MiB + 8.6 bytes x E`` (autocast keeps float32 and bfloat16 copies of the
normalised maps: bfloat16 saves no memory on the CPU). A system matrix took 2.33 times its
final size while built and 0.93-0.94 times once built. The constants below take the
larger values. Against fresh runs (``python benchmarks/memory.py``) the estimate was within
7 % (measured / estimate 0.93-1.00) at 256², 512² and 640², both backends, float32 and
bfloat16. On CUDA the network, its data and the matrix (a second copy) are checked against
the GPU's free memory with the CPU's factors (not calibrated there).

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
import os
from dataclasses import dataclass, replace
from typing import Any, Mapping

import numpy as np
import torch

from tomopy_dip.networks import UNet, UNetConfig

__all__ = ["MemoryPlan", "estimate_memory", "check_memory", "memory_fits", "available_memory", "activation_elements",
           "parameter_count", "format_bytes", "ACTIVATION_BYTES", "NETWORK_FIXED_BYTES", "BASELINE_BYTES",
           "MATRIX_BUILD_FACTOR"]

log = logging.getLogger(__name__)

#: Bytes per feature-map element of one fit (forward maps kept for backward, their gradients,
#: allocator slack), by ``precision``; measured on the CPU (see the module docstring).
ACTIVATION_BYTES = {"float32": 5.35, "bfloat16": 8.2}
#: What a fit allocates whatever its size (oneDNN's kernels, autograd, the allocator's arenas).
NETWORK_FIXED_BYTES = 193 * 2**20
#: The interpreter with torch, NumPy, SciPy and ASTRA imported.
BASELINE_BYTES = 262 * 2**20
#: A system matrix's peak while it is built, over its final size.
MATRIX_BUILD_FACTOR = 2.33
#: Share of the available memory a plan may take before it is refused.
USABLE_SHARE = 1.0


def format_bytes(n: float) -> str:
    """``1536 * 2**20`` -> ``"1.5 GiB"``.

    Examples
    --------
    >>> format_bytes(3 * 2**30 + 2**29), format_bytes(5 * 2**20), format_bytes(900)
    ('3.5 GiB', '5.0 MiB', '900 B')
    """
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


# ---------------------------------------------------------------------------- the network
def _scale_shapes(nx: int, ny: int, scales: int, nz: int = 1) -> list[int]:
    """Pixels (voxels) of each scale: stride-2 convolutions with padding 1 halve rounding up
    (along ``nz`` too for a 3-D network)."""
    shapes = [(nz, nx, ny)]
    for _ in range(1, scales):
        d, h, w = shapes[-1]
        shapes.append(((d + 1) // 2, (h + 1) // 2, (w + 1) // 2))
    return [d * h * w for d, h, w in shapes]


def activation_elements(config: UNetConfig, nx: int, ny: int, nz: int = 1) -> int:
    """Elements of the feature maps one forward pass of one U-Net keeps for its backward pass
    (a 3-D network: on a slab of ``nz`` slices).

    The outputs of every convolution and normalisation (the in-place LeakyReLU adds none), the
    up-sampled maps where no skip is concatenated to them (a concatenation keeps its result,
    not its inputs), the concatenations and the sigmoid's output; not the input image. These
    are the tensors autograd saves (``tests/test_memory.py`` counts them with
    :func:`torch.autograd.graph.saved_tensors_hooks`).

    Examples
    --------
    >>> activation_elements(UNetConfig(), 256, 256) / 256**2  # the default network
    380.0
    """
    c, s = config.channels, config.skip_channels
    pix = _scale_shapes(nx, ny, len(c), nz if config.dims == 3 else 1)
    total = 2 * c[0] * pix[0]  # input block: convolution, normalisation
    for i in range(1, len(c)):  # down-sampling blocks: two (convolution, normalisation)
        total += 4 * c[i] * pix[i]
    for i in range(1, len(c)):  # up-sampling from scale len(c) - i into len(c) - i - 1
        cin, cout, skip, p = c[-i], c[-i - 1], s[-i], pix[len(c) - i - 1]
        if skip:  # 1x1 skip convolution, its normalisation, the concatenation
            total += (2 * skip + cin + skip) * p
        else:  # the up-sampled map
            total += cin * p
        total += (cin + skip + 4 * cout) * p  # normalisation, 3x3 conv, norm, 1x1 conv, norm
    if config.out_activation == "sigmoid":
        total += pix[0]  # the sigmoid's output
    return int(total)


def parameter_count(config: UNetConfig) -> int:
    """Parameters of one U-Net (laid out on PyTorch's ``meta`` device: no memory)."""
    with torch.device("meta"):
        return int(sum(p.numel() for p in UNet(config).parameters()))


# ---------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class MemoryPlan:
    """Estimated memory of a reconstruction, in bytes per part (see the module docstring).

    Attributes
    ----------
    network, parameters, projector, projector_build, data, baseline : int
        The parts.
    backend : str
        The projector backend planned: ``"matrix"`` or ``"astra"``.
    device : str
        The compute device (``"cpu"``, ``"cuda:0"``).
    precision : str
        The network's arithmetic.
    nslices, nproj, ndet : int
        Slices, views and detector pixels of the call.
    shape : tuple of int
        The output grid ``(num_gridx, num_gridy)``.
    resident : int
        Bytes of the plan this process already holds (the imported libraries, operators
        already built); :attr:`additional` is what it still needs.
    matrix_bytes : int
        One system matrix (0 without one).
    """

    network: int
    parameters: int
    projector: int
    projector_build: int
    data: int
    baseline: int
    backend: str
    device: str = "cpu"
    precision: str = "float32"
    nslices: int = 1
    nproj: int = 0
    ndet: int = 0
    shape: tuple = (0, 0)
    resident: int = 0
    matrix_bytes: int = 0

    @property
    def on_gpu(self) -> bool:
        return self.device.startswith("cuda")

    @property
    def device_bytes(self) -> int:
        """Bytes on the GPU (0 on the CPU): the network, its parameters, a fit's data and a
        copy of the matrices."""
        if not self.on_gpu:
            return 0
        return self.network + self.parameters + self._fit_data() + (self.projector if self.backend == "matrix" else 0)

    def _fit_data(self) -> int:
        gx, gy = self.shape
        return 4 * (8 * gx * gy + 2 * self.nproj * self.ndet)

    @property
    def host_bytes(self) -> int:
        """Peak bytes in the computer's memory."""
        if self.on_gpu:
            return self.baseline + self.data + self.projector + self.projector_build
        return self.baseline + self.data + self.projector + max(self.network + self.parameters, self.projector_build)

    @property
    def total(self) -> int:
        """The peak: host and GPU memory together."""
        return self.host_bytes + self.device_bytes

    @property
    def additional(self) -> int:
        """Host bytes still to be allocated: :attr:`host_bytes` less :attr:`resident`."""
        return max(0, self.host_bytes - self.resident)

    def parts(self) -> dict[str, int]:
        """The parts by name, largest first."""
        parts = {"network": self.network, "parameters": self.parameters, "projector": self.projector,
                 "data": self.data, "baseline": self.baseline}
        return dict(sorted(parts.items(), key=lambda kv: -kv[1]))

    def text(self) -> str:
        """The plan in words, e.g. ``"about 3.2 GiB: network 0.9 GiB, projector 2.0 GiB (4.7 GiB
        while built), ..."``."""
        words = []
        for name, n in self.parts().items():
            extra = ""
            if name == "projector":
                kind = "system matrix" if self.backend == "matrix" else "on the fly"
                build = (f", {format_bytes(self.projector + self.projector_build)} while built"
                         if self.projector_build else "")
                extra = f" ({kind}{build})"
            words.append(f"{name} {format_bytes(n)}{extra}")
        where = f" ({format_bytes(self.device_bytes)} of it on {self.device})" if self.on_gpu else ""
        return f"about {format_bytes(self.total)}{where}: " + ", ".join(words)

    def describe(self) -> str:
        """The problem the plan is for, in words."""
        gx, gy = self.shape
        s = "s" if self.nslices != 1 else ""
        return (f"{self.nslices} slice{s} of {self.nproj} views x {self.ndet} pixels on a {gx}x{gy} grid, "
                f"{self.precision}, backend={self.backend!r}")


def _options(method: Any, options: Any):
    """``(Method, Options)`` from a method or its name and parsed options or a keyword dict."""
    from tomopy_dip.methods import get_method

    if isinstance(method, str):
        method = get_method(method)
    if isinstance(options, Mapping) or options is None:
        options = method.parse(dict(options or {}))
    return method, options


def _geometry(options: Any, nproj: int, ndet: int):
    from tomopy_dip.physics.geometry import DIVERGENT, Geometry

    span = 2 * np.pi if options.beam in DIVERGENT else np.pi
    return Geometry(np.linspace(0, span, nproj, endpoint=False), ndet, **options.geometry_keywords())


_MATRIX_CACHE: dict[str, int] = {}


def _matrix_bytes(geometry: Any) -> int:
    """:func:`~tomopy_dip.physics.projector.estimate_matrix_bytes`, remembered per geometry."""
    from tomopy_dip.physics.projector import estimate_matrix_bytes

    if geometry.key not in _MATRIX_CACHE:
        if len(_MATRIX_CACHE) > 64:
            _MATRIX_CACHE.clear()
        _MATRIX_CACHE[geometry.key] = estimate_matrix_bytes(geometry)
    return _MATRIX_CACHE[geometry.key]


def _cached_operators(geometries: list, backend: str, memory_limit: Any) -> int:
    """How many of ``geometries``' operators the shared operator cache already holds."""
    from tomopy_dip.physics import projector

    keys = set(projector._CACHE.keys())
    return sum((g.key, backend, memory_limit) in keys for g in geometries)


def _resident_now() -> int | None:
    """This process's resident memory now (None where unknown)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _planned_backend(backend: str, need: int, memory_limit: Any) -> str:
    """The backend :class:`~tomopy_dip.physics.projector.RayTransform` will take."""
    from tomopy_dip.physics.projector import _available_memory, matrix_budget

    if backend != "auto":
        return backend
    limit, avail = matrix_budget(memory_limit), _available_memory()
    fits = (limit is None or need <= limit) and (avail is None or need <= 0.8 * avail)
    return "matrix" if fits else "astra"


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
    from tomopy_dip.physics.projector import _CACHE

    n_ops = min(len(distinct), _CACHE.size)
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
        projector, build = n_ops * 4 * (20 * pixels + 4 * sino), 0
    pad = 1 << max(6, math.ceil(math.log2(2 * ndet)))
    data = 4 * nslices * (sino + pixels)  # the call's float32 sinograms and its output images
    data += 4 * slab * (2 * sino + 8 * pixels)  # scaled data, FBP, input, iterate, selection, TV ...
    data += 8 * nproj * (ndet + 3 * pad)  # the FBP's float64 filtering (before the fit)
    windows = int("variance" in (options.stop, options.select))  # ES-WMV's iterates (one shared window)
    data += windows * (4 * options.stop_window + 16) * pixels * slab
    data += 6 * 4 * 2 * min(max(1024, options.num_iter), 20000)  # history (grows with the fit: a cap costs nothing)
    resident = 0
    if in_process:
        now = _resident_now()
        resident = min(now, BASELINE_BYTES) if now is not None else 0
        if backend == "matrix":
            resident += _cached_operators(distinct[:n_ops], options.backend, options.memory_limit) * matrix
    return MemoryPlan(network=act, parameters=params, projector=int(projector), projector_build=build,
                      data=int(data), baseline=BASELINE_BYTES, backend=backend, device=str(options.device),
                      precision=precision, nslices=int(nslices), nproj=int(nproj), ndet=int(ndet),
                      shape=(gx, gy), resident=int(resident), matrix_bytes=int(matrix))


# ---------------------------------------------------------------------------- available memory
def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _cgroup_room() -> int | None:
    """Bytes left under this process's cgroup memory limit (None without a limit)."""
    rooms = []
    rel = ""
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                parts = line.strip().split(":", 2)
                if len(parts) == 3 and parts[0] == "0":
                    rel = parts[2]
    except OSError:
        pass
    for base in {"/sys/fs/cgroup" + rel.rstrip("/"), "/sys/fs/cgroup"}:  # cgroup v2
        limit, used = _read_int(base + "/memory.max"), _read_int(base + "/memory.current")
        if limit is not None and used is not None:
            rooms.append(limit - used)
    limit = _read_int("/sys/fs/cgroup/memory/memory.limit_in_bytes")  # cgroup v1
    used = _read_int("/sys/fs/cgroup/memory/memory.usage_in_bytes")
    if limit is not None and used is not None and limit < 2**60:
        rooms.append(limit - used)
    return max(0, min(rooms)) if rooms else None


def available_memory() -> int | None:
    """Bytes this process can still allocate: the kernel's ``MemAvailable`` (free memory and
    the page cache it can drop), else the free memory as the projector counts it
    (:func:`~tomopy_dip.physics.projector.matrix_budget`), capped by a cgroup (container)
    limit; None where nothing is known."""
    from tomopy_dip.physics.projector import _available_memory

    avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if avail is None:
        avail = _available_memory()
    room = _cgroup_room()
    if room is not None:
        avail = room if avail is None else min(avail, room)
    return avail


def _gpu_available(device: str) -> int | None:
    try:
        dev = torch.device(device)
        free, _ = torch.cuda.mem_get_info(dev)
        return int(free + torch.cuda.memory_reserved(dev) - torch.cuda.memory_allocated(dev))
    except Exception:  # no CUDA, or a driver that cannot tell
        return None


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
        astra = replace(plan, projector=4 * (20 * gx * gy + 4 * plan.nproj * plan.ndet), projector_build=0,
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
        free = _gpu_available(plan.device)
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
