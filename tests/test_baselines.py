"""The classical baselines: converged TV least squares and SIRT on the package's operator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tomopy_dip.baselines import operator_for, sirt, tv_ls
from tomopy_dip.fitting.losses import total_variation as tv_norm
from tomopy_dip.physics.measurement import simulate


@pytest.fixture(scope="module")
def toy():
    img = np.zeros((32, 32), np.float32)
    img[8:24, 10:20] = 1.0
    img[14:18, 22:28] = 0.5
    theta = np.linspace(0, np.pi, 12, endpoint=False)
    sino = simulate(img, theta, noise=0.02, seed=1)
    return img, theta, sino, operator_for(sino, theta)


def test_tv_norm_known_values():
    x = torch.zeros(8, 8)
    x[:, 4:] = 1.0  # one vertical edge of length 8
    assert float(tv_norm(x, isotropic=True)) == pytest.approx(8.0)
    assert float(tv_norm(x, isotropic=False)) == pytest.approx(8.0)
    d = torch.zeros(8, 8)
    d[3, 3] = 1.0  # a single pixel: iso counts its corner as sqrt(2), aniso as 2
    assert float(tv_norm(d, isotropic=False)) == pytest.approx(4.0)
    assert float(tv_norm(d, isotropic=True)) == pytest.approx(2.0 + np.sqrt(2.0))


@pytest.mark.parametrize("isotropic", [True, False])
def test_tv_ls_reaches_the_minimum(toy, isotropic):
    """Converged: no feasible perturbation lowers the objective, and a second solve from another
    start lands on the same image."""
    _, _, sino, op = toy
    gamma = 0.5
    res = tv_ls(sino, op, gamma, isotropic=isotropic, tol=1e-7, max_iter=20000)
    assert res.converged
    y = torch.from_numpy(sino)[None]

    def objective(x):
        x = torch.from_numpy(np.asarray(x, np.float32))
        return 0.5 * float((op(x[None]) - y).pow(2).sum()) + gamma * float(tv_norm(x, isotropic))

    assert objective(res.image) == pytest.approx(res.objective, rel=1e-5)
    rng = np.random.default_rng(0)
    for scale in (1e-2, 1e-3):
        for _ in range(5):
            trial = np.clip(res.image + scale * rng.standard_normal(res.image.shape), 0, None)
            assert objective(trial) >= res.objective * (1 - 1e-6)
    other = tv_ls(sino, op, gamma, isotropic=isotropic, tol=1e-7, max_iter=20000,
                  x0=np.full_like(res.image, 2.0))
    assert np.abs(other.image - res.image).max() < 2e-3


def test_tv_ls_beats_sirt_and_respects_constraints(toy):
    img, _, sino, op = toy
    tv = tv_ls(sino, op, 0.3)
    sr = sirt(sino, op, 300)
    err = lambda x: float(np.sqrt(np.mean((x - img) ** 2)))  # noqa: E731
    assert err(tv.image) < 0.6 * err(sr)
    assert tv.image.min() >= 0.0
    free = tv_ls(sino, op, 0.3, nonneg=False)
    assert free.image.min() < 0.0  # the constraint was active
    assert tv.iterations < 10000


def test_tv_ls_refuses_bad_weights(toy):
    _, _, sino, op = toy
    with pytest.raises(ValueError, match="gamma"):
        tv_ls(sino, op, -1.0)
    with pytest.raises(ValueError, match="balance"):
        tv_ls(sino, op, 1.0, balance=0.0)


def test_the_divergence_is_minus_the_adjoint_of_the_gradients():
    from tomopy_dip.baselines import _div
    from tomopy_dip.fitting.losses import image_gradient, volume_gradient

    g = torch.Generator().manual_seed(0)
    for grad, n in ((image_gradient, 2), (volume_gradient, 3)):
        x = torch.randn(4, 6, 5, generator=g, dtype=torch.float64)
        p = torch.randn(n, 4, 6, 5, generator=g, dtype=torch.float64)
        assert float((grad(x) * p).sum()) == pytest.approx(-float((x * _div(p)).sum()), rel=1e-12)


@pytest.mark.parametrize("isotropic", [True, False])
def test_volume_tv_of_a_stack(toy, isotropic):
    """A stack of identical slices: the volume's solution is the slice's (its differences between
    slices are zero, so it minimises the 3-D objective too). A stack of different noisy slices:
    the volume's solution has a lower 3-D objective than the slices solved one by one, and the
    slice-by-slice solve of a stack is the single-slice solve of each."""
    from tomopy_dip.fitting.losses import volume_total_variation

    img, theta, sino, op = toy
    one = tv_ls(sino, op, 0.5, isotropic=isotropic, tol=1e-7, max_iter=20000)
    same = tv_ls(np.stack([sino] * 3), op, 0.5, isotropic=isotropic, tol=1e-7, max_iter=20000, volume=True)
    assert same.image.shape == (3, 32, 32)
    assert np.abs(same.image - one.image).max() < 2e-3
    noisy = np.stack([simulate(img, theta, noise=0.05, seed=s) for s in range(3)])
    vol = tv_ls(noisy, op, 0.5, isotropic=isotropic, volume=True)
    flat = tv_ls(noisy, op, 0.5, isotropic=isotropic)
    y = torch.from_numpy(noisy)

    def objective3d(x):
        x = torch.from_numpy(x)
        return 0.5 * float((op(x) - y).pow(2).sum()) + 0.5 * float(volume_total_variation(x, isotropic).sum())

    assert objective3d(vol.image) == pytest.approx(vol.objective, rel=1e-5)
    assert vol.objective < objective3d(flat.image)
    second = tv_ls(noisy[1], op, 0.5, isotropic=isotropic)
    assert np.abs(flat.image[1] - second.image).max() < 5e-3
    with pytest.raises(ValueError, match="volume=True needs a stack"):
        tv_ls(sino, op, 0.5, volume=True)
