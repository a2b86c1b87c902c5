"""Shared fixtures and settings of the tomopy_dip test suite.

* Real data are looked up offline only: ``TOMOPY_DIP_MIRROR`` (if already set) or
  ``<repo>/../shared/data``; the download cache ``TOMOPY_DIP_CACHE`` points into a temporary
  directory, so no test ever downloads anything.
* Markers (declared in ``pyproject.toml``): ``slow`` (tens of seconds), ``real_data`` (reads the
  shared data directory; select them with ``-m real_data``), ``tomopy`` (needs a real TomoPy;
  skipped without it).
* torch runs single-threaded unless ``TOMOPY_DIP_TEST_THREADS=n`` says otherwise: the test
  problems are tiny, and on a shared 2-core machine two threads were measured 8x slower than
  one (oversubscription) while one thread costs little on an idle machine.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent

try:  # run from a checkout without installing the package
    import tomopy_dip  # noqa: F401
except ImportError:  # pragma: no cover - depends on the environment
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402

torch.set_num_threads(int(os.environ.get("TOMOPY_DIP_TEST_THREADS", "1")))

#: Where the shared real data live when no mirror is configured: ``<repo>/../shared/data``.
DEFAULT_DATA = TESTS.parents[1] / "shared" / "data"
ANSWERS = TESTS / "data" / "tomopy_answers.npz"


def data_dir() -> Path:
    """The offline data directory (may not exist)."""
    env = os.environ.get("TOMOPY_DIP_MIRROR")
    return Path(env) if env else DEFAULT_DATA


@pytest.fixture(scope="session", autouse=True)
def _offline_data(tmp_path_factory):
    """Point the registry at the offline mirror and a throw-away cache for the whole session."""
    mp = pytest.MonkeyPatch()
    mp.setenv("TOMOPY_DIP_MIRROR", str(data_dir()))
    mp.setenv("TOMOPY_DIP_CACHE", str(tmp_path_factory.mktemp("tomopy_dip_cache")))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real-data directory; skips the test when it is absent."""
    path = data_dir()
    if not path.is_dir():
        pytest.skip(f"real data not available (looked in {path}; set TOMOPY_DIP_MIRROR)")
    return path


@pytest.fixture(scope="session")
def answers():
    """Ground truth recorded with TomoPy 1.15.2 (see its ``README`` key)."""
    with np.load(ANSWERS, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


#: A tiny network and no progress bar: keeps every fit in the suite cheap.
TINY = {"channels": (8, 8, 16), "skip_channels": (0, 4, 4), "progress": False}


@pytest.fixture
def tiny():
    return dict(TINY)
