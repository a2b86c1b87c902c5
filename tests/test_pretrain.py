"""Pretraining: the engine's normalisation, the noise model, a few steps, resuming, CLI."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

import tomopy_dip
from tomopy_dip.cli.pretrain import add_cli
from tomopy_dip.learning.checkpoints import load_checkpoint, read_metadata
from tomopy_dip.learning.phantoms import HOLED_DISC
from tomopy_dip.fitting.problem import SliceBatch
from tomopy_dip.physics.geometry import Geometry
from tomopy_dip.options import Options
from tomopy_dip.learning.pretraining import simulate_pairs, state_path, view_geometry
from tomopy_dip.physics.projector import get_operator

THETA = np.linspace(0, np.pi, 24, endpoint=False)
TINY = dict(channels=(8, 8), skip_channels=(4, 4), norm_groups=4)
FAST = dict(batch_size=2, val_size=2, progress=False, **TINY)


def _state(path):
    return torch.load(state_path(path), map_location="cpu", weights_only=True)


def test_pairs_use_the_engines_normalisation_and_noise_model():
    g = Geometry(THETA, 32, beam="parallel")
    op = get_operator(g)
    pairs = simulate_pairs(op, seed=1, indices=[0, 1, 2], noise=0.05, filter_name="hann")
    assert pairs["input"].shape == pairs["target"].shape == (3, 1, 32, 32)
    # What the engine computes from the same sinograms (its FBP, filter and 99.9 % scale).
    opts = Options(filter_name="hann", device=torch.device("cpu"))
    batch = SliceBatch(pairs["sinogram"].numpy(), [g] * 3, opts)
    torch.testing.assert_close(batch.scale, pairs["scale"])
    torch.testing.assert_close(batch.fbp, pairs["input"][:, 0])
    # Target = phantom / s; noise = 5 % of the mean absolute projection.
    from tomopy_dip.learning.phantoms import random_phantom, sample_rng

    x = random_phantom((32, 32), sample_rng(1, 2, "train"))
    torch.testing.assert_close(pairs["target"][2, 0] * pairs["scale"][2], torch.from_numpy(x))
    clean = op(torch.from_numpy(x))
    resid = pairs["sinogram"][2] - clean
    assert abs(float(resid.std() / clean.abs().mean()) - 0.05) < 0.005
    # Deterministic per sample index, whatever else is in the batch.
    again = simulate_pairs(op, seed=1, indices=[2], noise=0.05)
    torch.testing.assert_close(again["input"][0], pairs["input"][2])


def test_view_geometry_keeps_the_arc():
    g = Geometry(np.linspace(0, 2 * np.pi, 60, endpoint=False), 40, beam="fanflat",
                 source_origin=200.0, origin_detector=100.0)
    g20 = view_geometry(g, 20)
    assert g20.nproj == 20 and g20.beam == "fanflat" and g20.source_origin == 200.0
    np.testing.assert_allclose(g20.theta, np.linspace(0, 2 * np.pi, 20, endpoint=False))
    with pytest.raises(ValueError, match="evenly spaced"):
        view_geometry(g.replace(theta=np.array([0.0, 0.1, 0.5])), 10)


def test_pretrain_writes_best_periodic_and_state(tmp_path):
    out = tmp_path / "p.safetensors"
    seen = []
    path = tomopy_dip.pretrain(THETA, 24, out=out, num_steps=4, val_every=2, checkpoint_every=2,
                               callback=seen.append, **FAST)
    assert path == out and out.is_file()
    assert (tmp_path / "p-step2.safetensors").is_file() and (tmp_path / "p-step4.safetensors").is_file()
    assert [s["step"] for s in seen] == [1, 2, 3, 4]
    assert [s["val_psnr"] is not None for s in seen] == [False, True, False, True]
    meta = read_metadata(out)
    tr = meta["training"]
    assert tr["best_step"] in (2, 4) and tr["num_steps"] == 4 and tr["batch_size"] == 2
    assert np.isfinite(tr["val_psnr"]) and np.isfinite(tr["val_psnr_fbp"])
    assert meta["geometry"]["nproj"] == 24 and meta["geometry"]["beam"] == "parallel"
    assert meta["noise"]["level"] == 0.05 and meta["data"]["filter_name"] == "hann"
    assert meta["network"]["channels"] == [8, 8] and meta["version"] == tomopy_dip.__version__
    assert "tomopy_dip.pretrain(" in meta["command"]
    st = _state(out)
    assert st["step"] == 4 and len(st["history"]["loss"]) == 4
    # Done already: a second call returns at once and leaves the files alone.
    mtime = out.stat().st_mtime_ns
    assert tomopy_dip.pretrain(THETA, 24, out=out, num_steps=4, val_every=2, checkpoint_every=2,
                               **FAST) == out
    assert out.stat().st_mtime_ns == mtime


def test_interrupted_run_resumes_to_the_same_result(tmp_path):
    kw = dict(num_steps=5, val_every=2, checkpoint_every=0, seed=3, **FAST)
    straight = tomopy_dip.pretrain(THETA, 24, out=tmp_path / "a.safetensors", **kw)

    def stop_at_3(info):
        if info["step"] == 3:
            raise KeyboardInterrupt

    out = tmp_path / "b.safetensors"
    with pytest.raises(KeyboardInterrupt):
        tomopy_dip.pretrain(THETA, 24, out=out, callback=stop_at_3, **kw)
    assert _state(out)["step"] == 3
    seen = []
    tomopy_dip.pretrain(THETA, 24, out=out, callback=seen.append, **kw)
    assert [s["step"] for s in seen] == [4, 5]  # continued, did not start over
    a, b = _state(straight), _state(out)
    assert a["step"] == b["step"] == 5
    for k in a["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k], rtol=1e-5, atol=1e-6)
    assert a["history"]["val_psnr"] == pytest.approx(b["history"]["val_psnr"], rel=1e-4)
    ca, cb = load_checkpoint(straight), load_checkpoint(out)
    assert ca.metadata["training"]["best_step"] == cb.metadata["training"]["best_step"]
    # Other arguments: refuse to resume, unless told to start over.
    with pytest.raises(ValueError, match="other arguments.*seed"):
        tomopy_dip.pretrain(THETA, 24, out=out, **{**kw, "seed": 4})
    seen.clear()
    tomopy_dip.pretrain(THETA, 24, out=out, resume=False, callback=seen.append, **{**kw, "num_steps": 2})
    assert [s["step"] for s in seen] == [1, 2]


def test_several_view_counts_and_fan_beam(tmp_path):
    theta = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    out = tomopy_dip.pretrain(theta, 40, num_gridx=24, num_gridy=24, out=tmp_path / "f.safetensors",
                              num_steps=3, views=[10, 20, 40], beam="fanflat", source_origin=60.0,
                              origin_detector=30.0, detector_spacing=1.0, val_size=3,
                              batch_size=2, progress=False, **TINY)
    meta = read_metadata(out)
    assert meta["geometry"]["views"] == [10, 20, 40] and meta["geometry"]["beam"] == "fanflat"
    assert meta["geometry"]["arc"] == pytest.approx(2 * np.pi)
    assert meta["serves"]["views"][0] <= 10 and meta["serves"]["views"][1] >= 40
    assert meta["arguments"]["views"] == [10, 20, 40]


def test_pretraining_learns(tmp_path):
    """A short run on 32² ends up better than the FBP it starts from, on held-out phantoms."""
    out = tomopy_dip.pretrain(THETA, 32, out=tmp_path / "l.safetensors", num_steps=150, val_every=30,
                              checkpoint_every=0, batch_size=4, val_size=8, lr_max=1e-2,
                              progress=False, channels=(8, 8, 8), skip_channels=(4, 4, 4))
    tr = read_metadata(out)["training"]
    assert read_metadata(out)["network"]["norm_groups"] == 4  # pretraining's default, not per-channel
    hist = _state(out)["history"]
    assert hist["val_psnr"][-1] > hist["val_psnr"][0] + 1.5
    assert tr["val_psnr"] == max(hist["val_psnr"]) and tr["val_psnr"] > tr["val_psnr_fbp"] + 0.3


def test_holed_disc_phantoms(tmp_path, monkeypatch):
    """``phantoms="holed_discs"`` trains on that family (targets are discs, not ellipses) and
    says so in the metadata with the family's parameters; a state of an ellipse run, or of
    another version of the family's distribution, is not resumed by it."""
    op = get_operator(Geometry(THETA, 32))
    pairs = simulate_pairs(op, 3, [0, 1], phantoms="holed_discs")
    from tomopy_dip.learning.phantoms import random_holed_disc, sample_rng
    for k in range(2):
        x = random_holed_disc(32, sample_rng(3, k, "train")) / pairs["scale"][k].item()
        assert np.allclose(pairs["target"][k, 0].numpy(), x, atol=1e-6)
    out = tmp_path / "h.safetensors"
    tomopy_dip.pretrain(THETA, 32, out=out, num_steps=1, phantoms="holed_discs", **FAST)
    meta = read_metadata(out)
    assert meta["data"]["family"] == "holed_discs" and "holes" in meta["data"]["phantoms"]
    assert meta["arguments"]["phantoms"] == "holed_discs"
    assert meta["data"]["family_parameters"]["hole_value"] == list(HOLED_DISC["hole_value"])
    with pytest.raises(ValueError, match="phantoms"):
        tomopy_dip.pretrain(THETA, 32, out=out, num_steps=2, phantoms="ellipses", **FAST)
    # Another version of the family's distribution: not continued either.
    monkeypatch.setitem(HOLED_DISC, "hole_value", (0.0, 0.05))
    with pytest.raises(ValueError, match="other arguments.*family_parameters"):
        tomopy_dip.pretrain(THETA, 32, out=out, num_steps=2, phantoms="holed_discs", **FAST)
    with pytest.raises(ValueError, match="phantoms must be one of"):
        tomopy_dip.pretrain(THETA, 32, out=tmp_path / "y.safetensors", num_steps=1, phantoms="cubes")


