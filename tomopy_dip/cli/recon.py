"""``tomopy-dip recon FILE``: parses, calls :func:`tomopy_dip.volume.reconstruct_file`, prints.

The algorithm-keyword options are generated from the keyword schema: every keyword of
:data:`tomopy_dip.options.KEYWORDS` and of each registered method's
:attr:`~tomopy_dip.methods.Method.keywords` that has a command-line parser gets its flag, and
its help names the methods' defaults (read from :data:`tomopy_dip.methods.METHODS` when the
parser is built). The other keywords are given as ``--set KEY=VALUE``.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

from tomopy_dip.cli.common import (EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED, PROG, Failure, UsageError, _add_common, _add_threads,
                                   _algorithms, _center_arg, _Formatter, _key_value, _out,
                                   _positive_int, _set_threads, _slice_arg)

__all__ = ["add_cli", "keyword_options", "default_help"]

#: Keywords the command line sets itself.
_CONTROLLED = ("progress", "callback")
#: Options of the command line that a keyword's flag may not take.
_RESERVED = ("--debug", "--verbose", "--quiet", "--set")


# ---------------------------------------------------------------------------- options from the schema
def keyword_options() -> dict[str, Any]:
    """The keywords with an option of their own (a ``parse``), by name: the shared ones, then
    each registered method's own (the first declaration of a name wins)."""
    from tomopy_dip.methods import METHODS
    from tomopy_dip.options import KEYWORDS

    found: dict[str, Any] = {}
    for kw in [*KEYWORDS.values(), *(k for m in METHODS.values() for k in m.keywords)]:
        if kw.parse is not None:
            found.setdefault(kw.name, kw)
    return found


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value))
    return repr(value) if isinstance(value, float) else str(value)


def default_help(name: str) -> str:
    """The defaults of keyword ``name`` by method, as the help shows them.

    Methods sharing a default are grouped, in registry order: ``"[dip, tv_dip: 0.003; aseqdip,
    edip, edip_fe: 0.001]"``; ``"[0.05]"`` when every method takes the keyword with the same
    default; ``""`` when the default is None for all (the help says what None means).

    Examples
    --------
    >>> default_help("stop_tolerance")
    '[0.05]'
    >>> default_help("stop_patience")
    '[dip: 1000; tv_dip, aseqdip, edip, edip_fe: 700]'
    >>> default_help("inner_steps")
    '[aseqdip: 10]'
    """
    from tomopy_dip.methods import METHODS

    groups: dict[str, list[str]] = {}
    for m in METHODS.values():
        if name in m.accepted:
            groups.setdefault(_value_text(m.defaults.get(name, m.accepted[name].default)), []).append(m.name)
    if not groups or list(groups) == ["None"]:
        return ""
    if len(groups) == 1 and sum(map(len, groups.values())) == len(METHODS):
        return f"[{next(iter(groups))}]"
    return "[" + "; ".join(f"{', '.join(names)}: {value}" for value, names in groups.items()) + "]"


def _argparse_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """``parse`` with its ValueError as argparse's usage error (builtins keep argparse's wording)."""
    def read(text: str) -> Any:
        try:
            return parse(text)
        except (TypeError, ValueError) as exc:
            msg = f"invalid {parse.__name__} value: {text!r}" if isinstance(parse, type) else str(exc)
            raise argparse.ArgumentTypeError(msg) from None
    read.__name__ = getattr(parse, "__name__", "value")
    return read


def _add_keyword_options(group: argparse._ArgumentGroup) -> None:
    for kw in keyword_options().values():
        if kw.flag in _RESERVED:
            continue
        text = " ".join(filter(None, (kw.help, default_help(kw.name)))).replace("%", "%%")
        try:
            group.add_argument(kw.flag, dest=f"kw_{kw.name}", type=_argparse_type(kw.parse), default=None,
                               metavar=kw.metavar, help=text)
        except argparse.ArgumentError:  # a method keyword named like an option of recon: --set only
            continue


