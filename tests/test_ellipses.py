"""Random ellipses / ellipsoids (EDIP's distribution) and holed discs: determinism, exact drawing.

Generation speed is a benchmark figure (``benchmarks/pretrain_checkpoints.py measure``)."""

from __future__ import annotations

import numpy as np
import pytest

from tomopy_dip.learning.phantoms import (
    DISTRIBUTIONS, HOLED_DISC, ellipse_parameters, ellipses_batch, random_ellipses, random_ellipsoids,
    random_holed_disc, random_phantom, rasterize, sample_rng,
)
from tomopy_dip.learning.phantoms.holed_disc import _holed_disc_parameters


def _brute_force(params: dict, shape: tuple, ball: float | None = None) -> np.ndarray:
    """Independent reference: every shape evaluated on the whole grid, then EDIP's normalisation."""
    grids = np.meshgrid(*[(np.arange(n) - (n - 1) / 2) / (n / 2) for n in shape], indexing="ij")
    pts = np.stack([g.ravel() for g in grids], 1)
    img = np.zeros(pts.shape[0])
    for v, a, c, rot in zip(params["value"], params["axes"], params["center"], params["rotation"]):
        local = (pts - c) @ rot.T
        img += v * (((local / a) ** 2).sum(1) <= 1)
    img = img.reshape(shape)
    if ball is not None:
        img[sum(g**2 for g in grids) > ball**2] = 0
    if img.min() < 0:
        img[img != 0] -= img.min()
    return (img / img.max()).astype(np.float32)


def test_same_seed_same_image_and_seeds_differ():
    a = random_ellipses(64, seed=11)
    assert a.shape == (64, 64) and a.dtype == np.float32
    assert np.array_equal(a, random_ellipses(64, seed=11))
    assert np.array_equal(a, random_ellipses((64, 64), seed=np.random.default_rng(11)))
    assert not np.array_equal(a, random_ellipses(64, seed=12))
    # Sample streams: (seed, stream, index) -> independent, reproducible generators.
    assert sample_rng(3, 7).random() == sample_rng(3, 7, "train").random()
    draws = {sample_rng(3, 7, s).random() for s in ("train", "validation", "geometry")}
    draws |= {sample_rng(4, 7).random(), sample_rng(3, 8).random()}
    assert len(draws) == 5


def test_batch_sample_depends_on_its_index_only():
    b = ellipses_batch((32, 40), seed=5, indices=[3, 4, 9])
    assert b.shape == (3, 32, 40)
    assert np.array_equal(b[2], ellipses_batch((32, 40), 5, [9])[0])
    assert np.array_equal(b[0], random_phantom((32, 40), sample_rng(5, 3)))
    assert not np.array_equal(b[0], ellipses_batch((32, 40), 5, [3], stream="validation")[0])


def test_2d_parameter_statistics_follow_edip():
    draws = [ellipse_parameters(s, 2) for s in range(1500)]
    counts = np.array([d["value"].size for d in draws])
    assert abs(counts.mean() - 40) < 0.8 and counts.max() <= 70
    v = np.concatenate([d["value"] for d in draws])
    axes = np.concatenate([d["axes"] for d in draws])
    c = np.concatenate([d["center"] for d in draws])
    ang = np.concatenate([d["angle"] for d in draws])
    assert v.min() >= -0.4 and v.max() < 1.0 and abs(v.mean() - 0.3) < 0.01
    assert abs(v.std() - 1.4 / np.sqrt(12)) < 0.01  # uniform on [-0.4, 1]
    assert axes.min() > 0 and abs(axes.mean() - 0.2) < 0.005 and abs(axes.std() - 0.2) < 0.01
    assert np.abs(c).max() <= 0.9 and abs(c.mean()) < 0.01 and abs(c.var() - 0.81 / 3) < 0.01
    assert ang.min() >= 0 and ang.max() < 2 * np.pi and abs(ang.mean() - np.pi) < 0.03
    rot = np.concatenate([d["rotation"] for d in draws[:50]])
    assert np.allclose(rot @ rot.transpose(0, 2, 1), np.eye(2), atol=1e-12)


def test_2d_images_are_normalised_and_drawn_exactly():
    for seed in range(6):
        params = ellipse_parameters(seed, 2)
        for shape in ((48, 48), (37, 52)):
            img = rasterize(params, shape)
            assert img.min() == 0.0 and img.max() == 1.0
            np.testing.assert_allclose(img, _brute_force(params, shape), atol=1e-6)
    fg = np.mean([np.mean(random_ellipses(64, s) > 0) for s in range(20)])
    assert 0.3 < fg < 0.95  # a background of zeros and a foreground of overlapping ellipses


