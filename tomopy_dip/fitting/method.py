"""What the fitting engine reads of a method, and the methods by name.

A :class:`Method` is a declaration read by the fitting engine: its loss terms, its hooks (which
parameters train, how the input changes, a level calibration), whether its network starts from
a checkpoint, its own keywords and its defaults. The selection rule is the ``select`` keyword (a
method's default picks it). Everything else (projector, data scaling, optimiser, batching,
progress, callbacks, Ctrl-C) is shared.

The declaration lives here, beside the engine that reads it; the package's methods are
declared in :mod:`tomopy_dip.methods`, which registers them in :data:`METHODS` (as
:func:`register_method` does for a method added at run time), so that the engine finds a method
by name without depending on the methods.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from tomopy_dip.fitting.hooks import Hook
from tomopy_dip.fitting.losses import DataFidelity, LossTerm, TotalVariation
from tomopy_dip.options import KEYWORDS, Keyword, Options, parse_options

__all__ = ["Method", "METHODS", "get_method", "register_method"]


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


#: Registered methods by name (:mod:`tomopy_dip.methods` registers the package's own).
METHODS: dict[str, Method] = {}


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