def add_cli(sub: "argparse._SubParsersAction") -> argparse.ArgumentParser:
    """Add ``recon`` to the sub-commands (sets ``func``). The file settings' defaults and choices
    come from :data:`tomopy_dip.volume.settings.FILE_KEYWORDS`."""
    from tomopy_dip.volume.route import AUTO, ROW_METHOD, SEED_METHOD
    from tomopy_dip.volume.settings import CENTER_METHODS, FILE_KEYWORDS, READERS

    algos = _algorithms()
    d = {name: kw.default for name, kw in FILE_KEYWORDS.items()}
    r = sub.add_parser(
        "recon", formatter_class=_Formatter, help="reconstruct slices of a Data Exchange HDF5 file",
        description="Read a Data Exchange (APS) HDF5 file, normalise with flats and darks, take "
                    "-log, find or take the rotation centre, print a plan (memory, time), then "
                    "reconstruct the chosen rows and write each finished slice at once as "
                    "recon_NNNNN.tiff (float32, NNNNN = the row in the file) with its history "
                    "(history/), keeping summary.json up to date; recon.png and convergence.png at "
                    "the end. Ctrl-C keeps the finished slices (exit 130); --resume fits the rest.",
        epilog="Any keyword of tomopy_dip.reconstruct without its own option can be given as "
               "--set KEY=VALUE (a Python literal), e.g. --set memory_limit=2e9 --set "
               "out_activation='sigmoid'. Centre convention: gridrec's (as tomopy.find_center).",
    )
    r.add_argument("file", metavar="FILE", help="Data Exchange HDF5 file (exchange/data, data_white, data_dark, theta)")
    r.add_argument("-a", "--algorithm", default=AUTO, choices=[AUTO, *algos], metavar="ALGORITHM",
                   help=f"'{AUTO}' (the default: the fastest route to DIP quality over the selection, "
                        f"which the plan states: few rows by {SEED_METHOD} row by row, a scan by {ROW_METHOD} "
                        f"from a network pretrained on a few of its rows) or one of: {', '.join(algos)}")
    r.add_argument("--slices", type=_slice_arg, default=None, metavar="A:B",
                   help="detector rows to reconstruct, START:STOP[:STEP] (STOP excluded) or one row "
                        "[all rows]")
    r.add_argument("--proj", type=_slice_arg, default=None, metavar="A:B:S",
                   help="projections to use, e.g. ::4 for every 4th (sparse-view subset) [all]")
    r.add_argument("--center", type=_center_arg, default=d["center"], metavar="C|auto",
                   help="rotation centre in detector pixels of the file (gridrec convention), or "
                        f"'auto' to find it [{d['center']}]")
    r.add_argument("--center-method", choices=CENTER_METHODS, default=d["center_method"],
                   help="centre finder for --center auto: Vo's Fourier method (TomoPy's or ours) "
                        f"or TomoPy's entropy method (needs TomoPy) [{d['center_method']}]")
    r.add_argument("--center-row", type=int, default=None, metavar="ROW",
                   help="row (within the selected slices) used to find the centre [middle]")
    r.add_argument("--downsample", type=_positive_int, default=d["downsample"], metavar="K",
                   help="bin K detector pixels into one (faster; the centre is scaled to "
                        f"(c - (K-1)/2) / K) [{d['downsample']}]")
    r.add_argument("--no-normalize", action="store_true",
                   help="the data are already flat/dark corrected: skip normalisation")
    r.add_argument("--no-minus-log", action="store_true", help="the data are already -log(I/I0)")
    r.add_argument("--reader", choices=READERS, default=d["reader"],
                   help=f"file reader: dxchange when installed, else h5py [{d['reader']}]")
    r.add_argument("--exchange-rank", type=int, default=d["exchange_rank"], metavar="K",
                   help=f"read group exchange{{K}} instead of exchange [{d['exchange_rank']}]")
    r.add_argument("-o", "--out", default=None, metavar="DIR",
                   help="output directory [./<file stem>-<algorithm>]")
    w = r.add_mutually_exclusive_group()
    w.add_argument("--resume", action="store_true",
                   help="keep the slices an earlier run with the same settings finished in --out and "
                        "fit the others")
    w.add_argument("--overwrite", action="store_true",
                   help="replace the files of an earlier run in --out (refused without it)")
    r.add_argument("--scheduler", default=None, metavar="ADDRESS|local:N",
                   help="run on Dask: a running dask.distributed scheduler's address, or local:N "
                        "for N single-threaded worker processes here (needs tomopy-dip[dask])")
    r.add_argument("--rows-per-task", type=_positive_int, default=d["rows_per_task"], metavar="N",
                   help=f"rows a task reads, fits and writes [{d['rows_per_task']}]")
    r.add_argument("--warm-start", action="store_true",
                   help="within a task, start each row from the network fitted to the row before it")
    r.add_argument("--scan-pretrain", type=_positive_int, default=None, metavar="K",
                   help="edip/edip_fe: reconstruct every K-th row with tv_dip first, pretrain a network "
                        "on those rows, and start the other rows from it")
    r.add_argument("--no-plan", action="store_true",
                   help="do not time a few iterations for the plan's time estimate")
    _add_threads(r)
    k = r.add_argument_group("algorithm keywords (see 'Choosing a method' in the docs)")
    _add_keyword_options(k)
    k.add_argument("--uncertainty", dest="kw_uncertainty", action="store_const", const=True, default=None,
                   help="write uncertainty_NNNNN.tiff beside each slice: one standard deviation per pixel, from "
                        "the spread of the late iterates (--set uncertainty=ensemble: from fits with several "
                        "seeds, a few times the cost)")
    k.add_argument("--set", dest="kw_set", type=_key_value, action="append", default=[],
                   metavar="KEY=VALUE", help="any other keyword of tomopy_dip.reconstruct (repeatable)")
    _add_common(r)
    r.set_defaults(func=_run)
    return r


