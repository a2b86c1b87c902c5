"""Ways into the package for its users, each built on :func:`tomopy_dip.reconstruct`.

- :mod:`~tomopy_dip.interfaces.tomopy`: the methods as TomoPy algorithms
  (:func:`make_algorithm`, :data:`ALGORITHMS`) and :func:`recon`, a stand-in for
  ``tomopy.recon``.
- :mod:`~tomopy_dip.interfaces.pipeline`: :func:`reconstruct_file`, from a Data Exchange file
  to TIFF, figures and a summary on disk (the work of ``tomopy-dip recon``);
  :mod:`~tomopy_dip.interfaces.seeding`: its ``scan_pretrain`` (EDIP pretrained on the scan's
  own seed rows, :class:`ScanPretrain`).
- :mod:`~tomopy_dip.interfaces.tomosipo`: :func:`from_tomosipo`, a tomosipo operator or
  geometry as the geometry keywords of :func:`~tomopy_dip.reconstruct`.
- :mod:`~tomopy_dip.interfaces.demo`: the offline demo (``tomopy-dip demo``).
- :mod:`~tomopy_dip.interfaces.plotting`: previews and convergence plots (matplotlib).
"""

from tomopy_dip.interfaces.pipeline import FileReconstruction, reconstruct_file
from tomopy_dip.interfaces.seeding import ScanPretrain
from tomopy_dip.interfaces.tomopy import ALGORITHMS, make_algorithm, recon
from tomopy_dip.interfaces.tomosipo import from_tomosipo

__all__ = ["reconstruct_file", "FileReconstruction", "ScanPretrain", "make_algorithm", "recon", "ALGORITHMS", "from_tomosipo"]
