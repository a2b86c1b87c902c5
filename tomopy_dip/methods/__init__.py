"""The methods of the package, each a :class:`~tomopy_dip.methods.base.Method` declaration.

:func:`register_method` adds a method at run time: it is then usable by name in
:func:`tomopy_dip.reconstruct`, :func:`tomopy_dip.recon` (``algorithm="name"``),
``tomopy_dip.ALGORITHMS`` and the command line.
"""

from __future__ import annotations

from tomopy_dip.methods.aseqdip import ASEQDIP
from tomopy_dip.methods.base import Method
from tomopy_dip.methods.dip import DIP, TV_DIP
from tomopy_dip.methods.edip import EDIP, EDIP_FE

__all__ = ["Method", "METHODS", "get_method", "register_method"]

#: Registered methods by name.
METHODS: dict[str, Method] = {m.name: m for m in (DIP, TV_DIP, ASEQDIP, EDIP, EDIP_FE)}


def register_method(method: Method) -> Method:
    """Add ``method`` to :data:`METHODS` (replacing one of the same name); returns it."""
    if not isinstance(method, Method):
        raise TypeError(f"method must be a tomopy_dip.methods.Method, got {method!r}")
    METHODS[method.name] = method
    return method


def get_method(name: str | Method) -> Method:
    """Look a method up by name (a :class:`Method` is returned as it is)."""
    if isinstance(name, Method):
        return name
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise ValueError(f"method must be one of {tuple(METHODS)}, got {name!r}") from None