def test_3d_ellipsoids_in_a_ball():
    draws = [ellipse_parameters(s, 3) for s in range(400)]
    counts = np.array([d["value"].size for d in draws])
    assert abs(counts.mean() - 120) < 2.0 and counts.max() <= 210
    c = np.concatenate([d["center"] for d in draws])
    r = np.linalg.norm(c, axis=1)
    assert r.max() <= 0.7 and abs(np.mean(r**3) - 0.7**3 / 2) < 0.01  # uniform in the ball
    rot = np.concatenate([d["rotation"] for d in draws[:5]])
    assert np.allclose(rot @ rot.transpose(0, 2, 1), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(rot), 1.0)
    vol = random_ellipsoids(24, seed=2)
    assert vol.shape == (24, 24, 24) and vol.min() == 0 and vol.max() == 1
    assert np.array_equal(vol, random_ellipsoids(24, seed=2))
    assert not np.array_equal(vol, random_ellipsoids(24, seed=3))
    np.testing.assert_allclose(vol, _brute_force(ellipse_parameters(2, 3), (24,) * 3, 0.7), atol=1e-6)
    g = (np.arange(24) - 11.5) / 12
    outside = (g[:, None, None] ** 2 + g[None, :, None] ** 2 + g[None, None, :] ** 2) > 0.49
    assert not vol[outside].any() and vol[~outside].any()
    assert DISTRIBUTIONS[3]["ball_radius"] == 0.7


def test_holed_discs_are_one_material_with_holes():
    """Support a disc of the documented radius; inside it the material (cupped towards the
    centre, maximum 1 at the rim) and the holes (values up to HOLED_DISC's hole_value bound);
    every style occurs."""
    n = 128
    g = (np.arange(n) - (n - 1) / 2) / (n / 2)
    r = np.hypot(*np.meshgrid(g, g, indexing="ij"))
    lo_r, hi_r = HOLED_DISC["radius"]
    styles, hole_fractions = set(), []
    for i in range(30):
        rng = sample_rng(4, i)
        img = random_holed_disc(n, rng)
        assert img.dtype == np.float32 and img.min() == 0 and img.max() == 1
        assert (img[r > hi_r + HOLED_DISC["offset"] + 0.02] == 0).all()        # nothing outside the disc
        assert (img[r < lo_r - HOLED_DISC["offset"] - 0.02] > 0).mean() > 0.3  # disc present
        inside = img[r < lo_r - HOLED_DISC["offset"] - 0.02]
        hole_max = HOLED_DISC["hole_value"][1] + 1e-6
        holes = inside[inside <= hole_max]
        material = inside[inside > hole_max]
        assert material.min() >= 1 - HOLED_DISC["cupping"][1] - 1e-6           # one material, cupped
        hole_fractions.append(holes.size / inside.size)
        styles.add(_holed_disc_parameters(sample_rng(4, i))["style"])
    assert styles == set(HOLED_DISC["styles"])
    assert 0.02 < np.median(hole_fractions) < 0.6
    assert (random_holed_disc(n, 11) == random_holed_disc(n, 11)).all()
    assert not (random_holed_disc(n, 11) == random_holed_disc(n, 12)).all()
    assert (random_phantom((n, n), 11, "holed_discs") == random_holed_disc(n, 11)).all()
    assert (ellipses_batch((n, n), 2, [1], family="holed_discs")[0] == random_holed_disc(n, sample_rng(2, 1))).all()


def test_bad_arguments():
    with pytest.raises(ValueError, match="dims"):
        ellipse_parameters(0, 4)
    with pytest.raises(ValueError):
        random_ellipses((8, 8, 8))
    with pytest.raises(ValueError):
        random_phantom((8,))
    with pytest.raises(ValueError, match="family"):
        random_phantom((8, 8), 0, "squares")
    with pytest.raises(ValueError, match="2D only"):
        random_phantom((8, 8, 8), 0, "holed_discs")
    with pytest.raises(ValueError):
        sample_rng(-1, 0)


def test_ellipsoid_slab_is_rows_of_a_cube_of_the_same_draw():
    from tomopy_dip.learning.phantoms import random_ellipsoid_slab

    slab = random_ellipsoid_slab((6, 24, 24), seed=4)
    rng = np.random.default_rng(4)
    cube = rasterize(ellipse_parameters(rng, 3), (24, 24, 24), ball_radius=0.7)
    starts = [s for s in range(0, 19) if np.array_equal(cube[s:s + 6], slab)]
    assert starts and 3 <= starts[0] <= 15  # the slab's centre row lies in the cube's central half
    assert random_phantom((6, 24, 24), 4).shape == (6, 24, 24)
    np.testing.assert_array_equal(random_ellipsoid_slab((24, 24, 24), 2), random_ellipsoids(24, seed=2))
    for bad in ((25, 24, 24), (0, 24, 24), (24, 24)):
        with pytest.raises(ValueError, match="rows, nx, ny"):
            random_ellipsoid_slab(bad, 0)