def test_noise_range_and_level_augmentation(tmp_path):
    """A noise range gives each sample its own level within it (measured back from the
    residual); ``level`` puts every target's maximum inside the asked range and scales the
    input with it; phantoms and unit noise are those of the plain run."""
    op = get_operator(Geometry(THETA, 32))
    plain = simulate_pairs(op, 5, range(8), noise=0.0)
    noisy = simulate_pairs(op, 5, range(8), noise=(0.01, 0.05))
    clean = plain["sinogram"]
    rel = ((noisy["sinogram"] - clean).flatten(1).std(1) / clean.abs().flatten(1).mean(1)).numpy()
    assert rel.min() > 0.008 and rel.max() < 0.055 and rel.max() - rel.min() > 0.01
    fixed = simulate_pairs(op, 5, range(8), noise=0.03)
    rel_fixed = ((fixed["sinogram"] - clean).flatten(1).std(1) / clean.abs().flatten(1).mean(1)).numpy()
    assert np.allclose(rel_fixed, 0.03, rtol=0.1)
    lev = simulate_pairs(op, 5, range(8), noise=0.0, level=(0.5, 0.9))
    peak = lev["target"].amax((1, 2, 3)).numpy()
    assert peak.min() >= 0.5 - 1e-6 and peak.max() <= 0.9 + 1e-6 and peak.max() - peak.min() > 0.1
    k = (lev["target"].amax((1, 2, 3)) / plain["target"].amax((1, 2, 3)))[:, None, None, None]
    assert torch.allclose(lev["target"], plain["target"] * k, atol=1e-5)  # one factor per sample
    assert torch.allclose(lev["input"], plain["input"] * k, atol=1e-5)    # for input and target
    with pytest.raises(ValueError, match="noise"):
        tomopy_dip.pretrain(THETA, 32, out=tmp_path / "n.safetensors", num_steps=1, noise=(0.05, 0.01))
    with pytest.raises(ValueError, match="level"):
        tomopy_dip.pretrain(THETA, 32, out=tmp_path / "n.safetensors", num_steps=1, level=(0.5, 1.5))
    out = tomopy_dip.pretrain(THETA, 32, out=tmp_path / "n.safetensors", num_steps=1, noise=(0.01, 0.05),
                              level=(0.4, 0.98), **FAST)
    meta = read_metadata(out)
    assert meta["noise"]["level"] == [0.01, 0.05] and meta["data"]["level_augmentation"] == [0.4, 0.98]


