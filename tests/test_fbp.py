"""Filtered backprojection: the Ram-Lak filter, windows, scaling (values ~1 inside a unit disc)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from _helpers import disc_image, grid_xy, parallel_disc_sino, tomopy_angles
from tomopy_dip import Geometry, fbp, get_operator
from tomopy_dip.physics.fbp import FILTERS, ramp_filter


def _ram_lak(n: int) -> np.ndarray:
    """Kak & Slaney's band-limited ramp kernel h[k], k = -(n-1) .. n-1, unit spacing."""
    k = np.arange(-(n - 1), n)
    h = np.zeros(k.size)
    h[k == 0] = 0.25
    odd = k % 2 == 1
    h[odd] = -1.0 / (np.pi * k[odd]) ** 2
    return h


@pytest.mark.parametrize("ndet", [17, 64, 90])
def test_ramp_filter_is_linear_convolution_with_ram_lak(ndet):
    rng = np.random.default_rng(ndet)
    p = rng.random((3, ndet))
    h = _ram_lak(ndet)
    expected = np.stack([np.convolve(row, h)[ndet - 1: 2 * ndet - 1] for row in p])
    ours = ramp_filter(torch.from_numpy(p), 1.0, "ramp").numpy()
    np.testing.assert_allclose(ours, expected, atol=1e-9)
    # detector spacing divides
    np.testing.assert_allclose(ramp_filter(torch.from_numpy(p), 2.5).numpy(), expected / 2.5, atol=1e-9)
    # float32 in, float32 out
    assert ramp_filter(torch.from_numpy(p.astype(np.float32))).dtype == torch.float32


def test_ramp_filter_has_no_dc_response():
    out = ramp_filter(torch.ones(1, 256, dtype=torch.float64)).numpy()[0]
    assert abs(out[100:156]).max() < 2e-3


@pytest.mark.parametrize("name,nyquist", [("ramp", 1.0), ("shepp-logan", 2 / np.pi), ("cosine", 0.0),
                                          ("hamming", 0.08), ("hann", 0.0)])
def test_windows_at_nyquist(name, nyquist):
    """An alternating signal sits at the Nyquist frequency: the window's value there scales it."""
    p = torch.from_numpy(np.tile([1.0, -1.0], 256))[None]
    ramp = ramp_filter(p, 1.0, "ramp")[0, 200:300]
    ours = ramp_filter(p, 1.0, name)[0, 200:300]
    ratio = float((ours * ramp).sum() / (ramp * ramp).sum())
    assert ratio == pytest.approx(nyquist, abs=0.02)


def test_unknown_filter():
    with pytest.raises(ValueError, match="filter_name"):
        ramp_filter(torch.zeros(2, 8), 1.0, "parzen")
    assert set(FILTERS) == {"ramp", "shepp-logan", "cosine", "hamming", "hann"}


def _disc_check(rec, nx, ny, x0, y0, radius, tol=0.02):
    x, y = grid_xy(nx, ny)
    r = np.hypot(x - x0, y - y0)
    inside = rec[r < radius - 2]
    assert abs(inside.mean() - 1.0) < tol, inside.mean()
    assert inside.std() < 0.05, inside.std()
    outside = rec[(r > radius + 2) & (np.hypot(x, y) < min(nx, ny) / 2 - 2)]
    assert np.abs(outside).mean() < 0.03, np.abs(outside).mean()


@pytest.mark.parametrize("theta_kind", ["half", "tomopy_angles", "full"])
def test_parallel_fbp_of_a_unit_disc_is_one_inside(theta_kind):
    n = 180
    theta = {"half": np.linspace(0, np.pi, n, endpoint=False), "tomopy_angles": tomopy_angles(n),
             "full": np.linspace(0, 2 * np.pi, 2 * n, endpoint=False)}[theta_kind]
    nx, ny, ndet, c = 48, 44, 64, 31.25
    x0, y0, radius = 5.0, -4.0, 12.0
    sino = parallel_disc_sino(theta, ndet, c, x0, y0, radius)
    rec = fbp(torch.from_numpy(sino), get_operator(Geometry(theta, ndet, c, nx, ny))).numpy()
    assert rec.shape == (nx, ny) and rec.dtype == np.float32
    _disc_check(rec, nx, ny, x0, y0, radius)


def test_fbp_of_projected_disc_for_every_filter():
    theta = np.linspace(0, np.pi, 120, endpoint=False)
    g = Geometry(theta, 48, 24.0, 48, 48)
    op = get_operator(g)
    sino = op(torch.from_numpy(disc_image(48, 48, 0.0, 2.0, 13.0)))
    for name in FILTERS:
        _disc_check(fbp(sino, op, name).numpy(), 48, 48, 0.0, 2.0, 13.0, tol=0.03)


def test_smoothing_windows_reduce_noise():
    theta = np.linspace(0, np.pi, 90, endpoint=False)
    op = get_operator(Geometry(theta, 48, 24.0, 40, 40))
    noise = torch.from_numpy(np.random.default_rng(0).standard_normal((90, 48)).astype(np.float32))
    std = {name: float(fbp(noise, op, name)[8:-8, 8:-8].std()) for name in FILTERS}
    assert std["hann"] < 0.7 * std["ramp"]
    assert std["hann"] < std["hamming"] < std["shepp-logan"] < std["ramp"]


def test_fbp_is_linear_and_batched():
    theta = np.linspace(0, np.pi, 40, endpoint=False)
    op = get_operator(Geometry(theta, 36, 17.5, 30, 32))
    rng = np.random.default_rng(1)
    s = torch.from_numpy(rng.random((3, 40, 36)).astype(np.float32))
    batched = fbp(s, op, "hann")
    assert batched.shape == (3, 30, 32)
    for b in range(3):
        torch.testing.assert_close(fbp(s[b], op, "hann"), batched[b], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fbp(2.5 * s[0] + s[1], op), 2.5 * fbp(s[0], op) + fbp(s[1], op),
                               rtol=1e-4, atol=1e-4)


def test_fbp_does_not_track_gradients_or_modify_input():
    op = get_operator(Geometry(np.linspace(0, np.pi, 20, endpoint=False), 24))
    s = torch.rand(20, 24, requires_grad=True)
    before = s.detach().clone()
    out = fbp(s, op)
    assert not out.requires_grad
    torch.testing.assert_close(s.detach(), before)


def test_fan_fbp_scale_independent_of_detector_spacing():
    """The same object seen with two detector pitches reconstructs to the same values."""
    from _helpers import fan_disc_sino

    theta = np.linspace(0, 2 * np.pi, 180, endpoint=False)
    recs = []
    for spacing, ndet in ((0.75, 120), (1.5, 60)):
        c = (ndet - 1) / 2
        g = Geometry(theta, ndet, c, 40, 40, beam="fanflat", source_origin=120.0, origin_detector=60.0,
                     detector_spacing=spacing)
        sino = fan_disc_sino(theta, ndet, c, 3.0, 2.0, 11.0, 120.0, 60.0, spacing)
        recs.append(fbp(torch.from_numpy(sino), get_operator(g)).numpy())
        _disc_check(recs[-1], 40, 40, 3.0, 2.0, 11.0, tol=0.03)
    x, y = grid_xy(40, 40)
    inside = np.hypot(x - 3, y - 2) < 9
    assert abs(recs[0][inside].mean() - recs[1][inside].mean()) < 0.02
    assert not math.isnan(float(recs[1].sum()))
