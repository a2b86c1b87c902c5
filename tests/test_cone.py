"""Cone beam: its geometry (checked against the fan beam of the same scan, on the CPU), the
refusals where no CUDA GPU is, and - on a CUDA machine only - the operator on GPU memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tomopy_dip
from tomopy_dip.physics.geometry import Geometry
from tomopy_dip.physics.projector import cone_unavailable, get_operator

THETA = np.linspace(0, 2 * np.pi, 24, endpoint=False)
CONE = dict(beam="cone", source_origin=80.0, origin_detector=40.0, detector_spacing=1.5)
needs_cuda = pytest.mark.skipif(cone_unavailable() is not None, reason=f"cone beam: {cone_unavailable()}")


def _point(geom: dict, x: float, y: float, z: float, k: int) -> tuple[float, float]:
    import astra.experimental

    return astra.experimental.projectPoint(geom, x, y, z, k)


def test_cone_geometry_is_the_fan_beam_of_every_row():
    """Where a point of the middle plane meets the detector, per view, equals the fan-beam
    geometry's answer (the fan beam is checked against TomoPy elsewhere); heights are magnified."""
    g = Geometry(THETA, 48, center=21.3, num_gridx=40, num_gridy=36, detector_row_spacing=2.0, **CONE)
    fan = Geometry(THETA, 48, center=21.3, num_gridx=40, num_gridy=36, beam="fanflat", source_origin=80.0,
                   origin_detector=40.0, detector_spacing=1.5)
    vol, proj = g.astra_cone_geoms(9)
    fan_vec = fan.astra_proj_geom()["Vectors"]
    # the same source, detector centre and detector direction in the plane, per view
    np.testing.assert_allclose(proj["Vectors"][:, [0, 1, 3, 4, 6, 7]], fan_vec, atol=1e-9)
    np.testing.assert_allclose(proj["Vectors"][:, 9:12], np.tile([0, 0, 2.0], (len(THETA), 1)))
    np.testing.assert_allclose(proj["Vectors"][:, [2, 5, 8]], 0)
    # the in-plane window is the 2-D one; slices centred on the source's plane
    v2 = fan.astra_vol_geom()["option"]
    for key in ("WindowMinX", "WindowMaxX", "WindowMinY", "WindowMaxY"):
        assert vol["option"][key] == v2[key]
    assert (vol["option"]["WindowMinZ"], vol["option"]["WindowMaxZ"]) == (-4.5, 4.5)
    assert (vol["GridRowCount"], vol["GridColCount"], vol["GridSliceCount"]) == (40, 36, 9)
    # the rotation axis meets the detector at `center`, and a point at height z at the middle
    # row (4) plus its magnified height over the row pitch
    mag = 120.0 / 80.0
    for k in (0, 5, 13):
        u, v = _point(proj, 0.0, 0.0, 0.0, k)
        assert u == pytest.approx(21.3, abs=1e-4) and v == pytest.approx(4.0, abs=1e-4)
        assert _point(proj, 0.0, 0.0, 3.0, k)[1] == pytest.approx(4.0 + 3.0 * mag / 2.0, rel=1e-3)
    # a point off the axis: u = center + (x cos + y sin) magnified at its depth, as the fan's vectors say
    x, y = 5.0, -7.0
    for k in (0, 7):
        t = THETA[k]
        depth = 80.0 + (-x * np.sin(t) + y * np.cos(t))  # source -> point, along the ray through the axis
        u_expected = 21.3 + (x * np.cos(t) + y * np.sin(t)) * (120.0 / depth) / 1.5
        assert _point(proj, x, y, 0.0, k)[0] == pytest.approx(u_expected, rel=1e-4)


def test_cone_geometry_arguments():
    with pytest.raises(ValueError, match="beam='cone' needs source_origin and origin_detector"):
        Geometry(THETA, 16, beam="cone")
    with pytest.raises(ValueError, match="detector_row_spacing only applies to beam='cone'"):
        Geometry(THETA, 16, detector_row_spacing=1.0)
    g = Geometry(THETA, 16, **CONE)
    assert g.center == 7.5 and g.detector_row_spacing == 1.5 and g.projector == "cuda3d"
    assert g.describe()["detector_row_spacing"] == 1.5 and "detector_row_spacing" not in Geometry(THETA, 16).describe()
    assert g != Geometry(THETA, 16, detector_row_spacing=2.0, **CONE)
    with pytest.raises(ValueError, match="no 2-D projection geometry"):
        g.astra_proj_geom()


