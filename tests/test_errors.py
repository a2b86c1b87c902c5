"""Bad input fails fast with a ValueError / TypeError that names the culprit.

Every call below asks for a million iterations with a callback that fails the test if fitting
ever starts, so an error raised late (after work began) is caught as well as a missing one.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tomopy_dip
from tomopy_dip.learning.phantoms import shepp_logan
from tomopy_dip.physics.measurement import simulate

N, NPROJ = 16, 10
THETA = np.linspace(0, np.pi, NPROJ, endpoint=False)
SINO = simulate(np.stack([shepp_logan(N)] * 2), THETA)  # (2, NPROJ, N)


def _never(d):  # pragma: no cover - called only when the test is about to fail
    pytest.fail(f"fitting started before the bad input was rejected (callback got {sorted(d)})")


BASE = {"num_iter": 10**6, "callback": _never, "progress": False, "channels": (8, 8, 16),
        "skip_channels": (0, 4, 4)}


def _reconstruct(tomo=SINO, theta=THETA, center=None, method="tv_dip", **kw):
    return tomopy_dip.reconstruct(tomo, theta, center, method=method, **{**BASE, **kw})


def _call(tomo=SINO, center=8.0, recon=None, theta=THETA, **kw):
    if recon is None:
        recon = np.zeros((np.shape(tomo)[0], N, N) if np.ndim(tomo) == 3 else (N, N), np.float32)
    return tomopy_dip.tv_dip(tomo, center, recon, theta, **{**BASE, **kw})


def _recon(tomo=None, theta=THETA, **kw):
    tomo = SINO.swapaxes(0, 1) if tomo is None else tomo
    return tomopy_dip.recon(tomo, theta, algorithm=tomopy_dip.tv_dip, **{**BASE, **kw})


# ----------------------------------------------------------------------------- the data
@pytest.mark.parametrize("tomo", [np.zeros(N), np.zeros((1, 2, NPROJ, N)), np.zeros((0, NPROJ, N)),
                                  np.zeros((2, NPROJ, 1))], ids=["1d", "4d", "no-slices", "1-pixel"])
def test_bad_tomo_shape(tomo):
    with pytest.raises(ValueError, match="tomo"):
        _reconstruct(tomo, THETA[: tomo.shape[-2]] if tomo.ndim >= 2 else THETA)
    with pytest.raises(ValueError, match="tomo"):
        _call(tomo, theta=THETA[: tomo.shape[-2]] if tomo.ndim >= 2 else THETA,
              recon=np.zeros((N, N), np.float32) if tomo.ndim != 3 else None)


@pytest.mark.parametrize("dtype", [np.complex64, np.bool_, object])
def test_bad_tomo_dtype(dtype):
    with pytest.raises(TypeError, match="tomo"):
        _reconstruct(SINO.astype(dtype))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_tomo(bad):
    tomo = SINO.copy()
    tomo[1, 3, 5] = bad
    with pytest.raises(ValueError, match="tomo"):
        _reconstruct(tomo)
    with pytest.raises(ValueError, match="tomo"):
        _call(tomo)


def test_theta_length_mismatch():
    with pytest.raises(ValueError, match="theta"):
        _reconstruct(theta=THETA[:-1])
    with pytest.raises(ValueError, match="theta"):
        _call(theta=THETA[:-1])
    # the stand-in's message names theta (TomoPy's own says "There must be one angle for every projection.")
    with pytest.raises(ValueError, match=f"theta has {NPROJ - 1} angles but tomo has {NPROJ} projections"):
        _recon(theta=THETA[:-1])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_theta(bad):
    theta = THETA.copy()
    theta[2] = bad
    with pytest.raises(ValueError, match="theta"):
        _reconstruct(theta=theta)
    with pytest.raises(ValueError, match="theta"):
        _call(theta=theta.astype(np.float32))


def test_theta_must_be_one_dimensional():
    with pytest.raises(ValueError, match="theta"):
        _reconstruct(theta=THETA[None])


@pytest.mark.parametrize("center", [N - 0.4, -0.6, 100.0, np.nan])
def test_centre_off_the_detector(center):
    with pytest.raises(ValueError, match="center"):
        _reconstruct(center=center)
    with pytest.raises(ValueError, match="center"):
        _call(center=np.float32(center))
    with pytest.raises(ValueError, match="center"):
        _recon(center=center)


def test_wrong_number_of_centres():
    with pytest.raises(ValueError, match="center"):
        _reconstruct(center=[8.0, 8.0, 8.0])
    with pytest.raises(ValueError, match="center"):
        _call(center=np.array([8.0, 8.0, 8.0], np.float32))
    with pytest.raises(ValueError, match="There must be one center for every slice."):
        _recon(center=[8.0, 8.0, 8.0])


def test_centre_not_a_number():
    with pytest.raises((TypeError, ValueError), match="center"):
        _reconstruct(center="middle")


# ----------------------------------------------------------------------------- keywords
def test_unknown_keyword_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="nm_iter"):
        _reconstruct(nm_iter=5)
    with pytest.raises(TypeError, match="nm_iter"):
        _call(nm_iter=5)
    with pytest.raises(TypeError, match="nm_iter"):
        _recon(nm_iter=5)
    with pytest.raises(TypeError, match="nm_iter"):
        _call(options={"nm_iter": 5})
    # method-specific keywords belong to their method only
    with pytest.raises(TypeError, match="inner_steps"):
        _reconstruct(inner_steps=3)
    with pytest.raises(TypeError, match="calibrate"):  # EDIP's, meaningless for a random network
        _reconstruct(calibrate=True)


@pytest.mark.parametrize(
    "kw, exc",
    [
        ({"num_iter": -1}, ValueError),
        ({"num_iter": 2.5}, TypeError),
        ({"num_iter": "10"}, TypeError),
        ({"num_iter": True}, TypeError),
        ({"lr": 0}, ValueError),
        ({"lr": -1e-3}, ValueError),
        ({"lr": float("nan")}, ValueError),
        ({"lr": "fast"}, TypeError),
        ({"tv_weight": -1.0}, ValueError),
        ({"tv_weight": float("inf")}, ValueError),
        ({"select": "best"}, ValueError),
        ({"device": "gpu"}, ValueError),
        ({"device": 3.5}, ValueError),
        ({"network_input": "zeros"}, ValueError),
        ({"channels": (8, "a", 16)}, TypeError),
        ({"channels": 8}, TypeError),
        ({"callback_every": 0}, ValueError),
        ({"batch_size": 0}, ValueError),
        ({"seed": "abc"}, TypeError),
        ({"progress": "yes"}, TypeError),
        ({"clip_grad": -1.0}, ValueError),
        ({"lr_warmup": -1}, ValueError),
        ({"lr_warmup": 2.5}, TypeError),
        ({"filter_name": "parzen"}, ValueError),
        ({"backend": "gpu"}, ValueError),
        ({"memory_limit": -5}, ValueError),
        ({"norm_groups": 0}, ValueError),
        ({"out_activation": "relu"}, ValueError),
        ({"num_gridx": 0}, ValueError),
        ({"beam": "cone"}, ValueError),
        ({"projector": "cuda"}, ValueError),
    ],
    ids=lambda v: repr(v) if isinstance(v, dict) else v.__name__,
)
def test_bad_keyword_value_names_the_keyword(kw, exc):
    name = next(iter(kw))
    with pytest.raises(exc, match=name):
        _reconstruct(**kw)
    with pytest.raises(exc, match=name):
        _call(**kw)


def test_callback_must_be_callable():
    with pytest.raises(TypeError, match="callback"):
        _reconstruct(callback=42)


def test_cuda_requested_without_cuda():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="cuda"):
        _reconstruct(device="cuda")


def test_skip_channels_must_match_channels():
    with pytest.raises(ValueError, match="skip_channels"):
        _reconstruct(channels=(8, 8, 16), skip_channels=(0, 4))
    with pytest.raises(ValueError, match="norm_groups"):
        _reconstruct(channels=(8, 6, 16), skip_channels=(0, 4, 4), norm_groups=4)


def test_fanflat_needs_distances():
    with pytest.raises(ValueError, match="source_origin"):
        _reconstruct(beam="fanflat")
    with pytest.raises(ValueError, match="origin_detector"):
        _reconstruct(beam="fanflat", source_origin=100.0)
    with pytest.raises(ValueError, match="fanflat"):
        _reconstruct(source_origin=100.0, origin_detector=50.0)  # parallel beam
    with pytest.raises(ValueError, match="projector"):
        _reconstruct(beam="fanflat", source_origin=100.0, origin_detector=50.0, projector="strip")


def test_unknown_method_and_algorithm():
    with pytest.raises(ValueError, match="method"):
        tomopy_dip.reconstruct(SINO, THETA, method="sirt")
    with pytest.raises(ValueError, match="algorithm"):
        tomopy_dip.recon(SINO, THETA, sinogram_order=True, algorithm="gridrec")
    with pytest.raises(TypeError, match="algorithm"):
        tomopy_dip.recon(SINO, THETA, sinogram_order=True, algorithm=42)


def test_options_must_be_a_dict():
    with pytest.raises(TypeError, match="options"):
        _call(options=["num_iter", 5])


def test_memory_limit_too_small_for_matrix_backend():
    with pytest.raises(MemoryError, match="memory_limit"):
        _reconstruct(backend="matrix", memory_limit=100)


# ----------------------------------------------------------------------------- the output array
def test_bad_recon_arrays():
    with pytest.raises(TypeError, match="recon"):
        _call(recon=np.zeros((2, N, N), np.int32))
    with pytest.raises(TypeError, match="recon"):
        _call(recon=[[0.0] * N] * N)
    ro = np.zeros((2, N, N), np.float32)
    ro.setflags(write=False)
    with pytest.raises(ValueError, match="recon"):
        _call(recon=ro)
    with pytest.raises(ValueError, match="recon"):
        _call(recon=np.zeros((N, N), np.float32))  # 3-D tomo, 2-D recon
    with pytest.raises(ValueError, match="slices"):
        _call(recon=np.zeros((3, N, N), np.float32))
    with pytest.raises(ValueError, match="num_gridx"):
        _call(recon=np.zeros((2, N, N), np.float32), num_gridx=N + 2)


def test_bad_init_recon_and_layout():
    with pytest.raises(ValueError, match="init_recon"):
        _recon(init_recon=np.zeros((2, N + 1, N), np.float32))
    with pytest.raises(ValueError, match="tomo"):
        _recon(tomo=SINO[0])  # the stand-in wants 3-D data, as TomoPy does


def test_errors_do_not_touch_the_output():
    recon = np.full((2, N, N), 5.0, np.float32)
    with pytest.raises(ValueError):
        _call(recon=recon, lr=-1.0)
    np.testing.assert_array_equal(recon, 5.0)


# ----------------------------------------------------------------------------- one validator, angles, divergence
@pytest.mark.parametrize("dtype", [np.complex64, np.bool_, str])
def test_recon_validates_like_reconstruct(dtype):
    with pytest.raises(TypeError, match="tomo must be a real numeric array"):
        _recon(SINO.swapaxes(0, 1).astype(dtype))
    with pytest.raises(ValueError, match="tomo"):
        _recon(np.zeros((NPROJ, 0, N), np.float32))


@pytest.mark.parametrize("theta, words", [(np.arange(0, 180, 18.0), "look like degrees"),
                                          (np.full(NPROJ, 0.3), "equal angles")])
def test_angles_that_cannot_be_radians_are_refused_everywhere(theta, words):
    with pytest.raises(ValueError, match=f"theta .*{words}"):
        _reconstruct(theta=theta)
    with pytest.raises(ValueError, match=words):
        _call(theta=theta)
    with pytest.raises(ValueError, match=words):
        _recon(theta=theta)
    _reconstruct(theta=np.linspace(0, 2 * np.pi, NPROJ), num_iter=0, callback=None)  # a full turn is fine


@pytest.mark.parametrize("kw, exc, name", [({"nchunk": -1}, ValueError, "nchunk"), ({"ncore": -1}, ValueError, "ncore"),
                                           ({"ncore": 1.5}, TypeError, "ncore"), ({"num_gridx": 0}, ValueError, "num_gridx"),
                                           ({"num_gridy": -3}, ValueError, "num_gridy"),
                                           ({"num_gridx": 16.5}, TypeError, "num_gridx")])
def test_recon_keywords_are_checked_before_work(kw, exc, name):
    with pytest.raises(exc, match=name):
        _recon(**kw)


def test_a_diverging_fit_is_an_error_naming_the_slice_and_the_cause():
    kw = dict(BASE, num_iter=20, callback=None, lr=1e30)
    with pytest.raises(FloatingPointError, match=r"slice\(s\) 0 .*lr=1e\+30"):
        tomopy_dip.reconstruct(SINO[0], THETA, method="tv_dip", **kw)


def test_one_diverging_slice_warns_and_keeps_the_others(monkeypatch):
    from tomopy_dip.fitting import losses

    value = losses.DataFidelity.value

    def poisoned(self, fit):  # the second slice's data term becomes NaN at its 3rd iteration
        v = value(self, fit)
        return v * float("nan") if fit.slice_ids == [1] and fit.k == 2 else v

    monkeypatch.setattr(losses.DataFidelity, "value", poisoned)
    kw = dict(BASE, num_iter=6, callback=None, stop="none")
    with pytest.warns(RuntimeWarning, match=r"slice\(s\) 1 \(iteration 2\)"):
        res = tomopy_dip.reconstruct(SINO, THETA, method="tv_dip", **kw)
    assert res.stop_reason == ["num_iter", "diverged"] and list(res.iterations_run) == [6, 3]
    assert np.isfinite(res.images).all() and res.iteration[1] <= 1
    np.testing.assert_array_equal(res.images[0], tomopy_dip.reconstruct(SINO[0], THETA, method="tv_dip", **kw).images)


def test_select_last_after_a_divergence_returns_the_last_finite_image(monkeypatch):
    from tomopy_dip.fitting import losses

    value = losses.DataFidelity.value
    monkeypatch.setattr(losses.DataFidelity, "value",
                        lambda self, fit: value(self, fit) * (float("nan") if fit.slice_ids == [1] and fit.k == 4 else 1.0))
    kw = dict(BASE, num_iter=8, callback=None, stop="none", select="last")
    with pytest.warns(RuntimeWarning, match="diverged|NaN"):
        res = tomopy_dip.reconstruct(SINO, THETA, method="dip", **kw)
    assert res.stop_reason == ["num_iter", "diverged"] and np.isfinite(res.images).all()
    assert 0 <= res.iteration[1] <= 3 and res.iteration[0] == 8
