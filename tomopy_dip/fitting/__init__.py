"""The fitting engine: :func:`reconstruct` and its pieces (problem, loss terms, hooks,
selection rules, the loop)."""

from tomopy_dip.fitting.engine import COMPUTE_LOCK, Reconstruction, reconstruct, run

__all__ = ["reconstruct", "Reconstruction", "run", "COMPUTE_LOCK"]
