"""The keyword schema is the one source of every keyword: methods extend it, the docs follow it,
and a method registered at run time is usable by name."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import tomopy_dip
from tomopy_dip.fitting.hooks import Hook
from tomopy_dip.learning.phantoms import shepp_logan
from tomopy_dip.methods import METHODS, Method, register_method
from tomopy_dip.options import KEYWORDS, Keyword, int_check, parse_options
from tomopy_dip.physics.measurement import simulate

from conftest import TINY

REPO = Path(__file__).resolve().parents[1]
THETA = np.linspace(0, np.pi, 16, endpoint=False)


def _all_keywords() -> dict[str, Keyword]:
    out = dict(KEYWORDS)
    for m in METHODS.values():
        out.update({k.name: k for k in m.keywords})
    return out


def test_every_keyword_is_documented_in_reconstruct_and_the_methods_page():
    doc = tomopy_dip.reconstruct.__doc__
    page = (REPO / "docs" / "src" / "methods.md").read_text()
    for name in _all_keywords():
        assert f"``{name}``" in doc, f"reconstruct's docstring does not describe {name}"
        assert f"`{name}`" in page, f"docs/src/methods.md does not describe {name}"


def test_method_defaults_in_the_docstring_follow_the_methods():
    """Where reconstruct's docstring states a keyword's default per method, the numbers are the
    methods' defaults."""
    doc = tomopy_dip.reconstruct.__doc__
    for name in ("lr", "lr_warmup"):
        text = doc.split(f"``{name}``", 1)[1].split("\n\n", 1)[0]
        for m in METHODS.values():
            if m.name not in ("dip", "tv_dip", "edip", "edip_fe", "aseqdip"):
                continue
            value = m.defaults.get(name, KEYWORDS[name].default)
            numbers = [float(v) for v in re.findall(r"\d+(?:\.\d+)?(?:e-?\d+)?", text)]
            assert float(value) in numbers, (name, m.name, value, text)


def test_a_method_default_for_an_unknown_keyword_is_refused():
    with pytest.raises(ValueError, match="unknown keyword"):
        Method("bad_method", defaults={"num_iters": 5})


def test_defaults_for_dims_3_replace_the_methods_defaults_there_only():
    m = Method("slow_3d", defaults={"num_iter": 100, "lr": 1e-2}, defaults_3d={"num_iter": 300})
    assert (m.parse({}).num_iter, m.parse({}).lr) == (100, 1e-2)
    assert (m.parse({"dims": 3}).num_iter, m.parse({"dims": 3}).lr) == (300, 1e-2)
    assert m.parse({"dims": 3, "num_iter": 7}).num_iter == 7  # the caller's keyword wins
    assert m.parse({"options": {"dims": 3}}).num_iter == 300  # TomoPy's options dict too
    with pytest.raises(ValueError, match="unknown keyword"):
        Method("bad_3d", defaults_3d={"num_iters": 5})


def test_method_keywords_are_validated_by_their_own_check():
    aseq = METHODS["aseqdip"]
    opts = parse_options({"inner_steps": 4}, aseq.accepted, aseq.defaults, "x")
    assert opts.inner_steps == 4 and opts.ae_weight == aseq.accepted["ae_weight"].default
    with pytest.raises(ValueError, match="inner_steps must be an integer >= 1"):
        parse_options({"inner_steps": 0}, aseq.accepted, aseq.defaults, "x")
    tv = METHODS["tv_dip"]
    with pytest.raises(TypeError, match="unexpected keyword argument.*'inner_steps'"):
        parse_options({"inner_steps": 4}, tv.accepted, tv.defaults, "tomopy_dip.tv_dip")
    with pytest.raises(AttributeError, match="inner_steps"):
        parse_options({}, tv.accepted, tv.defaults, "x").inner_steps


class _CountSteps(Hook):
    """A hook of a test method: records the method's own keyword and the steps it saw."""

    seen: list = []

    def before_step(self, fit, k):
        _CountSteps.seen.append((self.options.every, k))


def test_a_method_registered_at_run_time_is_usable_by_name_everywhere():
    method = Method(
        name="dip_counted", defaults={"lr": 2e-3, "num_iter": 3},
        keywords=(Keyword("every", 2, int_check("every", 1), "test keyword", int),),
        hooks=(_CountSteps,), description="DIP that counts its steps",
    )
    sino = simulate(shepp_logan(16)[None], THETA)
    try:
        register_method(method)
        _CountSteps.seen.clear()
        rec = tomopy_dip.recon(sino, THETA, sinogram_order=True, algorithm="dip_counted", every=5, **TINY)
        assert rec.shape == (1, 16, 16) and np.isfinite(rec).all()
        assert _CountSteps.seen == [(5, 0), (5, 1), (5, 2)]  # the method's keyword and default num_iter
        assert "dip_counted" in tomopy_dip.ALGORITHMS
        # recon passes float32 angles, as TomoPy does
        ref = tomopy_dip.reconstruct(sino, THETA.astype(np.float32), method="dip", num_iter=3, lr=2e-3,
                                     **TINY).images
        np.testing.assert_array_equal(rec, ref)  # same network, seed and defaults as DIP at lr 2e-3
    finally:
        METHODS.pop("dip_counted", None)
    assert "dip_counted" not in tomopy_dip.ALGORITHMS
