"""A tomosipo operator or geometry as geometry keywords (``from_tomosipo``).

tomosipo is not installable here: its objects are stood in for by classes of the same names
in modules named ``tomosipo...`` (what ``from_tomosipo`` recognises), with the attributes
tomosipo 0.6 gives them. Where a point lands on the detector is computed from tomosipo's own
vector formulas (its ``to_vec``: ASTRA's ``geom_2vec`` with the axes in (z, y, x) order) and
compared with this package's ASTRA geometry built from the keywords; the same check against
the real package runs where tomosipo is importable.
"""

from __future__ import annotations

import numpy as np
import pytest

import tomopy_dip
from tomopy_dip.interfaces.tomosipo import from_tomosipo, is_tomosipo
from tomopy_dip.physics.geometry import Geometry


def _fake(name: str, module: str, **attrs):
    obj = type(name, (), {"__module__": module})()
    for k, v in attrs.items():
        setattr(obj, k, v)
    return obj


def parallel(angles, shape, size):
    return _fake("ParallelGeometry", "tomosipo.geometry.parallel", angles=np.asarray(angles), det_shape=shape,
                 det_size=size, num_angles=len(angles))


def cone(angles, shape, size, sod, sdd):
    return _fake("ConeGeometry", "tomosipo.geometry.cone", angles=np.asarray(angles), det_shape=shape,
                 det_size=size, src_orig_dist=sod, src_det_dist=sdd, num_angles=len(angles))


def volume(shape, size, pos=(0.0, 0.0, 0.0)):
    return _fake("VolumeGeometry", "tomosipo.geometry.volume", shape=shape, size=size, pos=np.asarray([pos]))


def cone_vec(shape, src_pos, det_pos, det_v, det_u):
    return _fake("ConeVectorGeometry", "tomosipo.geometry.cone_vec", det_shape=shape, src_pos=np.asarray(src_pos),
                 det_pos=np.asarray(det_pos), det_v=np.asarray(det_v), det_u=np.asarray(det_u))


def operator(vg, pg):
    return _fake("Operator", "tomosipo.Operator", domain=vg, range=pg)


ANGLES = np.linspace(0, 2 * np.pi, 12, endpoint=False) + 0.1


def _detector_hit(src_or_ray, det, u, point, cone_beam):
    """(u, v) detector coordinates, from the detector's centre in pixels, where the ray through
    ``point`` meets a detector at ``det`` spanned by pixel vectors ``u`` (and z rows); (x, y, z)."""
    direction = point - src_or_ray if cone_beam else src_or_ray
    v = np.array([0.0, 0.0, 1.0])
    # point/source + s * direction = det + a * u + b * v
    s_a_b = np.linalg.solve(np.stack([direction, -u, -v], 1), det - (src_or_ray if cone_beam else point))
    return s_a_b[1], s_a_b[2]


def test_cone_keywords_put_every_point_where_tomosipo_puts_it():
    """A point of the volume lands on the same detector pixel (column and row) in tomosipo's
    cone geometry (its vectors, in its units) and in the ASTRA geometry of the keywords (voxels)."""
    astra_experimental = pytest.importorskip("astra.experimental")
    voxel, sod, sdd, du, dv = 0.25, 30.0, 50.0, 0.4, 0.5
    rows, cols = 8, 40
    pg = cone(ANGLES, (rows, cols), (rows * dv, cols * du), sod, sdd)
    vg = volume((rows, 48, 44), (rows * voxel, 48 * voxel, 44 * voxel))
    kw = from_tomosipo(operator(vg, pg))
    assert kw["beam"] == "cone" and (kw["num_gridx"], kw["num_gridy"]) == (48, 44)
    assert kw["source_origin"] == pytest.approx(120.0) and kw["origin_detector"] == pytest.approx(80.0)
    assert (kw["detector_spacing"], kw["detector_row_spacing"]) == (pytest.approx(1.6), pytest.approx(2.0))
    theta, center = kw.pop("theta"), kw.pop("center")
    np.testing.assert_array_equal(theta, ANGLES)
    _, proj = Geometry(theta, cols, center=center, **kw).astra_cone_geoms(rows)
    rng = np.random.default_rng(0)
    for k in (0, 3, 7):
        t = ANGLES[k]
        # tomosipo's to_vec (z, y, x) reversed to (x, y, z)
        src = np.array([np.sin(t) * sod, -np.cos(t) * sod, 0.0])
        det = np.array([-np.sin(t) * (sdd - sod), np.cos(t) * (sdd - sod), 0.0])
        u = np.array([np.cos(t) * du, np.sin(t) * du, 0.0])
        for p in rng.uniform(-2.0, 2.0, (3, 3)):
            a, b = _detector_hit(src, det, u, p, True)
            b /= dv
            col, row = astra_experimental.projectPoint(proj, *(p / voxel), k)
            assert col == pytest.approx(a + (cols - 1) / 2, abs=1e-6)
            assert row == pytest.approx(b + (rows - 1) / 2, abs=1e-6)


