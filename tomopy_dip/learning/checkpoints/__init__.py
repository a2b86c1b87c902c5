"""Pretrained U-Net checkpoints for Educated DIP: file format, registry, automatic choice.

File format
-----------
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

Registry
--------
:data:`CHECKPOINTS` maps names to :class:`CheckpointEntry` records: a
:class:`~tomopy_dip.data.registry.RemoteFile` (URL, SHA-256, packaged copy) plus the summary of the
metadata needed to choose a checkpoint without opening it. :func:`fetch_checkpoint` goes
through :func:`tomopy_dip.data.registry.fetch` (offline mirror ``TOMOPY_DIP_MIRROR``, packaged copy,
cache ``TOMOPY_DIP_CACHE``, then a verified download with pooch).

Automatic choice
----------------
:func:`choose_checkpoint` keeps the registered checkpoints of the data's beam type and ranks them
by geometry similarity, all in relative terms: number of views against the view counts served,
image size, angular span, and for fan beam the source and detector distances and the detector's
field of view relative to the image width. A poor best match (any of these outside what the
checkpoint serves) is returned with the reasons, and :func:`resolve_checkpoint` warns with
:class:`CheckpointMatchWarning` naming it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from tomopy_dip.physics.geometry import Geometry
from tomopy_dip.networks import UNet, UNetConfig
from tomopy_dip.data.registry import RegistryError, RemoteFile, fetch, sha256
from tomopy_dip.learning.checkpoints._registry import ENTRIES as _ENTRIES

__all__ = [
    "Checkpoint", "CheckpointEntry", "CheckpointMatchWarning", "CHECKPOINTS", "FORMAT",
    "FORMAT_VERSION", "METADATA_KEY", "save_checkpoint", "load_checkpoint", "read_metadata",
    "weights_sha256", "fetch_checkpoint", "list_checkpoints", "checkpoint_info", "choose_checkpoint",
    "resolve_checkpoint", "check_compatible", "match_geometry", "geometry_summary", "release_url",
    "add_cli",
]

log = logging.getLogger(__name__)

FORMAT = "tomopy_dip.checkpoint"
FORMAT_VERSION = 1
METADATA_KEY = "tomopy_dip"
#: Release download address of a shipped checkpoint file (the packaged copy is the offline source).
RELEASE_URL = "https://github.com/tomopy-dip/tomopy-dip/releases/download/v{version}/{file}"
REQUIRED_KEYS = ("format", "format_version", "dims", "network", "geometry", "serves", "noise",
                 "training", "version", "command", "weights_sha256")

_DIR = Path(__file__).parent


class CheckpointMatchWarning(UserWarning):
    """The automatically chosen checkpoint was trained for a rather different geometry."""


# ---------------------------------------------------------------------------- geometry summary
def scan_arc(theta: np.ndarray) -> float:
    """Angular span of a scan of evenly spaced angles: ``nproj * step`` (e.g. pi for 180°)."""
    th = np.asarray(theta, dtype=np.float64).reshape(-1)
    if th.size < 2:
        return 0.0
    span = float(np.ptp(th))
    return span * th.size / (th.size - 1)


def geometry_summary(geometry: Geometry, views: list[int] | None = None) -> dict:
    """The JSON description of a training geometry stored in checkpoints.

    :meth:`Geometry.describe` plus ``views`` (default: its own number of angles), ``arc`` and
    ``size`` (``sqrt(num_gridx * num_gridy)``).
    """
    d = geometry.describe()
    d["views"] = sorted(int(v) for v in (views or [geometry.nproj]))
    d["arc"] = scan_arc(geometry.theta)
    d["size"] = geometry.size
    return d


def default_serves(summary: Mapping[str, Any]) -> dict:
    """What a checkpoint serves when its trainer did not say: close to what it was trained on."""
    views = summary["views"]
    size = float(summary["size"])
    return {"views": [int(math.floor(min(views) / 1.34)), int(math.ceil(max(views) * 1.34))],
            "size": [int(math.floor(size / 1.5)), int(math.ceil(size * 1.5))]}


def _ratio(a: float, b: float) -> float:
    return abs(math.log(a / b)) if a > 0 and b > 0 else math.inf


def match_geometry(trained: Mapping[str, Any], serves: Mapping[str, Any] | None,
                   geometry: Geometry) -> tuple[float, list[str]]:
    """How well a checkpoint trained for ``trained`` suits data of ``geometry``.

    Parameters
    ----------
    trained : mapping
        The checkpoint's ``geometry`` metadata (see :func:`geometry_summary`).
    serves : mapping, optional
        Its ``serves`` metadata (default: :func:`default_serves`).
    geometry : Geometry
        The data's geometry.

    Returns
    -------
    score : float
        Lower is better; ``inf`` when the beam types differ.
    reasons : list of str
        Why the match is poor (empty for a good match).
    """
    if trained.get("beam") != geometry.beam:
        return math.inf, [f"it was trained for {trained.get('beam')} beam, the data are {geometry.beam} beam"]
    serves = serves or default_serves(trained)
    reasons: list[str] = []
    score = 0.0
    n = geometry.nproj
    lo, hi = serves["views"]
    views = trained.get("views") or [trained.get("nproj", n)]
    score += 0.5 * min(_ratio(n, v) for v in views)
    if not lo <= n <= hi:
        reasons.append(f"the data have {n} views, it serves {lo}-{hi}")
        score += 1.0 + min(_ratio(n, lo), _ratio(n, hi))
    size = geometry.size
    tsize = float(trained.get("size") or math.sqrt(trained["num_gridx"] * trained["num_gridy"]))
    slo, shi = serves["size"]
    score += 0.25 * _ratio(size, tsize)
    if not slo <= size <= shi:
        reasons.append(f"the image is {geometry.num_gridx}x{geometry.num_gridy}, it serves sizes {slo}-{shi}")
        score += 1.0 + min(_ratio(size, slo), _ratio(size, shi))
    arc, tarc = scan_arc(geometry.theta), float(trained.get("arc") or 0.0)
    if n > 1 and tarc > 0:
        r = _ratio(arc, tarc)
        score += r
        if r > math.log(1.1):
            reasons.append(f"the scan spans {math.degrees(arc):.0f}°, it was trained on "
                           f"{math.degrees(tarc):.0f}°")
    checks = []
    if geometry.beam == "fanflat":
        checks += [("source-origin distance", geometry.source_origin / size,
                    trained["source_origin"] / tsize, 1.15),
                   ("origin-detector distance", geometry.origin_detector / size,
                    trained["origin_detector"] / tsize, 1.15)]
        tmag = (trained["source_origin"] + trained["origin_detector"]) / trained["source_origin"]
    else:
        tmag = 1.0
    fov = geometry.ndet * geometry.spacing_at_axis / size
    tfov = trained["ndet"] * trained["detector_spacing"] / tmag / tsize
    checks.append(("detector width", fov, tfov, 1.25))
    for what, a, b, tol in checks:
        r = _ratio(a, b)
        score += r
        if r > math.log(tol):
            reasons.append(f"the {what} relative to the image is {a:.3g}, it was trained on {b:.3g}")
    return score, reasons


# ---------------------------------------------------------------------------- file format
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


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


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
        ``format_version``, ``dims`` (2), ``network``, ``serves`` (default from the geometry),
        ``version``, ``created`` and ``weights_sha256`` are filled in.

    Returns
    -------
    Path
        The written file.
    """
    from tomopy_dip import __version__

    path = Path(path)
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous().clone() for k, v in state.items()}
    UNet(config).load_copy_state(tensors)  # the weights must fit the configuration
    meta = dict(metadata)
    missing = [k for k in ("geometry", "noise", "training", "command") if k not in meta]
    if missing:
        raise ValueError(f"checkpoint metadata lacks {', '.join(missing)}")
    meta.setdefault("dims", 2)
    meta.setdefault("serves", default_serves(meta["geometry"]))
    meta.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    meta.update(format=FORMAT, format_version=FORMAT_VERSION, network=config.to_dict(),
                version=__version__, weights_sha256=weights_sha256(tensors))
    text = json.dumps(_jsonable(meta), sort_keys=True, allow_nan=False)
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        save_file(tensors, str(tmp), metadata={METADATA_KEY: text})
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


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


