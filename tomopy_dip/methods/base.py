"""What distinguishes one DIP-family method from another.

A :class:`Method` is a declaration read by the fitting engine (:mod:`tomopy_dip.fitting`): its
loss terms, its hooks (which parameters train, how the input changes, a level calibration),
whether its network starts from a checkpoint, its own keywords and its defaults. The selection
rule is the ``select`` keyword (a method's default picks it). Everything else (projector, data
scaling, optimiser, batching, progress, callbacks, Ctrl-C) is shared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from tomopy_dip.fitting.hooks import Hook
from tomopy_dip.fitting.losses import DataFidelity, LossTerm, TotalVariation
from tomopy_dip.options import KEYWORDS, Keyword, Options, parse_options

__all__ = ["Method", "DEFAULTS_3D"]

#: The defaults of the methods with ``dims=3`` that differ from their 2-D ones. A 3-D U-Net
#: rises more slowly and its fits are thrown back by loss spikes every few thousand iterations
#: (:mod:`~tomopy_dip.fitting.backtrack`): the cap is higher, spikes are undone, and the plateau
#: rule waits 1500 iterations for progress (700 in 2-D). Measured by replaying whole 10 000-
#: and 7000-iteration runs (``benchmarks/slab3d.py --record``; benchmarks/README.md, "3-D"):
#: TV-DIP on the simulated 16-slice slab 32.24 dB after 9526 iterations (patience 700: 31.84 dB
#: after 6834; the 2-D per-slice fits 31.52 dB), on the FIPS gel phantom's 17 frames 22.83 dB
#: after 5291 (patience 700: 22.99 after 2582; 2-D per frame 22.49). DIP (with TV-DIP's stopping
#: and selection, see :data:`~tomopy_dip.methods.dip.DIP`) 30.84 dB against 27.68 dB.
DEFAULTS_3D = {"backtrack": 3.0, "num_iter": 10000, "stop_patience": 1500}


@dataclass(frozen=True)
class Method:
    """A reconstruction method of the DIP family.

    Parameters
    ----------
    name : str
        Public name (``"dip"``, ``"tv_dip"``, ...).
    defaults : mapping
        Default keyword values that differ from the keywords' own defaults
        (:data:`tomopy_dip.options.KEYWORDS` and ``keywords``).
    defaults_3d : mapping
        Defaults that replace those with ``dims=3`` (a 3-D U-Net fits more slowly).
    keywords : tuple of Keyword
        Method-specific keywords accepted besides the shared ones, with their defaults, checks
        and help (:class:`tomopy_dip.options.Keyword`).
    losses : tuple of LossTerm classes
        The terms of the loss, the data term first (:mod:`tomopy_dip.fitting.losses`).
    hooks : tuple of Hook classes
        What the method changes in the fit (:mod:`tomopy_dip.fitting.hooks`), applied in order.
    load_network : callable, optional
        ``load_network(options, geometry) -> (UNetConfig, state_dict)``: a pretrained start,
        resolved once per call.
    description : str
        One line for listings.

    Examples
    --------
    A method is a declaration (:func:`tomopy_dip.methods.register_method` makes it usable by
    name in every entry point):

    >>> m = Method("dip_slow", defaults={"lr": 1e-4}, description="DIP with a small step")
    >>> m.accepted["lr"].default, m.defaults["lr"]
    (0.001, 0.0001)
    """

    name: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    defaults_3d: Mapping[str, Any] = field(default_factory=dict)
    keywords: tuple[Keyword, ...] = ()
    losses: tuple[type[LossTerm], ...] = (DataFidelity, TotalVariation)
    hooks: tuple[type[Hook], ...] = ()
    load_network: Callable[..., Any] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"a method's name must be a Python identifier, got {self.name!r}")
        own = [k.name if isinstance(k, Keyword) else k for k in self.keywords]
        if any(not isinstance(k, Keyword) for k in self.keywords):
            raise TypeError(f"method {self.name}: keywords must be tomopy_dip.options.Keyword records, got {own}")
        unknown = sorted((set(self.defaults) | set(self.defaults_3d)) - set(KEYWORDS) - set(own))
        if unknown:
            raise ValueError(f"method {self.name}: defaults for unknown keyword(s) {unknown}")

    @property
    def accepted(self) -> dict[str, Keyword]:
        """Every keyword the method accepts (shared ones, then its own), by name."""
        return {**KEYWORDS, **{k.name: k for k in self.keywords}}

    def parse(self, kwargs: Mapping[str, Any], where: str | None = None) -> Options:
        """The validated :class:`~tomopy_dip.options.Options` of a call with ``kwargs`` (the
        method's defaults, those of ``dims=3`` where it applies, then ``kwargs``)."""
        return parse_options(kwargs, self.accepted, self.defaults, where or f"tomopy_dip.{self.name}",
                             self.defaults_3d)