@pytest.mark.skipif(cone_unavailable() is None, reason="this machine can run cone beam")
def test_without_cuda_cone_beam_is_refused_before_any_work():
    sino = np.zeros((4, len(THETA), 16), np.float32)
    with pytest.raises(RuntimeError, match="beam='cone' projects with ASTRA's 3-D CUDA projectors.*CUDA"):
        tomopy_dip.reconstruct(sino, THETA, method="tv_dip", dims=3, num_iter=1, progress=False, **CONE)
    with pytest.raises(RuntimeError, match="beam='cone'"):
        get_operator(Geometry(THETA, 16, **CONE))
    with pytest.raises(RuntimeError, match="beam='cone'"):
        tomopy_dip.recon(np.zeros((len(THETA), 4, 16), np.float32), THETA, algorithm="tv_dip", dims=3,
                         num_iter=1, progress=False, **CONE)


def test_cone_beam_needs_dims3_and_no_matrix():
    sino = np.zeros((4, len(THETA), 16), np.float32)
    with pytest.raises(ValueError, match="pass dims=3"):
        tomopy_dip.reconstruct(sino, THETA, method="tv_dip", num_iter=1, progress=False, **CONE)
    with pytest.raises(ValueError, match="no system matrix"):
        tomopy_dip.reconstruct(sino, THETA, method="tv_dip", dims=3, backend="matrix", num_iter=1,
                               progress=False, **CONE)
    with pytest.raises(ValueError, match="pretraining for beam='cone' is not implemented"):
        tomopy_dip.pretrain(THETA, 16, out="unused.safetensors", **CONE)


def _circular(**kw) -> Geometry:
    return Geometry(THETA, 48, center=21.3, num_gridx=40, num_gridy=36, detector_row_spacing=2.0, **CONE, **kw)


def test_vectors_of_a_circular_scan_describe_the_same_scan():
    """``vectors`` taken from a circular geometry give ASTRA the same ``cone_vec`` geometry, the
    same FDK weights (against the closed form ``SO / sqrt(SO^2 + u^2 + v^2)`` on the axis) and the
    same magnification and pixel pitches."""
    circ = _circular()
    vec = circ.astra_cone_geoms(9)[1]["Vectors"]
    g = Geometry(THETA, 48, num_gridx=40, num_gridy=36, beam="cone", vectors=vec)
    vol, proj = g.astra_cone_geoms(9)
    assert proj["type"] == "cone_vec" and (proj["DetectorRowCount"], proj["DetectorColCount"]) == (9, 48)
    np.testing.assert_array_equal(proj["Vectors"], vec)
    assert vol == circ.astra_cone_geoms(9)[0]
    assert g.magnification == pytest.approx(1.5) and g.spacing_at_axis == pytest.approx(1.0)
    assert (g.detector_spacing, g.detector_row_spacing) == (pytest.approx(1.5), pytest.approx(2.0))
    u = (np.arange(48) - 21.3) * 1.5 / 1.5
    v = (np.arange(9) - 4.0) * 2.0 / 1.5
    closed = 80.0 / np.sqrt(80.0**2 + u[None, None, :] ** 2 + v[:, None, None] ** 2)
    np.testing.assert_allclose(g.ray_cosines(9), np.broadcast_to(closed, (9, len(THETA), 48)), rtol=1e-12)
    np.testing.assert_allclose(circ.ray_cosines(9), g.ray_cosines(9), rtol=1e-12)
    assert g != circ and g == Geometry(THETA, 48, num_gridx=40, num_gridy=36, beam="cone", vectors=vec.copy())
    assert g.describe()["vectors"] == vec.tolist()
    np.testing.assert_array_equal(g.replace(num_gridx=20).vectors, vec)


def test_a_tilted_detector_weights_each_ray_by_its_own_cosine():
    """FDK's weight is the cosine between the ray and the detector's normal: a detector turned
    about its column axis by 30 degrees sees the central ray at cos 30 = 0.866."""
    a = np.radians(30.0)
    row = [0, -80, 0, 0, 40, 0, 1.0, 0, 0, 0, np.sin(a), np.cos(a)]  # v tilted towards the source
    g = Geometry([0.0], 3, num_gridx=8, num_gridy=8, beam="cone", vectors=[row])
    w = g.ray_cosines(3)
    assert w[1, 0, 1] == pytest.approx(np.cos(a), rel=1e-12)
    assert w[0, 0, 1] != pytest.approx(w[2, 0, 1])  # the rows nearer the source see steeper rays


