"""The examples run end to end in their ``--smoke`` mode and write their figure."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pipeline_helpers import REPO, shared_data_dir, subprocess_env  # noqa: E402

EXAMPLES = REPO / "examples"


def _run(script: str, out: Path, cache: Path, needs_data: bool) -> subprocess.CompletedProcess:
    env = {"TOMOPY_DIP_CACHE": str(cache)}
    if needs_data:
        data = shared_data_dir()
        if data is None:
            pytest.skip("real data not available (../shared/data)")
        env["TOMOPY_DIP_MIRROR"] = str(data)
    return subprocess.run([sys.executable, str(EXAMPLES / script), "--smoke", "--out", str(out)],
                          capture_output=True, text=True, timeout=900, cwd=str(out.parent),
                          env=subprocess_env(**env))


@pytest.mark.parametrize("script,figure,needs_data", [
    pytest.param("tooth_pipeline.py", "tooth_pipeline.png", True, marks=pytest.mark.real_data),
    pytest.param("htc_sparse_view.py", "htc_sparse_view.png", True, marks=pytest.mark.real_data),
    ("pretrain_own_geometry.py", "pretrain_own_geometry.png", False),
])
def test_example_smoke(tmp_path, script, figure, needs_data):
    out = tmp_path / "out"
    r = _run(script, out, tmp_path / "cache", needs_data)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    png = out / figure
    assert png.is_file() and png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("script", ["tooth_pipeline.py", "htc_sparse_view.py", "pretrain_own_geometry.py"])
def test_examples_have_smoke_flag_and_docstring(script, capsys):
    path = EXAMPLES / script
    text = path.read_text()
    doc = ast.get_docstring(ast.parse(text))
    assert doc and "--smoke" in doc  # the module docstring says how to run it, smoke mode included
    assert "/" + "work/" not in text  # no machine-specific paths
    # the command line really has the flag: main(["--help"]) lists it and exits 0
    spec = importlib.util.spec_from_file_location(f"_example_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(SystemExit) as stop:
        module.main(["--help"])
    assert stop.value.code == 0
    assert "--smoke" in capsys.readouterr().out
