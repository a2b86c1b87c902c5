"""Ways into the package for its users, each built on :func:`tomopy_dip.reconstruct`.

- :mod:`~tomopy_dip.interfaces.tomopy`: the methods as TomoPy algorithms
  (:func:`make_algorithm`, :data:`ALGORITHMS`) and :func:`recon`, a stand-in for
  ``tomopy.recon``.
- :mod:`~tomopy_dip.interfaces.tomosipo`: :func:`from_tomosipo`, a tomosipo operator or
  geometry as the geometry keywords of :func:`~tomopy_dip.reconstruct`.
- :mod:`~tomopy_dip.interfaces.demo`: the offline demo (``tomopy-dip demo``).
- :mod:`~tomopy_dip.interfaces.plotting`: previews and convergence plots (matplotlib).

Whole scans from a file (``tomopy-dip recon``) are the room of their own
:mod:`tomopy_dip.volume`.
"""

from tomopy_dip.interfaces.tomopy import ALGORITHMS, make_algorithm, recon
from tomopy_dip.interfaces.tomosipo import from_tomosipo

__all__ = ["make_algorithm", "recon", "ALGORITHMS", "from_tomosipo"]