def test_blur_softens_the_phantoms_measured_and_returned(tmp_path):
    """``blur`` blurs each phantom before it is measured and returns the blurred one as the
    target: a fixed sigma equals scipy's Gaussian filter of the plain phantom, a range draws
    one sigma per sample (edges of different softness), zero changes nothing, and the
    metadata records it."""
    from scipy.ndimage import gaussian_filter

    op = get_operator(Geometry(THETA, 32))
    sharp = simulate_pairs(op, 5, range(4), noise=0.0)
    plain = sharp["target"][:, 0] * sharp["scale"][:, None, None]
    fixed = simulate_pairs(op, 5, range(4), noise=0.0, blur=1.5)
    want = np.stack([gaussian_filter(x, 1.5) for x in plain.numpy()])
    got = (fixed["target"][:, 0] * fixed["scale"][:, None, None]).numpy()
    assert np.allclose(got, want, atol=1e-5)
    assert torch.allclose(fixed["sinogram"], op(torch.from_numpy(want)), rtol=1e-4, atol=1e-4)
    drawn = simulate_pairs(op, 5, range(4), noise=0.0, blur=(0.5, 2.0))["target"][:, 0]
    drawn = drawn / drawn.amax((1, 2), keepdim=True)
    # the sharpest edge of each image: a blur of sigma lowers the steepest step roughly as 1/sigma
    steep = (drawn[:, 1:] - drawn[:, :-1]).abs().amax((1, 2))
    assert steep.max() / steep.min() > 1.2
    none = simulate_pairs(op, 5, range(4), noise=0.0, blur=0.0)
    assert torch.allclose(none["target"][:, 0] * none["scale"][:, None, None], plain)
    with pytest.raises(ValueError, match="blur"):
        tomopy_dip.pretrain(THETA, 32, out=tmp_path / "b.safetensors", num_steps=1, blur=(2.0, 1.0))
    out = tomopy_dip.pretrain(THETA, 32, out=tmp_path / "b.safetensors", num_steps=1, blur=(0.5, 2.0), **FAST)
    meta = read_metadata(out)
    assert meta["arguments"]["blur"] == [0.5, 2.0] and meta["data"]["blur_pixels"] == [0.5, 2.0]