def test_scaling_a_vector_geometry_scales_the_positions():
    """``scaled`` multiplies every length: a point ``f`` times farther from the origin lands ``f``
    times farther from the detector's centre (the pixel steps stay, the detector has f times as
    many pixels)."""
    g = Geometry(THETA, 48, num_gridx=40, num_gridy=36, beam="cone",
                 vectors=_circular().astra_cone_geoms(8)[1]["Vectors"])
    s = g.scaled(0.5)
    assert (s.ndet, s.num_gridx, s.num_gridy) == (24, 20, 18)
    p = np.array([5.0, -3.0, 2.0])
    for k in (0, 7):
        u0, v0 = _point(g.astra_cone_geoms(8)[1], *p, k)
        u1, v1 = _point(s.astra_cone_geoms(4)[1], *(0.5 * p), k)
        assert u1 - 11.5 == pytest.approx(0.5 * (u0 - 23.5), abs=1e-6)
        assert v1 - 1.5 == pytest.approx(0.5 * (v0 - 3.5), abs=1e-6)


@pytest.mark.parametrize("kw, error, match", [
    (dict(beam="parallel"), ValueError, "vectors only apply to beam='cone'"),
    (dict(beam="cone", source_origin=80.0), ValueError, "leave out source_origin"),
    (dict(beam="cone", center=3.0), ValueError, "leave center out"),
    (dict(beam="cone", vectors=np.zeros((24, 11))), ValueError, r"shape \(nproj, 12\)"),
    (dict(beam="cone", vectors=np.full((24, 12), np.nan)), ValueError, "finite"),
    (dict(beam="cone", vectors=[[0, -80, 0, 0, 40, 0, 1, 0, 0, 2, 0, 0]] * 24), ValueError, "u parallel to v"),
    (dict(beam="cone", vectors=[[0, 40, 0, 0, 40, 0, 1, 0, 0, 0, 0, 1]] * 24), ValueError, "on its detector's plane"),
    (dict(beam="cone", vectors=np.tile([0, -80, 0, 0, 40, 0, 1, 0, 0, 0, 0, 1.0], (5, 1))), ValueError,
     "vectors has 5 rows but theta 24 angles"),
    (dict(beam="cone", vectors="no such file.npy"), TypeError, "array of numbers"),
])
def test_vector_geometry_arguments(kw, error, match):
    kw.setdefault("vectors", _circular().astra_cone_geoms(4)[1]["Vectors"])
    with pytest.raises(error, match=match):
        Geometry(THETA, 16, **kw)


def test_vectors_from_a_file_and_the_centre_that_tomopy_passes(tmp_path):
    """``vectors`` takes an array, a ``.npy`` file or a text file (``--set vectors=FILE``); the
    centre must be left out, TomoPy's default ``ndet / 2`` counting as left out."""
    from tomopy_dip.fitting.problem import slice_centers
    from tomopy_dip.options import KEYWORDS

    vec = _circular().astra_cone_geoms(4)[1]["Vectors"]
    np.save(tmp_path / "v.npy", vec)
    np.savetxt(tmp_path / "v.txt", vec)
    check = KEYWORDS["vectors"].check
    np.testing.assert_array_equal(check(str(tmp_path / "v.npy")), vec)
    np.testing.assert_allclose(check(tmp_path / "v.txt"), vec, rtol=1e-15)
    with pytest.raises(ValueError, match="vectors: no file"):
        check(str(tmp_path / "missing.npy"))
    (tmp_path / "bad.txt").write_text("1 2 x\n")
    with pytest.raises(ValueError, match="vectors: cannot read"):
        check(tmp_path / "bad.txt")
    np.testing.assert_array_equal(slice_centers(np.full(3, 8.0), 3, 16, "cone", vectors=True), 7.5)
    np.testing.assert_array_equal(slice_centers(None, 3, 16, "cone", vectors=True), 7.5)
    with pytest.raises(ValueError, match="center: with vectors"):
        slice_centers(6.0, 3, 16, "cone", vectors=True)


# ---------------------------------------------------------------- CUDA only (skipped here)
def _volume(nz: int, n: int) -> torch.Tensor:
    """An asymmetric object constant along z: an off-centre disc and a bar (a flip shows)."""
    yy, xx = np.mgrid[:n, :n]
    img = ((xx - 0.6 * n) ** 2 + (yy - 0.4 * n) ** 2 < (0.15 * n) ** 2).astype(np.float32)
    img[int(0.2 * n):int(0.3 * n), int(0.2 * n):int(0.7 * n)] = 0.5
    return torch.from_numpy(np.repeat(img[None], nz, 0))


@pytest.mark.cuda
@needs_cuda
def test_cuda_cone_operator_is_adjoint_on_gpu_memory():
    op = get_operator(Geometry(THETA, 40, num_gridx=32, num_gridy=32, **CONE))
    gen = torch.Generator().manual_seed(0)
    x = torch.rand((9, 32, 32), generator=gen).cuda()
    y = torch.rand((9, len(THETA), 40), generator=gen).cuda()
    ax = op(x)
    assert ax.is_cuda and ax.shape == (9, len(THETA), 40)
    lhs, rhs = float((ax.double() * y.double()).sum()), float((x.double() * op.adjoint(y).double()).sum())
    assert abs(lhs - rhs) <= 1e-4 * abs(lhs)


