"""A tomosipo operator or geometry as the geometry keywords of :func:`tomopy_dip.reconstruct`.

`tomosipo <https://github.com/ahendriksen/tomosipo>`_ describes a scan by a volume geometry
(``ts.volume``) and a projection geometry (``ts.parallel`` or ``ts.cone``), or by the operator
``ts.operator(vg, pg)`` that joins them. Its projection data are ``(v, angle, u)``: detector
rows, angles, detector columns, which is TomoPy's sinogram order, so they go to
:func:`~tomopy_dip.reconstruct` unchanged::

    import tomosipo as ts
    vg = ts.volume(shape=(64, 256, 256), size=(64 * 0.1, 25.6, 25.6))
    pg = ts.cone(angles=360, shape=(64, 300), size=(64 * 0.2, 60.0), src_orig_dist=300, src_det_dist=600)
    op = ts.operator(vg, pg)
    rec = tomopy_dip.reconstruct(op(phantom), **tomopy_dip.from_tomosipo(op), method="tv_dip", dims=3)

Both packages hand their angles to ASTRA unchanged, so ``theta`` is tomosipo's ``angles``; the
distances and pixel pitches are divided by the voxel size (this package's units are voxels). The
result is in TomoPy's layout and on TomoPy's grid of the volume's size (:mod:`Geometry
<tomopy_dip.physics.geometry>`): its row 0 is the top (+y), and the rotation axis goes through
the centre of pixel ``(num_gridx // 2 - 1, ceil(num_gridy / 2))`` where tomosipo's centred volume
has it at the middle, so the two grids differ by half a voxel (even sizes) or one voxel (odd
sizes) along x and y.

A cone vector geometry (``ts.cone_vec(...)``, or ``ts.cone(...).to_vec()`` moved by tomosipo's
transforms) becomes ``vectors`` (:mod:`~tomopy_dip.physics.geometry`): its positions and pixel
steps, reversed from (z, y, x) to (x, y, z), taken relative to the volume's position and divided
by the voxel size, and moved by the half voxel above, so that the grid's voxels are exactly
tomosipo's volume's (row 0 at its top, +y); ``theta`` is then the azimuth of each source.

What this package's geometries cannot express is refused with a ``ValueError`` before any work:
parallel vector geometries (``ts.parallel_vec``), a rotated volume (``VolumeVectorGeometry``),
voxels that are not cubes, a circular geometry's volume off the rotation axis, and a volume with
another number of slices than the detector has rows. tomosipo itself is not needed (it is
recognised by its class names), and ``beam="cone"`` runs only on a CUDA GPU (see :doc:`the
cone-beam docs <tomopy>`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["from_tomosipo", "is_tomosipo"]

_OPERATORS = ("Operator", "BackprojectionOperator")
_PROJECTIONS = {"ParallelGeometry": "parallel", "ConeGeometry": "cone", "ConeVectorGeometry": "cone"}
_VECTORS = ("ParallelVectorGeometry", "DetectorVectorGeometry", "VolumeVectorGeometry")


def _kind(obj: Any) -> str | None:
    """The tomosipo class name of ``obj``, None for anything else."""
    cls = type(obj)
    return cls.__name__ if cls.__module__.split(".")[0] == "tomosipo" else None


def is_tomosipo(obj: Any) -> bool:
    """Whether ``obj`` is a tomosipo operator or geometry (by its class, without importing tomosipo)."""
    return _kind(obj) is not None


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


def from_tomosipo(geometry: Any, volume: Any = None) -> dict[str, Any]:
    """The keywords of :func:`tomopy_dip.reconstruct` for a tomosipo scan.

    Parameters
    ----------
    geometry : tomosipo operator or projection geometry
        ``ts.operator(vg, pg)`` (or its transpose), or the projection geometry ``ts.parallel(...)``,
        ``ts.cone(...)`` or ``ts.cone_vec(...)``.
    volume : tomosipo volume geometry, optional
        ``ts.volume(...)`` when ``geometry`` is a projection geometry: cubic voxels, as many
        slices as the detector has rows, centred on the rotation axis (circular geometries).
        Without it (parallel beam only) the grid is TomoPy's default: the detector's width,
        voxels one pixel wide.

    Returns
    -------
    dict
        ``theta`` (radians), ``center`` (the detector's middle), ``beam``, ``num_gridx``,
        ``num_gridy``, ``detector_spacing`` and, for cone beam, ``source_origin``,
        ``origin_detector`` and ``detector_row_spacing`` (voxel units); for a cone vector
        geometry ``theta``, ``beam``, ``num_gridx``, ``num_gridy`` and ``vectors``. Pass the data
        ``(v, angle, u)`` as they are and ``dims=3`` for cone beam.

    Raises
    ------
    TypeError
        ``geometry`` or ``volume`` is not a tomosipo object of the expected kind.
    ValueError
        The scan is one this package cannot describe (see the module's notes).

    Examples
    --------
    >>> import types, numpy as np
    >>> ParallelGeometry = type("ParallelGeometry", (), {"__module__": "tomosipo.geometry.parallel"})
    >>> pg = ParallelGeometry(); pg.angles = np.linspace(0, np.pi, 4, endpoint=False)
    >>> pg.det_shape, pg.det_size = (2, 8), (2.0, 8.0)
    >>> kw = from_tomosipo(pg)
    >>> kw["beam"], kw["center"], kw["num_gridx"], kw["detector_spacing"]
    ('parallel', 3.5, 8, 1.0)
    """
    kind = _kind(geometry)
    if kind in _OPERATORS:
        op = geometry.parent if kind == "BackprojectionOperator" else geometry
        if volume is not None:
            raise TypeError("from_tomosipo: an operator carries its volume geometry; leave volume out")
        geometry, volume = op.range, op.domain
        kind = _kind(geometry)
    if kind in _VECTORS:
        raise ValueError(f"from_tomosipo: {kind} is not supported: pass ts.parallel(...) (parallel beam) or "
                         "ts.cone(...) / ts.cone_vec(...) (cone beam)")
    if kind not in _PROJECTIONS:
        raise TypeError("from_tomosipo: geometry must be a tomosipo operator, ts.parallel(...), ts.cone(...) or "
                        f"ts.cone_vec(...), got {type(geometry).__module__}.{type(geometry).__name__}")
    beam = _PROJECTIONS[kind]
    rows, cols = (int(v) for v in geometry.det_shape)
    if volume is None and beam == "cone":
        raise ValueError("from_tomosipo: a cone geometry needs its volume geometry (volume=ts.volume(...)) "
                         "for the voxel size")
    if kind == "ConeVectorGeometry":
        shape, voxel, pos = _volume(volume)
        _check_slices(shape, rows)
        return {**_cone_vectors(geometry, shape, voxel, pos), "beam": beam, "num_gridx": shape[1],
                "num_gridy": shape[2]}
    angles = np.asarray(geometry.angles, dtype=np.float64).reshape(-1)
    dv, du = (float(s) / n for s, n in zip(geometry.det_size, geometry.det_shape))
    if volume is None:
        shape, voxel = (rows, cols, cols), du
    else:
        shape, voxel, pos = _volume(volume)
        if np.abs(pos).max() > 1e-6 * voxel:
            raise ValueError(f"from_tomosipo: the volume must be centred on the rotation axis (pos 0), got pos "
                             f"{tuple(pos)}; a cone_vec geometry may be moved")
    _check_slices(shape, rows)
    out: dict[str, Any] = {"theta": angles, "center": (cols - 1) / 2.0, "beam": beam, "num_gridx": shape[1],
                           "num_gridy": shape[2], "detector_spacing": du / voxel}
    if beam == "parallel":
        if not _close(dv, voxel):
            raise ValueError(f"from_tomosipo: parallel beam needs detector rows as tall as a voxel ({voxel:g}), "
                             f"got {dv:g}")
    else:
        sod, sdd = float(geometry.src_orig_dist), float(geometry.src_det_dist)
        if not sdd > sod > 0:
            raise ValueError(f"from_tomosipo: a cone geometry needs src_det_dist > src_orig_dist > 0 (the detector "
                             f"beyond the rotation axis), got {sdd:g} and {sod:g}")
        out.update(source_origin=sod / voxel, origin_detector=(sdd - sod) / voxel, detector_row_spacing=dv / voxel)
    return out


def _volume(volume: Any) -> tuple[tuple[int, ...], float, np.ndarray]:
    """Shape ``(z, y, x)``, voxel size and position ``(z, y, x)`` of a tomosipo volume geometry."""
    vkind = _kind(volume)
    if vkind in _VECTORS:
        raise ValueError("from_tomosipo: a rotated volume (VolumeVectorGeometry) is not supported")
    if vkind != "VolumeGeometry":
        raise TypeError(f"from_tomosipo: volume must be ts.volume(...), got {type(volume).__name__}")
    shape = tuple(int(v) for v in volume.shape)
    sizes = [float(s) / n for s, n in zip(volume.size, shape)]
    voxel = sizes[0]
    if not all(_close(s, voxel) for s in sizes):
        raise ValueError(f"from_tomosipo: voxels must be cubes, got sizes (z, y, x) {tuple(sizes)}")
    return shape, voxel, np.asarray(volume.pos, dtype=np.float64).reshape(-1)


def _check_slices(shape: tuple[int, ...], rows: int) -> None:
    if shape[0] != rows:
        raise ValueError(f"from_tomosipo: the volume has {shape[0]} slices but the detector {rows} rows: this "
                         "package reconstructs one slice per detector row")


def _cone_vectors(geometry: Any, shape: tuple[int, ...], voxel: float, pos: np.ndarray) -> dict[str, Any]:
    """``theta`` and ``vectors`` of a tomosipo cone vector geometry on the grid of ``shape``."""
    from tomopy_dip.physics.geometry import Geometry

    xyz = lambda a: np.asarray(a, dtype=np.float64).reshape(-1, 3)[:, ::-1]  # noqa: E731 - (z, y, x) -> (x, y, z)
    src, det, u, v = (xyz(getattr(geometry, k)) for k in ("src_pos", "det_pos", "det_u", "det_v"))
    src, det, u, v = np.broadcast_arrays(src, det, u, v)
    # tomosipo's volume centre -> the centre of this package's grid (half a voxel off the axis)
    min_x, max_x, min_y, max_y = Geometry([0.0], shape[2], num_gridx=shape[1], num_gridy=shape[2]).window()
    shift = np.array([(min_x + max_x) / 2.0, (min_y + max_y) / 2.0, 0.0])
    centre = xyz(pos)[0]
    vectors = np.concatenate([(src - centre) / voxel + shift, (det - centre) / voxel + shift, u / voxel,
                              v / voxel], axis=1)
    theta = np.unwrap(np.arctan2(src[:, 0] - centre[0], -(src[:, 1] - centre[1])))
    return {"theta": theta, "vectors": vectors}
