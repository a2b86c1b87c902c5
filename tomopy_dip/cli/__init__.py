"""The ``tomopy-dip`` command line.

Sub-commands, one module each (parsing and printing only; the work is the library's)::

    tomopy-dip recon FILE --algorithm tv_dip [--slices A:B] [--center C|auto] [--num-iter N] ...
    tomopy-dip demo [--quick] [--out DIR]
    tomopy-dip datasets list | info NAME | fetch NAME...
    tomopy-dip checkpoints list | info NAME | fetch NAME...
    tomopy-dip pretrain --ndet N --nproj V --out FILE ...

Exit codes: 0 success, 1 failure (bad input file, failed download, ...), 2 usage error, 130
interrupted (Ctrl-C; ``recon`` keeps the finished slices). Errors
are printed as one line ``tomopy-dip: error: ...``; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from typing import Sequence

from tomopy_dip.cli.common import (EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, PROG, UsageError, _add_common,
                                   _Formatter, _one_line, _setup_logging)

__all__ = ["main", "build_parser", "EXIT_OK", "EXIT_FAILURE", "EXIT_USAGE", "EXIT_INTERRUPTED"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tomopy-dip`` (algorithm names and keywords are read at run time)."""
    from tomopy_dip._version import __version__
    from tomopy_dip.cli import datasets, demo, recon
    from tomopy_dip.cli.checkpoints import add_cli as add_checkpoints_cli
    from tomopy_dip.cli.pretrain import add_cli as add_pretrain_cli

    parser = argparse.ArgumentParser(
        prog=PROG, formatter_class=_Formatter,
        description="Deep Image Prior CT reconstruction (DIP, TV-DIP, EDIP, EDIP-FE, aSeqDIP) "
                    "for TomoPy users.",
        epilog="Start with 'tomopy-dip demo', then 'tomopy-dip recon FILE.h5 --algorithm tv_dip "
               "--center auto --slices 0:1'. Exit codes: 0 ok, 1 failure, 2 usage error, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_common(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    recon.add_cli(sub)
    demo.add_cli(sub)
    datasets.add_cli(sub)
    _add_common(add_checkpoints_cli(sub))
    _add_common(add_pretrain_cli(sub))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``tomopy-dip`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        parser = build_parser()
    except Exception as exc:  # the package itself fails to import
        if debug:
            traceback.print_exc()
        print(f"{PROG}: error: cannot load tomopy_dip: {_one_line(exc)}", file=sys.stderr)
        return EXIT_FAILURE
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help / --version (0) or a usage error (2)
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    debug = bool(getattr(args, "debug", False))
    _setup_logging(debug, bool(getattr(args, "verbose", False)))
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        func = getattr(args, "func", None)
        if not callable(func):
            raise UsageError(f"unknown command {args.command!r}")
        return int(func(args) or 0)
    except UsageError as exc:
        if debug:
            traceback.print_exc()
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # every failure: one line, traceback with --debug
        if debug:
            traceback.print_exc()
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
