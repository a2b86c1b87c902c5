"""The whole-scan default, ``algorithm="auto"``: the route to DIP quality over a scan at the lowest cost.

A network pretrained on a few rows of the scan itself starts every other row at DIP's quality
(:mod:`~tomopy_dip.volume.seeding`), so that each of those rows needs only a short fine-tuning
by EDIP-FE instead of a whole TV-DIP fit. :func:`choose_route` decides from the selection:

- **per-row** (fewer than :data:`MIN_SEEDED_ROWS` rows, or a fit the scan's pretraining does not
  serve: ``dims=3``, cone beam, the warm start): every row by TV-DIP at its defaults;
- **scan-pretrained** (otherwise): :func:`seed_count` seed rows spread over the selection by
  TV-DIP, a network pretrained on all but one of them (:data:`PRETRAIN_STEPS` steps), the
  held-back seed row fitted from it as a check (:func:`passes_check`: its data misfit within
  :data:`CHECK_MISFIT_RATIO` of the TV-DIP image's), then every other row by EDIP-FE from that
  network with a short stopping rule (:data:`ROW_KEYWORDS`: a fit from a good start that no
  longer improves its loss stops within tens of iterations, and the minimum-loss selection never
  returns an image of higher loss than the start). Where the check fails, the other rows are
  fitted per row by TV-DIP, and the run says and records so.

Naming a method (``algorithm="tv_dip"``, ...) keeps that method on every row, as before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from tomopy_dip.volume.settings import ScanPretrain

__all__ = ["AUTO", "Route", "choose_route", "seed_count", "passes_check", "MIN_SEEDED_ROWS", "ROWS_PER_SEED",
           "MAX_SEEDS", "PRETRAIN_STEPS", "ROW_METHOD", "ROW_KEYWORDS", "SEED_METHOD", "CHECK_MISFIT_RATIO"]

#: The name of the whole-scan default among the algorithms of ``reconstruct_file``.
AUTO = "auto"
#: Fewest rows for which the scan-pretrained route is chosen: below, the seeds and the pretraining
#: cost more than the rows they make cheap.
MIN_SEEDED_ROWS = 16
#: One training seed row per this many selected rows (at least 2, at most :data:`MAX_SEEDS`).
ROWS_PER_SEED = 256
#: Most training seed rows.
MAX_SEEDS = 8
#: The seed rows' method (at its defaults).
SEED_METHOD = "tv_dip"
#: The other rows' method, and its keywords (the caller's own keywords win).
ROW_METHOD = "edip_fe"
ROW_KEYWORDS: dict[str, Any] = {"stop_patience": 50}
#: Pretraining steps on the seed rows (of :class:`ScanPretrain`'s batch and learning rate).
PRETRAIN_STEPS = 300
#: The held-back seed row's check: its fit from the network passes when its relative data misfit
#: is at most this factor times that of its TV-DIP image. On the simulated porous scan of
#: ``benchmarks/scan.py`` (32 rows, 256², 60 views) the held-back row's fit had 1.20 times the
#: misfit while the route's rows were 1.5 dB under per-row TV-DIP: 1.1 sends that scan to
#: per-row fits.
CHECK_MISFIT_RATIO = 1.1


@dataclass(frozen=True)
class Route:
    """What ``algorithm="auto"`` does with a scan.

    Attributes
    ----------
    name : {"per_row", "scan_pretrained"}
        The route.
    method : str
        The method of the rows that are not seeds.
    keywords : dict
        Its keywords besides the caller's (the caller's win).
    seeding : ScanPretrain or None
        The seed rows and their pretraining (the scan-pretrained route).
    why : str
        The reason, in words, as the plan says it.
    """

    name: str
    method: str
    keywords: dict = field(default_factory=dict)
    seeding: ScanPretrain | None = None
    why: str = ""

    def settings(self) -> dict:
        """What the run records (and a resumed run compares)."""
        return {"route": self.name, "method": self.method, "keywords": dict(self.keywords)}


def seed_count(rows: int) -> int:
    """Training seed rows for a selection of ``rows`` rows: one per :data:`ROWS_PER_SEED`, at
    least 2 and at most :data:`MAX_SEEDS` (one more row is held back as the check).

    Examples
    --------
    >>> seed_count(32), seed_count(600), seed_count(2048), seed_count(10000)
    (2, 3, 8, 8)
    """
    return max(2, min(MAX_SEEDS, math.ceil(rows / ROWS_PER_SEED)))


def choose_route(rows: int, options: Any, warm_start: bool = False,
                 seeding: ScanPretrain | None = None) -> Route:
    """The route of ``algorithm="auto"`` for a selection of ``rows`` rows fitted with ``options``
    (the parsed keywords of the call); ``seeding`` (the caller's ``scan_pretrain``) asks for the
    scan-pretrained route whatever the number of rows, with its seed rows and pretraining
    settings instead of the route's own.

    Examples
    --------
    >>> from tomopy_dip.methods import get_method
    >>> options = get_method("tv_dip").parse({"device": "cpu"})
    >>> choose_route(4, options).name, choose_route(32, options).name
    ('per_row', 'scan_pretrained')
    >>> choose_route(32, options).seeding.seed_rows(range(32))
    [5, 16, 27]
    """
    if options.dims == 3 or options.beam == "cone":
        why = "dims=3 / cone beam fit rows together, which the scan's 2-D pretraining does not serve"
    elif warm_start:
        why = "the warm start starts each row from the row before, not from a pretrained network"
    elif rows < MIN_SEEDED_ROWS and seeding is None:
        why = f"{rows} row(s): fewer than {MIN_SEEDED_ROWS}, too few to pay back seeds and a pretraining"
    else:
        seeds = seed_count(rows)
        setting = seeding or ScanPretrain(every=max(1, math.ceil(rows / (seeds + 1))), method=SEED_METHOD,
                                          num_steps=PRETRAIN_STEPS, held_back=1)
        return Route("scan_pretrained", ROW_METHOD, dict(ROW_KEYWORDS), setting,
                     f"{rows} rows: {setting.num_steps} pretraining steps on {seeds} seed row(s) of the scan, "
                     f"one more held back as a check, then the other rows by {ROW_METHOD} from that network")
    return Route("per_row", SEED_METHOD, {}, None, why)


def passes_check(misfit_fit: float, misfit_seed: float) -> bool:
    """Whether the network passes the held-back seed row's check: the misfit of its fit at most
    :data:`CHECK_MISFIT_RATIO` times that of the row's TV-DIP image.

    Examples
    --------
    >>> passes_check(0.031, 0.030), passes_check(0.05, 0.03)
    (True, False)
    """
    return misfit_fit <= CHECK_MISFIT_RATIO * misfit_seed
