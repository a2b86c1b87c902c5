"""The memory plan (tomopy_dip.fitting.memory): estimated from the configuration without
allocating, checked before any fitting, an impossible request refused with the knobs named."""

from __future__ import annotations

import resource

import numpy as np
import pytest
import torch

import tomopy_dip
from tomopy_dip.fitting import engine, memory
from tomopy_dip.fitting.memory import (MemoryPlan, activation_elements, check_memory, estimate_memory,
                                       parameter_count)
from tomopy_dip.networks import UNet, UNetConfig

from conftest import TINY

GiB = 2**30


def _saved_elements(config: UNetConfig, nx: int, ny: int, nz: int = 1) -> int:
    """Elements of the tensors autograd saves in a forward pass (weights and input left out)."""
    net = UNet(config)
    own = {p.data_ptr() for p in net.parameters()}
    z = torch.randn(1, 1, nx, ny) if config.dims == 2 else torch.randn(1, 1, nz, nx, ny)
    seen: dict[int, int] = {}

    def pack(t):
        ptr = t.data_ptr()
        if ptr not in own and ptr != z.data_ptr() and t.numel() > 64:  # not GroupNorm's statistics
            seen[ptr] = max(seen.get(ptr, 0), t.untyped_storage().nbytes() // t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        net(z)
    return sum(seen.values())


@pytest.mark.parametrize("config, shape", [
    (UNetConfig(), (37, 50)),
    (UNetConfig(channels=(8, 16, 16, 32, 32), skip_channels=(0, 0, 4, 0, 4), norm_groups=4), (41, 33)),
    (UNetConfig(channels=(8, 8, 16), skip_channels=(0, 4, 4), out_activation="none"), (20, 24)),
])
def test_activation_elements_are_what_autograd_saves(config, shape):
    assert activation_elements(config, *shape) == _saved_elements(config, *shape)
    assert parameter_count(config) == sum(p.numel() for p in UNet(config).parameters())


@pytest.mark.parametrize("nz", [1, 5, 8])
def test_activation_elements_of_a_3d_network_on_a_slab(nz):
    config = UNetConfig(channels=(8, 8, 16), skip_channels=(0, 4, 4), dims=3)
    assert activation_elements(config, 20, 17, nz) == _saved_elements(config, 20, 17, nz)


def test_the_estimate_grows_with_the_image():
    opts = {"device": "cpu", "backend": "astra"}
    small = estimate_memory("tv_dip", opts, 180, 256, in_process=False)
    large = estimate_memory("tv_dip", opts, 180, 512, in_process=False)
    per = memory.NETWORK_FIXED_BYTES
    assert (large.network - per) / (small.network - per) == pytest.approx(4.0, rel=0.02)
    # the default network gains a scale from 256² to 512² (default_channels): more parameters
    assert large.parameters > small.parameters and large.baseline == small.baseline
    fixed = {**opts, "channels": (32,) * 5}
    assert (estimate_memory("tv_dip", fixed, 180, 512, in_process=False).parameters
            == estimate_memory("tv_dip", fixed, 180, 256, in_process=False).parameters == small.parameters)
    assert 1.5 < large.total / small.total < 4.0  # the fixed parts do not grow
    bigger = estimate_memory("tv_dip", {**opts, "channels": (64,) * 5}, 180, 256, in_process=False)
    assert bigger.network - per == pytest.approx(2 * (small.network - per), rel=0.05)
    assert bigger.parameters > 3 * small.parameters
    three = estimate_memory("tv_dip", opts, 180, 256, nslices=3, in_process=False)
    assert three.data - small.data == 2 * 4 * (180 * 256 + 256 * 256)


def test_the_matrix_is_counted_with_its_build():
    plan = estimate_memory("tv_dip", {"device": "cpu", "backend": "matrix"}, 180, 128, in_process=False)
    assert plan.backend == "matrix" and plan.projector == plan.matrix_bytes > 0
    assert plan.projector_build == int((memory.MATRIX_BUILD_FACTOR - 1) * plan.matrix_bytes)
    assert plan.host_bytes == plan.baseline + plan.data + plan.projector + max(
        plan.network + plan.parameters, plan.projector_build)
    text = plan.text()
    assert text.startswith("about ") and "network" in text and "system matrix" in text and "while built" in text


def test_the_default_tooth_problem_fits_a_24_gib_machine():
    plan = estimate_memory("tv_dip", {"device": "cpu"}, 181, 640, backend_choice=False, in_process=False)
    assert plan.backend == "matrix" and plan.total < 8 * GiB
    check_memory(plan, available=22 * GiB)


def test_a_20000_grid_is_refused_naming_the_knobs_without_allocating():
    theta = np.linspace(0, np.pi, 181, endpoint=False)
    sino = np.random.default_rng(0).random((181, 640)).astype(np.float32)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(MemoryError) as err:
        tomopy_dip.reconstruct(sino, theta, method="tv_dip", num_gridx=20000, num_gridy=20000, progress=False)
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
    assert grown < GiB
    msg = str(err.value)
    assert "20000x20000" in msg and "GiB" in msg and "available" in msg
    assert "num_gridx" in msg and "downsample=2" in msg and "network" in msg


def test_a_forced_matrix_on_a_4096_detector_is_refused_naming_the_knobs():
    theta = np.linspace(0, np.pi, 720, endpoint=False)
    sino = np.zeros((720, 4096), np.float32)
    sino[:, 2000:2100] = 1.0
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(MemoryError) as err:
        tomopy_dip.reconstruct(sino, theta, method="dip", backend="matrix", progress=False)
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024 < GiB
    msg = str(err.value)
    assert "backend='astra'" in msg and "memory_limit" in msg and "downsample" in msg and "system matrix" in msg


def test_memory_limit_and_available_are_honoured():
    opts = {"device": "cpu", "memory_limit": 1000}
    auto = estimate_memory("tv_dip", opts, 60, 64)
    assert auto.backend == "astra" and auto.matrix_bytes == 0  # the matrix exceeds memory_limit
    forced = estimate_memory("tv_dip", {**opts, "backend": "matrix"}, 60, 64)
    options = tomopy_dip.fitting.memory._options("tv_dip", {**opts, "backend": "matrix"})[1]
    with pytest.raises(MemoryError, match="memory_limit"):
        check_memory(forced, available=100 * GiB, options=options)
    roomy = estimate_memory("tv_dip", {"device": "cpu"}, 60, 64)
    check_memory(roomy, available=100 * GiB)
    with pytest.raises(MemoryError, match=r"but 1\.0 MiB of memory are available"):
        check_memory(roomy, available=2**20)


def test_the_plan_counts_what_the_process_already_holds():
    fresh = estimate_memory("dip", {"device": "cpu"}, 60, 64, in_process=False)
    here = estimate_memory("dip", {"device": "cpu"}, 60, 64)
    assert fresh.resident == 0 and 0 < here.resident <= memory.BASELINE_BYTES + here.projector
    assert here.additional == here.host_bytes - here.resident


def test_auto_projects_on_the_fly_when_the_matrix_leaves_no_room(monkeypatch):
    theta = np.linspace(0, np.pi, 180, endpoint=False)
    sino = np.random.default_rng(1).random((180, 128)).astype(np.float32)
    kw = dict(TINY, num_iter=1, device="cpu")
    matrix = estimate_memory("dip", dict(kw, backend="matrix"), 180, 128)
    astra = estimate_memory("dip", dict(kw, backend="astra"), 180, 128)
    assert astra.additional < matrix.additional
    monkeypatch.setattr(memory, "available_memory", lambda: (astra.additional + matrix.additional) // 2)
    monkeypatch.setattr(memory, "_planned_backend",  # "auto" would take the matrix
                        lambda backend, need, limit: "matrix" if backend == "auto" else backend)
    used = []
    fit = engine.fit_batch
    monkeypatch.setattr(engine, "fit_batch",
                        lambda method, options, *a: used.append(options.backend) or fit(method, options, *a))
    tomopy_dip.reconstruct(sino, theta, method="dip", **kw)
    assert used == ["astra"]
    monkeypatch.setattr(memory, "available_memory", lambda: astra.additional // 2)
    with pytest.raises(MemoryError):
        tomopy_dip.reconstruct(sino, theta, method="dip", **kw)


def test_plan_text_and_description():
    plan = MemoryPlan(network=3 * GiB, parameters=2**20, projector=GiB, projector_build=0, data=2**20,
                      baseline=262 * 2**20, backend="astra", nproj=181, ndet=640, shape=(640, 640))
    assert plan.text().startswith("about 4.3 GiB: network 3.0 GiB, projector 1.0 GiB (on the fly)")
    assert plan.describe() == "1 slice of 181 views x 640 pixels on a 640x640 grid, float32, backend='astra'"
