"""What the machine has room for: the operating system's and the GPU driver's memory counts.

Every probe of the running system is here, apart from the rules that use it: the projector's
budget for a system matrix (:func:`~tomopy_dip.physics.projector.matrix_budget`) reads
:func:`free_memory`, the memory plan of a reconstruction (:mod:`tomopy_dip.fitting.memory`)
reads :func:`available_memory`, :func:`resident_memory` and :func:`gpu_free_memory`. Each
returns None where the system cannot tell (another operating system, no GPU), never raises.

Examples
--------
>>> avail, free = available_memory(), free_memory()
>>> avail is None or avail >= 0, free is None or free >= 0
(True, True)
"""

from __future__ import annotations

import os

import torch

__all__ = ["free_memory", "available_memory", "resident_memory", "gpu_free_memory"]


def free_memory() -> int | None:
    """Bytes of free physical memory (``SC_AVPHYS_PAGES``; the page cache not counted as free),
    None where unknown."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return None


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _cgroup_room() -> int | None:
    """Bytes left under this process's cgroup memory limit (None without a limit)."""
    rooms = []
    rel = ""
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                parts = line.strip().split(":", 2)
                if len(parts) == 3 and parts[0] == "0":
                    rel = parts[2]
    except OSError:
        pass
    for base in {"/sys/fs/cgroup" + rel.rstrip("/"), "/sys/fs/cgroup"}:  # cgroup v2
        limit, used = _read_int(base + "/memory.max"), _read_int(base + "/memory.current")
        if limit is not None and used is not None:
            rooms.append(limit - used)
    limit = _read_int("/sys/fs/cgroup/memory/memory.limit_in_bytes")  # cgroup v1
    used = _read_int("/sys/fs/cgroup/memory/memory.usage_in_bytes")
    if limit is not None and used is not None and limit < 2**60:
        rooms.append(limit - used)
    return max(0, min(rooms)) if rooms else None


def available_memory() -> int | None:
    """Bytes this process can still allocate: the kernel's ``MemAvailable`` (free memory and
    the page cache it can drop), else :func:`free_memory`, capped by a cgroup (container)
    limit; None where nothing is known."""
    avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if avail is None:
        avail = free_memory()
    room = _cgroup_room()
    if room is not None:
        avail = room if avail is None else min(avail, room)
    return avail


def resident_memory() -> int | None:
    """This process's resident memory now (None where unknown)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def gpu_free_memory(device: str | torch.device) -> int | None:
    """Bytes torch can still allocate on the CUDA ``device``: the driver's free memory and what
    torch's allocator holds unused (None without CUDA, or where the driver cannot tell)."""
    try:
        dev = torch.device(device)
        free, _ = torch.cuda.mem_get_info(dev)
        return int(free + torch.cuda.memory_reserved(dev) - torch.cuda.memory_allocated(dev))
    except Exception:  # no CUDA, or a driver that cannot tell
        return None