def test_bad_arguments(tmp_path):
    out = tmp_path / "x.safetensors"
    with pytest.raises(TypeError, match="nonsense"):
        tomopy_dip.pretrain(THETA, 24, out=out, nonsense=1)
    with pytest.raises(ValueError, match="num_steps"):
        tomopy_dip.pretrain(THETA, 24, out=out, num_steps=0)
    with pytest.raises(ValueError, match="safetensors"):
        tomopy_dip.pretrain(THETA, 24, out=tmp_path / "x.pt", num_steps=1)
    with pytest.raises(ValueError, match="source_origin"):
        tomopy_dip.pretrain(THETA, 24, out=out, num_steps=1, beam="fanflat")
    assert not out.exists()


def test_command_line(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="tomopy-dip")
    add_cli(parser.add_subparsers(dest="command"))
    out = tmp_path / "c.safetensors"
    argv = ["pretrain", "--ndet", "24", "--nproj", "24", "--out", str(out), "--steps", "2",
            "--batch-size", "2", "--val-size", "2", "--channels", "8", "8", "--skip-channels", "4", "4",
            "--no-progress", "--serves-views", "10", "40", "--serves-size", "16", "48", "--blur", "1"]
    args = parser.parse_args(argv)
    args.argv = ["tomopy-dip", *argv]
    assert args.func(args) == 0
    assert capsys.readouterr().out.strip() == str(out)
    meta = read_metadata(out)
    assert meta["command"].startswith("tomopy-dip pretrain --ndet 24")
    assert meta["serves"] == {"views": [10, 40], "size": [16, 48]}
    assert meta["arguments"]["blur"] == 1.0
    assert np.allclose(meta["arguments"]["theta"], THETA)
    assert json.loads(json.dumps(meta)) == meta


