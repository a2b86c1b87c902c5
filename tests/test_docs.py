"""The examples in the package's docstrings run and print what they claim (doctest)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import tomopy_dip

#: Modules whose doctests need something the test environment may lack, or are too slow.
SKIP = {
    "tomopy_dip.__main__",  # runs the command line on import
}


def _modules() -> list[str]:
    names = ["tomopy_dip"]
    for info in pkgutil.walk_packages(tomopy_dip.__path__, "tomopy_dip."):
        if info.name not in SKIP:
            names.append(info.name)
    return sorted(names)


MODULES = _modules()


def test_the_core_modules_are_covered():
    for name in ("geometry", "projector", "fbp", "networks", "engine", "tomopy_plugin", "phantoms",
                 "metrics", "regularizers"):
        assert f"tomopy_dip.{name}" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    try:
        module = importlib.import_module(name)
    except ImportError as exc:  # optional dependency of an optional module
        pytest.skip(f"{name} not importable here: {exc}")
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = finder.find(module, name)  # globals: a copy of the module namespace, as pytest does
    failures = []
    for test in tests:
        result = runner.run(test, out=failures.append)
        assert result is not None
    assert runner.failures == 0, "".join(failures)
