"""With a real TomoPy: ``tomopy.recon(..., algorithm=tomopy_dip.<method>)``.

Skipped when TomoPy is not importable (it is a conda-forge package, not a dependency): run it
with TomoPy installed, ``python -m pytest tests/test_tomopy_real.py``.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import tomopy_dip
from _helpers import corr
from conftest import TINY
from test_tomopy_processes import _threads, _worker_threads
from tomopy_dip.methods import METHODS, Method, register_method

tomopy = pytest.importorskip("tomopy")

pytestmark = pytest.mark.tomopy

KW = dict(TINY, num_iter=3)


@pytest.fixture(autouse=True)
def _tomopy_thread_limit(monkeypatch):
    """tomopy.recon sets TOMOPY_PYTHON_THREADS=ncore during a call and forgets to reset it when
    the algorithm raises, which silently caps every later call's ncore: start each test clean."""
    monkeypatch.delenv("TOMOPY_PYTHON_THREADS", raising=False)


@pytest.fixture(scope="module")
def volume(answers):
    """Two different slices of the recorded phantom (ndet=90), projection order, float32."""
    s = answers["phantom_sino_ndet90"]
    proj = np.ascontiguousarray(np.stack([s, s[:, ::-1], s], axis=1))  # (nproj, 3, ndet)
    return proj, answers["phantom_theta"], float(answers["phantom_center_ndet90"])


@pytest.fixture(scope="module")
def stand_in(volume):
    proj, theta, center = volume
    return tomopy_dip.recon(proj, theta, center=center, algorithm=tomopy_dip.dip, num_gridx=64,
                            num_gridy=64, **KW)


@pytest.mark.parametrize("nchunk", [None, 1, 0, 2])
def test_tomopy_recon_matches_stand_in(volume, stand_in, nchunk):
    proj, theta, center = volume
    out = tomopy.recon(proj, theta, center=center, algorithm=tomopy_dip.dip, ncore=2, nchunk=nchunk,
                       num_gridx=64, num_gridy=64, **KW)
    assert out.shape == (3, 64, 64) and out.dtype == np.float32
    np.testing.assert_allclose(out, stand_in, rtol=0, atol=1e-5 * np.abs(stand_in).max())
    np.testing.assert_allclose(out[2], out[0], rtol=0, atol=1e-5 * np.abs(stand_in).max())


def test_tomopy_sinogram_order_and_default_centre(volume):
    proj, theta, _ = volume
    sino = np.ascontiguousarray(proj.swapaxes(0, 1))
    before = sino.copy()
    out = tomopy.recon(sino, theta, sinogram_order=True, algorithm=tomopy_dip.dip, ncore=1, **KW)
    np.testing.assert_array_equal(sino, before)  # TomoPy hands over a view: never written
    ours = tomopy_dip.recon(sino, theta, sinogram_order=True, algorithm=tomopy_dip.dip, **KW)
    assert out.shape == (3, 90, 90)
    np.testing.assert_allclose(out, ours, rtol=0, atol=1e-5 * np.abs(ours).max())


def test_tomopy_options_dict_reaches_the_algorithm(volume):
    proj, theta, center = volume
    seen = []
    tomopy.recon(proj[:, :1], theta, center=center, algorithm=tomopy_dip.dip, ncore=1,
                 options={**TINY, "num_iter": 2, "callback": lambda d: seen.append(d["iteration"])})
    assert seen == [0, 1]


@pytest.mark.parametrize(
    "kw, exc, match",
    [
        ({"ncore": 1, "nm_iter": 3}, TypeError, "nm_iter"),
        ({"ncore": 2, "lr": -1.0}, ValueError, "lr"),
        ({"ncore": 2, "nchunk": 0, "select": "best"}, ValueError, "select"),
    ],
)
def test_tomopy_propagates_our_errors(volume, kw, exc, match):
    proj, theta, center = volume
    with pytest.raises(exc, match=match):
        tomopy.recon(proj, theta, center=center, algorithm=tomopy_dip.dip, **{**KW, **kw})


def test_tomopy_own_input_errors(volume):
    proj, theta, center = volume
    with pytest.raises(ValueError, match="There must be one angle for every projection."):
        tomopy.recon(proj, theta[:-1], center=center, algorithm=tomopy_dip.dip, **KW)
    with pytest.raises(ValueError, match="There must be one center for every slice."):
        tomopy.recon(proj, theta, center=[center, center], algorithm=tomopy_dip.dip, **KW)


