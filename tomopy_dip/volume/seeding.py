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
(18 views: 25.25 dB in 49 s against DIP's 24.49 dB in 139 s; ``benchmarks/scan_pretrain.py``).
The seed rows are slices of the result, not an extra cost; the pretraining (639 s there, one
core) was paid back after about 7 slices.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from tomopy_dip.volume.scan import ScanSource, rows_text
from tomopy_dip.volume.settings import ScanPretrain, SettingError

__all__ = ["CHECKPOINT", "scan_pretrain_setting", "pretrain_on_seed_rows", "check_held_back"]

#: The checkpoint's file name in the output directory.
CHECKPOINT = "scan_pretrain.safetensors"


def scan_pretrain_setting(value: ScanPretrain | None, method: Any, options: Any, keywords: dict,
                          warm_start: bool) -> ScanPretrain | None:
    """``scan_pretrain`` of :func:`~tomopy_dip.volume.reconstruct_file` (already a
    :class:`ScanPretrain` or None, :data:`~tomopy_dip.volume.settings.FILE_KEYWORDS`) checked
    against the method, its keywords and the other settings.

    Raises
    ------
    SettingError
        ``scan_pretrain`` with a method that starts from no checkpoint, a checkpoint given,
        ``dims=3``, cone beam or the warm start.
    """
    if value is None:
        return None
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


def _geometry(options: Any) -> dict:
    """The geometry keywords of the call that pretraining takes (those given)."""
    from tomopy_dip.learning.pretraining.settings import GEOMETRY_KEYWORDS

    return {k: getattr(options, k) for k in ("num_gridx", "num_gridy", *GEOMETRY_KEYWORDS)
            if getattr(options, k) is not None}


def _operator(sinogram: np.ndarray, theta: np.ndarray, center: float, options: Any) -> Any:
    from tomopy_dip.baselines import operator_for

    return operator_for(sinogram, theta, center, **_geometry(options))


def pretrain_on_seeds(setting: ScanPretrain, images: np.ndarray, sinograms: np.ndarray, theta: np.ndarray,
                      center: float, options: Any, out: Path, progress: bool) -> tuple[Path, list[float]]:
    """Pretrain on the seed rows' ``images`` (their data ``sinograms``) into ``out / CHECKPOINT``
    (resumed when its state is there); returns the file and the noise range used."""
    from tomopy_dip.learning.pretraining import pretrain
    from tomopy_dip.physics.measurement import relative_misfit

    geometry = _geometry(options)
    op = _operator(sinograms[0], theta, center, options)
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


def pretrain_on_seed_rows(setting: ScanPretrain, seeds: list, source: ScanSource, results: Any,
                          theta: np.ndarray, center: float, options: Any, out: Path, progress: bool,
                          say: Callable[[str], None]) -> tuple[Path, dict]:
    """Pretrain on the finished seed rows (their slice files in ``results``, their data read from
    ``source``): the checkpoint's path and what the summary says of it."""
    scan = source.read(seeds)
    images = np.stack([results.read_slice(r) for r in seeds])
    say(f"Pretraining on {len(seeds)} seed row(s) ({rows_text(seeds)}): {setting.num_steps} steps")
    path, noise = pretrain_on_seeds(setting, images, scan.sinograms, theta, center, options, out, progress)
    from tomopy_dip.data.registry import sha256

    return path, {"seed_rows": seeds, "checkpoint": path.name, "sha256": sha256(path), "noise": noise}


def check_held_back(rows: list, source: ScanSource, results: Any, theta: np.ndarray, center: float,
                    method: str, keywords: dict, options: Any) -> dict[str, Any]:
    """Fit the held-back seed ``rows`` by ``method`` with ``keywords`` (the scan's checkpoint
    among them) and compare each fit with the row's seed image in ``results``: their relative data
    misfits (:func:`~tomopy_dip.physics.measurement.relative_misfit`) and their agreement (PSNR
    of the fit against the seed image). ``"passed"`` is
    :func:`~tomopy_dip.volume.route.passes_check` on every row; ``"interrupted"`` is set when
    Ctrl-C stopped a fit."""
    from tomopy_dip.fitting.engine import reconstruct
    from tomopy_dip.metrics import psnr
    from tomopy_dip.physics.measurement import relative_misfit
    from tomopy_dip.volume.route import passes_check

    scan = source.read(rows)
    op = _operator(scan.sinograms[0], theta, center, options)
    out: dict[str, Any] = {"rows": list(rows), "misfit_fit": [], "misfit_seed": [], "agreement_db": [],
                           "iterations": []}
    for i, row in enumerate(rows):
        res = reconstruct(scan.sinograms[i], theta, center=center, method=method, progress=False, **keywords)
        if res.interrupted:
            return {**out, "passed": False, "interrupted": True}
        seed = results.read_slice(row)
        image = np.asarray(res.images, np.float32).reshape(seed.shape)
        out["misfit_fit"].append(round(relative_misfit(scan.sinograms[i], image, op), 6))
        out["misfit_seed"].append(round(relative_misfit(scan.sinograms[i], seed, op), 6))
        out["agreement_db"].append(round(psnr(image, seed), 2))
        out["iterations"].append(int(res.iterations_run[0]))
    out["passed"] = all(passes_check(f, m) for f, m in zip(out["misfit_fit"], out["misfit_seed"]))
    return out
