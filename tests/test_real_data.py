"""Real measured data.

* TomoPy's tooth, as recorded by TomoPy 1.15.2 in ``tests/data/tomopy_answers.npz`` (always run):
  our FBP at ``tomopy.find_center``'s centre overlays gridrec.
* The shared data directory (``TOMOPY_DIP_MIRROR`` or ``../shared/data``; skipped when absent):
  the tooth loader reproduces TomoPy's pre-processing, the HTC 2022 loader's orientation matches
  the organisers' FBP, and TV-DIP beats FBP and SIRT on 60 views of HTC phantom ``ta``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tomopy_dip
from _helpers import corr
from tomopy_dip import Geometry, fbp, get_operator
from tomopy_dip.metrics import psnr


def _disc(n, radius):
    i, j = np.mgrid[:n, :n]
    return (i - (n // 2 - 1)) ** 2 + (j - n // 2) ** 2 < radius**2


# ----------------------------------------------------------------------------- recorded tooth (no data needed)
def test_fbp_overlays_gridrec_on_binned_tooth(answers):
    theta = answers["tooth_theta"].astype(np.float64)
    sino, center = answers["tooth_sino0_bin4"], float(answers["tooth_center_bin4"])
    ref = answers["tooth_gridrec_bin4"]

    def rec(c):
        return fbp(torch.from_numpy(sino), get_operator(Geometry(theta, 160, c), backend="astra")).numpy()

    c0 = corr(rec(center), ref)
    assert c0 > 0.995, c0
    for shift in (-0.5, 0.5):
        assert corr(rec(center + shift), ref) < c0 - 0.01


def test_fbp_overlays_gridrec_on_full_tooth_at_find_center(answers):
    """640 pixels at tomopy.find_center's own result, gridrec pooled 4x4 (values: 0.9987 measured)."""
    theta = answers["tooth_theta"].astype(np.float64)
    center = float(answers["tooth_find_center"])
    op = get_operator(Geometry(theta, 640, center), backend="astra")
    rec = fbp(torch.from_numpy(answers["tooth_sino0"]), op).numpy()
    pooled = rec.reshape(160, 4, 160, 4).mean((1, 3))
    ref = answers["tooth_gridrec640_pool4"]
    c = corr(pooled, ref)
    assert c > 0.998, c
    assert corr(pooled, ref, _disc(160, 70)) > 0.999


def test_tooth_centre_finders_agree_within_a_pixel(answers):
    """The recorded centre finders agree with each other (our geometry must accept all of them)."""
    values = [float(answers[k]) for k in ("tooth_find_center", "tooth_find_center_ind1",
                                           "tooth_find_center_vo", "tooth_find_center_vo_ind0")]
    assert max(values) - min(values) < 1.5
    for v in values:
        Geometry(answers["tooth_theta"], 640, v)


# ----------------------------------------------------------------------------- shared data


@pytest.mark.real_data
def test_load_tooth_reproduces_tomopy_preprocessing(shared_data, answers):
    from tomopy_dip.data.datasets import load_tooth

    d = load_tooth()
    assert d["proj"].shape == (181, 2, 640) and d["flat"].shape[1:] == (2, 640)
    np.testing.assert_allclose(d["theta"], answers["tooth_theta"], atol=1e-6)
    flat, dark = d["flat"].mean(0), d["dark"].mean(0)
    np.testing.assert_allclose(flat[0], answers["tooth_flat_mean0"], rtol=1e-6)
    np.testing.assert_allclose(dark[0], answers["tooth_dark_mean0"], rtol=1e-6)
    norm = (d["proj"] - dark) / (flat - dark)
    np.testing.assert_allclose(norm[0, 0], answers["tooth_norm_row0_proj0"], rtol=1e-5)
    np.testing.assert_allclose(-np.log(norm[:, 0, :]), answers["tooth_sino0"], atol=1e-5)


@pytest.fixture(scope="module")
def htc_720(shared_data):
    from tomopy_dip.data.datasets import load_htc2022

    return load_htc2022("ta", n_views=720, size=64, detector_bin=4)


