"""Named remote files with checksums: download once into the user cache, verify, reuse.

Datasets (:mod:`tomopy_dip.data.datasets`) and pretrained checkpoints
(:mod:`tomopy_dip.learning.checkpoints`) are both :class:`RemoteFile` entries. :func:`fetch` looks for a
file, in order,

1. in the offline mirror directory named by ``TOMOPY_DIP_MIRROR`` (at ``mirror/<path>``, or
   ``mirror/<file name>``), used in place after its SHA-256 is checked;
2. in packaged data shipped with tomopy-dip (checkpoints small enough to ship);
3. in the cache (``TOMOPY_DIP_CACHE``, default the platform's user cache), checked again;
4. at its URL, downloaded with :mod:`pooch` into a temporary file that is verified before it
   is moved into the cache, so a bad checksum, a truncated transfer or no network leave no
   partial file behind.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RemoteFile", "fetch", "cache_dir", "sha256", "RegistryError", "MIRROR_ENV", "CACHE_ENV"]

log = logging.getLogger(__name__)

MIRROR_ENV = "TOMOPY_DIP_MIRROR"
CACHE_ENV = "TOMOPY_DIP_CACHE"


class RegistryError(RuntimeError):
    """A registered file could not be obtained or failed verification."""


@dataclass(frozen=True)
class RemoteFile:
    """A file known by name, URL and checksum.

    Parameters
    ----------
    name : str
        Registry name.
    url : str
        Download address.
    sha256 : str
        Expected SHA-256 (hex).
    path : str
        Relative path inside a mirror directory (and inside the cache).
    size : int
        Size in bytes (informational).
    description : str
        One line for listings.
    packaged : str, optional
        Path of a copy shipped inside the package (relative to the package directory).
    """

    name: str
    url: str
    sha256: str
    path: str
    size: int = 0
    description: str = ""
    packaged: str | None = None

    @property
    def packaged_path(self) -> Path | None:
        """Where the copy shipped inside the package lies (None when there is none)."""
        return Path(__file__).parents[1] / self.packaged if self.packaged else None

    def mirror_paths(self, mirror: str | os.PathLike) -> tuple[Path, Path]:
        """Where the file may lie in an offline mirror: at :attr:`path`, or by its name alone."""
        return Path(mirror) / self.path, Path(mirror) / Path(self.path).name


def sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cache_dir() -> Path:
    """The download cache (``TOMOPY_DIP_CACHE`` or the user cache directory)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    import pooch

    return Path(pooch.os_cache("tomopy-dip"))


def _verified(path: Path, entry: RemoteFile, where: str) -> Path | None:
    if not path.is_file():
        return None
    digest = sha256(path)
    if digest != entry.sha256:
        raise RegistryError(
            f"{entry.name}: {where} file {path} has SHA-256 {digest}, expected {entry.sha256}; "
            "it is corrupt or not the registered file"
        )
    return path


def _mirror_dir() -> Path | None:
    """The offline mirror directory of ``TOMOPY_DIP_MIRROR``: a path or a ``file://`` URL
    (``file:///data/my%20mirror`` is ``/data/my mirror``); another URL scheme is refused with a
    :class:`RegistryError` naming the variable."""
    from urllib.parse import unquote, urlparse

    value = os.environ.get(MIRROR_ENV, "").strip()
    if not value:
        return None
    url = urlparse(value)
    if url.scheme == "file":
        return Path(unquote(url.path)).expanduser()
    if len(url.scheme) > 1:  # http://, s3://, ... (a one-letter scheme is a Windows drive)
        raise RegistryError(f"{MIRROR_ENV} must be a local directory (a path or a file:// URL), got {value!r}")
    return Path(value).expanduser()


def fetch(entry: RemoteFile, progress: bool = False) -> Path:
    """Local path of ``entry``, downloading and verifying it on first use.

    Raises
    ------
    RegistryError
        When the file is neither available offline nor downloadable, or fails its checksum.
    """
    mirror = _mirror_dir()
    if mirror is not None:
        for cand in entry.mirror_paths(mirror):
            found = _verified(cand, entry, f"mirror ({MIRROR_ENV})")
            if found:
                return found
    if entry.packaged_path is not None:
        found = _verified(entry.packaged_path, entry, "packaged")
        if found:
            return found
    target = cache_dir() / entry.path
    if target.is_file():
        if sha256(target) == entry.sha256:
            return target
        log.warning("%s: cached file %s fails its checksum; downloading it again", entry.name, target)
        target.unlink()
    import pooch

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RegistryError(f"{entry.name}: cannot create the download cache {target.parent} "
                            f"({exc.strerror or exc}); set {CACHE_ENV} to a writable directory") from None
    log.info("downloading %s from %s", entry.name, entry.url)
    try:
        out = pooch.retrieve(
            entry.url, known_hash=f"sha256:{entry.sha256}", fname=target.name,
            path=target.parent, progressbar=progress,
        )
    except ValueError as exc:  # pooch: hash mismatch (the file is already deleted)
        raise RegistryError(f"{entry.name}: the download from {entry.url} failed verification: {exc}") from None
    except Exception as exc:  # network errors of requests / urllib
        raise RegistryError(
            f"{entry.name}: could not download {entry.url} ({type(exc).__name__}: {exc}). "
            f"Without network, put the file into a directory and set {MIRROR_ENV} to it."
        ) from None
    # pooch downloads into its own temporary file beside the target and removes it on failure;
    # other files of the cache (another process's download, a user's files) are not ours to touch.
    return Path(out)
