"""dims=3: the slices of a call fitted together by one 3-D U-Net (a slab), through every entry
point; the 3-D network computes what a 3-D network should, and the slab's slices are coupled."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tomopy_dip
from tomopy_dip.fitting import memory
from tomopy_dip.learning.checkpoints import CHECKPOINTS, CheckpointMatchWarning, choose_checkpoint, load_checkpoint
from tomopy_dip.learning.phantoms import shepp_logan
from tomopy_dip.networks import UNet, UNetConfig
from tomopy_dip.physics.geometry import Geometry
from tomopy_dip.physics.measurement import simulate

THETA = np.linspace(0, np.pi, 16, endpoint=False)
NET = {"channels": (8, 8, 16), "skip_channels": (0, 4, 4), "progress": False}


@pytest.fixture(scope="module")
def slab():
    """Four slices of a phantom whose contrast drifts along the slab."""
    base = shepp_logan(24)
    vol = np.stack([base * (1.0 + 0.1 * k) for k in range(4)])
    return simulate(vol, THETA, noise=0.02)


def test_copies_of_a_3d_network_compute_what_single_networks_compute():
    """The grouped layout holds independent 3-D networks: copy k of an ensemble equals a single
    network initialised from the same generator, on volumes of any depth."""
    cfg = UNetConfig(channels=(4, 4, 8), skip_channels=(0, 2, 2), dims=3)
    gens = [torch.Generator().manual_seed(s) for s in (3, 4)]
    pair = UNet(cfg, 2, gens)
    x = torch.randn(1, 2, 5, 12, 10)
    out = pair(x)
    assert out.shape == (1, 2, 5, 12, 10)
    for k, seed in enumerate((3, 4)):
        single = UNet(cfg, 1, [torch.Generator().manual_seed(seed)])
        torch.testing.assert_close(out[:, k:k + 1], single(x[:, k:k + 1]), rtol=1e-5, atol=1e-6)
        assert any(isinstance(m, torch.nn.Conv3d) for m in single.modules())


def test_a_3d_slab_couples_its_slices_and_a_2d_fit_does_not(slab):
    kw = dict(NET, num_iter=15, stop="none")
    base = tomopy_dip.reconstruct(slab, THETA, method="tv_dip", dims=3, **kw)
    changed = slab.copy()
    changed[3] *= 1.5
    other = tomopy_dip.reconstruct(changed, THETA, method="tv_dip", dims=3, **kw)
    assert base.images.shape == (4, 24, 24) and list(base.iterations_run) == [15] * 4
    assert not np.allclose(base.images[0], other.images[0], atol=1e-4)  # slice 3's data reach slice 0
    flat = tomopy_dip.reconstruct(slab, THETA, method="tv_dip", **kw)
    flat_other = tomopy_dip.reconstruct(changed, THETA, method="tv_dip", **kw)
    np.testing.assert_array_equal(flat.images[0], flat_other.images[0])


def test_a_slab_has_one_data_scale_and_range(slab):
    res = tomopy_dip.reconstruct(slab, THETA, method="dip", dims=3, num_iter=2, **NET)
    assert np.all(res.scale == res.scale[0]) and np.all(res.output_range == res.output_range[0])
    per_slice = tomopy_dip.reconstruct(slab, THETA, method="dip", num_iter=2, **NET)
    assert res.scale[0] == pytest.approx(per_slice.scale.max())  # the largest slice's scale


def test_recon_fits_the_call_as_one_slab_whatever_ncore(slab):
    proj = slab.swapaxes(0, 1)
    kw = dict(NET, algorithm=tomopy_dip.tv_dip, dims=3, num_iter=10, stop="none")
    one = tomopy_dip.recon(proj, THETA, ncore=1, **kw)
    two = tomopy_dip.recon(proj, THETA, ncore=2, **kw)
    np.testing.assert_array_equal(one, two)
    whole = tomopy_dip.reconstruct(slab, THETA.astype(np.float32), method="tv_dip", dims=3, num_iter=10,
                                   stop="none", **NET)  # recon passes TomoPy's float32 angles
    np.testing.assert_array_equal(one, whole.images)


@pytest.mark.parametrize("method", ["dip", "edip_fe", "aseqdip"])
def test_every_method_runs_as_a_slab(slab, method):
    with pytest.warns(CheckpointMatchWarning, match="3-D") if method == "edip_fe" else _nothing():
        res = tomopy_dip.reconstruct(slab, THETA, method=method, dims=3, num_iter=6, stop="none",
                                     **({"progress": False} if method == "edip_fe" else NET))
    assert res.images.shape == (4, 24, 24) and np.isfinite(res.images).all()
    assert list(res.stop_reason) == ["num_iter"] * 4


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_edip_refuses_a_2d_checkpoint_for_a_slab(slab):
    with pytest.raises(ValueError, match="holds a 2-D network, the fit asks for dims=3"):
        tomopy_dip.reconstruct(slab, THETA, method="edip", dims=3, checkpoint="edip_parallel", num_iter=1,
                               progress=False)
    # the registered 3-D checkpoint serves 48-128 px and 20-180 views: not this 24 px, 16-view slab
    with pytest.raises(ValueError, match="'edip_parallel_3d', does not suit these data"):
        tomopy_dip.reconstruct(slab, THETA, method="edip", dims=3, mismatch="error", num_iter=1, progress=False)


def test_the_shipped_3d_checkpoint_is_chosen_for_slabs_only():
    geom = Geometry(np.linspace(0, np.pi, 30, endpoint=False), 64)
    assert choose_checkpoint(geom, dims=3) == ("edip_parallel_3d", [])
    name, _ = choose_checkpoint(geom, dims=2)
    assert CHECKPOINTS[name].dims == 2
    ckpt = load_checkpoint("edip_parallel_3d")  # the packaged file, SHA-256 checked
    assert ckpt.config.dims == 3 and ckpt.metadata["dims"] == 3


@pytest.mark.parametrize("bad", [1, 4, 2.5, True, "3"])
def test_dims_must_be_2_or_3(slab, bad):
    with pytest.raises((ValueError, TypeError), match="dims"):
        tomopy_dip.reconstruct(slab, THETA, method="dip", dims=bad, num_iter=1, progress=False)


def test_the_memory_plan_counts_the_whole_slab():
    one = tomopy_dip.estimate_memory("tv_dip", {"dims": 3, "device": "cpu"}, 90, 128, nslices=1, in_process=False)
    slab = tomopy_dip.estimate_memory("tv_dip", {"dims": 3, "device": "cpu"}, 90, 128, nslices=16, in_process=False)
    flat = tomopy_dip.estimate_memory("tv_dip", {"device": "cpu"}, 90, 128, nslices=16, in_process=False)
    fixed = memory.NETWORK_FIXED_BYTES
    assert 10 < (slab.network - fixed) / (one.network - fixed) <= 16  # coarser scales are thinner slabs
    flat_one = tomopy_dip.estimate_memory("tv_dip", {"device": "cpu"}, 90, 128, nslices=1, in_process=False)
    assert flat.network == flat_one.network  # 2-D: one slice's network at a time


def test_a_fitted_network_continues_only_in_its_own_dimension(slab):
    res = tomopy_dip.reconstruct(slab, THETA, method="dip", dims=3, num_iter=2, keep_network=True, **NET)
    assert res.networks[0] is res.networks[3] and res.networks[0].config.dims == 3
    again = tomopy_dip.reconstruct(slab, THETA, method="dip", dims=3, num_iter=2, init_network=res.networks[0],
                                   **NET)
    assert again.images.shape == (4, 24, 24)
    with pytest.raises(ValueError, match="init_network is a 3-D network, the fit asks for dims=2"):
        tomopy_dip.reconstruct(slab, THETA, method="dip", num_iter=2, init_network=res.networks[0], **NET)


def test_a_long_call_is_fitted_as_overlapping_slabs_blended_linearly():
    """Six rows, slabs of 4 sharing 2: rows 0-1 come from the first slab alone, rows 4-5 from
    the second, rows 2-3 from both with linear weights (2/3, 1/3 and 1/3, 2/3)."""
    vol = np.stack([shepp_logan(24) * (1.0 + 0.05 * k) for k in range(6)])
    sino = simulate(vol, THETA, noise=0.02)
    kw = dict(NET, method="tv_dip", dims=3, num_iter=5, stop="none", slab=4, slab_overlap=2)
    whole = tomopy_dip.reconstruct(sino, THETA, **kw).images
    first = tomopy_dip.reconstruct(sino[:4], THETA, **kw).images
    second = tomopy_dip.reconstruct(sino[2:], THETA, **kw).images
    np.testing.assert_array_equal(whole[:2], first[:2])
    np.testing.assert_array_equal(whole[4:], second[2:])
    np.testing.assert_allclose(whole[2], (2 * first[2] + second[0]) / 3, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(whole[3], (first[3] + 2 * second[1]) / 3, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="slab_overlap"):
        tomopy_dip.reconstruct(sino, THETA, **{**kw, "slab_overlap": 4})