def test_3d_pairs_are_slabs_scaled_as_the_engines_dims3():
    g = Geometry(THETA, 24, beam="parallel")
    op = get_operator(g)
    pairs = simulate_pairs(op, seed=2, indices=[0, 1], noise=0.05, slab=4)
    assert pairs["input"].shape == pairs["target"].shape == (2, 1, 4, 24, 24)
    assert pairs["sinogram"].shape == (2, 4, 24, 24)
    # The engine's dims=3 normalisation of the same slab: one scale, its FBP.
    batch = SliceBatch(pairs["sinogram"][1].numpy(), [g] * 4, Options(dims=3, device=torch.device("cpu")))
    torch.testing.assert_close(batch.scale, pairs["scale"][1].expand(4))
    torch.testing.assert_close(batch.fbp, pairs["input"][1, 0])
    from tomopy_dip.learning.phantoms import random_ellipsoid_slab, sample_rng

    x = random_ellipsoid_slab((4, 24, 24), sample_rng(2, 1, "train"))
    torch.testing.assert_close(pairs["target"][1, 0] * pairs["scale"][1], torch.from_numpy(x))
    resid = pairs["sinogram"][1] - op(torch.from_numpy(x))
    level = resid.std((-2, -1)) / op(torch.from_numpy(x)).abs().mean((-2, -1))
    assert float(level.std()) < 0.01 and abs(float(level.mean()) - 0.05) < 0.01  # one level per slab


def test_3d_pretraining_learns_and_edip_takes_its_checkpoint(tmp_path):
    out = tomopy_dip.pretrain(THETA, 24, out=tmp_path / "v.safetensors", num_steps=100, val_every=25,
                              checkpoint_every=0, batch_size=4, val_size=4, lr_max=1e-2, progress=False,
                              channels=(8, 8, 8), skip_channels=(0, 4, 4), dims=3, slab=4)
    ckpt = load_checkpoint(out)
    assert ckpt.dims == 3 and ckpt.config.dims == 3 and ckpt.metadata["data"]["slab"] == 4
    hist = _state(out)["history"]["val_psnr"]
    assert hist[-1] > hist[0] + 5 and hist[-1] > ckpt.metadata["training"]["val_psnr_fbp"] - 3
    from tomopy_dip.learning.phantoms import random_ellipsoid_slab
    from tomopy_dip.physics.measurement import simulate

    sino = simulate(random_ellipsoid_slab((4, 24, 24), 9), THETA, noise=0.02)
    rec = tomopy_dip.reconstruct(sino, THETA, method="edip", dims=3, checkpoint=out, num_iter=2, stop="none",
                                 progress=False)
    assert rec.images.shape == (4, 24, 24) and np.isfinite(rec.images).all()
    with pytest.raises(ValueError, match="holds a 3-D network, the fit asks for dims=2"):
        tomopy_dip.reconstruct(sino, THETA, method="edip", checkpoint=out, num_iter=1, progress=False)


def test_3d_arguments(tmp_path):
    with pytest.raises(ValueError, match="phantoms must be 'ellipses'"):
        tomopy_dip.pretrain(THETA, 24, out=tmp_path / "a.safetensors", dims=3, phantoms="holed_discs", **FAST)
    with pytest.raises(ValueError, match="slab is a dims=3 argument"):
        tomopy_dip.pretrain(THETA, 24, out=tmp_path / "a.safetensors", slab=4, **FAST)
    with pytest.raises(ValueError, match="must not exceed"):
        tomopy_dip.pretrain(THETA, 24, out=tmp_path / "a.safetensors", dims=3, slab=32, **FAST)
    with pytest.raises(ValueError, match="dims"):
        tomopy_dip.pretrain(THETA, 24, out=tmp_path / "a.safetensors", dims=4, **FAST)


# --- pretraining on the scan itself (images=) -------------------------------------------------

