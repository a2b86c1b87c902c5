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

#: The core of the package: each (a module, or a package with its modules) has docstring
#: examples that run.
CORE = ("tomopy_dip.physics.geometry", "tomopy_dip.physics.projector", "tomopy_dip.physics.fbp",
        "tomopy_dip.physics.measurement", "tomopy_dip.networks", "tomopy_dip.fitting",
        "tomopy_dip.fitting.losses", "tomopy_dip.interfaces.tomopy", "tomopy_dip.learning.phantoms",
        "tomopy_dip.metrics")

_FINDER = doctest.DocTestFinder(exclude_empty=True)


def _runnable(test: doctest.DocTest) -> int:
    """The examples of ``test`` that are not marked ``+SKIP``."""
    return sum(not e.options.get(doctest.SKIP, False) for e in test.examples)


def test_the_core_modules_are_covered():
    for core in CORE:
        names = [n for n in MODULES if n == core or n.startswith(core + ".")]
        assert core in names, f"{core} is not collected"
        found = sum(_runnable(t) for n in names for t in _FINDER.find(importlib.import_module(n), n))
        assert found > 0, f"{core} has no docstring example that runs"


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    try:
        module = importlib.import_module(name)
    except ImportError as exc:  # optional dependency of an optional module
        pytest.skip(f"{name} not importable here: {exc}")
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = _FINDER.find(module, name)  # globals: a copy of the module namespace, as pytest does
    failures = []
    for test in tests:
        result = runner.run(test, out=failures.append)
        # every example not marked +SKIP was run (none was silently left out)
        assert result.attempted == _runnable(test), (test.name, result)
    assert runner.failures == 0, "".join(failures)
