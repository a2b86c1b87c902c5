"""Ctrl-C during a fit (tomopy_dip.fitting.interrupt): every fit stops after its iteration, the
call returns the finished slices and the selected image so far of the interrupted ones, with a
warning; a second Ctrl-C raises KeyboardInterrupt."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import numpy as np
import pytest

import tomopy_dip
from tomopy_dip.fitting import interrupt
from tomopy_dip.learning.phantoms import shepp_logan
from tomopy_dip.physics.measurement import simulate

from conftest import REPO, TINY

N = 24
THETA = np.linspace(0, np.pi, 20, endpoint=False)


@pytest.fixture(scope="module")
def sinos() -> np.ndarray:
    """Four different slices ``(4, nproj, ndet)``."""
    img = shepp_logan(N)
    return np.stack([simulate(np.roll(img, k, axis=1), THETA) for k in range(4)]).astype(np.float32)


@pytest.fixture(autouse=True)
def _no_request():
    interrupt.clear()
    yield
    interrupt.clear()


def _stopped_warnings(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, RuntimeWarning)
            and "stopped by Ctrl-C" in str(w.message)]


def test_request_from_a_callback_stops_the_call(sinos):
    """Slice 0 finishes, slice 1 stops at its request, slices 2-3 never start."""
    estimates = {}

    def cb(d):
        estimates[(d["slice"], d["iteration"])] = d["estimate"].copy()
        if d["slice"] == 1 and d["iteration"] == 2:
            interrupt.request()

    kw = dict(TINY, num_iter=6, stop="none")
    with pytest.warns(RuntimeWarning, match=r"slice 1 interrupted after 3 iteration.*slices 2-3 not run"):
        res = tomopy_dip.reconstruct(sinos, THETA, method="dip", callback=cb, **kw)
    assert res.interrupted
    assert res.stop_reason == ["num_iter", "interrupted", "not_run", "not_run"]
    assert list(res.iterations_run) == [6, 3, 0, 0] and res.history["loss"].shape == (6, 4)
    assert 0 <= res.iteration[1] <= 2 and list(res.iteration[2:]) == [-1, -1]
    np.testing.assert_array_equal(res.images[1], estimates[(1, 2)])  # the selected iterate so far
    assert np.all(res.images[2:] == 0)
    alone = tomopy_dip.reconstruct(sinos[0], THETA, method="dip", **kw)  # a new call: not stopped
    assert not alone.interrupted
    np.testing.assert_array_equal(res.images[0], alone.images)


@pytest.mark.parametrize("select", ["min_loss", "average", "last"])
def test_the_returned_image_is_the_selected_iterate(sinos, select):
    seen = {}

    def cb(d):
        seen[d["iteration"]] = d["estimate"].copy()
        if d["iteration"] == 4:
            interrupt.request()

    with pytest.warns(RuntimeWarning, match="interrupted after 5 iteration"):
        res = tomopy_dip.reconstruct(sinos[0], THETA, method="dip", callback=cb, select=select,
                                     **dict(TINY, num_iter=50, stop="none"))
    assert res.stop_reason == ["interrupted"] and max(seen) == 4
    np.testing.assert_array_equal(res.images, seen[4])


def test_recon_with_threads_returns_finished_and_interrupted_slices(sinos):
    """recon(ncore=2, nchunk=1): the first fit finishes, the second stops at the request, the
    queued chunks start nothing and keep the initial content."""
    fits, last = [], {}
    lock = threading.Lock()

    def cb(d):
        with lock:
            if d["iteration"] == 0:
                fits.append(threading.get_ident())
            n = len(fits)
            last[n] = d["estimate"].copy()
            if n == 2 and d["iteration"] == 2:
                interrupt.request()

    proj = sinos.swapaxes(0, 1)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        out = tomopy_dip.recon(proj, THETA, algorithm=tomopy_dip.dip, ncore=2, nchunk=1, callback=cb,
                               **dict(TINY, num_iter=6, stop="none"))
    msgs = _stopped_warnings(record)
    cut = [int(m) for w in msgs for m in re.findall(r"slice (\d) interrupted", w)]
    skipped = [int(m) for w in msgs for m in re.findall(r"slice (\d) not run", w)]
    assert len(fits) == 2 and len(cut) == 1 and len(skipped) == 2, msgs
    done = sorted(set(range(4)) - set(cut) - set(skipped))
    assert len(done) == 1
    np.testing.assert_array_equal(out[cut[0]], last[2])
    assert np.all(out[skipped] == np.float32(1e-6))  # TomoPy's initial content
    alone = tomopy_dip.reconstruct(sinos[done[0]], THETA.astype(np.float32), method="dip",  # TomoPy's angles
                                   **dict(TINY, num_iter=6, stop="none"))
    np.testing.assert_array_equal(out[done[0]], alone.images)


def test_a_request_from_a_timer_stops_every_worker_promptly(sinos):
    started = threading.Event()

    def cb(d):
        started.set()

    def later():
        started.wait(60)
        time.sleep(0.3)
        interrupt.request()

    threading.Thread(target=later, daemon=True).start()
    t0 = time.perf_counter()
    with pytest.warns(RuntimeWarning, match="stopped by Ctrl-C"):
        out = tomopy_dip.recon(sinos.swapaxes(0, 1), THETA, algorithm="dip", ncore=2, nchunk=1, callback=cb,
                               **dict(TINY, num_iter=10**6, stop="none"))
    assert time.perf_counter() - t0 < 60  # 10**6 iterations of four slices take hours
    assert np.isfinite(out).all()
    fitted = [i for i in range(4) if not np.all(out[i] == np.float32(1e-6))]
    assert len(fitted) == 1  # fits are serialised: one ran, the others never started


def test_a_request_lapses_after_the_grace_period(monkeypatch):
    monkeypatch.setattr(interrupt, "GRACE", 0.05)
    interrupt.request()
    assert interrupt.requested()
    with interrupt.active_fit():
        time.sleep(0.1)
        assert interrupt.requested()  # kept while a fit is active
    assert interrupt.requested()
    time.sleep(0.1)
    assert not interrupt.requested()


def test_a_new_top_level_call_clears_an_old_request_but_the_algorithm_does_not(sinos):
    interrupt.request()
    with pytest.warns(RuntimeWarning, match=r"slice 0 \(of 1 in this call\) not run"):
        recon = np.full((1, N, N), 7.0, np.float32)
        tomopy_dip.dip(sinos[:1], N / 2, recon, THETA, **dict(TINY, num_iter=3))
    assert np.all(recon == 7.0)  # TomoPy's chunk after a stop: nothing fitted, recon untouched
    res = tomopy_dip.reconstruct(sinos[0], THETA, method="dip", **dict(TINY, num_iter=3))
    assert not res.interrupted and res.stop_reason == ["num_iter"]


def test_install_never_replaces_an_applications_handler():
    before = signal.getsignal(signal.SIGINT)
    try:
        mine = lambda signum, frame: None  # noqa: E731
        signal.signal(signal.SIGINT, mine)
        assert not interrupt.install() and signal.getsignal(signal.SIGINT) is mine
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        assert not interrupt.install() and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        signal.signal(signal.SIGINT, signal.default_int_handler)
        assert interrupt.install() and interrupt.installed() and interrupt.install()
        assert interrupt.uninstall() and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, before)


def test_install_from_a_worker_thread_does_nothing():
    got = []
    t = threading.Thread(target=lambda: got.append(interrupt.install()))
    t.start()
    t.join()
    assert got == [interrupt.installed()]


SCRIPT = textwrap.dedent("""
    import os, signal, sys, threading, time, warnings
    import numpy as np, torch
    torch.set_num_threads(1)
    import tomopy_dip
    from tomopy_dip.fitting import interrupt
    from tomopy_dip.learning.phantoms import shepp_logan
    from tomopy_dip.physics.measurement import simulate
    assert interrupt.installed()
    n_signals = int(sys.argv[1])
    theta = np.linspace(0, np.pi, 20, endpoint=False)
    proj = np.stack([simulate(np.roll(shepp_logan(24), k, 1), theta) for k in range(4)]).swapaxes(0, 1)
    started = threading.Event()
    sent = []
    def cb(d):
        started.set()
        if interrupt.requested():
            time.sleep(2.0)  # a slow iteration: the second Ctrl-C arrives during it
    def killer():
        started.wait(60)
        time.sleep(0.3)
        for _ in range(n_signals):
            sent.append(time.perf_counter())
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.3)
    threading.Thread(target=killer, daemon=True).start()
    warnings.simplefilter("always")
    try:
        out = tomopy_dip.recon(proj, theta, algorithm=tomopy_dip.dip, ncore=2, nchunk=1, callback=cb,
                               num_iter=10**6, stop="none", progress=False, channels=(8, 8), skip_channels=(0, 4))
    except KeyboardInterrupt:
        print("ABORTED %.2f" % (time.perf_counter() - sent[-1]), flush=True)
        sys.exit(3)
    fitted = sum(not np.all(out[i] == np.float32(1e-6)) for i in range(4))
    print("RETURNED fitted=%d finite=%s" % (fitted, np.isfinite(out).all()), flush=True)
""")


def _run_script(n_signals: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", SCRIPT, str(n_signals)], capture_output=True, text=True,
                          timeout=300, env=env, cwd=str(REPO))


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigint_returns_results_and_exits_normally():
    r = _run_script(1)
    assert r.returncode == 0, r.stderr
    assert "RETURNED fitted=1 finite=True" in r.stdout
    assert interrupt.MESSAGE in r.stderr and "stopped by Ctrl-C" in r.stderr
    assert "KeyboardInterrupt" not in r.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_second_sigint_raises_keyboard_interrupt_at_once():
    r = _run_script(2)
    assert r.returncode == 3, (r.stdout, r.stderr)
    seconds = float(r.stdout.split("ABORTED")[1])
    assert seconds < 1.5, r.stdout  # not after the workers' 2-second iteration
