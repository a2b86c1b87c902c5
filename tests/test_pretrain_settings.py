"""The settings of pretraining are one schema: pretrain()'s checks, signature and docstring and
the options of ``tomopy-dip pretrain`` follow it."""

from __future__ import annotations

import argparse
import inspect
import re
from pathlib import Path

import numpy as np
import pytest

import tomopy_dip
from tomopy_dip.cli.pretrain import add_cli, setting_options
from tomopy_dip.learning.pretraining import PRETRAIN_KEYWORDS
from tomopy_dip.learning.pretraining.settings import GEOMETRY_KEYWORDS, REQUIRED, parse_settings
from tomopy_dip.methods import get_method

SCAN = ("theta", "ndet", "center", "num_gridx", "num_gridy")
OUT = {"out": "x.safetensors"}


def _documented() -> dict[str, str]:
    """The docstring's parameter entries: name -> type line."""
    doc = inspect.getdoc(tomopy_dip.pretrain)
    section = doc.split("Parameters\n----------\n", 1)[1].split("\nReturns\n", 1)[0]
    entries = {}
    for line in section.splitlines():
        if line and not line.startswith(" "):
            names, _, kind = line.partition(" : ")
            entries.update({n.strip().lstrip("*"): kind for n in names.split(",")})
    return entries


def test_the_docstring_documents_the_signature_and_the_schemas_choices():
    params = list(inspect.signature(tomopy_dip.pretrain).parameters)
    documented = _documented()
    assert set(documented) == set(params)
    doc = inspect.getdoc(tomopy_dip.pretrain)
    for name, setting in PRETRAIN_KEYWORDS.items():
        assert f"``{name}``" in doc or name in documented, name
        kind = documented.get(name, "")
        if setting.choices and kind.startswith("{"):
            stated = re.findall(r"[\w-]+", kind.split("}")[0])
            assert stated == [str(c) for c in setting.choices], (name, kind)


def test_the_signature_is_the_schemas():
    sig = inspect.signature(tomopy_dip.pretrain)
    params = sig.parameters
    assert list(params)[:5] == list(SCAN)
    keywords = [p for p in params.values() if p.kind is p.KEYWORD_ONLY]
    assert [p.name for p in keywords] == [k for k in PRETRAIN_KEYWORDS if k not in GEOMETRY_KEYWORDS]
    for p in keywords:
        default = PRETRAIN_KEYWORDS[p.name].default
        assert p.default == (p.empty if default is REQUIRED else default), p.name
    assert list(params.values())[-1].kind is inspect.Parameter.VAR_KEYWORD


def test_the_command_lines_options_follow_the_schema():
    parser = argparse.ArgumentParser(prog="tomopy-dip")
    sub = add_cli(parser.add_subparsers(dest="command"))
    actions = {a.dest: a for a in sub._actions}
    assert set(setting_options()) <= set(actions)
    for name, setting in setting_options().items():
        action = actions[name]
        assert action.option_strings == [setting.flag]
        if setting.switch:
            assert setting.flag == f"--no-{name.replace('_', '-')}" and action.default is setting.default is True
            assert isinstance(action, argparse._StoreFalseAction)
        elif setting.default is REQUIRED:
            assert action.required
        else:
            assert action.default == setting.default and action.choices == setting.choices
    args = parser.parse_args(["pretrain", "--ndet", "8", "--out", "x.safetensors"])
    assert {k: getattr(args, k) for k in setting_options() if k != "out"} == \
        {k: PRETRAIN_KEYWORDS[k].default for k in setting_options() if k != "out"}
    assert "[10000]" in sub.format_help() and "--steps" in sub.format_help()


def test_parse_settings_fills_defaults_and_keeps_only_the_geometry_given():
    s = parse_settings({**OUT, "source_origin": 100, "beam": "fanflat", "views": [40, 20, 40], "noise": [0.02]})
    assert s.out == Path("x.safetensors") and s.num_steps == 10000 and s.noise == (0.02, 0.02)
    assert s.geometry == {"source_origin": 100, "beam": "fanflat"} and type(s.geometry["source_origin"]) is int
    assert s.views == [20, 40] and s.phantoms is None and s.slab is None


@pytest.mark.parametrize("kwargs, error, match", [
    ({"nonsense": 1}, TypeError, "nonsense"),
    ({"out": 3}, TypeError, "out"),
    ({"out": "x.pt"}, ValueError, "safetensors"),
    ({"num_steps": 0}, ValueError, "num_steps"),
    ({"batch_size": 2.0}, ValueError, "batch_size"),
    ({"lr_max": 0}, ValueError, "lr_max"),
    ({"lr_max": "fast"}, TypeError, "lr_max"),
    ({"weight_decay": -1e-5}, ValueError, "weight_decay"),
    ({"val_every": -1}, ValueError, "val_every"),
    ({"views": [0, 20]}, ValueError, "views"),
    ({"noise": (0.05, 0.01)}, ValueError, "noise"),
    ({"level": (0.5, 1.5)}, ValueError, "level"),
    ({"filter_name": "box"}, ValueError, "filter_name"),
    ({"phantoms": "cubes"}, ValueError, "phantoms must be one of"),
    ({"out_activation": "relu"}, ValueError, "out_activation"),
    ({"backend": "gpu"}, ValueError, "backend"),
    ({"threads": "many"}, TypeError, "threads"),
    ({"resume": "yes"}, TypeError, "resume"),
    ({"description": None}, TypeError, "description"),
    ({"serves": [20, 40]}, TypeError, "serves"),
    ({"callback": 3}, TypeError, "callback"),
    ({"dims": 4}, ValueError, "dims"),
    ({"beam": None}, ValueError, "beam"),
    ({"source_origin": "far"}, TypeError, "source_origin"),
])
def test_errors_name_the_argument(kwargs, error, match):
    with pytest.raises(error, match=match):
        parse_settings({**OUT, **kwargs})


def test_out_is_required():
    with pytest.raises(TypeError, match="'out'"):
        tomopy_dip.pretrain(np.linspace(0, np.pi, 8, endpoint=False), 8)


def test_edips_checkpoint_keyword_is_checked():
    edip = get_method("edip")
    for value in (None, "edip_parallel", Path("my.safetensors")):
        assert edip.parse({"checkpoint": value, "device": "cpu"}).checkpoint == value
    with pytest.raises(TypeError, match="checkpoint must be a registry name or a file path, got 3"):
        edip.parse({"checkpoint": 3, "device": "cpu"})
