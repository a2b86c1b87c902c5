"""The three computations behind :class:`~tomopy_dip.physics.projector.RayTransform`.

Each backend maps a flattened float32 batch ``(B, n_in)`` to ``(B, n_out)`` by ``apply(x,
adjoint)``; :class:`~tomopy_dip.physics.projector.RayTransform` chooses one, reshapes and adds
autograd.

:class:`MatrixBackend`
    ASTRA's system matrix (:func:`astra_matrix`) held as a pair of torch CSR tensors (``A`` and
    ``A^T``), copied to each device it is used on. Its size is estimated beforehand, on a few
    angles of a scaled-down grid (:func:`estimate_matrix_bytes`).
:class:`AstraBackend`
    On-the-fly ASTRA forward and backprojection calls, slice by slice, the angles split into
    :data:`ANGLE_BLOCKS` blocks that run on torch's threads.
:class:`ConeBackend`
    ASTRA's 3-D CUDA projectors on the torch tensors in GPU memory, the batch as one volume
    (cone beam; :func:`cone_unavailable` says why it cannot run here).

Examples
--------
>>> import numpy as np, torch
>>> from tomopy_dip.physics.geometry import Geometry
>>> g = Geometry(np.linspace(0, np.pi, 30, endpoint=False), ndet=32)
>>> x = torch.ones(2, 32 * 32)
>>> bool(torch.allclose(MatrixBackend(g).apply(x, False), AstraBackend(g).apply(x, False), atol=1e-3))
True
"""

from __future__ import annotations

import threading
import warnings

import numpy as np
import torch

from tomopy_dip.physics.geometry import Geometry

__all__ = ["MatrixBackend", "AstraBackend", "ConeBackend", "astra_matrix", "estimate_matrix_bytes",
           "cone_unavailable", "require_cone_cuda", "ESTIMATE_SIZE", "ANGLE_BLOCKS"]

#: Largest grid (pixels across) on which :func:`estimate_matrix_bytes` builds its sample.
ESTIMATE_SIZE = 256
_BYTES_PER_NNZ = 2 * (4 + 4)  # A and A^T, float32 value + int32 column index


def _astra_projector(geometry: Geometry, angles: np.ndarray | None = None) -> int:
    import astra

    return astra.create_projector(
        geometry.projector, geometry.astra_proj_geom(angles), geometry.astra_vol_geom()
    )


def astra_matrix(geometry: Geometry, angles: np.ndarray | None = None):
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
    nnz = astra_matrix(small, geometry.theta[idx]).nnz
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


class MatrixBackend:
    """ASTRA's system matrix as torch CSR tensors ``A`` and ``A^T`` (float32 values, int32
    indices), copied once to each device it is applied on."""

    name = "matrix"

    def __init__(self, geometry: Geometry):
        mat = astra_matrix(geometry)
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


class AstraBackend:
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


class ConeBackend:
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

