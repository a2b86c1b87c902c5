"""Differentiable ray transform on ASTRA's 2D CPU projectors (and its 3-D CUDA ones for cone beam).

:class:`RayTransform` maps a batch of images ``(B, num_gridx, num_gridy)`` to sinograms ``(B,
nproj, ndet)`` and back with its exact adjoint. Two interchangeable backends compute it:

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

Cone beam (``beam="cone"``) couples the rows: its operator takes the whole batch as one volume
``(nslices, num_gridx, num_gridy)`` and returns ``(nslices, nproj, ndet)`` (the rows of a
sinogram-order stack), by ASTRA's 3-D CUDA projectors called directly on the torch tensors in
GPU memory (``astra.experimental.direct_FP3D`` / ``direct_BP3D``, no copy to the host). It needs
a CUDA GPU, torch and ASTRA built with CUDA (:func:`cone_unavailable`), and has no system matrix.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings

import numpy as np
import torch

from tomopy_dip.physics.geometry import Geometry
from tomopy_dip.utils import LRUCache

__all__ = ["RayTransform", "get_operator", "estimate_matrix_bytes", "matrix_budget", "MEMORY_ENV",
           "cone_unavailable", "require_cone_cuda"]

log = logging.getLogger(__name__)

#: Environment variable with a fixed budget in bytes for a system matrix (both ``A`` and ``A^T``).
MEMORY_ENV = "TOMOPY_DIP_MATRIX_MEMORY"
#: Share of the free memory a system matrix may take when no budget is set.
FREE_MEMORY_SHARE = 0.5
#: Largest grid (pixels across) on which :func:`estimate_matrix_bytes` builds its sample.
ESTIMATE_SIZE = 256
_BYTES_PER_NNZ = 2 * (4 + 4)  # A and A^T, float32 value + int32 column index
BACKENDS = ("auto", "matrix", "astra")


def matrix_budget(memory_limit: int | None = None) -> int | None:
    """Bytes a system matrix may take: ``memory_limit``, else ``$TOMOPY_DIP_MATRIX_MEMORY``,
    else :data:`FREE_MEMORY_SHARE` of the free memory (None where that is unknown)."""
    if memory_limit is not None:
        return int(memory_limit)
    if os.environ.get(MEMORY_ENV):
        return int(float(os.environ[MEMORY_ENV]))
    avail = _available_memory()
    return None if avail is None else int(FREE_MEMORY_SHARE * avail)


def _available_memory() -> int | None:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return None


def _astra_projector(geometry: Geometry, angles: np.ndarray | None = None) -> int:
    import astra

    return astra.create_projector(
        geometry.projector, geometry.astra_proj_geom(angles), geometry.astra_vol_geom()
    )


def _astra_matrix(geometry: Geometry, angles: np.ndarray | None = None):
    """ASTRA's system matrix as scipy CSR (rows: sinogram, row-major; columns: image)."""
    import astra

    pid = _astra_projector(geometry, angles)
    try:
        mid = astra.projector.matrix(pid)
        try:
            return astra.matrix.get(mid)
        finally:
            astra.matrix.delete(mid)
    finally:
        astra.projector.delete(pid)


def estimate_matrix_bytes(geometry: Geometry, sample: int = 8) -> int:
    """Estimate the memory of the matrix backend by building it for a few angles.

    Parameters
    ----------
    geometry : Geometry
        The geometry.
    sample : int
        Number of evenly spread angles to build the matrix for.

    Returns
    -------
    int
        Estimated bytes for ``A`` and ``A^T`` together.

    Notes
    -----
    A geometry larger than :data:`ESTIMATE_SIZE` pixels across is scaled down by a factor
    ``k`` (grid, detector and distances alike) and its count of non-zeros multiplied by ``k^2``
    (rays times pixels per ray); on a 1024² grid the estimate is within a few per cent.
    """
    nproj = geometry.nproj
    idx = np.unique(np.linspace(0, nproj - 1, min(sample, nproj)).round().astype(int))
    k = max(1.0, max(geometry.num_gridx, geometry.num_gridy, geometry.ndet) / ESTIMATE_SIZE)
    small = geometry if k == 1.0 else geometry.scaled(1.0 / k)
    nnz = _astra_matrix(small, geometry.theta[idx]).nnz
    nnz *= (geometry.ndet / small.ndet) * (max(geometry.num_gridx, geometry.num_gridy)
                                           / max(small.num_gridx, small.num_gridy))
    nnz_total = nnz * nproj / idx.size
    rows = nproj * geometry.ndet + geometry.num_gridx * geometry.num_gridy
    return int(nnz_total * _BYTES_PER_NNZ * 1.05 + 8 * rows)