@pytest.mark.cuda
@needs_cuda
def test_cuda_cone_middle_row_is_the_fan_beam_of_the_middle_slice():
    """An object constant along z: the middle detector row sees the middle slice as the fan beam
    does (same orientation: a flipped or mirrored volume would differ by far more)."""
    n, nz = 48, 9
    cone = get_operator(Geometry(THETA, 64, **CONE, num_gridx=n, num_gridy=n))
    fan = get_operator(Geometry(THETA, 64, beam="fanflat", source_origin=80.0, origin_detector=40.0,
                                detector_spacing=1.5, num_gridx=n, num_gridy=n))
    vol = _volume(nz, n)
    mid = cone(vol.cuda())[nz // 2].cpu()
    ref = fan(vol[0])
    assert float((mid - ref).norm() / ref.norm()) < 0.03
    assert float((cone(vol.flip(1).cuda())[nz // 2].cpu() - ref).norm() / ref.norm()) > 0.2


@pytest.mark.cuda
@needs_cuda
def test_cuda_vector_geometry_projects_as_its_circular_scan():
    circ = Geometry(THETA, 40, num_gridx=32, num_gridy=32, center=18.7, **CONE)
    vec = Geometry(THETA, 40, num_gridx=32, num_gridy=32, beam="cone", vectors=circ.astra_cone_geoms(9)[1]["Vectors"])
    vol = _volume(9, 32).cuda()
    a, b = get_operator(circ)(vol), get_operator(vec)(vol)
    assert float((a - b).norm() / a.norm()) < 1e-5


@pytest.mark.cuda
@needs_cuda
def test_cuda_cone_beam_reconstructs_a_volume():
    n, nz = 32, 8
    theta = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    g = Geometry(theta, 48, num_gridx=n, num_gridy=n, **CONE)
    vol = _volume(nz, n)
    sino = get_operator(g)(vol.cuda()).cpu().numpy()
    rec = tomopy_dip.reconstruct(sino, theta, method="tv_dip", dims=3, num_gridx=n, num_gridy=n, num_iter=300,
                                 progress=False, **CONE)
    from tomopy_dip.physics.fbp import fbp

    fdk = fbp(torch.from_numpy(sino).cuda(), get_operator(g), "hann").cpu().numpy()
    err = lambda im: float(np.linalg.norm(im[2:-2] - vol.numpy()[2:-2]))  # noqa: E731 - away from the ends
    assert rec.images.shape == (nz, n, n) and err(rec.images) < err(fdk)


def test_a_file_with_vectors_takes_no_centre_and_no_binning(tmp_path, monkeypatch):
    """``tomopy-dip recon`` / ``reconstruct_file``: the vectors place the detector in the file's
    pixels, so a given centre or a binning is refused before any fitting (the CUDA refusal is
    stood down here to reach the file checks)."""
    from _pipeline_helpers import synthetic_exchange

    from tomopy_dip.volume import SettingError, reconstruct_file
    from tomopy_dip.physics import projector

    monkeypatch.setattr(projector, "require_cone_cuda", lambda device=None: None)
    path = synthetic_exchange(tmp_path / "scan.h5", nrows=4, nproj=24, ndet=24)
    vec = Geometry(THETA, 24, **CONE).astra_cone_geoms(4)[1]["Vectors"]
    kw = dict(out=tmp_path / "out", dims=3, beam="cone", vectors=vec, progress=False, plan=False)
    with pytest.raises(SettingError, match=r"vectors place the detector themselves: leave center=5.0 out"):
        reconstruct_file(path, "tv_dip", center=5.0, **kw)
    with pytest.raises(SettingError, match=r"downsample=2 does not apply"):
        reconstruct_file(path, "tv_dip", downsample=2, **kw)


def test_a_scan_records_vectors_by_their_digest():
    """``summary.json`` and every slice file record the vectors by SHA-256 and count (a resumed
    run with other vectors differs there), not as thousands of numbers per file."""
    from tomopy_dip.volume.settings import recorded_keywords as _recorded

    vec = Geometry(THETA, 24, **CONE).astra_cone_geoms(4)[1]["Vectors"]
    rec = _recorded({"vectors": vec, "lr": 1e-3, "callback": print})
    assert rec["lr"] == 1e-3 and "callback" not in rec and rec["vectors"]["views"] == len(THETA)
    moved = vec.copy()
    moved[3, 5] += 1e-9
    assert _recorded({"vectors": moved})["vectors"]["sha256"] != rec["vectors"]["sha256"]
    assert _recorded({"vectors": vec.copy()})["vectors"] == rec["vectors"]