@pytest.mark.parametrize("ny, nx", [(12, 10), (11, 9)])
def test_cone_vec_keywords_put_every_voxel_where_tomosipo_puts_it(ny, nx):
    """A tilted, shifted detector and a moved volume (tomosipo's cone_vec, (z, y, x) order): the
    centre of every tomosipo voxel lands on the detector where tomosipo's vector formula (its
    ``project_point``) puts it, in the ASTRA geometry of the keywords at the centre of the same
    voxel of this package's grid (rows flipped: row 0 is +y), even and odd grid sizes alike."""
    astra_experimental = pytest.importorskip("astra.experimental")
    rng = np.random.default_rng(2)
    rows, cols, voxel = 6, 20, 0.5
    pos = np.array([0.3, -0.7, 1.1])  # (z, y, x)
    t = ANGLES
    # a circle of radius 40 about the z axis through pos, wobbling in z, detector 25 beyond the
    # axis, tilted about the ray and shifted sideways: (z, y, x) components
    src = pos + np.stack([0.8 * np.sin(3 * t), -40 * np.cos(t), 40 * np.sin(t)], 1)
    det = pos + np.stack([0.2 + 0 * t, 25 * np.cos(t), -25 * np.sin(t)], 1) + 0.6 * np.stack([0 * t, np.sin(t), np.cos(t)], 1)
    tilt = 0.1
    det_u = 0.7 * np.stack([np.sin(tilt) + 0 * t, np.cos(tilt) * np.sin(t), np.cos(tilt) * np.cos(t)], 1)
    det_v = 0.8 * np.stack([np.cos(tilt) + 0 * t, -np.sin(tilt) * np.sin(t), -np.sin(tilt) * np.cos(t)], 1)
    vg = volume((rows, ny, nx), (rows * voxel, ny * voxel, nx * voxel), tuple(pos))
    kw = from_tomosipo(operator(vg, cone_vec((rows, cols), src, det, det_v, det_u)))
    assert kw["beam"] == "cone" and (kw["num_gridx"], kw["num_gridy"]) == (ny, nx) and "center" not in kw
    np.testing.assert_allclose(kw["theta"], ANGLES, atol=1e-12)  # the azimuth of the source about the axis
    g = Geometry(kw.pop("theta"), cols, **kw)
    _, proj = g.astra_cone_geoms(rows)
    min_x, _, _, max_y = g.window()
    for _ in range(6):
        k, j, i = rng.integers(rows), rng.integers(ny), rng.integers(nx)
        p = pos + (np.array([k, j, i]) + 0.5 - np.array([rows, ny, nx]) / 2.0) * voxel  # tomosipo's voxel centre
        ours = (min_x + i + 0.5, max_y - (ny - 1 - j) - 0.5, -rows / 2.0 + k + 0.5)  # our voxel [k, ny-1-j, i]
        for view in (0, 4, 9):
            # tomosipo's project_point: the ray from the source through p meets the detector plane
            normal = np.cross(det_v[view], det_u[view])
            d = p - src[view]
            hit = p + d * np.dot(det[view] - p, normal) / np.dot(d, normal)
            a = np.dot(hit - det[view], det_u[view]) / np.dot(det_u[view], det_u[view])
            b = np.dot(hit - det[view], det_v[view]) / np.dot(det_v[view], det_v[view])
            col, row = astra_experimental.projectPoint(proj, *ours, view)
            assert col == pytest.approx(a + (cols - 1) / 2, abs=1e-6)
            assert row == pytest.approx(b + (rows - 1) / 2, abs=1e-6)


def test_parallel_keywords_put_every_point_where_tomosipo_puts_it():
    """The same for tomosipo's 3-D parallel beam against this package's 2-D parallel geometry of
    each row (detector pixels twice as wide as the voxels)."""
    import astra

    voxel, du, rows, cols = 0.5, 1.0, 3, 30
    pg = parallel(ANGLES, (rows, cols), (rows * voxel, cols * du))
    kw = from_tomosipo(pg, volume((rows, 32, 32), (rows * voxel, 16.0, 16.0)))
    assert kw["beam"] == "parallel" and kw["detector_spacing"] == pytest.approx(2.0) and kw["center"] == 14.5
    theta, center = kw.pop("theta"), kw.pop("center")
    vec = astra.geom_2vec(Geometry(theta, cols, center=center, **kw).astra_proj_geom())["Vectors"]
    rng = np.random.default_rng(1)
    for k in (0, 5, 11):
        t = ANGLES[k]
        ray, u = np.array([np.sin(t), -np.cos(t), 0.0]), np.array([np.cos(t) * du, np.sin(t) * du, 0.0])
        r2, d2, u2 = (np.append(vec[k][i:i + 2], 0.0) for i in (0, 2, 4))
        for p in rng.uniform(-6.0, 6.0, (3, 2)):
            p3 = np.append(p, 0.0)
            a, _ = _detector_hit(ray, np.zeros(3), u, p3, False)
            ours, _ = _detector_hit(r2, d2, u2, p3 / voxel, False)
            assert ours == pytest.approx(a, abs=1e-9)


