"""The documentation builds without warnings (``mkdocs build --strict``)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pipeline_helpers import REPO, subprocess_env  # noqa: E402

CONFIG = REPO / "docs" / "mkdocs.yml"


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None
                    or importlib.util.find_spec("mkdocstrings_handlers") is None,
                    reason="mkdocs / mkdocstrings-python not installed (pip install -r docs/requirements.txt)")
def test_docs_build_strict(tmp_path):
    site = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(CONFIG), "-d", str(site)],
                       capture_output=True, text=True, timeout=600, cwd=str(REPO), env=subprocess_env())
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    assert "WARNING" not in r.stderr
    for page in ("index.html", "tomopy/index.html", "methods/index.html", "cli/index.html",
                 "api/reconstruction/index.html"):
        assert (site / page).is_file(), page
    api = (site / "api" / "reconstruction" / "index.html").read_text()
    assert "num_iter" in api  # generated from the docstrings


def test_docs_pages_are_all_in_the_nav():
    text = CONFIG.read_text()
    for md in (REPO / "docs" / "src").rglob("*.md"):
        rel = md.relative_to(REPO / "docs" / "src").as_posix()
        assert rel in text, f"{rel} is not in docs/mkdocs.yml's nav"


def _numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"(?<![\w.])[-+]?\d*\.?\d+(?:e[-+]?\d+)?", text)]


def test_documented_defaults_match_the_code():
    """docs/src/methods.md states the defaults: keep it in step with the code."""
    from tomopy_dip.methods import METHODS
    from tomopy_dip.networks import COARSEST_SCALE, DEFAULT_WIDTH
    from tomopy_dip.options import Options

    text = (REPO / "docs" / "src" / "methods.md").read_text()
    rows = {line.split("|")[1].strip(): line.split("|")[2] for line in text.splitlines() if line.startswith("| `")}
    opts = Options()
    for key in ("num_iter", "lr", "clip_grad"):
        assert float(getattr(opts, key)) in _numbers(rows[f"`{key}`"]), key
    cell = rows["`channels`, `skip_channels`"]
    assert opts.channels is None and str(COARSEST_SCALE) in cell and str(DEFAULT_WIDTH) in cell
    for network_input in ("noise", "fbp"):
        assert str(replace(opts, network_input=network_input).network((128, 128)).skip_channels) in cell
    tv_cell = rows["`tv_weight`"]
    for name, m in METHODS.items():
        tw = float(m.defaults.get("tv_weight", opts.tv_weight))
        assert f"`{name}`" in tv_cell, f"{name} missing from the tv_weight row"
        seg = tv_cell.split(f"`{name}`", 1)[1].split(";")[0]
        assert tw in _numbers(seg), (name, tw, seg)
