"""EDIP pretrained on the scan itself, for a whole volume: seed rows, a checkpoint, the rest.

A volume's slices resemble each other far more than any synthetic phantom resembles them.
With ``reconstruct_file(..., algorithm="edip" or "edip_fe", scan_pretrain=K)``
(``tomopy-dip recon --scan-pretrain K``):

1. every K-th selected row (the *seed rows*, centred in their blocks of K) is reconstructed
   by :attr:`ScanPretrain.method` (TV-DIP) at its defaults, and written like any slice;
2. a network is pretrained on them (:func:`tomopy_dip.pretrain` with ``images=``: rotated and
   mirrored copies measured in the scan's own geometry, at a noise level up to twice the seed
   rows' data misfit, :func:`~tomopy_dip.physics.measurement.relative_misfit`), saved in the
   output directory as :data:`CHECKPOINT` and resumable like any pretraining;
3. the other rows are fitted by EDIP (or EDIP-FE) from that checkpoint.

FIPS gel phantom (real fan-beam data, 36 views, 128², its time frames as rows; four seed frames):
the pretrained network's image of an unseen frame is 25.88 dB before fine-tuning, above DIP's
25.45 dB after 1999 iterations; EDIP-FE returns 25.48 dB in 37 s against DIP's 131 s per slice
(18 views: 25.25 dB in 49 s against DIP's 24.49 dB in 139 s; ``benchmarks/scan_pretrain.py``). The seed rows are slices of the result, not an extra cost;
pretraining is (639 s there, one core), paid back after about 7 slices.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tomopy_dip.options import _GEOMETRY_KEYWORDS, int_check

__all__ = ["ScanPretrain", "CHECKPOINT", "SEED_KEYWORDS", "scan_pretrain_setting"]

#: The checkpoint's file name in the output directory.
CHECKPOINT = "scan_pretrain.safetensors"

#: The keywords the seed rows' fits take from the call: those describing the data, the grid and
#: the machine. The others (iterations, learning rate, stopping, ...) tune EDIP's fine-tuning.
SEED_KEYWORDS = (*_GEOMETRY_KEYWORDS, "device", "precision", "backend", "memory_limit", "filter_name", "seed")


@dataclass(frozen=True)
class ScanPretrain:
    """How a volume pretrains EDIP on its own rows (see the module docstring).

    Attributes
    ----------
    every : int
        One seed row per ``every`` selected rows (at least one seed in all).
    method : str
        The seed rows' method, at its defaults but for ``method_keywords``.
    method_keywords : dict
        Keywords of the seed rows' fits besides those they take from the call
        (:data:`SEED_KEYWORDS`), e.g. ``{"num_iter": 1000}`` for quicker seeds.
    num_steps, batch_size, lr_max
        Pretraining (:func:`tomopy_dip.pretrain`): on the FIPS gel phantom 1500 steps of 8 at a
        peak learning rate of 2e-3 reached a validation PSNR 10.1 dB above the FBP's (36 views).
    noise_factor : float
        Training noise levels are drawn from ``U(0, noise_factor * m)``, ``m`` the largest
        relative data misfit of the seed rows' images (their data's noise and model error).
    """

    every: int
    method: str = "tv_dip"
    method_keywords: dict = field(default_factory=dict)
    num_steps: int = 1500
    batch_size: int = 8
    lr_max: float = 2e-3
    noise_factor: float = 2.0

    def seed_rows(self, rows: Sequence[int]) -> list[int]:
        """The seed rows of a selection: every ``every``-th, centred in its block.

        Examples
        --------
        >>> ScanPretrain(every=4).seed_rows(range(10))
        [2, 6]
        >>> ScanPretrain(every=16).seed_rows([3, 5, 7])
        [5]
        """
        rows = list(rows)
        first = min(self.every // 2, (len(rows) - 1) // 2)
        return rows[first::self.every]

    def fit_keywords(self, keywords: dict) -> dict:
        """The keywords of the seed rows' fits: the call's :data:`SEED_KEYWORDS`, then
        ``method_keywords``."""
        return {**{k: v for k, v in keywords.items() if k in SEED_KEYWORDS}, **self.method_keywords}

    def settings(self) -> dict:
        """What a resumed run compares (recorded in every slice and the summary)."""
        return asdict(self)


def scan_pretrain_setting(value: Any, method: Any, options: Any, keywords: dict, warm_start: bool) -> ScanPretrain | None:
    """``scan_pretrain`` of :func:`~tomopy_dip.interfaces.pipeline.reconstruct_file` checked:
    None, or a :class:`ScanPretrain` (an int is ``ScanPretrain(every=value)``).

    Raises
    ------
    SettingError
        ``scan_pretrain`` with a method that starts from no checkpoint, a checkpoint given,
        ``dims=3``, cone beam, the warm start, or not a positive integer.
    """
    from tomopy_dip.interfaces.scan import SettingError

    if value is None:
        return None
    if not isinstance(value, ScanPretrain):
        value = ScanPretrain(every=int_check("scan_pretrain", 1)(value))
    else:
        int_check("scan_pretrain.every", 1)(value.every)
    if method.load_network is None:
        from tomopy_dip.methods import METHODS

        pretrained = [m.name for m in METHODS.values() if m.load_network is not None]
        why = f"the method {method.name!r} starts from no checkpoint: use {' or '.join(pretrained)}"
    elif keywords.get("checkpoint") is not None:
        why = "it makes the checkpoint: leave the checkpoint keyword out"
    elif options.dims == 3 or options.beam == "cone":
        why = "it pretrains a 2-D network on slices: not with dims=3 or beam='cone'"
    elif warm_start:
        why = "each row starts from the scan's checkpoint: not with the warm start"
    else:
        from tomopy_dip.methods import get_method

        get_method(value.method).parse(value.fit_keywords(keywords), where="scan_pretrain's seed rows")
        return value
    raise SettingError("scan_pretrain", f"{{scan_pretrain}}: {why}", scan_pretrain=f"scan_pretrain={value.every}")


def pretrain_on_seeds(setting: ScanPretrain, images: np.ndarray, sinograms: np.ndarray, theta: np.ndarray,
                      center: float, options: Any, out: Path, progress: bool) -> tuple[Path, list[float]]:
    """Pretrain on the seed rows' ``images`` (their data ``sinograms``) into ``out / CHECKPOINT``
    (resumed when its state is there); returns the file and the noise range used."""
    from tomopy_dip.baselines import operator_for
    from tomopy_dip.learning.pretraining import pretrain
    from tomopy_dip.learning.pretraining.run import _GEOMETRY_KEYWORDS as PRETRAIN_GEOMETRY
    from tomopy_dip.physics.measurement import relative_misfit

    geometry = {k: getattr(options, k) for k in ("num_gridx", "num_gridy", *PRETRAIN_GEOMETRY)
                if getattr(options, k) is not None}
    op = operator_for(sinograms[0], theta, center, **geometry)
    misfit = max(relative_misfit(s, x, op) for s, x in zip(sinograms, images))
    noise = [0.0, round(float(setting.noise_factor * misfit), 6)]
    path = pretrain(theta, sinograms.shape[-1], center, out=out / CHECKPOINT, images=images,
                    num_steps=setting.num_steps, batch_size=setting.batch_size, lr_max=setting.lr_max,
                    checkpoint_every=0,  # the best network and the resume state only
                    noise=tuple(noise), filter_name=options.filter_name, device=options.device,
                    backend=options.backend, seed=options.seed, progress=progress,
                    channels=options.channels, skip_channels=options.skip_channels,
                    norm_groups=options.norm_groups, out_activation=options.out_activation,
                    description=f"pretrained on {len(images)} rows of the scan (scan_pretrain)", **geometry)
    return path, noise
