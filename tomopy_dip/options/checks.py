"""The checks of the keywords' values, and the command line's readers of their text.

Each check validates a value and returns the clean one, or raises a :class:`TypeError` or
:class:`ValueError` that names the keyword (:class:`~tomopy_dip.options.Keyword`).
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from tomopy_dip.physics.geometry import check_vectors

__all__ = ["int_check", "float_check", "choice_check", "bool_check", "optional_check", "callable_check", "yes_no",
           "declare_rules", "RULES", "MAX_LR"]


# ---------------------------------------------------------------------------- value checks
def int_check(name: str, lo: int = 1) -> Callable[[Any], int]:
    """Check of an integer keyword ``>= lo`` (NumPy integers accepted, bools refused)."""
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            if hasattr(v, "__index__") and not isinstance(v, bool):
                v = v.__index__()
            else:
                raise TypeError(f"{name} must be an integer >= {lo}, got {v!r}")
        if v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
        return int(v)
    return check


#: Largest learning rate accepted: far beyond any use (Adam's steps are about ``lr`` in every
#: weight), within float32's range (the optimiser keeps it in float32).
MAX_LR = 1e30


def float_check(name: str, lo: float = 0.0, strict: bool = False,
                hi: float | None = None) -> Callable[[Any], float]:
    """Check of a finite number ``>= lo`` (``> lo`` when ``strict``) and ``<= hi`` when given."""
    def check(v: Any) -> float:
        if isinstance(v, bool):
            raise TypeError(f"{name} must be a number, got {v!r}")
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a number, got {v!r}") from None
        if not math.isfinite(f) or f < lo or (strict and f == lo):
            rel = ">" if strict else ">="
            raise ValueError(f"{name} must be a finite number {rel} {lo}, got {v!r}")
        if hi is not None and f > hi:
            raise ValueError(f"{name} must be at most {hi:g}, got {v!r}")
        return f
    return check


def choice_check(name: str, allowed: tuple) -> Callable[[Any], Any]:
    """Check of a keyword taking one of ``allowed``."""
    def check(v: Any) -> Any:
        if v not in allowed:
            raise ValueError(f"{name} must be one of {allowed}, got {v!r}")
        return v
    return check


def bool_check(name: str) -> Callable[[Any], bool]:
    """Check of a True/False keyword."""
    def check(v: Any) -> bool:
        if not isinstance(v, bool):
            raise TypeError(f"{name} must be True or False, got {v!r}")
        return v
    return check


def _seed(v: Any) -> int:
    if isinstance(v, bool) or not hasattr(v, "__index__"):
        raise TypeError(f"seed must be an integer, got {v!r}")
    return int(v.__index__())


def _device(v: Any) -> torch.device:
    if v is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(v)
    except (TypeError, RuntimeError):
        raise ValueError(f"device must be a torch device such as 'cpu' or 'cuda', got {v!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was requested but torch has no CUDA device here")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {v!r}")
    return dev


def callable_check(name: str) -> Callable[[Any], Any]:
    """Check of a keyword taking a callable or None."""
    def check(v: Any) -> Any:
        if v is not None and not callable(v):
            raise TypeError(f"{name} must be callable or None, got {v!r}")
        return v
    return check


def _int_tuple(name: str) -> Callable[[Any], tuple]:
    def check(v: Any) -> tuple:
        try:
            t = tuple(v)
        except TypeError:
            raise TypeError(f"{name} must be a sequence of integers, got {v!r}") from None
        if not t or any(isinstance(c, bool) or not hasattr(c, "__index__") for c in t):
            raise TypeError(f"{name} must be a non-empty sequence of integers, got {v!r}")
        return tuple(int(c) for c in t)
    return check


def _vectors(value: Any) -> Any:
    """Cone-beam ``vectors``: an ``(nproj, 12)`` array, or the path of a ``.npy`` file or a text
    file of 12 columns (as ``numpy.savetxt`` writes ASTRA's vectors) - what ``--set vectors=FILE``
    gives."""
    if isinstance(value, (str, os.PathLike)):
        path = Path(value)
        if not path.is_file():
            raise ValueError(f"vectors: no file {str(path)!r} (a .npy file or a text file of 12 columns)")
        try:
            value = np.load(path, allow_pickle=False) if path.suffix == ".npy" else np.loadtxt(path, ndmin=2)
        except ValueError as exc:
            raise ValueError(f"vectors: cannot read {str(path)!r} as numbers: {exc}") from None
    return check_vectors(value)


def optional_check(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``check`` of a keyword that may also be None."""
    return lambda v: None if v is None else check(v)


#: The rules of the keywords whose values are rules of the fitting engine (``select``,
#: ``stop``), by keyword: the engine's own registries
#: (:data:`~tomopy_dip.fitting.selection.SELECTORS`, :data:`~tomopy_dip.fitting.stopping.STOPPERS`),
#: handed over by :func:`declare_rules` where they are defined. The keywords sit below the engine,
#: so they are told the rules rather than importing them.
RULES: dict[str, Mapping[str, Any]] = {}


def declare_rules(keyword: str, rules: Mapping[str, Any]) -> None:
    """Make the names in ``rules`` the values of ``keyword``.

    The mapping itself is kept, not a copy: a rule added to it later is a value of the keyword
    too.
    """
    RULES[keyword] = rules


def _declared(keyword: str) -> Mapping[str, Any]:
    """The rules declared for ``keyword`` (:func:`declare_rules`)."""
    if keyword not in RULES:
        raise RuntimeError(f"no rules are declared for {keyword!r}: import tomopy_dip.fitting first")
    return RULES[keyword]


def _rule(keyword: str) -> Callable[[Any], str]:
    """Check of a keyword whose values are the rules declared for it (:func:`declare_rules`)."""
    return lambda v: choice_check(keyword, tuple(_declared(keyword)))(v)


def _select(v: Any) -> str:
    return _rule("select")(v)


def _stop(v: Any) -> str:
    return _rule("stop")(v)


def _uncertainty(v: Any) -> str | None:
    """``uncertainty``: None or False (none), True (the first estimator declared, the default)
    or an estimator's name."""
    if v is None or v is False:
        return None
    if v is True:
        return next(iter(_declared("uncertainty")))
    return _rule("uncertainty")(v)


def _dims(v: Any) -> int:
    v = int_check("dims", 2)(v)
    if v not in (2, 3):
        raise ValueError(f"dims must be 2 or 3, got {v!r}")
    return v


def _memory(v: Any) -> int | None:
    if v is None:
        return None
    return int(float_check("memory_limit", 0.0, strict=True)(v))


# ---------------------------------------------------------------------------- command-line text
def _int_list_text(text: str) -> tuple[int, ...]:
    try:
        vals = tuple(int(v) for v in re.split(r"[,\s]+", text.strip(" ()[]")) if v)
    except ValueError:
        raise ValueError(f"expected comma-separated integers, e.g. 32,32,64, got {text!r}") from None
    if not vals:
        raise ValueError("expected at least one integer")
    return vals


def yes_no(text: str) -> bool:
    """Command-line text ``yes``/``no`` (``true``/``false``, ``1``/``0``) as a bool."""
    v = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}.get(text.strip().lower())
    if v is None:
        raise ValueError(f"expected yes or no, got {text!r}")
    return v


def _init_network(v: Any) -> Any:
    from tomopy_dip.networks import FittedNetwork, UNetConfig, check_state_fits

    if v is None:
        return None
    if not (isinstance(v, tuple) and len(v) in (2, 3) and isinstance(v[0], UNetConfig) and isinstance(v[1], dict)):
        raise TypeError("init_network must be a FittedNetwork (e.g. Reconstruction.networks[i] of a fit with "
                        f"keep_network=True), got {type(v).__name__}")
    try:
        check_state_fits(v[0], v[1])
    except ValueError as exc:
        raise ValueError(f"init_network: {exc}") from None
    return FittedNetwork(*v)


def _backtrack(v: Any) -> float:
    v = float_check("backtrack", 0.0)(v)
    if 0 < v <= 1:
        raise ValueError(f"backtrack must be 0 (off) or a factor above 1, got {v!r}")
    return v
