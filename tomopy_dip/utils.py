"""Small rules every part of the package shares: atomic file writes, JSON values, a keyed cache,
what the CPU can do.

Each is written once here; the physics, learning, data and interface modules call them.
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Generic, Hashable, Mapping, TypeVar

import numpy as np

__all__ = ["atomic_write", "jsonable", "LRUCache", "cpu_bfloat16_units"]

V = TypeVar("V")


def atomic_write(path: str | os.PathLike, write: Callable[[Path], Any]) -> Path:
    """Write ``path`` through ``write(tmp)`` into a temporary file beside it, then rename.

    The file is complete or absent, never half-written: a crash or Ctrl-C while writing leaves
    the previous content (or nothing) at ``path``, and the temporary file is removed. The
    temporary name holds the process and thread, so concurrent writers never share one.

    Parameters
    ----------
    path : path-like
        The destination.
    write : callable
        ``write(tmp_path)`` writes the whole content to ``tmp_path``.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a.txt"
    >>> atomic_write(p, lambda t: t.write_text("done")).read_text()
    'done'
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: mappings, sequences, arrays and NumPy scalars converted,
    non-finite floats as ``None`` (JSON has no NaN), paths and other objects as strings.

    Examples
    --------
    >>> jsonable({"a": np.arange(2), "b": np.float32(0.5), "c": float("nan"), 1: Path("x")})
    {'a': [0, 1], 'b': 0.5, 'c': None, '1': 'x'}
    """
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)


class LRUCache(Generic[V]):
    """A thread-safe cache of at most ``size`` values, least recently used dropped first.

    Examples
    --------
    >>> c = LRUCache(2)
    >>> [c.get(k, lambda: k * 10) for k in (1, 2, 1, 3)]
    [10, 20, 10, 30]
    >>> sorted(c.keys())
    [1, 3]
    """

    def __init__(self, size: int) -> None:
        self.size = int(size)
        self._items: "OrderedDict[Hashable, V]" = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, make: Callable[[], V]) -> V:
        """The value of ``key``, made with ``make()`` on a miss (under the lock)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            value = make()
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
            return value

    def keys(self) -> list:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def cpu_bfloat16_units() -> bool | None:
    """Whether this CPU has bfloat16 matrix units (Intel AMX or AVX512-BF16) as torch sees them;
    None where this torch cannot tell.

    Without them ``precision="bfloat16"`` is emulated: on a 2-core AVX2-only CPU (AMD EPYC) a
    TV-DIP iteration took 40-65x as long as in float32 at 128²-512² (``benchmarks/versus.py``),
    where AMX units made it 2x faster at 512².
    """
    import torch

    probes = [getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    probes = [probe for probe in probes if probe is not None]
    if not probes:
        return None
    return any(bool(probe()) for probe in probes)
