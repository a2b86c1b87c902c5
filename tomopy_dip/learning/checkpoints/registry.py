"""The registry of shipped checkpoints: names, files, and what each was trained for.

:data:`CHECKPOINTS` maps names to :class:`CheckpointEntry` records: a
:class:`~tomopy_dip.data.registry.RemoteFile` (URL, SHA-256, packaged copy) plus the summary of the
metadata needed to choose a checkpoint without opening it. :func:`fetch_checkpoint` goes
through :func:`tomopy_dip.data.registry.fetch` (offline mirror ``TOMOPY_DIP_MIRROR``, packaged copy,
cache ``TOMOPY_DIP_CACHE``, then a verified download with pooch).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from tomopy_dip._version import __version__
from tomopy_dip.data.registry import RemoteFile, fetch, sha256
from tomopy_dip.learning.checkpoints._registry import ENTRIES as _ENTRIES
from tomopy_dip.learning.checkpoints.format import Checkpoint, load_file

__all__ = ["CheckpointEntry", "CHECKPOINTS", "RELEASE_URL", "release_url", "entry_from_dict", "entry_dict",
           "fetch_checkpoint", "load_checkpoint", "list_checkpoints", "checkpoint_info"]

#: Release download address of a shipped checkpoint file (the packaged copy is the offline source).
RELEASE_URL = "https://github.com/tomopy-dip/tomopy-dip/releases/download/v{version}/{file}"


@dataclass(frozen=True)
class CheckpointEntry:
    """A registered checkpoint: the file and what it was trained for."""

    file: RemoteFile
    geometry: dict
    serves: dict
    network: dict
    training: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.file.name

    @property
    def beam(self) -> str:
        return self.geometry["beam"]

    @property
    def dims(self) -> int:
        """2 for a U-Net of images, 3 for one of volumes."""
        return int(self.network.get("dims", 2))


def release_url(file: str) -> str:
    """Download address of a shipped checkpoint file in the release of this version."""
    return RELEASE_URL.format(version=__version__, file=file)


def entry_from_dict(d: Mapping[str, Any]) -> CheckpointEntry:
    """A :class:`CheckpointEntry` from its dict in ``_registry.py``."""
    remote = RemoteFile(
        name=d["name"], url=d.get("url") or release_url(d["file"]), sha256=d["sha256"],
        path=f"checkpoints/{d['file']}", size=int(d.get("size", 0)),
        description=d.get("description", ""), packaged=f"learning/checkpoints/{d['file']}",
    )
    return CheckpointEntry(remote, dict(d["geometry"]), dict(d["serves"]), dict(d["network"]),
                           dict(d.get("training", {})))


def entry_dict(path: str | os.PathLike, name: str, description: str, url: str | None = None) -> dict:
    """The ``_registry.py`` record of a checkpoint file (used by ``tools/register_checkpoint.py``)."""
    path = Path(path)
    meta = load_checkpoint(path).metadata
    tr = meta["training"]
    return {
        "name": name, "file": path.name, "url": url or release_url(path.name),
        "sha256": sha256(path), "size": path.stat().st_size, "description": description,
        "geometry": {k: v for k, v in meta["geometry"].items()}, "serves": meta["serves"],
        "network": meta["network"],
        "training": {k: tr.get(k) for k in ("steps", "batch_size", "val_psnr", "val_psnr_fbp", "seconds")},
    }


#: Registered checkpoints by name.
CHECKPOINTS: dict[str, CheckpointEntry] = {d["name"]: entry_from_dict(d) for d in _ENTRIES}


def fetch_checkpoint(name: str, progress: bool = False) -> Path:
    """Local path of registered checkpoint ``name`` (downloaded and verified on first use)."""
    if name not in CHECKPOINTS:
        known = ", ".join(CHECKPOINTS) or "none yet"
        raise ValueError(f"unknown checkpoint {name!r}; registered: {known}")
    return fetch(CHECKPOINTS[name].file, progress=progress)


def load_checkpoint(source: "str | os.PathLike | Checkpoint") -> Checkpoint:
    """Load a checkpoint by registry name or file path (verified; cached by path and mtime).

    A name is looked up in :data:`CHECKPOINTS` unless a file of that name exists; a
    :class:`~tomopy_dip.learning.checkpoints.format.Checkpoint` is returned as it is.

    Raises
    ------
    TypeError
        ``source`` is neither a name, a path nor a checkpoint.
    ValueError
        Unknown name, missing, corrupt, truncated or tampered file, or weights that do not fit.
    RegistryError
        A registered checkpoint that cannot be obtained (no network, bad checksum).
    """
    if isinstance(source, Checkpoint):
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"checkpoint must be a registry name or a file path, got {source!r}")
    name = None
    path = Path(source).expanduser()
    if isinstance(source, str) and source in CHECKPOINTS and not path.is_file():
        name = source
        path = fetch_checkpoint(source)
    elif not path.is_file():
        known = ", ".join(CHECKPOINTS) or "none yet"
        raise ValueError(
            f"checkpoint {str(source)!r} is neither a file nor a registered name (registered: {known})"
        )
    return load_file(path, name)


def list_checkpoints() -> list[dict]:
    """One summary dict per registered checkpoint (name, beam, views, size, ...)."""
    out = []
    for e in CHECKPOINTS.values():
        g = e.geometry
        out.append({
            "name": e.name, "dims": e.dims, "beam": e.beam, "views": e.serves["views"], "sizes": e.serves["size"],
            "trained_views": g.get("views"), "trained_size": [g.get("num_gridx"), g.get("num_gridy")],
            "arc_degrees": round(math.degrees(g.get("arc", 0.0)), 3),
            "val_psnr": e.training.get("val_psnr"), "file_size": e.file.size,
            "description": e.file.description, "url": e.file.url, "sha256": e.file.sha256,
        })
    return out


def checkpoint_info(source: "str | os.PathLike") -> dict:
    """Metadata of a checkpoint (file path or registry name), verified, plus file facts."""
    ckpt = load_checkpoint(source)
    n_params = sum(int(t.numel()) for t in ckpt.state.values())
    return {"path": str(ckpt.path), "name": ckpt.name, "file_sha256": sha256(ckpt.path),
            "file_size": ckpt.path.stat().st_size, "parameters": n_params,
            **json.loads(json.dumps(ckpt.metadata))}  # a copy: the cached metadata stays intact
