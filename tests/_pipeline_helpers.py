"""Shared helpers of the pipeline tests (I/O, command line, datasets, examples, docs).

The real data live in ``../shared/data`` relative to the repository root (CI) and are used in
place through ``TOMOPY_DIP_MIRROR``; tests that need them skip when the directory is absent.
Downloads go to a temporary ``TOMOPY_DIP_CACHE``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ANSWERS = Path(__file__).resolve().parent / "data" / "tomopy_answers.npz"


def shared_data_dir() -> Path | None:
    """``../shared/data`` (or ``$TOMOPY_DIP_TEST_DATA``) when it exists."""
    env = os.environ.get("TOMOPY_DIP_TEST_DATA")
    cands = [Path(env)] if env else []
    cands.append(REPO.parent / "shared" / "data")
    for c in cands:
        if c.is_dir():
            return c.resolve()
    return None


def tooth_path() -> Path | None:
    d = shared_data_dir()
    if d is None:
        return None
    p = d / "tomopy_tooth" / "tooth.h5"
    return p if p.is_file() else None


def require_tooth() -> Path:
    p = tooth_path()
    if p is None:
        pytest.skip("real data not available (../shared/data/tomopy_tooth/tooth.h5)")
    return p


@pytest.fixture
def pipeline_env(tmp_path, monkeypatch):
    """Mirror -> shared data (when present), cache -> a temporary directory."""
    d = shared_data_dir()
    if d is not None:
        monkeypatch.setenv("TOMOPY_DIP_MIRROR", str(d))
    else:
        monkeypatch.delenv("TOMOPY_DIP_MIRROR", raising=False)
    cache = tmp_path / "cache"
    monkeypatch.setenv("TOMOPY_DIP_CACHE", str(cache))
    return {"mirror": d, "cache": cache}


def subprocess_env(**extra: str) -> dict:
    """Environment of a child ``python``: the repository importable, one torch thread."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("MKL_NUM_THREADS", "1")
    env["PYTHONWARNINGS"] = "ignore"
    env.update(extra)
    return env


def run_cli(*args: str, timeout: float = 600, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    """Run ``python -m tomopy_dip ARGS`` and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "tomopy_dip", *args], capture_output=True, text=True,
        timeout=timeout, cwd=str(cwd or REPO), env=subprocess_env(**env),
    )


#: Small-network keywords for fast command-line runs.
TINY_NET = ("--channels", "8,8", "--skip-channels", "0,4")


def synthetic_exchange(path: Path, nrows: int = 4, nproj: int = 24, ndet: int = 24, seed: int = 0) -> Path:
    """A small Data Exchange file as a detector writes it: raw counts of a stack of discs (a
    different disc per row), flats, darks, and ``exchange/theta`` in degrees."""
    import h5py
    import numpy as np

    rng = np.random.default_rng(seed)
    theta = np.arange(nproj) * (180.0 / nproj)
    t = np.arange(ndet) - ndet / 2  # gridrec convention, centre ndet / 2
    proj = np.empty((nproj, nrows, ndet), np.float32)
    for r in range(nrows):
        x0, y0, radius = 2.0 * np.sin(r), 1.5 * np.cos(r), ndet / 4 + r % 3
        d = t[None, :] - (x0 * np.cos(np.deg2rad(theta)) + y0 * np.sin(np.deg2rad(theta)))[:, None]
        proj[:, r] = 0.05 * 2 * np.sqrt(np.clip(radius ** 2 - d ** 2, 0, None))
    dark = np.full((2, nrows, ndet), 100.0, np.float32)
    flat = np.full((3, nrows, ndet), 4000.0, np.float32)
    counts = rng.poisson(3900.0 * np.exp(-proj)) + 100.0
    with h5py.File(path, "w") as f:
        f["exchange/data"] = counts.astype(np.uint16)
        f["exchange/data_white"] = flat.astype(np.uint16)
        f["exchange/data_dark"] = dark.astype(np.uint16)
        f["exchange/theta"] = theta
    return path