def _dot_image(n=32, at=(8, 20)):
    img = np.zeros((n, n), np.float32)
    img[at[0] - 1:at[0] + 2, at[1] - 1:at[1] + 2] = 1.0
    return img


def test_image_family_rotates_and_mirrors_about_the_grid_centre():
    from tomopy_dip.learning.phantoms import ImageFamily, random_phantom, sample_rng

    dot = _dot_image()
    given = np.stack([dot, 2 * dot, -np.ones_like(dot)])
    before = given.copy()
    fam = ImageFamily(given)
    np.testing.assert_array_equal(given, before)  # not modified
    c = (np.arange(32) - 15.5)
    radius = np.hypot(8 - 15.5, 20 - 15.5)
    angles, peaks = [], set()
    for i in range(40):
        x = random_phantom((32, 32), sample_rng(0, i), fam)
        assert x.dtype == np.float32 and x.min() >= 0  # negatives set to 0
        np.testing.assert_array_equal(x, fam((32, 32), sample_rng(0, i)))  # same draw, same image
        if x.sum() == 0:
            continue  # the all-negative image, clipped
        peaks.add(round(float(x.sum() / dot.sum())))
        w = x / x.sum()
        r0, r1 = float((w.sum(1) * c).sum()), float((w.sum(0) * c).sum())
        assert np.hypot(r0, r1) == pytest.approx(radius, abs=0.3)  # rotated about the centre
        angles.append(np.arctan2(r0, r1))
    assert peaks == {1, 2}  # both images drawn, intensity kept
    assert np.ptp(np.unwrap(np.sort(angles))) > np.pi  # angles spread over the circle
    disc = np.ones((32, 32), np.float32)
    assert ImageFamily(disc)((32, 32), 1)[0, 0] == 0  # cut to the inscribed disc


def test_image_family_refuses_what_it_cannot_use():
    from tomopy_dip.learning.phantoms import ImageFamily

    with pytest.raises(ValueError, match="images must be an array of shape"):
        ImageFamily(np.ones((2, 2, 8, 8)))
    with pytest.raises(ValueError, match="non-finite"):
        ImageFamily(np.full((8, 8), np.nan))
    with pytest.raises(ValueError, match="no positive value"):
        ImageFamily(np.zeros((8, 8)))
    with pytest.raises(ValueError, match="images are 8 x 8, the training grid is 16 x 16"):
        ImageFamily(np.ones((8, 8)))((16, 16), 0)


def test_pretrain_on_images_records_them_and_resumes_only_on_the_same(tmp_path):
    imgs = np.stack([_dot_image(24, (8, 14)), _dot_image(24, (12, 6))])
    out = tmp_path / "s.safetensors"
    tomopy_dip.pretrain(THETA, 24, out=out, images=imgs, num_steps=1, **FAST)
    meta = read_metadata(out)
    fam = meta["data"]["family_parameters"]
    assert meta["data"]["family"] == meta["arguments"]["phantoms"] == "images"
    assert fam["count"] == 2 and fam["shape"] == [24, 24] and len(fam["sha256"]) == 64
    assert fam["sha256"] in meta["arguments"]["images"]
    with pytest.raises(ValueError, match="other arguments.*family_parameters"):
        tomopy_dip.pretrain(THETA, 24, out=out, images=imgs[::-1], num_steps=2, **FAST)
    bad = tmp_path / "b.safetensors"
    with pytest.raises(ValueError, match="phantoms='images' needs images="):
        tomopy_dip.pretrain(THETA, 24, out=bad, phantoms="images", num_steps=1, **FAST)
    with pytest.raises(ValueError, match="images= trains on those images: leave phantoms out"):
        tomopy_dip.pretrain(THETA, 24, out=bad, images=imgs, phantoms="holed_discs", num_steps=1, **FAST)
    with pytest.raises(ValueError, match=r"images are 24 x 24, the grid is 32 x 32 \(num_gridx x num_gridy\)"):
        tomopy_dip.pretrain(THETA, 32, out=bad, images=imgs, num_steps=1, **FAST)
    with pytest.raises(ValueError, match="dims=3 pretrains on random ellipsoids"):
        tomopy_dip.pretrain(THETA, 24, out=bad, images=imgs, dims=3, num_steps=1, **FAST)
    assert not bad.exists()