def _to_torch_csr(mat) -> torch.Tensor:
    mat = mat.tocsr()
    mat.sort_indices()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ss]parse.*")
        return torch.sparse_csr_tensor(
            torch.from_numpy(mat.indptr.astype(np.int32)),
            torch.from_numpy(mat.indices.astype(np.int32)),
            torch.from_numpy(mat.data.astype(np.float32)),
            size=mat.shape,
            check_invariants=False,
        )


class _MatrixBackend:
    name = "matrix"

    def __init__(self, geometry: Geometry):
        mat = _astra_matrix(geometry)
        self.nnz = int(mat.nnz)
        self._mats = {torch.device("cpu"): (_to_torch_csr(mat), _to_torch_csr(mat.T))}
        self._lock = threading.Lock()

    def _on(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        with self._lock:
            if device not in self._mats:
                a, at = self._mats[torch.device("cpu")]
                self._mats[device] = (a.to(device), at.to(device))
            return self._mats[device]

    def apply(self, x: torch.Tensor, adjoint: bool) -> torch.Tensor:
        """``x``: (B, n_in) float32 -> (B, n_out)."""
        mat = self._on(x.device)[1 if adjoint else 0]
        return torch.sparse.mm(mat, x.T.contiguous()).T


class _AstraBlock:
    """ASTRA's forward and backprojection of one block of angles (its own data objects)."""

    def __init__(self, geometry: Geometry, angles: np.ndarray):
        import astra

        self._pid = _astra_projector(geometry, angles)
        self._vol = astra.data2d.create("-vol", geometry.astra_vol_geom(), 0.0)
        self._sino = astra.data2d.create("-sino", geometry.astra_proj_geom(angles), 0.0)
        self._algs = {}
        for kind, cfg_name in (("fp", "FP"), ("bp", "BP")):
            cfg = astra.astra_dict(cfg_name)
            cfg["ProjectorId"] = self._pid
            cfg["ProjectionDataId"] = self._sino
            cfg["VolumeDataId" if kind == "fp" else "ReconstructionDataId"] = self._vol
            self._algs[kind] = astra.algorithm.create(cfg)

    def run(self, x: np.ndarray, adjoint: bool) -> np.ndarray:
        """Project an image (or backproject this block's rows of a sinogram); ASTRA releases the
        GIL while it runs, so blocks run in parallel threads."""
        import astra

        src, dst = (self._sino, self._vol) if adjoint else (self._vol, self._sino)
        astra.data2d.store(src, x)
        astra.data2d.store(dst, 0.0)
        astra.algorithm.run(self._algs["bp" if adjoint else "fp"])
        return astra.data2d.get(dst)

    def __del__(self):  # pragma: no cover - interpreter shutdown order varies
        try:
            import astra

            for a in self._algs.values():
                astra.algorithm.delete(a)
            astra.data2d.delete([self._vol, self._sino])
            astra.projector.delete(self._pid)
        except Exception:
            pass


#: Angle blocks of the on-the-fly backend. A fixed number (not the thread count), so that the
#: backprojection sums the blocks in the same order and the result does not depend on threads.
ANGLE_BLOCKS = 8


class _AstraBackend:
    """On-the-fly ASTRA projections, the angles split into :data:`ANGLE_BLOCKS` blocks that run
    on torch's number of threads (ASTRA's CPU projectors are single-threaded)."""

    name = "astra"

    def __init__(self, geometry: Geometry):
        self._geometry = geometry
        n = min(ANGLE_BLOCKS, geometry.nproj)
        self._rows = np.array_split(np.arange(geometry.nproj), n)
        self._blocks = [_AstraBlock(geometry, geometry.theta[r]) for r in self._rows]
        self._lock = threading.Lock()

    def apply(self, x: torch.Tensor, adjoint: bool) -> torch.Tensor:
        from concurrent.futures import ThreadPoolExecutor

        g = self._geometry
        x_np = x.detach().to("cpu", torch.float32).numpy()
        out = []
        with self._lock, ThreadPoolExecutor(max(1, min(torch.get_num_threads(), len(self._blocks)))) as pool:
            for b in range(x_np.shape[0]):
                if adjoint:
                    sino = x_np[b].reshape(g.shape_sino)
                    parts = list(pool.map(lambda kr: kr[0].run(sino[kr[1]], True), zip(self._blocks, self._rows)))
                    vol = parts[0].astype(np.float32, copy=True)
                    for part in parts[1:]:  # a fixed order of summation
                        vol += part
                    out.append(vol.reshape(-1))
                else:
                    img = x_np[b].reshape(g.shape_image)
                    parts = list(pool.map(lambda blk: blk.run(img, False), self._blocks))
                    out.append(np.concatenate(parts, axis=0).reshape(-1))
        return torch.from_numpy(np.stack(out).astype(np.float32, copy=False)).to(x.device)


def cone_unavailable(device: torch.device | str | None = None) -> str | None:
    """Why cone beam cannot run here (no CUDA GPU for torch, ASTRA without CUDA, or a non-CUDA
    ``device``), or None when it can. Costs no GPU work."""
    if not torch.cuda.is_available():
        return "torch sees no CUDA GPU (torch.cuda.is_available() is False)"
    import astra

    if not astra.use_cuda():
        return "ASTRA was built without CUDA (astra.use_cuda() is False)"
    if device is not None and torch.device(device).type != "cuda":
        return f"device={str(device)!r} is not a CUDA device"
    return None


def require_cone_cuda(device: torch.device | str | None = None) -> None:
    """Raise the error of a cone-beam request that cannot run here (:func:`cone_unavailable`)."""
    reason = cone_unavailable(device)
    if reason is not None:
        raise RuntimeError(
            f"beam='cone' projects with ASTRA's 3-D CUDA projectors on the GPU, but {reason}; cone beam "
            "needs a CUDA GPU, CUDA builds of torch and astra-toolbox, and device='cuda' (or the default)"
        )


class _ConeBackend:
    """ASTRA's 3-D cone-beam projector on GPU memory: the batch is the volume (its slices are
    the detector rows). One ASTRA projector per slice count."""

    name = "cuda3d"

    def __init__(self, geometry: Geometry):
        require_cone_cuda()
        self._geometry = geometry
        self._projectors: dict[int, int] = {}
        self._gpu: int | None = None

    def _projector(self, nslices: int, device: torch.device) -> int:
        import astra

        index = device.index if device.index is not None else torch.cuda.current_device()
        if self._gpu != index:
            astra.set_gpu_index(index)
            self._gpu = index
        if nslices not in self._projectors:
            vol, proj = self._geometry.astra_cone_geoms(nslices)
            self._projectors[nslices] = astra.create_projector("cuda3d", proj, vol)
        return self._projectors[nslices]

    def apply(self, x: torch.Tensor, adjoint: bool) -> torch.Tensor:
        import astra.experimental as ae

        g, n = self._geometry, x.shape[0]
        if x.device.type != "cuda":
            raise RuntimeError(f"beam='cone': the tensors must be on a CUDA device, got {x.device}")
        pid = self._projector(n, x.device)
        torch.cuda.synchronize(x.device)  # ASTRA reads the memory outside torch's stream
        # ASTRA's 3-D volumes count rows along +y, ours (gridrec's, ASTRA 2-D's) along -y: flip.
        if adjoint:
            vol = torch.zeros((n, *g.shape_image), device=x.device, dtype=torch.float32)
            ae.direct_BP3D(pid, vol, x.reshape(n, *g.shape_sino).contiguous())
            out = vol.flip(1)
        else:
            out = torch.zeros((n, *g.shape_sino), device=x.device, dtype=torch.float32)
            ae.direct_FP3D(pid, x.reshape(n, *g.shape_image).flip(1).contiguous(), out)
        return out.reshape(n, -1)

    def __del__(self):  # pragma: no cover - needs CUDA
        try:
            import astra

            for pid in self._projectors.values():
                astra.projector3d.delete(pid)
        except Exception:
            pass


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
            self._backend, self.backend = _ConeBackend(geometry), "astra"
            return
        if backend in ("auto", "matrix"):
            need = estimate_matrix_bytes(geometry)
            limit = matrix_budget(memory_limit)
            avail = _available_memory()
            fits = (limit is None or need <= limit) and (avail is None or need <= 0.8 * avail)
            if backend == "matrix" and not fits:
                where = (f"the budget of {limit / 2**30:.2f} GiB (memory_limit or ${MEMORY_ENV}, else "
                         f"{FREE_MEMORY_SHARE:.0%} of the free memory)" if limit is not None and need > limit
                         else f"the {avail / 2**30:.2f} GiB of free memory")
                raise MemoryError(
                    f"the system matrix for {geometry.nproj} angles x {geometry.ndet} detector "
                    f"pixels on a {geometry.num_gridx}x{geometry.num_gridy} grid needs about "
                    f"{need / 2**30:.2f} GiB, more than {where}; use backend='astra' or raise "
                    "memory_limit"
                )
            backend = "matrix" if fits else "astra"
            self.estimated_bytes = need
        log.debug("building %s backend for %s", backend, geometry)
        self._backend = _MatrixBackend(geometry) if backend == "matrix" else _AstraBackend(geometry)
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


def get_operator(geometry: Geometry, backend: str = "auto", memory_limit: int | None = None) -> RayTransform:
    """Return the shared :class:`RayTransform` for ``geometry`` (built on first use)."""
    return _CACHE.get((geometry.key, backend, memory_limit),
                      lambda: RayTransform(geometry, backend=backend, memory_limit=memory_limit))
