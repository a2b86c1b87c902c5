"""precision="bfloat16": the network under bfloat16 autocast, everything else float32."""

from __future__ import annotations

import numpy as np
import torch

import tomopy_dip
from conftest import TINY
from tomopy_dip.fitting import loop
from tomopy_dip.learning.phantoms import shepp_logan
from tomopy_dip.metrics import psnr
from tomopy_dip.physics.measurement import simulate

THETA = np.linspace(0, np.pi, 30, endpoint=False)


def test_bfloat16_matches_float32_on_a_small_problem():
    img = shepp_logan(48)
    sino = simulate(img, THETA, noise=0.01)
    kw = dict(TINY, num_iter=400, lr=3e-3, stop="none")
    f32 = tomopy_dip.reconstruct(sino, THETA, method="tv_dip", **kw)
    b16 = tomopy_dip.reconstruct(sino, THETA, method="tv_dip", precision="bfloat16", **kw)
    assert b16.images.dtype == np.float32 and not np.array_equal(b16.images, f32.images)
    p32, p16 = psnr(f32.images, img), psnr(b16.images, img)
    assert p32 > psnr(tomopy_dip.reconstruct(sino, THETA, method="tv_dip", **{**kw, "num_iter": 0}).images, img) + 3
    assert abs(p16 - p32) < 0.5, (p32, p16)


def test_bfloat16_keeps_float32_weights_and_loss(monkeypatch):
    made = []
    orig = loop._make_network

    def make(*args):
        net, gens = orig(*args)
        made.append(net)
        return net, gens

    monkeypatch.setattr(loop, "_make_network", make)
    sino = simulate(shepp_logan(24), THETA[:20])
    res = tomopy_dip.reconstruct(sino, THETA[:20], method="dip", num_iter=3, precision="bfloat16", **TINY)
    assert all(p.dtype == torch.float32 for p in made[0].parameters())
    assert res.history["loss"].dtype == np.float32 and np.isfinite(res.history["loss"]).all()


def test_a_negated_object_reconstructs_as_well_as_the_positive_one():
    """The sigmoid output follows the data's sign: a negated sinogram (background-subtracted
    or phase data) is not clipped to zero."""
    img = shepp_logan(48)
    sino = simulate(img, THETA, noise=0.01)
    kw = dict(TINY, num_iter=1000, lr=3e-3, stop="none")
    pos = tomopy_dip.reconstruct(sino, THETA, method="tv_dip", **kw)
    neg = tomopy_dip.reconstruct(-sino, THETA, method="tv_dip", **kw)
    p_pos, p_neg = psnr(pos.images, img), psnr(-neg.images, img)
    assert abs(p_pos - p_neg) < 1.0, (p_pos, p_neg)
    assert pos.output_range[0, 0] == 0 and pos.output_range[0, 1] > 0
    assert neg.output_range[0, 1] == 0 and neg.output_range[0, 0] == -pos.output_range[0, 1]


def test_bfloat16_without_matrix_units_warns_before_the_fit(monkeypatch):
    """Emulated bfloat16 (an AVX2-only CPU) ran 40-65x slower than float32: say so before the
    fit; no warning where the units exist, for float32, or where torch cannot tell."""
    import warnings

    from tomopy_dip.fitting import engine

    sino = simulate(shepp_logan(24), THETA[:20])
    for units, precision, expected in ((False, "bfloat16", True), (True, "bfloat16", False),
                                       (None, "bfloat16", False), (False, "float32", False)):
        monkeypatch.setattr(engine, "cpu_bfloat16_units", lambda units=units: units)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            tomopy_dip.reconstruct(sino, THETA[:20], method="dip", num_iter=0, precision=precision,
                                   device="cpu", **TINY)
        said = [w for w in caught if "bfloat16 matrix units" in str(w.message)]
        assert len(said) == int(expected), (units, precision, [str(w.message) for w in caught])
        if said:
            assert issubclass(said[0].category, RuntimeWarning) and "precision='float32'" in str(said[0].message)


def test_cpu_bfloat16_units_answers_from_torch(monkeypatch):
    from tomopy_dip.utils import cpu_bfloat16_units

    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    assert cpu_bfloat16_units() is True
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    assert cpu_bfloat16_units() is False
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported")
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported")
    assert cpu_bfloat16_units() is None