def test_pairs_of_images_are_the_drawn_images_measured_and_pretraining_learns_them(tmp_path):
    """Each pair's target is the family's draw for that sample (at the engine's scale); a short
    run on three neighbouring rows of an object learns them (validation above the FBP), and
    EDIP's first image of an unseen row between them is better than that row's FBP."""
    from tomopy_dip.baselines import operator_for
    from tomopy_dip.learning.phantoms import ImageFamily, random_ellipses, sample_rng
    from tomopy_dip.metrics import psnr
    from tomopy_dip.physics.fbp import fbp
    from tomopy_dip.physics.measurement import simulate

    theta = np.linspace(0, np.pi, 12, endpoint=False)
    c = (np.arange(32) - 15.5) / 16
    base = random_ellipses(32, seed=5) * (c[:, None] ** 2 + c[None] ** 2 <= 0.8)  # inside the field of view
    rows = np.stack([np.roll(base, s, axis=1) for s in (-2, 0, 2)])
    fam = ImageFamily(rows)
    pairs = simulate_pairs(get_operator(Geometry(theta, 32)), 4, [0, 1, 2], phantoms=fam)
    for k in range(3):
        np.testing.assert_allclose(pairs["target"][k, 0].numpy() * pairs["scale"][k].item(),
                                   fam((32, 32), sample_rng(4, k, "train")), atol=1e-6)
    ck = tomopy_dip.pretrain(theta, 32, out=tmp_path / "scan.safetensors", images=rows, num_steps=300,
                             val_every=50, checkpoint_every=0, batch_size=4, val_size=4, lr_max=1e-2,
                             progress=False, channels=(8, 8, 8), skip_channels=(0, 4, 4), noise=(0.0, 0.04))
    tr = read_metadata(ck)["training"]
    assert tr["val_psnr"] > tr["val_psnr_fbp"] + 1
    truth = np.roll(base, 1, axis=1)
    sino = simulate(truth, theta, noise=0.02, seed=1)
    seen = []
    tomopy_dip.reconstruct(sino, theta, method="edip", checkpoint=ck, num_iter=1, stop="none",
                           callback=lambda info: seen.append(info["image"]), callback_every=1, progress=False)
    start = fbp(torch.from_numpy(sino)[None], operator_for(sino, theta), "hann")[0].numpy()
    assert psnr(seen[0], truth) > psnr(start, truth) + 0.5


def test_command_line_images_from_npy_and_tiff_files(tmp_path, capsys):
    from tomopy_dip.data.files import write_tiff_stack

    parser = argparse.ArgumentParser(prog="tomopy-dip")
    add_cli(parser.add_subparsers(dest="command"))
    np.save(tmp_path / "rows.npy", np.stack([_dot_image(24, (8, 14)), _dot_image(24, (12, 6))]))
    write_tiff_stack(tmp_path / "slice.tiff", _dot_image(24, (14, 14)))
    out = tmp_path / "c.safetensors"
    argv = ["pretrain", "--ndet", "24", "--nproj", "24", "--out", str(out), "--steps", "1",
            "--batch-size", "2", "--val-size", "2", "--channels", "8", "8", "--skip-channels", "4", "4",
            "--no-progress", "--images", str(tmp_path / "rows.npy"), str(tmp_path / "slice.tiff")]
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    fam = read_metadata(out)["data"]["family_parameters"]
    assert fam["count"] == 3 and fam["shape"] == [24, 24]
    args = parser.parse_args([*argv[:-2], str(tmp_path / "missing.npy")])
    with pytest.raises(ValueError, match="--images: no file"):
        args.func(args)
    np.save(tmp_path / "small.npy", np.ones((16, 16)))
    args = parser.parse_args([*argv[:-1], str(tmp_path / "small.npy")])
    with pytest.raises(ValueError, match="--images: the files hold images of different sizes"):
        args.func(args)
