"""The methods of the package, each a :class:`~tomopy_dip.methods.base.Method` declaration.

:func:`register_method` adds a method at run time: it is then usable by name in
:func:`tomopy_dip.reconstruct`, :func:`tomopy_dip.recon` (``algorithm="name"``),
``tomopy_dip.ALGORITHMS`` and the command line. The registry itself (:data:`METHODS`,
:func:`get_method`) belongs to the fitting engine (:mod:`tomopy_dip.fitting.method`), which looks
methods up by name; importing this package registers the package's own methods there.
"""

from __future__ import annotations

from tomopy_dip.fitting.method import METHODS, Method, get_method, register_method
from tomopy_dip.methods.aseqdip import ASEQDIP
from tomopy_dip.methods.dip import DIP, TV_DIP
from tomopy_dip.methods.edip import EDIP, EDIP_FE

__all__ = ["Method", "METHODS", "get_method", "register_method"]

for _method in (DIP, TV_DIP, ASEQDIP, EDIP, EDIP_FE):
    register_method(_method)
del _method
