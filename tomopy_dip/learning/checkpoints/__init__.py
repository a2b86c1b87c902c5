"""Pretrained U-Net checkpoints for Educated DIP: file format, registry, automatic choice.

Each part has its module, and every public name is importable from here:

File format (:mod:`tomopy_dip.learning.checkpoints.format`)
    One ``.safetensors`` file per checkpoint: the weights of one network and one JSON metadata
    document (network, training geometry, what it serves, noise, training, command), verified
    on load (:func:`save_checkpoint`, :func:`read_metadata`; the geometry summary
    :func:`geometry_summary` and :func:`default_serves`).
Registry (:mod:`tomopy_dip.learning.checkpoints.registry`)
    :data:`CHECKPOINTS` maps names to :class:`CheckpointEntry` records (the file and what it was
    trained for); :func:`fetch_checkpoint` obtains a registered file (offline mirror, packaged
    copy, cache, verified download); :func:`load_checkpoint` loads one by name or file.
Automatic choice (:mod:`tomopy_dip.learning.checkpoints.matching`)
    :func:`choose_checkpoint` ranks the registered checkpoints by geometry similarity;
    :func:`resolve_checkpoint` says (:class:`CheckpointMatchWarning`) when none suits the data and what EDIP does then.

The command line is ``tomopy-dip checkpoints`` (:mod:`tomopy_dip.cli.checkpoints`).
"""

from __future__ import annotations

from tomopy_dip.data.registry import RegistryError
from tomopy_dip.learning.checkpoints.format import (
    FORMAT, FORMAT_VERSION, METADATA_KEY, Checkpoint, default_serves, geometry_summary, read_metadata,
    save_checkpoint, scan_arc, weights_sha256,
)
from tomopy_dip.learning.checkpoints.registry import (
    CHECKPOINTS, RELEASE_URL, CheckpointEntry, checkpoint_info, entry_dict, entry_from_dict, fetch_checkpoint,
    list_checkpoints, load_checkpoint, release_url,
)
from tomopy_dip.learning.checkpoints.matching import (
    CheckpointMatchWarning, check_compatible, choose_checkpoint, match_geometry, resolve_checkpoint,
)

__all__ = [
    "Checkpoint", "CheckpointEntry", "CheckpointMatchWarning", "CHECKPOINTS", "FORMAT",
    "FORMAT_VERSION", "METADATA_KEY", "save_checkpoint", "load_checkpoint", "read_metadata",
    "weights_sha256", "fetch_checkpoint", "list_checkpoints", "checkpoint_info", "choose_checkpoint",
    "resolve_checkpoint", "check_compatible", "match_geometry", "geometry_summary", "release_url",
    "RegistryError", "scan_arc", "default_serves", "entry_dict", "entry_from_dict", "RELEASE_URL",
]