_CACHE: "OrderedDict[tuple, Checkpoint]" = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 4


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
    dims = meta["dims"]
    if dims != 2:
        raise ValueError(
            f"checkpoint {path} is for {dims}-D reconstruction; this version of tomopy-dip "
            "reconstructs 2-D slices only"
        )
    try:
        config = UNetConfig.from_dict(meta["network"])
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise _bad(path, f"its network configuration is invalid ({exc})") from None
    try:
        UNet(config).load_copy_state(state)
    except ValueError as exc:
        raise _bad(path, f"its weights do not fit its network configuration {config} ({exc})") from None
    return Checkpoint(path, config, state, meta, name)


def load_checkpoint(source: "str | os.PathLike | Checkpoint") -> Checkpoint:
    """Load a checkpoint by registry name or file path (verified; cached by path and mtime).

    Raises
    ------
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
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size, name)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    ckpt = _load_file(path, name)
    with _CACHE_LOCK:
        _CACHE[key] = ckpt
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return ckpt


# ---------------------------------------------------------------------------- registry
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


def release_url(file: str) -> str:
    """Download address of a shipped checkpoint file in the release of this version."""
    from tomopy_dip import __version__

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
    """The ``_registry.py`` record of a checkpoint file (used by the pretraining script)."""
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


def list_checkpoints() -> list[dict]:
    """One summary dict per registered checkpoint (name, beam, views, size, ...)."""
    out = []
    for e in CHECKPOINTS.values():
        g = e.geometry
        out.append({
            "name": e.name, "beam": e.beam, "views": e.serves["views"], "sizes": e.serves["size"],
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


# ---------------------------------------------------------------------------- choice
def choose_checkpoint(geometry: Geometry) -> tuple[str, list[str]]:
    """The registered checkpoint that best matches ``geometry``, and why its match is poor.

    Raises
    ------
    ValueError
        When no registered checkpoint has the data's beam type.
    """
    ranked = []
    for name, e in CHECKPOINTS.items():
        score, reasons = match_geometry(e.geometry, e.serves, geometry)
        if math.isfinite(score):
            ranked.append((score, name, reasons))
    if not ranked:
        have = sorted({e.beam for e in CHECKPOINTS.values()})
        raise ValueError(
            f"no registered checkpoint serves {geometry.beam}-beam data (registered beams: "
            f"{', '.join(have) or 'none'}); pretrain one for this geometry with "
            "tomopy_dip.pretrain(...) (or `tomopy-dip pretrain`) and pass checkpoint=<file>"
        )
    ranked.sort(key=lambda r: (r[0], r[1]))
    _, name, reasons = ranked[0]
    return name, reasons


def check_compatible(ckpt: Checkpoint, geometry: Geometry) -> None:
    """Raise :class:`ValueError` when ``ckpt`` cannot serve data of ``geometry``."""
    trained = ckpt.geometry
    if ckpt.config.in_channels != 1:
        raise ValueError(
            f"checkpoint {ckpt.label} expects {ckpt.config.in_channels} input channels; EDIP feeds "
            "the network one channel (the FBP)"
        )
    if trained.get("beam") != geometry.beam:
        raise ValueError(
            f"checkpoint {ckpt.label} was trained for {trained.get('beam')}-beam data but the data "
            f"are {geometry.beam}-beam; choose a {geometry.beam}-beam checkpoint or pretrain one "
            "for this geometry (tomopy_dip.pretrain)"
        )


def resolve_checkpoint(checkpoint: "str | os.PathLike | Checkpoint | None", geometry: Geometry) -> Checkpoint:
    """The checkpoint EDIP starts from: the one given, or the best registered one for ``geometry``.

    Warns with :class:`CheckpointMatchWarning` when the automatic choice matches poorly; raises
    :class:`ValueError` when the checkpoint cannot serve the data (see :func:`check_compatible`).
    """
    if checkpoint is None:
        name, reasons = choose_checkpoint(geometry)
        ckpt = load_checkpoint(name)
        if reasons:
            warnings.warn(
                f"tomopy-dip chose checkpoint {name!r}, a poor match for these data: "
                f"{'; '.join(reasons)}. Pretrain one for this geometry (tomopy_dip.pretrain) "
                "and pass checkpoint=<file> for a better start.",
                CheckpointMatchWarning, stacklevel=3,
            )
        else:
            log.info("using checkpoint %s", name)
    else:
        ckpt = load_checkpoint(checkpoint)
    check_compatible(ckpt, geometry)
    return ckpt


# ---------------------------------------------------------------------------- command line
def _print_list(args: argparse.Namespace) -> int:
    rows = list_checkpoints()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no checkpoints registered")
        return 0
    for r in rows:
        psnr = "" if r["val_psnr"] is None else f", validation PSNR {r['val_psnr']:.2f} dB"
        print(f"{r['name']}: {r['beam']} beam, {r['views'][0]}-{r['views'][1]} views over "
              f"{r['arc_degrees']:g}°, images {r['sizes'][0]}-{r['sizes'][1]} px{psnr}, "
              f"{r['file_size'] / 1e6:.1f} MB\n    {r['description']}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    print(fetch_checkpoint(args.name, progress=not args.quiet))
    return 0


def _info(args: argparse.Namespace) -> int:
    info = checkpoint_info(args.file)
    if not args.full:
        info.get("arguments", {}).pop("theta", None)
    print(json.dumps(info, indent=2, sort_keys=True))
    return 0


def add_cli(subparsers: "argparse._SubParsersAction") -> argparse.ArgumentParser:
    """Add ``checkpoints list | fetch NAME | info FILE`` to an argparse sub-command set.

    Each leaf parser sets ``func`` (called with the parsed namespace, returns an exit code).
    Errors surface as :class:`ValueError` / :class:`~tomopy_dip.data.registry.RegistryError`.
    """
    p = subparsers.add_parser("checkpoints", help="list, fetch or inspect pretrained EDIP checkpoints",
                              description="Pretrained checkpoints for tomopy_dip.edip / edip_fe.")
    sub = p.add_subparsers(dest="checkpoints_command", required=True)
    q = sub.add_parser("list", help="list the registered checkpoints")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    q.set_defaults(func=_print_list)
    q = sub.add_parser("fetch", help="download (or find offline) and verify a checkpoint; prints its path")
    q.add_argument("name", help="registered name (see `checkpoints list`)")
    q.add_argument("--quiet", action="store_true", help="no download progress bar")
    q.set_defaults(func=_fetch)
    q = sub.add_parser("info", help="verify a checkpoint file (or name) and print its metadata")
    q.add_argument("file", help="checkpoint file or registered name")
    q.add_argument("--full", action="store_true", help="include the full list of training angles")
    q.set_defaults(func=_info)
    return p


__all__ += ["RegistryError", "scan_arc", "default_serves", "entry_dict", "entry_from_dict"]