def test_tomopys_default_grid_without_a_volume_and_the_transposed_operator():
    pg = parallel(ANGLES[:4], (2, 16), (2.0, 16.0))
    kw = from_tomosipo(pg)
    assert (kw["num_gridx"], kw["num_gridy"], kw["detector_spacing"], kw["center"]) == (16, 16, 1.0, 7.5)
    vg = volume((2, 10, 12), (2.0, 10.0, 12.0))
    back = _fake("BackprojectionOperator", "tomosipo.Operator", parent=operator(vg, pg))
    assert from_tomosipo(back)["num_gridy"] == 12
    assert is_tomosipo(pg) and not is_tomosipo(np.zeros(3))


@pytest.mark.parametrize("call, error, match", [
    (lambda: from_tomosipo(_fake("ParallelVectorGeometry", "tomosipo.geometry.parallel_vec")), ValueError,
     "ParallelVectorGeometry is not supported"),
    (lambda: from_tomosipo(cone_vec((4, 8), *np.zeros((4, 1, 3)))), ValueError, "needs its volume"),
    (lambda: from_tomosipo(np.zeros(3)), TypeError, "tomosipo operator, ts.parallel"),
    (lambda: from_tomosipo(cone(ANGLES, (4, 8), (4.0, 8.0), 20.0, 40.0)), ValueError, "needs its volume"),
    (lambda: from_tomosipo(cone(ANGLES, (4, 8), (4.0, 8.0), 20.0, 20.0), volume((4, 8, 8), (4.0, 8.0, 8.0))),
     ValueError, "src_det_dist > src_orig_dist"),
    (lambda: from_tomosipo(parallel(ANGLES, (4, 8), (4.0, 8.0)), volume((4, 8, 8), (4.0, 8.0, 16.0))),
     ValueError, "voxels must be cubes"),
    (lambda: from_tomosipo(parallel(ANGLES, (4, 8), (4.0, 8.0)), volume((4, 8, 8), (4.0, 8.0, 8.0), (0, 1.0, 0))),
     ValueError, "centred on the rotation axis"),
    (lambda: from_tomosipo(parallel(ANGLES, (4, 8), (4.0, 8.0)), volume((5, 8, 8), (5.0, 8.0, 8.0))),
     ValueError, "5 slices but the detector 4 rows"),
    (lambda: from_tomosipo(parallel(ANGLES, (4, 8), (8.0, 8.0)), volume((4, 8, 8), (4.0, 8.0, 8.0))),
     ValueError, "rows as tall as a voxel"),
    (lambda: from_tomosipo(operator(volume((4, 8, 8), (4.0, 8.0, 8.0)), parallel(ANGLES, (4, 8), (4.0, 8.0))),
                           volume((4, 8, 8), (4.0, 8.0, 8.0))), TypeError, "leave volume out"),
])
def test_what_cannot_be_described_is_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_a_parallel_scan_reconstructs_from_the_keywords():
    """The keywords drive a (short) fit: tomosipo's sinogram stack (v, angle, u) goes in unchanged."""
    angles = np.linspace(0, np.pi, 24, endpoint=False)
    kw = from_tomosipo(parallel(angles, (2, 24), (2.0, 24.0)), volume((2, 24, 24), (2.0, 24.0, 24.0)))
    data = np.zeros((2, 24, 24), np.float32)
    data[:, :, 8:16] = 1.0
    rec = tomopy_dip.reconstruct(data, **kw, method="tv_dip", num_iter=2, progress=False)
    assert rec.images.shape == (2, 24, 24)


def test_the_real_tomosipo_if_present():
    ts = pytest.importorskip("tomosipo")
    vg = ts.volume(shape=(4, 16, 16), size=(2.0, 8.0, 8.0))
    pg = ts.parallel(angles=6, shape=(4, 20), size=(2.0, 10.0))
    kw = from_tomosipo(ts.operator(vg, pg))
    assert kw["detector_spacing"] == pytest.approx(1.0) and kw["num_gridx"] == 16
    np.testing.assert_allclose(kw["theta"], np.linspace(0, np.pi, 6, endpoint=False))
