"""``tomopy-dip datasets list | info NAME | fetch NAME...``: the example-dataset registry."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from tomopy_dip.cli.common import EXIT_OK, EXIT_USAGE, PROG, Failure, UsageError, _add_common, _Formatter

__all__ = ["add_cli"]


def add_cli(sub: "argparse._SubParsersAction") -> argparse.ArgumentParser:
    """Add ``datasets`` and its actions to the sub-commands (sets ``func``)."""
    ds = sub.add_parser("datasets", formatter_class=_Formatter, help="list or download the example datasets",
                        description="The registry of real example datasets (HTC 2022, TomoPy's tooth, "
                                    "FIPS gel phantom). Files are verified by SHA-256 and kept in the user "
                                    "cache (TOMOPY_DIP_CACHE); TOMOPY_DIP_MIRROR names an offline copy.")
    _add_common(ds)
    dsub = ds.add_subparsers(dest="action", metavar="ACTION")
    p = dsub.add_parser("list", help="list the datasets and whether they are available locally")
    _add_common(p)
    p = dsub.add_parser("info", help="URL, checksum and local path of a dataset")
    p.add_argument("name", metavar="NAME")
    _add_common(p)
    p = dsub.add_parser("fetch", help="download (or find offline) and verify datasets; prints their paths")
    p.add_argument("names", nargs="+", metavar="NAME", help="dataset names, or 'all'")
    _add_common(p)
    ds.set_defaults(func=lambda args: _run(args, ds))
    return ds


def _human(n: float) -> str:
    if not n:
        return "?"
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(n)


def _local_status(entry: Any) -> tuple[str, Path | None]:
    from tomopy_dip.data.registry import MIRROR_ENV, cache_dir

    mirror = os.environ.get(MIRROR_ENV)
    if mirror:
        for cand in entry.mirror_paths(mirror):
            if cand.is_file():
                return "mirror", cand
    cand = entry.packaged_path
    if cand is not None and cand.is_file():
        return "packaged", cand
    cand = cache_dir() / entry.path
    if cand.is_file():
        return "cached", cand
    return "not downloaded", None


def _print_registry(entries: dict[str, Any], what: str) -> None:
    from tomopy_dip.data.registry import CACHE_ENV, MIRROR_ENV, cache_dir

    width = max((len(n) for n in entries), default=4)
    print(f"{len(entries)} {what} (cache: {cache_dir()}; offline mirror ${MIRROR_ENV}: "
          f"{os.environ.get(MIRROR_ENV) or 'not set'})")
    for name, e in entries.items():
        status, path = _local_status(e)
        size = getattr(e, "size", 0) or (path.stat().st_size if path is not None else 0)
        print(f"  {name:<{width}}  {_human(size):>8}  {status:<14}  {getattr(e, 'description', '')}")
    if not os.environ.get(CACHE_ENV):
        print(f"Set ${CACHE_ENV} to keep downloads elsewhere.")


def _print_entry(name: str, e: Any) -> None:
    status, path = _local_status(e)
    if not getattr(e, "size", 0) and path is not None:
        e = type("Entry", (), {**{k: getattr(e, k, "") for k in ("description", "url", "sha256", "path")},
                               "size": path.stat().st_size})
    print(f"{name}")
    for label, value in (("description", getattr(e, "description", "")), ("url", getattr(e, "url", "")),
                         ("sha256", getattr(e, "sha256", "")), ("size", _human(getattr(e, "size", 0))),
                         ("mirror path", getattr(e, "path", "")), ("status", status),
                         ("local file", path or "-")):
        print(f"  {label:<12} {value}")


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from tomopy_dip.data import datasets as datasets
    from tomopy_dip.data.registry import RegistryError

    if args.action is None:
        parser.print_help()
        return EXIT_USAGE
    if args.action == "list":
        _print_registry(datasets.DATASETS, "datasets")
        return EXIT_OK
    if args.action == "info":
        if args.name not in datasets.DATASETS:
            raise UsageError(f"unknown dataset {args.name!r}; known: {', '.join(datasets.DATASETS)}")
        _print_entry(args.name, datasets.DATASETS[args.name])
        return EXIT_OK
    names = list(datasets.DATASETS) if args.names == ["all"] else args.names
    unknown = [n for n in names if n not in datasets.DATASETS]
    if unknown:
        raise UsageError(f"unknown dataset(s) {', '.join(map(repr, unknown))}; known: {', '.join(datasets.DATASETS)}")
    failed = 0
    for n in names:
        try:
            p = datasets.get_path(n, progress=not args.quiet)
        except RegistryError as exc:
            print(f"{PROG}: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(f"{n}: {p}")
    if failed:
        raise Failure(f"{failed} of {len(names)} dataset(s) could not be fetched")
    return EXIT_OK
