"""Checkpoint files: the format, writing, reading, verification and the load cache.

One ``.safetensors`` file per checkpoint: the weights of one network (``UNet(n_models=1)``
state dict, float32) and, under the header metadata key ``"tomopy_dip"``, one JSON document:

``format``, ``format_version``
    ``"tomopy_dip.checkpoint"``, ``1``.
``dims``
    2 (ellipses, 2-D U-Net). 3 is reserved for ellipsoid checkpoints of 3-D reconstruction.
``network``
    :meth:`UNetConfig.to_dict` of the network.
``geometry``
    :meth:`Geometry.describe` of the training geometry plus ``views`` (view counts trained
    on), ``arc`` (angular span of the scan, radians) and ``size``.
``serves``
    ``{"views": [lo, hi], "size": [lo, hi]}``: the view counts and image sizes the checkpoint
    is meant for (used by the automatic choice).
``noise``, ``data``
    Noise model (``y = A x + level * mean(|A x|) * N(0, 1)``), phantoms, FBP filter, scaling.
``training``
    Steps, batch size, optimiser, validation PSNR, seconds, ...
``version``, ``command``, ``created``, ``arguments``
    Package version, the command that produced the file, time stamp, the full arguments.
``weights_sha256``
    SHA-256 over the tensors (names, dtypes, shapes, bytes), verified on load: modified weights
    are refused even when the header still parses.

Loading never executes code from the file (safetensors holds raw tensors only; the metadata is
JSON). A file that does not parse, is truncated, fails its weights checksum, lacks required
metadata or whose weights do not fit its own network configuration raises :class:`ValueError`
naming the file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from tomopy_dip._version import __version__
from tomopy_dip.networks import UNetConfig, check_state_fits
from tomopy_dip.physics.geometry import Geometry
from tomopy_dip.utils import LRUCache, atomic_write, jsonable

__all__ = ["Checkpoint", "FORMAT", "FORMAT_VERSION", "METADATA_KEY", "save_checkpoint", "load_file",
           "read_metadata", "weights_sha256", "scan_arc", "geometry_summary", "default_serves"]

FORMAT = "tomopy_dip.checkpoint"
FORMAT_VERSION = 1
METADATA_KEY = "tomopy_dip"
REQUIRED_KEYS = ("format", "format_version", "dims", "network", "geometry", "serves", "noise",
                 "training", "version", "command", "weights_sha256")


def weights_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over a state dict: names, dtypes, shapes and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(repr(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes())
    return h.hexdigest()


def scan_arc(theta: np.ndarray) -> float:
    """Angular span of a scan of evenly spaced angles: ``nproj * step`` (e.g. pi for 180°)."""
    th = np.asarray(theta, dtype=np.float64).reshape(-1)
    if th.size < 2:
        return 0.0
    span = float(np.ptp(th))
    return span * th.size / (th.size - 1)


def geometry_summary(geometry: Geometry, views: list[int] | None = None) -> dict:
    """The JSON description of a training geometry stored in checkpoints (``geometry``).

    :meth:`Geometry.describe` plus ``views`` (default: its own number of angles), ``arc`` and
    ``size`` (``sqrt(num_gridx * num_gridy)``).
    """
    d = geometry.describe()
    d["views"] = sorted(int(v) for v in (views or [geometry.nproj]))
    d["arc"] = scan_arc(geometry.theta)
    d["size"] = geometry.size
    return d


def default_serves(summary: Mapping[str, Any]) -> dict:
    """What a checkpoint serves when its trainer did not say (``serves``): close to what it was
    trained on (``summary``, see :func:`geometry_summary`)."""
    views = summary["views"]
    size = float(summary["size"])
    return {"views": [int(math.floor(min(views) / 1.34)), int(math.ceil(max(views) * 1.34))],
            "size": [int(math.floor(size / 1.5)), int(math.ceil(size * 1.5))]}


def save_checkpoint(path: str | os.PathLike, state: Mapping[str, torch.Tensor], config: UNetConfig,
                    metadata: Mapping[str, Any]) -> Path:
    """Write a checkpoint file (atomically: a partial file never has the final name).

    Parameters
    ----------
    path : path-like
        Output file (``.safetensors``).
    state : mapping of str to Tensor
        Single-network state dict (``UNet.copy_state(0)``).
    config : UNetConfig
        The network's configuration.
    metadata : mapping
        At least ``geometry``, ``noise``, ``training`` and ``command``; ``format``,
        ``format_version``, ``dims`` (the network's), ``network``, ``serves`` (default from the geometry),
        ``version``, ``created`` and ``weights_sha256`` are filled in.

    Returns
    -------
    Path
        The written file.
    """
    path = Path(path)
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous().clone() for k, v in state.items()}
    check_state_fits(config, tensors)  # the weights must fit the configuration
    meta = dict(metadata)
    missing = [k for k in ("geometry", "noise", "training", "command") if k not in meta]
    if missing:
        raise ValueError(f"checkpoint metadata lacks {', '.join(missing)}")
    meta["dims"] = config.dims
    meta.setdefault("serves", default_serves(meta["geometry"]))
    meta.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    meta.update(format=FORMAT, format_version=FORMAT_VERSION, network=config.to_dict(),
                version=__version__, weights_sha256=weights_sha256(tensors))
    text = json.dumps(jsonable(meta), sort_keys=True, allow_nan=False)
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata={METADATA_KEY: text}))


def _bad(path: Path, why: str) -> ValueError:
    return ValueError(f"checkpoint {path} is not a valid tomopy-dip checkpoint: {why}")


def _parse_header(data: bytes, path: Path) -> dict:
    """The JSON metadata of safetensors bytes (parsed as JSON, nothing else)."""
    if len(data) < 8:
        raise _bad(path, f"the file has only {len(data)} bytes (truncated or empty)")
    n = int.from_bytes(data[:8], "little")
    if n <= 0 or 8 + n > len(data):
        raise _bad(path, "its header is cut off or its length field is corrupt (truncated or not a "
                         "safetensors file)")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad(path, f"its header is not valid JSON ({exc}); the file is corrupt") from None
    if not isinstance(header, dict):
        raise _bad(path, "its header is not a JSON object")
    meta = header.get("__metadata__") or {}
    if METADATA_KEY not in meta:
        raise _bad(path, f"it has no '{METADATA_KEY}' metadata (a safetensors file from elsewhere?)")
    try:
        out = json.loads(meta[METADATA_KEY])
    except (TypeError, json.JSONDecodeError) as exc:
        raise _bad(path, f"its metadata is not valid JSON ({exc})") from None
    if not isinstance(out, dict):
        raise _bad(path, "its metadata is not a JSON object")
    return out


def _check_metadata(meta: dict, path: Path) -> None:
    if meta.get("format") != FORMAT:
        raise _bad(path, f"its metadata format is {meta.get('format')!r}, expected {FORMAT!r}")
    version = meta.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise _bad(path, f"its format_version is {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"checkpoint {path} has format version {version}; this tomopy-dip reads up to "
            f"{FORMAT_VERSION}: upgrade tomopy-dip"
        )
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise _bad(path, f"its metadata lacks {', '.join(missing)}")


def read_metadata(path: str | os.PathLike) -> dict:
    """The metadata of a checkpoint file, from its header only (the weights are not checked)."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(8)
        n = int.from_bytes(head, "little") if len(head) == 8 else 0
        data = head + f.read(n if 0 < n < 1 << 28 else 0)
    meta = _parse_header(data, path)
    _check_metadata(meta, path)
    return meta


@dataclass(frozen=True, eq=False)
class Checkpoint:
    """A loaded and verified checkpoint.

    Attributes
    ----------
    path : Path
        The file.
    config : UNetConfig
        Network configuration.
    state : dict of str to Tensor
        Single-network state dict (do not modify: loaded checkpoints are cached and shared).
    metadata : dict
        The JSON metadata.
    name : str or None
        Registry name, when loaded by name.
    """

    path: Path
    config: UNetConfig
    state: dict = field(repr=False)
    metadata: dict = field(repr=False)
    name: str | None = None

    @property
    def label(self) -> str:
        """The registry name, or the file path."""
        return self.name or str(self.path)

    @property
    def geometry(self) -> dict:
        return self.metadata["geometry"]

    @property
    def dims(self) -> int:
        return int(self.metadata.get("dims", 2))

    @property
    def val_psnr(self) -> float | None:
        return self.metadata.get("training", {}).get("val_psnr")


#: Loaded checkpoints by (resolved path, mtime, size, registry name).
_CACHE: "LRUCache[Checkpoint]" = LRUCache(4)


def _load_file(path: Path, name: str | None) -> Checkpoint:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read checkpoint {path}: {exc}") from None
    meta = _parse_header(data, path)
    _check_metadata(meta, path)
    from safetensors.torch import load as st_load

    try:
        state = st_load(data)
    except Exception as exc:  # safetensors.SafetensorError and friends
        raise _bad(path, f"its tensors cannot be read ({exc}); the file is corrupt or truncated") from None
    digest = weights_sha256(state)
    if digest != meta["weights_sha256"]:
        raise _bad(path, "its weights do not match the SHA-256 recorded in its metadata: the file "
                         "was modified or damaged")
    try:
        config = UNetConfig.from_dict(meta["network"])
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise _bad(path, f"its network configuration is invalid ({exc})") from None
    if meta["dims"] != config.dims:
        raise _bad(path, f"its metadata says dims={meta['dims']!r} but it holds a {config.dims}-D network")
    try:
        check_state_fits(config, state)  # before anything of the configuration's size is built
    except ValueError as exc:
        raise _bad(path, f"its weights do not fit its network configuration {config} ({exc})") from None
    return Checkpoint(path, config, state, meta, name)


def load_file(path: str | os.PathLike, name: str | None = None) -> Checkpoint:
    """Load and verify the checkpoint file ``path`` (cached by path, mtime, size and ``name``).

    :func:`tomopy_dip.learning.checkpoints.load_checkpoint` also takes registry names.

    Parameters
    ----------
    path : path-like
        An existing checkpoint file.
    name : str, optional
        The registry name it was fetched under (:attr:`Checkpoint.name`).

    Raises
    ------
    ValueError
        Missing, corrupt, truncated or tampered file, or weights that do not fit.
    """
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size, name)
    return _CACHE.get(key, lambda: _load_file(path, name))