@pytest.mark.real_data
def test_htc2022_loader_orientation_matches_the_organisers_fbp(shared_data, htc_720):
    import scipy.io

    d = htc_720
    assert d["sinogram"].shape == (720, 140) and d["sinogram"].dtype == np.float32
    assert d["theta"].shape == (720,) and d["theta"][1] == pytest.approx(np.deg2rad(0.5))
    g = d["geometry"]
    assert g["beam"] == "fanflat" and g["num_gridx"] == g["num_gridy"] == 64
    op = get_operator(Geometry(d["theta"], 140, d["center"], **g))
    rec = fbp(torch.from_numpy(d["sinogram"]), op).numpy()
    path = shared_data / "htc2022" / "TrainingData" / "htc2022_ta_full_recon_fbp.mat"
    ref = scipy.io.loadmat(path, simplify_cells=True)["reconFullFbp"]
    ref = ref.reshape(64, 8, 64, 8).mean((1, 3))
    c = corr(rec, ref)
    assert c > 0.95, c
    for wrong in (rec[::-1], rec[:, ::-1], rec.T):
        assert corr(wrong, ref) < c - 0.1
    # units: the image re-projects onto the measured sinogram (values per image pixel)
    reproj = op(torch.from_numpy(rec)).numpy()
    rel = np.linalg.norm(reproj - d["sinogram"]) / np.linalg.norm(d["sinogram"])
    assert rel < 0.1, rel


@pytest.mark.real_data
@pytest.mark.slow
def test_tv_dip_beats_fbp_and_sirt_on_htc60(shared_data, htc_720):
    """HTC-60 protocol at reduced size: 60 views of phantom 'ta', 64x64 grid, 140 detector pixels
    (binned by 4), reference SIRT-300 of all 720 views on the same grid.

    Measured (seed 0): FBP(hann) 24.2 dB, SIRT 31.1 / 32.3 / 31.5 dB after 100 / 200 / 300
    iterations, TV-DIP 32.9 dB after 1500 iterations (tiny U-Net, sigmoid output, lr 1e-2,
    tv_weight 3e-6; ~45 s). TV-DIP with the current defaults: 14.8 dB after 600 iterations.
    """
    from tomopy_dip.baselines import operator_for, sirt
    from tomopy_dip.data.datasets import load_htc2022

    ref = sirt(htc_720["sinogram"], operator_for(htc_720["sinogram"], htc_720["theta"],
                                                  htc_720["center"], **htc_720["geometry"]), 300)
    d = load_htc2022("ta", n_views=60, size=64, detector_bin=4)
    assert d["sinogram"].shape == (60, 140)
    np.testing.assert_allclose(d["theta"], htc_720["theta"][::12])
    op = operator_for(d["sinogram"], d["theta"], d["center"], **d["geometry"])
    p_fbp = psnr(fbp(torch.from_numpy(d["sinogram"]), op, "hann").numpy(), ref)
    p_sirt = {k: psnr(sirt(d["sinogram"], op, k), ref) for k in (100, 300)}
    res = tomopy_dip.reconstruct(d["sinogram"], d["theta"], d["center"], method="tv_dip",
                                 num_iter=1500, lr=1e-2, tv_weight=3e-6, out_activation="sigmoid",
                                 channels=(8, 8, 16), skip_channels=(0, 4, 4), progress=False,
                                 **d["geometry"])
    p_dip = psnr(res.images, ref)
    print(f"HTC-60 ta 64x64: FBP(hann) {p_fbp:.2f} dB, SIRT-100 {p_sirt[100]:.2f} dB, "
          f"SIRT-300 {p_sirt[300]:.2f} dB, TV-DIP {p_dip:.2f} dB")
    assert p_dip > p_fbp + 3.0
    assert p_dip > max(p_sirt.values())


@pytest.mark.real_data
def test_converged_tv_on_htc20(shared_data, htc_720):
    """The converged TV baseline on 20 real views ('ta', 64x64, detector binned by 4): it
    converges, clearly beats SIRT-300, and a gamma near the middle of the benchmark's grid beats
    both ends (the tuning the benchmarks do has a maximum inside the grid)."""
    from tomopy_dip.baselines import operator_for, sirt, tv_ls
    from tomopy_dip.data.datasets import load_htc2022
    from tomopy_dip.physics.measurement import data_scale

    ref = sirt(htc_720["sinogram"], operator_for(htc_720["sinogram"], htc_720["theta"],
                                                  htc_720["center"], **htc_720["geometry"]), 300)
    d = load_htc2022("ta", n_views=20, size=64, detector_bin=4)
    op = operator_for(d["sinogram"], d["theta"], d["center"], **d["geometry"])
    s = float(data_scale(fbp(torch.from_numpy(d["sinogram"]), op, "hann")[None])[0])
    p = {}
    for gamma in (0.1, 1.0, 100.0):
        res = tv_ls(d["sinogram"] / s, op, gamma)
        assert res.converged, gamma
        p[gamma] = psnr(res.image * s, ref)
    p_sirt = psnr(sirt(d["sinogram"], op, 300), ref)
    print(f"HTC-20 ta 64x64: SIRT-300 {p_sirt:.2f} dB, TV {p}")
    assert p[1.0] > p_sirt + 2.0
    assert p[1.0] > max(p[0.1], p[100.0]) + 1.0