def test_recorded_gridrec_is_reproduced_by_this_tomopy(volume, answers):
    proj, theta, center = volume
    gr = tomopy.recon(proj[:, :1], theta, center=center, algorithm="gridrec", num_gridx=64, num_gridy=64)
    np.testing.assert_allclose(gr[0], answers["phantom_gridrec_ndet90"], rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_tv_dip_output_overlays_gridrec(volume):
    proj, theta, center = volume
    gr = tomopy.recon(proj[:, :1], theta, center=center, algorithm="gridrec", num_gridx=64, num_gridy=64)
    out = tomopy.recon(proj[:, :1], theta, center=center, algorithm=tomopy_dip.tv_dip, num_gridx=64,
                       num_gridy=64, **{**TINY, "num_iter": 150, "lr": 1e-2, "tv_weight": 1e-5})
    c = corr(out[0], gr[0])
    assert c > 0.95, c
    # a flipped or shifted image matches clearly worse: the overlay is a real geometric match
    assert corr(out[0][::-1], gr[0]) < c - 0.03
    assert corr(np.roll(out[0], 1, axis=1), gr[0]) < c - 0.005


def test_find_center_agrees_with_our_geometry(answers):
    """tomopy.find_center on the recorded phantom recovers the centre our geometry was built with."""
    theta = answers["phantom_theta"]
    sino = answers["phantom_sino_ndet90"]
    found = tomopy.find_center(np.ascontiguousarray(sino[:, None, :]), theta, init=45, ind=0, tol=0.1)
    # the phantom's sinogram was made by ASTRA with t = d + 0.5 - c ... in the gridrec frame at c
    assert abs(float(np.ravel(found)[0]) - float(answers["phantom_center_ndet90"])) < 1.0


# ----------------------------------------------------------------------------- accelerated=True
@pytest.fixture
def runtime_methods():
    """Two methods registered at run time: one that pickles, one whose load_network is a lambda."""
    register_method(Method("tv_dip_fast", defaults={"lr": 3e-3}, description="TV-DIP, larger step"))
    register_method(Method("dip_lambda", load_network=lambda options, geometry: None))
    yield
    for name in ("tv_dip_fast", "dip_lambda"):
        METHODS.pop(name, None)


def test_tomopy_process_path_is_bit_identical_to_one_call(volume, runtime_methods):
    """TomoPy's ``accelerated=True`` process pool (one process per GPU on a GPU machine) returns
    the images of ``ncore=1`` bit for bit, for the package's methods and a method registered at
    run time (at the same torch thread count: CPU convolution gradients round by it)."""
    proj, theta, center = volume
    kw = dict(TINY, num_iter=10, seed=0, num_gridx=64, num_gridy=64)
    for alg in (tomopy_dip.tv_dip, tomopy_dip.ALGORITHMS["tv_dip_fast"]):
        out = tomopy.recon(proj, theta, center=center, algorithm=alg, ncore=2, accelerated=True, **kw)
        with _threads(_worker_threads(2)):
            ref = tomopy.recon(proj, theta, center=center, algorithm=alg, ncore=1, **kw)
        np.testing.assert_array_equal(out, ref, err_msg=alg.__name__)
    with pytest.raises(pickle.PicklingError, match="'dip_lambda' cannot be sent to a worker process"):
        tomopy.recon(proj, theta, center=center, algorithm=tomopy_dip.ALGORITHMS["dip_lambda"], ncore=2,
                     accelerated=True, **kw)


@pytest.mark.parametrize("kw, exc, match", [
    ({"nm_iter": 3}, TypeError, "nm_iter"),
    ({"device": "gpu"}, ValueError, "device='gpu'"),
])
def test_tomopy_process_path_errors(volume, kw, exc, match):
    if "device" in kw and tomopy_dip.interfaces.tomopy.torch.cuda.device_count() > 0:
        pytest.skip("device='gpu' is refused only without CUDA")
    proj, theta, center = volume
    with pytest.raises(exc, match=match):
        tomopy.recon(proj, theta, center=center, algorithm=tomopy_dip.dip, ncore=2, accelerated=True, **{**KW, **kw})
