"""The U-Net ensemble: shapes, independence of the copies, state dicts, configuration checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tomopy_dip.networks import UNet, UNetConfig

CFG = UNetConfig(channels=(8, 8, 16), skip_channels=(0, 4, 4))


def _gens(*seeds):
    return [torch.Generator().manual_seed(s) for s in seeds]


@pytest.mark.parametrize("hw", [(32, 32), (40, 36), (33, 47), (17, 9)])
def test_output_shape_matches_input(hw):
    net = UNet(CFG, n_models=2)
    out = net(torch.randn(1, 2, *hw))
    assert out.shape == (1, 2, *hw)
    assert torch.isfinite(out).all()


def test_default_config_builds():
    cfg = UNetConfig()
    assert cfg.scales == len(cfg.channels) == len(cfg.skip_channels)
    net = UNet(cfg)
    assert net(torch.zeros(1, 1, 24, 24)).shape == (1, 1, 24, 24)


def test_ensemble_copy_equals_single_network_with_same_generator():
    """Copy k of an ensemble computes exactly what a lone network with generator k computes."""
    seeds = (11, 22, 33)
    ens = UNet(CFG, 3, _gens(*seeds))
    z = torch.randn(1, 3, 28, 30)
    out = ens(z)
    for k, s in enumerate(seeds):
        single = UNet(CFG, 1, _gens(s))
        torch.testing.assert_close(out[:, k:k + 1], single(z[:, k:k + 1]), rtol=1e-5, atol=1e-5)
    # copies differ from each other (different initialisation)
    assert not torch.allclose(out[:, 0], out[:, 1])


def test_copies_are_independent_under_backprop():
    ens = UNet(CFG, 3, _gens(1, 2, 3))
    z = torch.randn(1, 3, 16, 16)
    ens(z)[:, 1].pow(2).sum().backward()
    params = list(ens.parameters())
    norms = ens.per_model_grad_norm(params)
    assert norms.shape == (3,)
    assert norms[1] > 0 and norms[0] == 0 and norms[2] == 0
    # scaling one copy's gradients leaves the others untouched
    before = [p.grad.clone() for p in params]
    ens.scale_grads(params, torch.tensor([1.0, 0.5, 1.0]))
    after_norms = ens.per_model_grad_norm(params)
    assert after_norms[1] == pytest.approx(0.5 * float(norms[1]), rel=1e-5)
    for b, p in zip(before, params):
        torch.testing.assert_close(p.grad.view(3, -1)[0], b.view(3, -1)[0])


def test_same_input_different_copy_gives_gradient_matching_single_net():
    seeds = (5, 6)
    ens = UNet(CFG, 2, _gens(*seeds))
    single = UNet(CFG, 1, _gens(seeds[1]))
    z = torch.randn(1, 1, 20, 20)
    ens(z.repeat(1, 2, 1, 1))[:, 1].sum().backward()
    single(z).sum().backward()
    assert ens.per_model_grad_norm(list(ens.parameters()))[1] == pytest.approx(
        float(single.per_model_grad_norm(list(single.parameters()))[0]), rel=1e-4)


def test_copy_state_round_trip():
    ens = UNet(CFG, 3, _gens(7, 8, 9))
    state = ens.copy_state(2)
    single = UNet(CFG, 1, _gens(0))
    single.load_copy_state(state)
    z = torch.randn(1, 1, 24, 24)
    torch.testing.assert_close(single(z), ens(z.repeat(1, 3, 1, 1))[:, 2:3], rtol=1e-5, atol=1e-5)
    # loading into all copies makes them identical
    ens.load_copy_state(state)
    out = ens(z.repeat(1, 3, 1, 1))
    torch.testing.assert_close(out[:, 0], out[:, 1])
    # and into one copy only
    ens2 = UNet(CFG, 2, _gens(1, 2))
    ens2.load_copy_state(state, index=0)
    out2 = ens2(z.repeat(1, 2, 1, 1))
    torch.testing.assert_close(out2[:, 0:1], single(z), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(out2[:, 0], out2[:, 1])


def test_load_copy_state_rejects_foreign_weights():
    state = UNet(UNetConfig(channels=(8, 8, 16, 16), skip_channels=(0, 0, 4, 4))).copy_state(0)
    with pytest.raises(ValueError, match="do not fit"):
        UNet(CFG).load_copy_state(state)
    bigger = UNet(UNetConfig(channels=(8, 8, 32), skip_channels=(0, 4, 4))).copy_state(0)
    with pytest.raises(ValueError, match="shape"):
        UNet(CFG).load_copy_state(bigger)


def test_encoder_decoder_partition_the_parameters():
    net = UNet(CFG, 2)
    enc = {id(p) for p in net.encoder_parameters()}
    dec = {id(p) for p in net.decoder_parameters()}
    assert enc and dec and not enc & dec
    assert enc | dec == {id(p) for p in net.parameters()}
    z = torch.randn(1, 2, 16, 16)
    torch.testing.assert_close(net.decode(net.encode(z)), net(z))


def test_sigmoid_output():
    net = UNet(UNetConfig(channels=(8, 8), skip_channels=(0, 4), out_activation="sigmoid"))
    with torch.no_grad():
        out = net(10 * torch.randn(1, 1, 16, 16))
    assert float(out.min()) >= 0 and float(out.max()) <= 1


def test_config_round_trip():
    cfg = UNetConfig(channels=[8, 16], skip_channels=[0, 4], norm_groups=2)
    assert cfg.channels == (8, 16)
    assert UNetConfig.from_dict(cfg.to_dict()) == cfg
    assert UNetConfig.from_dict({**cfg.to_dict(), "unrelated": 1}) == cfg


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"channels": (8, 8), "skip_channels": (0, 4, 4)}, "skip_channels"),
        ({"channels": (), "skip_channels": ()}, "channels"),
        ({"channels": (8, 0), "skip_channels": (0, 4)}, "channels"),
        ({"channels": (8, 8), "skip_channels": (0, -1)}, "skip_channels"),
        ({"channels": (8, 6), "skip_channels": (0, 4), "norm_groups": 4}, "norm_groups"),
        ({"channels": (8, 8), "skip_channels": (0, 4), "out_activation": "relu"}, "out_activation"),
        ({"channels": (8, 8), "skip_channels": (0, 4), "in_channels": 0}, "in_channels"),
    ],
)
def test_config_rejects_bad_values(kwargs, word):
    with pytest.raises(ValueError, match=word):
        UNetConfig(**kwargs)


def test_generator_count_must_match():
    with pytest.raises(ValueError, match="generators"):
        UNet(CFG, 2, _gens(1))


def test_initialisation_is_reproducible():
    z = torch.randn(1, 1, 16, 16)
    torch.testing.assert_close(UNet(CFG, 1, _gens(3))(z), UNet(CFG, 1, _gens(3))(z))
    assert not torch.allclose(UNet(CFG, 1, _gens(3))(z), UNet(CFG, 1, _gens(4))(z))


def test_image_inputs_get_no_skip_into_the_finest_scale():
    """FBP / backprojection inputs: no skip into scale 0 (it would copy the input's streaks)."""
    from tomopy_dip.methods import METHODS
    from tomopy_dip.networks import default_skip_channels
    from tomopy_dip.options import parse_options

    assert default_skip_channels(4, image_input=False) == (4, 4, 4, 4)
    assert default_skip_channels(4, image_input=True) == (0, 0, 4, 4)
    assert default_skip_channels(3, image_input=True) == (0, 0, 4)

    def skips(method, **kw):
        m = METHODS[method]
        return parse_options(kw, m.accepted, m.defaults, method).network((128, 128)).skip_channels

    assert skips("tv_dip") == (4, 4, 4, 4)
    assert skips("tv_dip", network_input="fbp") == (0, 0, 4, 4)
    assert skips("aseqdip") == (0, 0, 4, 4)
    assert skips("aseqdip", network_input="backprojection", channels=(8, 8, 8)) == (0, 0, 4)
    assert skips("dip", channels=(8, 16)) == (4, 4)
    assert skips("aseqdip", skip_channels=(4, 4, 4, 4)) == (4, 4, 4, 4)  # given: kept
    with pytest.raises(ValueError, match="scales"):
        default_skip_channels(0, image_input=True)


def test_the_default_depth_follows_the_image():
    """Unset channels: 32 per scale, the coarsest scale about 16 pixels; set ones are kept."""
    from tomopy_dip.methods import METHODS
    from tomopy_dip.networks import default_channels
    from tomopy_dip.options import parse_options

    assert [len(default_channels((n, n))) for n in (16, 32, 64, 128, 256, 512)] == [1, 2, 3, 4, 5, 6]
    assert len(default_channels((256, 64))) == 3  # the shorter side decides
    for n in (20, 100, 181, 640, 2048):  # the coarsest side lands within a factor sqrt(2) of 16
        coarsest = n / 2 ** (len(default_channels((n, n))) - 1)
        assert 16 / 2 ** 0.5 <= coarsest <= 16 * 2 ** 0.5, n
    m = METHODS["tv_dip"]

    def network(shape, **kw):
        return parse_options(kw, m.accepted, m.defaults, "tv_dip").network(shape)

    assert network((256, 256)) == UNetConfig(channels=(32,) * 5, skip_channels=(4,) * 5)
    assert network((128, 128)) == UNetConfig()  # the configuration tuned at 128²
    assert network((256, 256), channels=(8, 16)).channels == (8, 16)
    assert network((512, 512), skip_channels=(0, 4, 4)).channels == (32, 32, 32)
    with pytest.raises(ValueError):
        default_channels((0, 4))


def test_the_fit_builds_the_default_depth_for_its_grid():
    from tomopy_dip import reconstruct

    theta = np.linspace(0, np.pi, 12, endpoint=False)
    sino = np.random.default_rng(0).random((1, 12, 64)).astype(np.float32)
    for grid, scales in ((64, 3), (32, 2)):
        rec = reconstruct(sino, theta, method="dip", num_iter=1, keep_network=True, progress=False,
                          num_gridx=grid, num_gridy=grid)
        assert rec.networks[0].config.scales == scales, grid