# ---------------------------------------------------------------------------- the run
def _methods_of(algorithm: str) -> list[Any]:
    """The methods an ``--algorithm`` fits with: that method, or both of ``auto``'s route."""
    from tomopy_dip.methods import get_method
    from tomopy_dip.volume.route import AUTO, ROW_METHOD, SEED_METHOD

    return [get_method(n) for n in ((SEED_METHOD, ROW_METHOD) if algorithm == AUTO else (algorithm,))]


def _collect_keywords(args: argparse.Namespace, methods: list[Any]) -> dict[str, Any]:
    """The keywords given by their options and ``--set``, validated for each of ``methods``."""
    kw = {k[3:]: v for k, v in vars(args).items() if k.startswith("kw_") and k != "kw_set" and v is not None}
    flags = {k: "--" + k.replace("_", "-") for k in kw}
    for key, value in args.kw_set:
        if key in _CONTROLLED:
            raise UsageError(f"--set {key}=... is controlled by the command line (use --quiet)")
        kw[key] = value
    for method in methods:
        bad = [k for k in kw if k not in method.accepted]
        if bad:
            names = ", ".join(flags.get(k, f"--set {k}=...") for k in bad)
            shown = [k for k in method.accepted if k not in (*_CONTROLLED, "callback_every")]
            via = "" if len(methods) == 1 else f" (fits by {method.name})"
            raise UsageError(f"{names} does not apply to --algorithm {args.algorithm}{via} "
                             f"(the keywords of {method.name}: {', '.join(shown)})")
        try:
            method.parse({**kw, "device": kw.get("device", "cpu")}, f"--algorithm {args.algorithm}")
        except (TypeError, ValueError) as exc:
            raise UsageError(str(exc)) from None
    return kw


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[dict]:
    """SIGTERM, what SLURM and PBS send at a time limit, handled as Ctrl-C is: during a fit the
    fits stop after their iteration and every finished slice and the summary are kept; otherwise
    (or a second time) :class:`KeyboardInterrupt` at once. The yielded dict's ``"terminated"``
    says whether it came. From the main thread only; the previous handler is restored after."""
    from tomopy_dip.fitting import interrupt

    state = {"terminated": False}
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def handler(signum: int, frame: Any) -> None:
        state["terminated"] = True
        if interrupt.active_fits() and not interrupt.requested():
            interrupt.request()
            print(f"{PROG}: terminated (SIGTERM): stopping after the current iteration", file=sys.stderr)
            return
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield state
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace) -> int:
    from tomopy_dip.volume import SettingError, reconstruct_file, rows_text
    from tomopy_dip.volume.outputs import uncertainty_name
    from tomopy_dip.volume.tasks import require_dask
    quiet = args.quiet
    kw = _collect_keywords(args, _methods_of(args.algorithm))
    if args.scheduler is not None:
        try:
            require_dask("--scheduler")
        except ImportError as exc:
            raise Failure(str(exc)) from None
    _set_threads(args.threads if args.scheduler is None else None, quiet)
    path = Path(args.file)
    try:
        with _terminate_as_interrupt() as term:
            r = reconstruct_file(
                path, args.algorithm, out=args.out, slices=args.slices, proj=args.proj, center=args.center,
                center_method=args.center_method, center_row=args.center_row, downsample=args.downsample,
                normalize=not args.no_normalize, minus_log=not args.no_minus_log, reader=args.reader,
                exchange_rank=args.exchange_rank, resume=args.resume, overwrite=args.overwrite,
                scheduler=args.scheduler, rows_per_task=args.rows_per_task, warm_start=args.warm_start,
                scan_pretrain=args.scan_pretrain, plan=not args.no_plan, progress=not quiet,
                report=lambda msg: _out(msg, quiet), **kw)
    except KeyboardInterrupt:
        if term["terminated"]:
            return EXIT_TERMINATED
        raise
    except SettingError as exc:  # worded with the options' names
        text = exc.worded(center_row=f"--center-row {args.center_row}", normalize="--no-normalize",
                          overwrite="--overwrite", resume="--resume", center=f"--center {args.center}",
                          downsample=f"--downsample {args.downsample}",
                          scan_pretrain=f"--scan-pretrain {args.scan_pretrain}")
        raise (UsageError if exc.keyword == "center_row" else Failure)(text) from None

    t = r.timings
    print(f"{PROG} recon: {args.algorithm} on {path.name}, {len(r.rows)} slice(s) ({r.rows_text}), "
          f"{r.projections} views, {r.detector_pixels} detector pixels" + (" (interrupted)" if r.interrupted else ""))
    print(f"  centre      {r.center_text}")
    if r.interrupted:
        print(f"  stages      {r.stages_text()}")
    if r.done:
        print(f"  iterations  at most {r.iterations_run} per slice")
    print(f"  stopped     {r.stop_summary()}")
    if r.missing:
        print(f"  missing     {len(r.missing)} row(s) not reconstructed: {rows_text(r.missing)}"
              + (" (run again with --resume)" if r.interrupted else ""))
    print(f"  time        {t['total']:.1f} s (prepare {t['prepare']:.1f}, reconstruct {t['reconstruct']:.1f}, "
          f"previews {t['write']:.1f})")
    print(f"  output      {r.out}")
    done = r.done
    if done:
        gx, gy = r.plan.image_shape
        first, last = r.out / r.records[done[0]]["file"], r.out / r.records[done[-1]]["file"]
        print(f"    {len(done)} slice file(s) {first.name}" + (f" .. {last.name}" if len(done) > 1 else "")
              + f"  ({gx} x {gy} float32)")
        if r.settings.get("keywords", {}).get("uncertainty"):
            names = [uncertainty_name(row) for row in (done[0], done[-1])]
            print(f"    {len(done)} uncertainty map(s) {names[0]}" + (f" .. {names[1]}" if len(done) > 1 else "")
                  + "  (one standard deviation per pixel)")
    for name in r.files:
        print(f"    {name}")
    if r.interrupted:
        return EXIT_TERMINATED if term["terminated"] else EXIT_INTERRUPTED
    return EXIT_OK
