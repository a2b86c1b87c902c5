"""Differentiable ray transform on ASTRA's 2D CPU projectors (and its 3-D CUDA ones for cone beam).

:class:`RayTransform` maps a batch of images ``(B, num_gridx, num_gridy)`` to sinograms ``(B,
nproj, ndet)`` and back with its exact adjoint. Two interchangeable backends compute it
(:mod:`tomopy_dip.physics.backends`):

``"matrix"``
    ASTRA's system matrix, held as a pair of torch CSR tensors (``A`` and ``A^T``, int32
    indices). Fast, batched (a matrix times 8 slices costs about as much as one slice) and
    usable on CUDA tensors; costs memory, estimated before it is built.
``"astra"``
    On-the-fly ASTRA forward and backprojection calls, slice by slice, the angles split into
    blocks that run on torch's threads. No matrix in memory; for large problems.

``backend="auto"`` (the default) takes the matrix when its estimated size fits the memory
budget: ``memory_limit`` when given, else the environment variable
``TOMOPY_DIP_MATRIX_MEMORY``, else half of the memory free when the operator is built. The
estimate builds the matrix of a few angles only, on a grid scaled down to at most
:data:`ESTIMATE_SIZE` pixels across (the number of non-zeros scales with the square of the
size), so it costs milliseconds and little memory at any size. Operators are cached: all
slices (and all calls) sharing a geometry share one.

That choice is one rule, :func:`matrix_fits` (within the budget, and within
:data:`FREE_MEMORY_CAP` of the free memory), taken by :func:`choose_backend`; the memory plan of
a reconstruction (:mod:`tomopy_dip.fitting.memory`) plans with the same function, and counts
the operators already built through :func:`operator_cached` and :func:`operator_cache_size`.

Cone beam (``beam="cone"``) couples the rows: its operator takes the whole batch as one volume
``(nslices, num_gridx, num_gridy)`` and returns ``(nslices, nproj, ndet)`` (the rows of a
sinogram-order stack), by ASTRA's 3-D CUDA projectors called directly on the torch tensors in
GPU memory (``astra.experimental.direct_FP3D`` / ``direct_BP3D``, no copy to the host). It needs
a CUDA GPU, torch and ASTRA built with CUDA (:func:`cone_unavailable`), and has no system matrix.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import torch

from tomopy_dip.physics.backends import (ANGLE_BLOCKS, ESTIMATE_SIZE, AstraBackend, ConeBackend, MatrixBackend,
                                         astra_matrix, cone_unavailable, estimate_matrix_bytes, require_cone_cuda)
from tomopy_dip.physics.geometry import Geometry
from tomopy_dip.physics.resources import free_memory
from tomopy_dip.utils import LRUCache

__all__ = ["RayTransform", "get_operator", "estimate_matrix_bytes", "matrix_budget", "matrix_fits",
           "choose_backend", "operator_cached", "operator_cache_size", "MEMORY_ENV", "cone_unavailable",
           "require_cone_cuda", "BACKENDS", "ESTIMATE_SIZE", "ANGLE_BLOCKS", "FREE_MEMORY_SHARE",
           "FREE_MEMORY_CAP"]

log = logging.getLogger(__name__)

#: Environment variable with a fixed budget in bytes for a system matrix (both ``A`` and ``A^T``).
MEMORY_ENV = "TOMOPY_DIP_MATRIX_MEMORY"
#: Share of the free memory a system matrix may take when no budget is set.
FREE_MEMORY_SHARE = 0.5
#: Share of the free memory a system matrix never exceeds, whatever its budget.
FREE_MEMORY_CAP = 0.8
BACKENDS = ("auto", "matrix", "astra")

#: The free memory as the budget reads it (:func:`~tomopy_dip.physics.resources.free_memory`).
_available_memory = free_memory
#: ASTRA's system matrix (:func:`~tomopy_dip.physics.backends.astra_matrix`), by its former name.
_astra_matrix = astra_matrix


def matrix_budget(memory_limit: int | None = None) -> int | None:
    """Bytes a system matrix may take: ``memory_limit``, else ``$TOMOPY_DIP_MATRIX_MEMORY``,
    else :data:`FREE_MEMORY_SHARE` of the free memory (None where that is unknown)."""
    if memory_limit is not None:
        return int(memory_limit)
    if os.environ.get(MEMORY_ENV):
        return int(float(os.environ[MEMORY_ENV]))
    avail = _available_memory()
    return None if avail is None else int(FREE_MEMORY_SHARE * avail)


def matrix_fits(need: int, limit: int | None, available: int | None) -> bool:
    """Whether a system matrix of ``need`` bytes fits: at most ``limit`` (the budget,
    :func:`matrix_budget`) and at most :data:`FREE_MEMORY_CAP` of the ``available`` free memory;
    an unknown (None) bound does not refuse. The one rule of the backend choice, for the
    operator and for the memory plan alike.

    Examples
    --------
    >>> matrix_fits(2**30, limit=None, available=None), matrix_fits(2**30, limit=2**29, available=None)
    (True, False)
    >>> matrix_fits(8 * 2**30, limit=None, available=10 * 2**30)  # 80 % of the free memory
    True
    """
    return (limit is None or need <= limit) and (available is None or need <= FREE_MEMORY_CAP * available)


def choose_backend(backend: str, need: int, memory_limit: int | None = None) -> str:
    """The backend an operator asked for ``backend`` computes with, its system matrix taking
    ``need`` bytes: ``backend`` itself, but ``"auto"`` takes ``"matrix"`` where
    :func:`matrix_fits` with the budget and the free memory now, else ``"astra"``.

    Examples
    --------
    >>> choose_backend("auto", 1000, memory_limit=100), choose_backend("matrix", 1000, memory_limit=100)
    ('astra', 'matrix')
    """
    if backend != "auto":
        return backend
    return "matrix" if matrix_fits(need, matrix_budget(memory_limit), _available_memory()) else "astra"


def _require_matrix_room(geometry: Geometry, need: int, memory_limit: int | None) -> None:
    """Refuse a forced system matrix of ``need`` bytes that does not fit (:func:`matrix_fits`)."""
    limit, avail = matrix_budget(memory_limit), _available_memory()
    if matrix_fits(need, limit, avail):
        return
    where = (f"the budget of {limit / 2**30:.2f} GiB (memory_limit or ${MEMORY_ENV}, else "
             f"{FREE_MEMORY_SHARE:.0%} of the free memory)" if limit is not None and need > limit
             else f"the {avail / 2**30:.2f} GiB of free memory")
    raise MemoryError(
        f"the system matrix for {geometry.nproj} angles x {geometry.ndet} detector "
        f"pixels on a {geometry.num_gridx}x{geometry.num_gridy} grid needs about "
        f"{need / 2**30:.2f} GiB, more than {where}; use backend='astra' or raise "
        "memory_limit"
    )


class _Apply(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, op, adjoint):  # noqa: D102
        ctx.op, ctx.adjoint = op, adjoint
        return op._raw(x, adjoint)

    @staticmethod
    def backward(ctx, grad):  # noqa: D102
        return ctx.op._raw(grad.contiguous(), not ctx.adjoint), None, None


class RayTransform:
    """The ray transform ``A`` of a :class:`~tomopy_dip.physics.geometry.Geometry` as a torch operator.

    Parameters
    ----------
    geometry : Geometry
        Acquisition geometry.
    backend : {"auto", "matrix", "astra"}
        Computation backend (see module docstring).
    memory_limit : int, optional
        Byte budget for the matrix backend; default :func:`matrix_budget` (the environment
        variable ``TOMOPY_DIP_MATRIX_MEMORY``, else half of the free memory).

    Notes
    -----
    Line integrals are in pixel units: a ray crossing ``L`` pixels of value 1 gives ``L``.
    ``op(x)`` accepts ``(nx, ny)`` or ``(B, nx, ny)`` tensors on any device and supports
    autograd; ``op.T(y)`` is the exact adjoint. With cone beam the ``B`` images are one volume
    (CUDA tensors only; ``backend`` "auto" or "astra": projected on the fly on the GPU).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from tomopy_dip.physics.geometry import Geometry
    >>> op = RayTransform(Geometry(np.linspace(0, np.pi, 30, endpoint=False), ndet=32))
    >>> op(torch.ones(2, 32, 32)).shape
    torch.Size([2, 30, 32])
    """

    def __init__(self, geometry: Geometry, backend: str = "auto", memory_limit: int | None = None):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.geometry = geometry
        self._norms: dict[tuple[int, int], float] = {}
        if geometry.beam == "cone":
            if backend == "matrix":
                raise ValueError("beam='cone' has no system matrix: backend must be 'auto' or 'astra'")
            self._backend, self.backend = ConeBackend(geometry), "astra"
            return
        if backend in ("auto", "matrix"):
            need = estimate_matrix_bytes(geometry)
            if backend == "matrix":
                _require_matrix_room(geometry, need, memory_limit)
            backend = choose_backend(backend, need, memory_limit)
            self.estimated_bytes = need
        log.debug("building %s backend for %s", backend, geometry)
        self._backend = MatrixBackend(geometry) if backend == "matrix" else AstraBackend(geometry)
        self.backend = backend

    # -- raw application on flattened batches (no autograd) ------------------------------
    def _raw(self, x: torch.Tensor, adjoint: bool) -> torch.Tensor:
        g = self.geometry
        out_shape = g.shape_image if adjoint else g.shape_sino
        flat = x.reshape(x.shape[0], -1)
        if flat.dtype != torch.float32:
            flat = flat.float()
        return self._backend.apply(flat, adjoint).reshape(x.shape[0], *out_shape)

    def _call(self, x: torch.Tensor, adjoint: bool) -> torch.Tensor:
        g = self.geometry
        in_shape = g.shape_sino if adjoint else g.shape_image
        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(np.asarray(x, dtype=np.float32))
        squeeze = x.ndim == 2
        if squeeze:
            x = x.unsqueeze(0)
        if x.ndim != 3 or tuple(x.shape[1:]) != in_shape:
            what = "sinogram" if adjoint else "image"
            raise ValueError(
                f"expected a {what} of shape {in_shape} or (B, *{in_shape}), got {tuple(x.shape)}"
            )
        out = _Apply.apply(x, self, adjoint)
        return out[0] if squeeze else out

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Forward projection ``A x``."""
        return self._call(x, adjoint=False)

    forward = __call__

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """Backprojection ``A^T y`` (exact adjoint of :meth:`forward`)."""
        return self._call(y, adjoint=True)

    T = property(lambda self: self.adjoint, doc="The adjoint as a callable, ``op.T(y)``.")

    def norm(self, iterations: int = 30, seed: int = 0) -> float:
        """Operator norm ``||A||_2`` by power iteration (remembered per ``iterations``, ``seed``)."""
        key = (iterations, seed)
        if key not in self._norms:
            self._norms[key] = self._power_iteration(iterations, seed)
        return self._norms[key]

    def _power_iteration(self, iterations: int, seed: int) -> float:
        gen = torch.Generator().manual_seed(seed)
        x = torch.rand((1, *self.geometry.shape_image), generator=gen)
        if self.geometry.beam == "cone":  # one slice: the norm of a row's fan, as for fan beam
            x = x.cuda()
        s = 0.0
        with torch.no_grad():
            for _ in range(iterations):
                x = self.adjoint(self(x))
                s = float(x.norm())
                x = x / s
        return float(np.sqrt(s))

    def __repr__(self) -> str:
        return f"RayTransform({self.geometry!r}, backend={self.backend!r})"


_CACHE: LRUCache[RayTransform] = LRUCache(8)


def _cache_key(geometry: Geometry, backend: str, memory_limit: int | None) -> tuple:
    return (geometry.key, backend, memory_limit)


def get_operator(geometry: Geometry, backend: str = "auto", memory_limit: int | None = None) -> RayTransform:
    """Return the shared :class:`RayTransform` for ``geometry`` (built on first use)."""
    return _CACHE.get(_cache_key(geometry, backend, memory_limit),
                      lambda: RayTransform(geometry, backend=backend, memory_limit=memory_limit))


def operator_cached(geometry: Geometry, backend: str = "auto", memory_limit: int | None = None) -> bool:
    """Whether the shared operator :func:`get_operator` returns for these arguments is built
    already (held by the cache)."""
    return _cache_key(geometry, backend, memory_limit) in _CACHE.keys()


def operator_cache_size() -> int:
    """How many operators the cache of :func:`get_operator` holds at most."""
    return _CACHE.size
