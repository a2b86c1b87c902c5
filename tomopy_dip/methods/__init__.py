"""The methods of the package, each a :class:`~tomopy_dip.methods.base.Method` record."""

from __future__ import annotations

from tomopy_dip.methods.aseqdip import ASEQDIP
from tomopy_dip.methods.base import Method
from tomopy_dip.methods.dip import DIP, TV_DIP

__all__ = ["Method", "METHODS", "get_method", "register_method"]

METHODS: dict[str, Method] = {m.name: m for m in (DIP, TV_DIP, ASEQDIP)}


def register_method(method: Method) -> Method:
    """Add a method to :data:`METHODS` (used by :mod:`tomopy_dip.methods.edip`)."""
    METHODS[method.name] = method
    return method


def get_method(name: str | Method) -> Method:
    """Look a method up by name."""
    if isinstance(name, Method):
        return name
    try:
        return METHODS[name]
    except (KeyError, TypeError):
        raise ValueError(f"method must be one of {tuple(METHODS)}, got {name!r}") from None


from tomopy_dip.methods.edip import EDIP, EDIP_FE  # noqa: E402  (edip imports the checkpoint machinery)

register_method(EDIP)
register_method(EDIP_FE)
