"""TomoPy's accelerated path: the algorithms in a process pool, one process per GPU.

``tomopy.recon(..., accelerated=True, device="gpu", ncore=n)`` (TomoPy 1.15.2) pickles the
algorithm and each chunk into a ``ProcessPoolExecutor`` of ``n`` processes, sets
``TOMOPY_DEVICE_NUM`` to the chunk's index in the worker, and takes the worker's ``recon`` back
as the chunk. :func:`_tomopy_accelerated` below does the same (written from that behaviour, for
machines without TomoPy; ``tests/test_tomopy_real.py`` runs the real one), and
``tomopy_dip.recon(..., accelerated=True)`` has the same path.

The process tests are tiny (two 24 x 24 slices, a few iterations) and use the default start
method (``fork`` on Linux, as TomoPy does).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch

import tomopy_dip
from conftest import REPO, TINY
from tomopy_dip.interfaces import tomopy as tomopy_interface
from tomopy_dip.interfaces import workers
from tomopy_dip.learning.phantoms import shepp_logan
from tomopy_dip.methods import METHODS, Method, register_method
from tomopy_dip.physics.measurement import simulate

N, NPROJ, NS = 24, 16, 2
CENTER = 12.0
KW = dict(TINY, num_iter=8, lr=3e-3, seed=0)


def _volume():
    """Two different slices in sinogram order, float32 angles."""
    theta = np.linspace(0, np.pi, NPROJ, endpoint=False).astype(np.float32)
    base = shepp_logan(N)
    sino = simulate(np.stack([np.roll(base, 3 * k, axis=1) for k in range(NS)]), theta.astype(np.float64),
                    noise=0.02)
    return theta, np.ascontiguousarray(sino)


@pytest.fixture(scope="module")
def data():
    return _volume()


def _run_chunk(index, algorithm, tomo, center, recon, *args, **kwargs):
    """TomoPy's worker: the chunk's index as TOMOPY_DEVICE_NUM, then the call; recon comes back."""
    os.environ["TOMOPY_DEVICE_NUM"] = str(index)
    algorithm(tomo, center, recon, *args, **kwargs)
    return recon


def _tomopy_accelerated(algorithm, tomo, center, theta, ncore, **kwargs):
    """TomoPy 1.15.2's ``accelerated=True`` dispatch of a Python callable, for ``ncore > 1``:
    slices split into ``ncore`` near-equal contiguous chunks, ``TOMOPY_PYTHON_THREADS`` set to
    the number of workers while the pool runs, every future waited for, then the first error
    raised or each worker's array copied into its chunk."""
    nslices, _, ndet = tomo.shape
    recon = np.full((nslices, ndet, ndet), 1e-6, np.float32)
    sizes = np.full(ncore, nslices // ncore) + (np.arange(ncore) < nslices % ncore)
    edges = np.concatenate([[0], np.cumsum(sizes)])
    slcs = [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]
    kwargs = dict(kwargs, num_gridx=ndet, num_gridy=ndet, options={}, accelerated=True)
    os.environ["TOMOPY_PYTHON_THREADS"] = str(ncore)
    try:
        with ProcessPoolExecutor(ncore) as pool:
            futures = [pool.submit(_run_chunk, i, algorithm, tomo[s], center[s], recon[s], theta, **kwargs)
                       for i, s in enumerate(slcs)]
        for f, s in zip(futures, slcs):
            if f.exception() is not None:
                raise f.exception()
            recon[s] = f.result()
    finally:
        del os.environ["TOMOPY_PYTHON_THREADS"]
    return recon


@contextlib.contextmanager
def _threads(n):
    """torch's thread count set to ``n`` for the block (a fit's rounding depends on it)."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _worker_threads(workers):
    """The torch threads of each worker of a pool of ``workers`` (tomopy_dip.interfaces.workers.share_cores)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(torch.get_num_threads(), max(1, cores // workers))


@pytest.fixture
def registered():
    """Methods registered at run time for one test, then removed."""
    added = []

    def add(method):
        added.append(method.name)
        return register_method(method)

    yield add
    for name in added:
        METHODS.pop(name, None)


def _no_network(options, geometry):  # a module-level load_network: picklable
    raise AssertionError("not called")


# ----------------------------------------------------------------------------- pickling
def test_package_algorithms_pickle_by_name():
    for name in ("dip", "tv_dip", "aseqdip", "edip", "edip_fe"):
        alg = tomopy_dip.ALGORITHMS[name]
        assert alg is getattr(tomopy_dip, name)
        assert pickle.loads(pickle.dumps(alg)) is alg
        assert len(pickle.dumps(alg)) < 200  # the name, not the declaration


def test_a_method_registered_at_run_time_pickles_by_value(registered):
    method = registered(Method("tv_dip_fast", defaults={"lr": 3e-3}, load_network=None, description="x"))
    alg = tomopy_dip.ALGORITHMS["tv_dip_fast"]
    blob = pickle.dumps(alg)
    del METHODS["tv_dip_fast"]  # a worker that never registered it (spawn) gets it all the same
    back = pickle.loads(blob)
    assert back.method == method and back.__name__ == "tv_dip_fast"
    with_loader = tomopy_dip.make_algorithm(Method("dip_loaded", load_network=_no_network))
    assert pickle.loads(pickle.dumps(with_loader)).method.load_network is _no_network


def test_an_unpicklable_method_names_why(registered):
    registered(Method("dip_lambda", load_network=lambda options, geometry: None))
    with pytest.raises(pickle.PicklingError, match=r"'dip_lambda' cannot be sent to a worker process.*lambda"):
        pickle.dumps(tomopy_dip.ALGORITHMS["dip_lambda"])


# ----------------------------------------------------------------------------- the process path
def test_tomopys_process_path_is_bit_identical_to_one_call(data):
    theta, sino = data
    centers = np.full(NS, CENTER, np.float32)
    out = _tomopy_accelerated(tomopy_dip.tv_dip, sino, centers, theta, ncore=2, **KW)
    with _threads(_worker_threads(2)):
        ref = tomopy_dip.recon(sino, theta, center=CENTER, sinogram_order=True, algorithm=tomopy_dip.tv_dip,
                               ncore=1, **KW)
    np.testing.assert_array_equal(out, ref)
    assert np.abs(out[1] - out[0]).max() > 1e-3  # two different slices, each fitted


def test_tomopy_dip_recon_has_the_same_process_path(data, registered):
    theta, sino = data
    registered(Method("tv_dip_fast", defaults={"lr": 3e-3}))
    for alg in (tomopy_dip.tv_dip, tomopy_dip.ALGORITHMS["tv_dip_fast"]):
        out = tomopy_dip.recon(sino, theta, center=CENTER, sinogram_order=True, algorithm=alg, ncore=2,
                               accelerated=True, **KW)
        with _threads(_worker_threads(2)):
            ref = tomopy_dip.recon(sino, theta, center=CENTER, sinogram_order=True, algorithm=alg, ncore=1, **KW)
        np.testing.assert_array_equal(out, ref, err_msg=alg.__name__)


def _record(path, d):
    """A callback run in the workers: what the worker's environment was."""
    if d["iteration"] == 0:
        with open(path, "a") as f:
            f.write(f"{os.environ.get('TOMOPY_DEVICE_NUM')} {torch.get_num_threads()} {os.getpid()}\n")


def test_each_worker_knows_its_index_and_shares_the_cores(data, tmp_path):
    theta, sino = data
    path = tmp_path / "workers.txt"
    tomopy_dip.recon(sino, theta, center=CENTER, sinogram_order=True, algorithm=tomopy_dip.dip, ncore=2,
                     accelerated=True, callback=functools.partial(_record, str(path)), **{**KW, "num_iter": 1})
    rows = sorted(line.split() for line in path.read_text().splitlines())
    assert [r[0] for r in rows] == ["0", "1"]  # TOMOPY_DEVICE_NUM: the chunk's index
    assert all(int(r[1]) <= _worker_threads(2) for r in rows)
    assert len({r[2] for r in rows}) == 2 and str(os.getpid()) not in {r[2] for r in rows}


def test_share_cores_divides_the_cores_by_the_workers(monkeypatch):
    set_to = []
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 8)
    monkeypatch.setattr(torch, "set_num_threads", set_to.append)
    for count, expected in (("2", [4]), ("3", [2]), ("16", [1]), ("1", [])):
        set_to.clear()
        monkeypatch.setenv("TOMOPY_PYTHON_THREADS", count)
        workers.share_cores()
        assert set_to == expected, count


def _fail(d):
    raise ValueError("failed in the worker")


def test_errors_in_a_worker_reach_the_caller(data):
    theta, sino = data
    centers = np.full(NS, CENTER, np.float32)
    with pytest.raises(ValueError, match="failed in the worker"):
        tomopy_dip.recon(sino, theta, center=CENTER, sinogram_order=True, algorithm=tomopy_dip.dip, ncore=2,
                         accelerated=True, callback=_fail, **KW)
    with pytest.raises(ValueError, match="failed in the worker"):
        _tomopy_accelerated(tomopy_dip.dip, sino, centers, theta, ncore=2, callback=_fail, **KW)
    with pytest.raises(TypeError, match="nm_iter"):  # every worker refuses it; TomoPy raises the first
        _tomopy_accelerated(tomopy_dip.dip, sino, centers, theta, ncore=2, nm_iter=3, **KW)


@pytest.mark.parametrize("kw, exc, match", [
    ({"nm_iter": 3}, TypeError, "nm_iter"),
    ({"lr": -1.0}, ValueError, "lr"),
    ({"device": "gpu"}, ValueError, "device='gpu'.*no CUDA device"),
    ({"options": {"device": "gpu"}}, ValueError, "device='gpu'.*no CUDA device"),
    ({"callback": lambda d: None}, pickle.PicklingError, "callback=.*cannot be sent to a worker process"),
    ({"accelerated": "yes"}, TypeError, "accelerated must be True or False"),
])
def test_recon_checks_keywords_once_before_any_worker(data, monkeypatch, kw, exc, match):
    theta, sino = data
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(workers, "ProcessPoolExecutor", None)  # starting a pool would fail
    with pytest.raises(exc, match=match):
        tomopy_dip.recon(sino, theta, center=CENTER, sinogram_order=True, algorithm=tomopy_dip.dip, ncore=2,
                         **{"accelerated": True, **KW, **kw})


# ----------------------------------------------------------------------------- TomoPy's keywords
class _Fitted:
    """What the engine returns, enough for the algorithm to fill ``recon``."""

    def __init__(self, shape):
        self.images = np.zeros(shape, np.float32)
        self.stop_reason = ["num_iter"] * shape[0]


@pytest.fixture
def seen(monkeypatch):
    """The keywords the algorithm hands to the engine (which is not run)."""
    calls = []

    def fake_run(method, tomo, theta, center, slice_offset=None, **kwargs):
        calls.append(kwargs)
        return _Fitted(np.shape(tomo)[:1] + (N, N))

    monkeypatch.setattr(tomopy_interface, "run", fake_run)
    return calls


def test_device_gpu_without_cuda_is_refused_before_any_work(data, seen, monkeypatch):
    theta, sino = data
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setenv("TOMOPY_DEVICE_NUM", "1")
    recon = np.zeros((NS, N, N), np.float32)
    for kw in ({"device": "gpu"}, {"device": "GPU", "accelerated": True}, {"options": {"device": "gpu"}}):
        with pytest.raises(ValueError, match="device='gpu' .* no CUDA device here: pass device='cpu'"):
            tomopy_dip.dip(sino, CENTER, recon, theta, **kw)
    assert seen == []
    tomopy_dip.dip(sino, CENTER, recon, theta, device="cpu")  # TomoPy's other name, and ours
    tomopy_dip.dip(sino, CENTER, recon, theta)  # no CUDA: TOMOPY_DEVICE_NUM changes nothing
    assert seen[0]["device"] == "cpu" and "device" not in seen[1]


@pytest.mark.parametrize("num, given, expected", [
    ("0", "gpu", "cuda:0"), ("1", "gpu", "cuda:1"), ("3", "gpu", "cuda:1"), ("2", "cuda", "cuda:0"),
    ("1", None, "cuda:1"), ("1", torch.device("cuda"), "cuda:1"), ("1", "cuda:0", "cuda:0"),
    ("1", "cpu", "cpu"), (None, "gpu", "cuda"), (None, None, None), (None, "cuda", "cuda"),
])
def test_tomopy_device_num_chooses_the_cuda_device(monkeypatch, num, given, expected):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)  # CUDA mocked: two devices
    if num is None:
        monkeypatch.delenv("TOMOPY_DEVICE_NUM", raising=False)
    else:
        monkeypatch.setenv("TOMOPY_DEVICE_NUM", num)
    assert workers.tomopy_device(given) == expected


def test_the_algorithm_fits_on_the_workers_device(data, seen, monkeypatch):
    theta, sino = data
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("TOMOPY_DEVICE_NUM", "3")
    recon = np.zeros((NS, N, N), np.float32)
    shared = {"device": "gpu"}
    assert tomopy_dip.tv_dip(sino, CENTER, recon, theta, device="gpu", accelerated=True) is recon
    tomopy_dip.tv_dip(sino, CENTER, recon, theta)
    tomopy_dip.tv_dip(sino, CENTER, recon, theta, options=shared)
    assert [kw.get("device") for kw in seen[:2]] == ["cuda:1", "cuda:1"]
    assert seen[2]["options"] == {"device": "cuda:1"} and shared == {"device": "gpu"}  # TomoPy's dict unchanged
    monkeypatch.setenv("TOMOPY_DEVICE_NUM", "one")
    with pytest.raises(ValueError, match="TOMOPY_DEVICE_NUM must be an integer"):
        tomopy_dip.tv_dip(sino, CENTER, recon, theta, device="gpu")


@pytest.mark.cuda
def test_process_path_on_gpus(data):
    """One process per GPU for real (each worker on cuda:<index modulo the GPUs>)."""
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    theta, sino = data
    out = tomopy_dip.recon(sino, theta, center=CENTER, sinogram_order=True, algorithm=tomopy_dip.tv_dip,
                           ncore=max(2, torch.cuda.device_count()), accelerated=True, device="gpu", **KW)
    assert out.shape == (NS, N, N) and np.all(np.isfinite(out)) and np.abs(out).max() > 0


# ----------------------------------------------------------------------------- Ctrl-C
_CTRL_C = textwrap.dedent("""
    import os, sys, warnings
    import numpy as np
    sys.path[:0] = [{repo!r}, {tests!r}]
    import tomopy_dip
    from test_tomopy_processes import _tomopy_accelerated, _started, _volume
    theta, sino = _volume()
    kw = dict(channels=(8, 8, 16), skip_channels=(0, 4, 4), progress=False, num_iter=100000, stop="none",
              callback=_started)
    out = _tomopy_accelerated(tomopy_dip.dip, sino, np.full(2, 12.0, np.float32), theta, ncore=2, **kw)
    print("RETURNED", np.all(np.isfinite(out)), [float(np.abs(o).max()) for o in out], flush=True)
""")


def _started(d):
    """Ctrl-C test: each worker says once that it is fitting."""
    if d["iteration"] == 1:
        print("FITTING", os.getpid(), flush=True)


@pytest.mark.slow
def test_ctrl_c_stops_the_workers_and_tomopy_returns():
    """Ctrl-C in a terminal reaches the whole process group: the workers stop after their
    iteration and send their chunks back, the parent waits for them and returns normally."""
    script = _CTRL_C.format(repo=str(REPO), tests=str(Path(__file__).parent))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    watchdog = threading.Timer(180, os.killpg, (proc.pid, signal.SIGKILL))  # never hang the suite
    watchdog.start()
    try:
        fitting = 0
        while fitting < 2:
            line = proc.stdout.readline()
            if not line:
                break
            fitting += line.startswith("FITTING")
        assert fitting == 2, proc.stderr.read()
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, err
    assert "RETURNED True" in out, err
    maxima = [float(v) for v in out.split("[", 1)[1].split("]", 1)[0].split(",")]
    assert all(m > 1e-3 for m in maxima), out  # each chunk is its fit's image, not TomoPy's 1e-6
    assert err.count(tomopy_dip.fitting.interrupt.MESSAGE) >= 2, err  # the workers stopped on request
    assert "KeyboardInterrupt" not in err, err
