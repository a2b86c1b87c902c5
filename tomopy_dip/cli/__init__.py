"""The ``tomopy-dip`` command line.

Sub-commands::

    tomopy-dip recon FILE --algorithm tv_dip [--slices A:B] [--center C|auto] [--num-iter N] ...
    tomopy-dip demo [--quick] [--out DIR]
    tomopy-dip datasets list | info NAME | fetch NAME...
    tomopy-dip checkpoints list | info NAME | fetch NAME...

Exit codes: 0 success, 1 failure (bad input file, failed download, ...), 2 usage error. Errors
are printed as one line ``tomopy-dip: error: ...``; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import ast
import json
import logging
import os
import re
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["main", "build_parser", "EXIT_OK", "EXIT_FAILURE", "EXIT_USAGE"]

PROG = "tomopy-dip"
EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

log = logging.getLogger("tomopy_dip.cli")


class UsageError(Exception):
    """Wrong use of the command line (exit code 2)."""


class Failure(Exception):
    """The command could not be carried out (exit code 1)."""


# ---------------------------------------------------------------------------- output helpers
def _out(msg: str = "", quiet: bool = False) -> None:
    if not quiet:
        print(msg, flush=True)


def _setup_logging(debug: bool, verbose: bool) -> None:
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    root = logging.getLogger("tomopy_dip")
    for h in list(root.handlers):
        if getattr(h, "_tomopy_dip_cli", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler._tomopy_dip_cli = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter(f"{PROG}: %(levelname)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)


def _threads_arg(text: str) -> int | str:
    if text.strip().lower() == "auto":
        return "auto"
    return _positive_int(text)


def _set_threads(choice: int | str | None, quiet: bool) -> None:
    """Set torch's CPU threads: a number, or ``auto`` = the cores not busy with other work.

    Oversubscribed cores make every iteration several times slower, so ``auto`` subtracts
    the 1-minute load average from the core count (at least 1 thread).
    """
    import torch

    if choice is None:
        return
    if choice == "auto":
        ncpu = os.cpu_count() or 1
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):  # not available on this platform
            return
        n = max(1, min(torch.get_num_threads(), ncpu, int(ncpu - load + 0.5)))
        if n < torch.get_num_threads():
            log.info("the machine is busy (load %.1f on %d cores): using %d torch thread(s)", load, ncpu, n)
        torch.set_num_threads(n)
        return
    torch.set_num_threads(int(choice))


def _algorithms() -> dict[str, Any]:
    """Algorithm names known at run time (``tomopy_dip.ALGORITHMS`` and registered methods)."""
    import tomopy_dip

    names = dict(getattr(tomopy_dip, "ALGORITHMS", {}))
    try:
        from tomopy_dip.methods import METHODS

        for k in METHODS:
            names.setdefault(k, None)
    except ImportError:
        pass
    return names


def _method(name: str) -> Any:
    from tomopy_dip.methods import get_method

    return get_method(name)


# ---------------------------------------------------------------------------- argument types
def _slice_arg(text: str) -> tuple[int | None, int | None, int | None]:
    """``A:B``, ``A:B:S``, ``A`` (one row) or ``:`` -> (start, stop, step)."""
    t = text.strip()
    try:
        if ":" not in t:
            a = int(t)
            if a < 0:
                raise ValueError
            return a, a + 1, None
        parts = [p.strip() for p in t.split(":")]
        if len(parts) > 3:
            raise ValueError
        vals = [int(p) if p else None for p in parts] + [None] * (3 - len(parts))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected START:STOP[:STEP] or one index (e.g. 0:2, 100, ::4), got {text!r}") from None
    if any(v is not None and v < 0 for v in vals[:2]) or (vals[2] is not None and vals[2] < 1):
        raise argparse.ArgumentTypeError(f"indices must be >= 0 and the step >= 1, got {text!r}")
    if vals[0] is not None and vals[1] is not None and vals[1] <= vals[0]:
        raise argparse.ArgumentTypeError(f"STOP must be larger than START, got {text!r}")
    return vals[0], vals[1], vals[2]


def _center_arg(text: str) -> float | str:
    if text.strip().lower() == "auto":
        return "auto"
    try:
        c = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {text!r}") from None
    if not np.isfinite(c):
        raise argparse.ArgumentTypeError(f"the centre must be finite, got {text!r}")
    return c


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def _int_list(text: str) -> tuple[int, ...]:
    try:
        vals = tuple(int(v) for v in re.split(r"[,\s]+", text.strip(" ()[]")) if v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, e.g. 32,32,64, got {text!r}") from None
    if not vals:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return vals


def _yes_no(text: str) -> bool:
    v = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}.get(text.strip().lower())
    if v is None:
        raise argparse.ArgumentTypeError(f"expected yes or no, got {text!r}")
    return v


def _key_value(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    key = key.strip().replace("-", "_")
    if not key.isidentifier():
        raise argparse.ArgumentTypeError(f"{key!r} is not a keyword name")
    raw = raw.strip()
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = {"none": None, "true": True, "false": False}.get(raw.lower(), raw)
    return key, value


#: Algorithm keywords with their own option: (flag, keyword, type, help).
KEYWORD_OPTIONS: list[tuple[str, str, Callable[[str], Any], str]] = [
    ("--num-iter", "num_iter", int, "iterations of the fit (Adam steps) [method default: 2000]"),
    ("--lr", "lr", float, "Adam learning rate [dip, tv_dip: 3e-3; edip, edip_fe, aseqdip: 1e-3]"),
    ("--lr-warmup", "lr_warmup", int, "iterations of linear learning-rate warm-up [edip, edip_fe: 50; others 0]"),
    ("--tv-weight", "tv_weight", float, "weight of the total-variation term (TV-DIP's gamma) [tv_dip, edip, edip_fe: 1e-6]"),
    ("--select", "select", str, "which image to return: min_loss, last or average [method default]"),
    ("--seed", "seed", int, "seed of the network and its input [0]"),
    ("--device", "device", str, "torch device: cpu, cuda, cuda:1 [cuda when available]"),
    ("--batch-size", "batch_size", int, "slices fitted together (one batched network) [automatic]"),
    ("--network-input", "network_input", str, "network input: noise, fbp or backprojection [method default]"),
    ("--channels", "channels", _int_list, "U-Net feature channels per scale, e.g. 32,32,64,64,128"),
    ("--skip-channels", "skip_channels", _int_list, "U-Net skip channels per scale, e.g. 0,0,0,4,4"),
    ("--filter-name", "filter_name", str, "FBP filter of the data scaling / FBP input [hann]"),
    ("--clip-grad", "clip_grad", float, "gradient-norm clipping per slice, 0 = off [1.0]"),
    ("--backend", "backend", str, "projector backend: auto, matrix or astra [auto]"),
    ("--num-gridx", "num_gridx", int, "output rows (TomoPy's num_gridx) [detector width]"),
    ("--num-gridy", "num_gridy", int, "output columns (TomoPy's num_gridy) [detector width]"),
    ("--beam", "beam", str, "beam: parallel or fanflat [parallel]"),
    ("--source-origin", "source_origin", float, "fan beam: source to rotation axis, in image pixels"),
    ("--origin-detector", "origin_detector", float, "fan beam: rotation axis to detector, in image pixels"),
    ("--detector-spacing", "detector_spacing", float, "detector pixel pitch in image pixels [1]"),
    ("--projector", "projector", str, "ASTRA projector: line, linear, strip (parallel), line_fanflat (fan beam)"),
    ("--checkpoint", "checkpoint", str, "EDIP / EDIP-FE: pretrained checkpoint, registry NAME or file PATH"),
    ("--calibrate", "calibrate", _yes_no, "EDIP / EDIP-FE: scale the pretrained image to fit the data before fine-tuning, yes or no [no]"),
    ("--inner-steps", "inner_steps", int, "aSeqDIP: Adam steps per input update (N) [10]"),
    ("--ae-weight", "ae_weight", float, "aSeqDIP: weight of the autoencoding term (lambda) [0.1]"),
]


def _add_common(p: argparse.ArgumentParser, top: bool = False) -> None:
    d = None if top else argparse.SUPPRESS
    g = p.add_argument_group("general options")
    g.add_argument("--debug", action="store_true", default=False if top else d,
                   help="show debug messages and tracebacks")
    g.add_argument("-v", "--verbose", action="store_true", default=False if top else d,
                   help="show progress messages of the library")
    g.add_argument("-q", "--quiet", action="store_true", default=False if top else d,
                   help="no progress bars or step messages (the summary is still printed)")


class _Formatter(argparse.HelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tomopy-dip`` (algorithm names are read at run time)."""
    from tomopy_dip import __version__

    algos = _algorithms()
    parser = argparse.ArgumentParser(
        prog=PROG, formatter_class=_Formatter,
        description="Deep Image Prior CT reconstruction (DIP, TV-DIP, EDIP, EDIP-FE, aSeqDIP) "
                    "for TomoPy users.",
        epilog="Start with 'tomopy-dip demo', then 'tomopy-dip recon FILE.h5 --algorithm tv_dip "
               "--center auto --slices 0:1'. Exit codes: 0 ok, 1 failure, 2 usage error.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_common(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    # ---- recon
    r = sub.add_parser(
        "recon", formatter_class=_Formatter, help="reconstruct slices of a Data Exchange HDF5 file",
        description="Read a Data Exchange (APS) HDF5 file, normalise with flats and darks, take "
                    "-log, find or take the rotation centre, reconstruct the chosen slices and write "
                    "recon.tiff (float32 stack), recon.png, history.csv, convergence.png and "
                    "summary.json into --out.",
        epilog="Any keyword of tomopy_dip.reconstruct without its own option can be given as "
               "--set KEY=VALUE (a Python literal), e.g. --set memory_limit=2e9 --set "
               "out_activation='sigmoid'. Centre convention: gridrec's (as tomopy.find_center).",
    )
    r.add_argument("file", metavar="FILE", help="Data Exchange HDF5 file (exchange/data, data_white, data_dark, theta)")
    r.add_argument("-a", "--algorithm", required=True, choices=sorted(algos), metavar="ALGORITHM",
                   help=f"one of: {', '.join(sorted(algos))}")
    r.add_argument("--slices", type=_slice_arg, default=None, metavar="A:B",
                   help="detector rows to reconstruct, START:STOP[:STEP] (STOP excluded) or one row "
                        "[all rows]")
    r.add_argument("--proj", type=_slice_arg, default=None, metavar="A:B:S",
                   help="projections to use, e.g. ::4 for every 4th (sparse-view subset) [all]")
    r.add_argument("--center", type=_center_arg, default="auto", metavar="C|auto",
                   help="rotation centre in detector pixels of the file (gridrec convention), or "
                        "'auto' to find it [auto]")
    r.add_argument("--center-method", choices=("vo", "entropy"), default="vo",
                   help="centre finder for --center auto: Vo's Fourier method (TomoPy's or ours) "
                        "or TomoPy's entropy method (needs TomoPy) [vo]")
    r.add_argument("--center-row", type=int, default=None, metavar="ROW",
                   help="row (within the selected slices) used to find the centre [middle]")
    r.add_argument("--downsample", type=_positive_int, default=1, metavar="K",
                   help="bin K detector pixels into one (faster; the centre is scaled to "
                        "(c - (K-1)/2) / K) [1]")
    r.add_argument("--no-normalize", action="store_true",
                   help="the data are already flat/dark corrected: skip normalisation")
    r.add_argument("--no-minus-log", action="store_true", help="the data are already -log(I/I0)")
    r.add_argument("--reader", choices=("auto", "dxchange", "h5py"), default="auto",
                   help="file reader: dxchange when installed, else h5py [auto]")
    r.add_argument("--exchange-rank", type=int, default=0, metavar="K",
                   help="read group exchange{K} instead of exchange [0]")
    r.add_argument("-o", "--out", default=None, metavar="DIR",
                   help="output directory [./<file stem>-<algorithm>]")
    r.add_argument("--threads", type=_threads_arg, default="auto", metavar="N|auto",
                   help="CPU threads of torch; auto: the cores not busy with other work [auto]")
    k = r.add_argument_group("algorithm keywords (see 'Choosing a method' in the docs)")
    for flag, key, typ, hlp in KEYWORD_OPTIONS:
        meta = {int: "N", float: "X", str: "NAME", _int_list: "C1,C2,..."}.get(typ, "V")
        k.add_argument(flag, dest=f"kw_{key}", type=typ, default=None, metavar=meta, help=hlp)
    k.add_argument("--set", dest="kw_set", type=_key_value, action="append", default=[],
                   metavar="KEY=VALUE", help="any other keyword of tomopy_dip.reconstruct (repeatable)")
    _add_common(r)

    # ---- demo
    d = sub.add_parser(
        "demo", formatter_class=_Formatter,
        help="simulated sparse-view scan: FBP vs TV-DIP, offline",
        description="Simulate a noisy sparse-view parallel-beam scan of the Shepp-Logan phantom "
                    "(no network, no data files), reconstruct it with FBP and TV-DIP, print the "
                    "PSNR of each and write demo.png, demo.tiff, history.csv and convergence.png.",
    )
    d.add_argument("-o", "--out", default="tomopy-dip-demo", metavar="DIR", help="output directory [./tomopy-dip-demo]")
    d.add_argument("--quick", action="store_true", help="small, fast run (64x64, 20 views, 150 iterations)")
    d.add_argument("--size", type=_positive_int, default=None, metavar="N", help="phantom size N x N [128]")
    d.add_argument("--views", type=_positive_int, default=None, metavar="V", help="views over 180 degrees [30]")
    d.add_argument("--noise", type=float, default=None, metavar="F", help="relative noise level [0.02]")
    d.add_argument("--num-iter", type=int, default=None, metavar="N", help="TV-DIP iterations [1500]")
    d.add_argument("--algorithm", choices=sorted(algos), default="tv_dip", metavar="ALGORITHM",
                   help="method compared with FBP [tv_dip]")
    d.add_argument("--seed", type=int, default=0, help="seed of the noise and the network [0]")
    d.add_argument("--threads", type=_threads_arg, default="auto", metavar="N|auto",
                   help="CPU threads of torch; auto: the cores not busy with other work [auto]")
    _add_common(d)

    # ---- datasets
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

    # ---- checkpoints and pretrain: sub-commands defined by their own modules
    from tomopy_dip.learning.checkpoints import add_cli as add_checkpoints_cli
    from tomopy_dip.learning.pretraining import add_cli as add_pretrain_cli

    ck = add_checkpoints_cli(sub)
    _add_common(ck)
    _add_common(add_pretrain_cli(sub))
    parser._subparsers_map = {"datasets": ds, "checkpoints": ck}  # type: ignore[attr-defined]
    return parser


# ---------------------------------------------------------------------------- recon
def _collect_keywords(args: argparse.Namespace, method: Any) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    for _flag, key, _typ, _hlp in KEYWORD_OPTIONS:
        v = getattr(args, f"kw_{key}")
        if v is not None:
            kw[key] = v
    for key, value in args.kw_set:
        if key in ("progress", "callback"):
            raise UsageError(f"--set {key}=... is controlled by the command line (use --quiet)")
        kw[key] = value
    accepted = getattr(method, "accepted", None)
    if accepted is not None:
        flags = {key: flag for flag, key, _t, _h in KEYWORD_OPTIONS}
        bad = [k for k in kw if k not in accepted]
        if bad:
            names = ", ".join(flags.get(k, f"--set {k}=...") for k in bad)
            shown = [k for k in accepted if k not in ("progress", "callback", "callback_every")]
            raise UsageError(f"{names} does not apply to --algorithm {method.name} "
                             f"(its keywords: {', '.join(shown)})")
        try:
            from tomopy_dip.options import parse_options

            parse_options({**kw, "device": kw.get("device", "cpu")}, accepted, method.defaults,
                          f"--algorithm {method.name}")
        except (TypeError, ValueError) as exc:
            raise UsageError(str(exc)) from None
        except ImportError:
            pass
    kw["progress"] = not args.quiet
    return kw


def _rows_text(rows: tuple, n: int) -> str:
    start, _stop, step = rows
    idx = list(range(start, start + n * step, step))
    if n == 1:
        return f"row {idx[0]}"
    return f"rows {idx[0]}-{idx[-1]}" + (f" (step {step})" if step != 1 else "")


def _cmd_recon(args: argparse.Namespace) -> int:
    from tomopy_dip import __version__
    from tomopy_dip.data import exchange as tio
    from tomopy_dip.data import preprocess as pp
    from tomopy_dip.fitting.engine import reconstruct
    from tomopy_dip.interfaces.plotting import plot_convergence, save_preview

    quiet = args.quiet
    method = _method(args.algorithm)
    kw = _collect_keywords(args, method)
    _set_threads(args.threads, quiet)
    path = Path(args.file)
    out = Path(args.out) if args.out else Path.cwd() / f"{path.stem}-{args.algorithm}"
    timings: dict[str, float] = {}
    t_all = time.perf_counter()

    # 1. read
    t0 = time.perf_counter()
    data = tio.read_data_exchange(path, proj=args.proj, sino=args.slices, exchange_rank=args.exchange_rank,
                                  backend=args.reader)
    timings["read"] = time.perf_counter() - t0
    nproj, nrows, ndet = data.proj.shape
    row_labels = [data.rows[0] + i * data.rows[2] for i in range(nrows)]
    _out(f"Read {path.name} with {data.backend}: {nproj} projections, {_rows_text(data.rows, nrows)}, "
         f"{ndet} detector pixels; angles {np.rad2deg(data.theta.min()):.1f}..{np.rad2deg(data.theta.max()):.1f} deg",
         quiet)

    # 2. normalise, -log
    t0 = time.perf_counter()
    steps = []
    arr: np.ndarray = data.proj
    if not args.no_normalize:
        missing = [n for n, a in (("flat fields (exchange/data_white)", data.flat),
                                  ("dark fields (exchange/data_dark)", data.dark)) if a is None]
        if missing:
            raise Failure(f"{path} has no {' and no '.join(missing)}; use --no-normalize if the "
                          "data are already normalised")
        arr = pp.normalize(arr, data.flat, data.dark)
        steps.append("normalised")
    if not args.no_minus_log:
        arr = pp.minus_log(arr)
        steps.append("-log")
    arr = np.asarray(arr, dtype=np.float32)
    bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
    if bad:
        log.warning("%d non-finite values after %s (zero or negative transmission) set to 0",
                    bad, " and ".join(steps) or "reading")
        arr = np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)
        steps.append(f"{bad} non-finite set to 0")

    # 3. centre (in the file's detector pixels), then binning
    if args.center == "auto":
        if args.center_row is not None and not 0 <= args.center_row < nrows:
            raise UsageError(f"--center-row {args.center_row} is outside the {nrows} selected rows")
        center = pp.find_center(arr, data.theta, ind=args.center_row, method=args.center_method)
        how = f"auto, {'Vo' if args.center_method == 'vo' else 'entropy'} method" + \
              (" (TomoPy)" if pp.tomopy_available() else "")
    else:
        center = float(args.center)
        how = "given"
    if not -0.5 <= center <= ndet - 0.5:
        raise Failure(f"the centre {center:g} is not on the detector (0..{ndet - 1})")
    sino = pp.to_sinograms(arr)
    c_used = center
    if args.downsample > 1:
        sino = pp.bin_detector(sino, args.downsample)
        c_used = pp.binned_center(center, args.downsample)
        steps.append(f"binned x{args.downsample}")
    timings["preprocess"] = time.perf_counter() - t0
    cen_txt = f"{center:.2f} ({how})" + (f" -> {c_used:.2f} after binning x{args.downsample}"
                                        if args.downsample > 1 else "")
    _out(f"Pre-processing: {', '.join(steps) or 'none'}; centre {cen_txt}", quiet)

    # 4. reconstruct
    n_sl, _, ndet_b = sino.shape
    _out(f"Reconstructing {n_sl} slice(s) with {args.algorithm}: sinograms {nproj} x {ndet_b}, "
         f"{kw.get('num_iter', method.defaults.get('num_iter', 'default'))} iterations", quiet)
    t0 = time.perf_counter()
    res = reconstruct(sino, data.theta, center=c_used, method=args.algorithm, **kw)
    timings["reconstruct"] = time.perf_counter() - t0

    # 5. write
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    images = np.asarray(res.images, dtype=np.float32)
    images = images[None] if images.ndim == 2 else images
    settings = {
        "tomopy_dip_version": __version__, "file": str(path.resolve()), "reader": data.backend,
        "algorithm": args.algorithm, "rows": row_labels, "projections": nproj,
        "center": center, "center_used": c_used, "center_source": how, "downsample": args.downsample,
        "keywords": {k: v for k, v in kw.items() if k != "progress"},
    }
    files = {
        "recon.tiff": tio.write_tiff_stack(out / "recon.tiff", images, metadata=settings),
        "recon.png": save_preview(out / "recon.png", images, titles=[f"row {r}" for r in row_labels],
                                  title=f"{path.name}: {args.algorithm}"),
        "history.csv": tio.write_history_csv(out / "history.csv", res.history, slices=row_labels),
        "convergence.png": plot_convergence(res.history, out / "convergence.png", selected=res.iteration,
                                            slices=row_labels, title=f"{path.name}: {args.algorithm}"),
    }
    timings["write"] = time.perf_counter() - t0
    total = time.perf_counter() - t_all
    n_done = int(np.asarray(res.history.get("loss", np.zeros((0,)))).shape[0])
    summary = {**settings, "shape": list(images.shape), "iterations_run": n_done,
               "iteration_returned": [int(i) for i in np.atleast_1d(res.iteration)],
               "interrupted": bool(res.interrupted), "seconds": {**timings, "total": total},
               "outputs": {k: str(v) for k, v in files.items()}}
    files["summary.json"] = out / "summary.json"
    files["summary.json"].write_text(json.dumps(tio._jsonable(summary), indent=2) + "\n")

    # 6. summary
    ret = np.atleast_1d(res.iteration)
    ret_txt = ", ".join(str(int(i)) for i in ret[:8]) + (", ..." if ret.size > 8 else "")
    print(f"{PROG} recon: {args.algorithm} on {path.name}, {n_sl} slice(s) ({_rows_text(data.rows, nrows)}), "
          f"{nproj} views, {ndet_b} detector pixels" + (" (interrupted)" if res.interrupted else ""))
    print(f"  centre      {cen_txt}")
    print(f"  iterations  {n_done} per slice (returned iterate: {ret_txt})")
    print(f"  time        {total:.1f} s (read {timings['read']:.1f}, pre-process {timings['preprocess']:.1f}, "
          f"reconstruct {timings['reconstruct']:.1f}, write {timings['write']:.1f})")
    print(f"  output      {out}")
    for name, p in files.items():
        extra = f"  ({' x '.join(map(str, images.shape))} float32)" if name == "recon.tiff" else ""
        print(f"    {name}{extra}")
    return EXIT_OK


# ---------------------------------------------------------------------------- demo
def _cmd_demo(args: argparse.Namespace) -> int:
    from tomopy_dip.interfaces.demo import DEFAULTS, QUICK, run_demo

    _set_threads(args.threads, args.quiet)
    base = QUICK if args.quick else DEFAULTS
    size, views = args.size or base["size"], args.views or base["views"]
    noise = base["noise"] if args.noise is None else args.noise
    n_iter = base["num_iter"] if args.num_iter is None else args.num_iter
    if n_iter < 0:
        raise UsageError("--num-iter must be >= 0")
    if noise < 0:
        raise UsageError("--noise must be >= 0")
    if size < 16:
        raise UsageError("--size must be at least 16")
    _out(f"{PROG} demo: simulated parallel-beam scan of a {size}x{size} Shepp-Logan phantom, {views} views "
         f"over 180 deg, {100 * noise:g}% noise (built-in data, no network)", args.quiet)
    _out(f"Reconstructing with FBP and {args.algorithm} ({n_iter} iterations)...", args.quiet)
    t0 = time.perf_counter()
    res = run_demo(args.out, size=size, views=views, noise=noise, num_iter=n_iter, seed=args.seed,
                   method=args.algorithm, progress=not args.quiet)
    total = time.perf_counter() - t0
    print(f"{PROG} demo: {views} views of a {size}x{size} phantom, {100 * noise:g}% noise")
    for name in res.psnr:
        extra = ""
        if name != "FBP":
            extra = f"  ({res.settings['num_iter']} iterations, returned #{res.settings['selected_iteration']})"
        print(f"  {name:<8} PSNR {res.psnr[name]:6.2f} dB   SSIM {res.ssim[name]:.3f}   "
              f"{res.seconds[name]:6.1f} s{extra}")
    label = list(res.psnr)[-1]
    if res.psnr[label] < res.psnr["FBP"] and not res.settings.get("interrupted"):
        print(f"  note: {label} is still below FBP after {res.settings['num_iter']} iterations: it has not "
              "converged yet; try --num-iter 2000 (see 'Choosing a method' in the docs)")
    print(f"  total time {total:.1f} s")
    print(f"  output     {res.out}")
    print(f"    {res.files['comparison'].name:<16} phantom | FBP | {list(res.psnr)[-1]} with PSNR / SSIM")
    print(f"    {res.files['tiff'].name:<16} float32 stack: phantom, FBP, {list(res.psnr)[-1]}")
    print(f"    {res.files['history'].name:<16} loss per iteration")
    print(f"    {res.files['convergence'].name:<16} loss curves")
    print(f"Next: {PROG} recon YOUR_FILE.h5 --algorithm tv_dip --center auto --slices 0:1")
    return EXIT_OK


# ---------------------------------------------------------------------------- datasets
def _human(n: int) -> str:
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
        for cand in (Path(mirror) / entry.path, Path(mirror) / Path(entry.path).name):
            if cand.is_file():
                return "mirror", cand
    packaged = getattr(entry, "packaged", None)
    if packaged:
        import tomopy_dip

        cand = Path(tomopy_dip.__file__).parent / packaged
        if cand.is_file():
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


def _cmd_datasets(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from tomopy_dip.data import datasets as datasets
    from tomopy_dip.data.registry import RegistryError

    if args.action is None:
        parser._subparsers_map["datasets"].print_help()  # type: ignore[attr-defined]
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


# ---------------------------------------------------------------------------- checkpoints
def _one_line(exc: BaseException) -> str:
    """The exception as one line; unexpected exception types keep their name."""
    from tomopy_dip.data.exchange import DataFileError
    from tomopy_dip.data.registry import RegistryError

    msg = " ".join(str(exc).split())
    expected = (UsageError, Failure, DataFileError, RegistryError, ValueError, TypeError, OSError,
                RuntimeError, MemoryError)
    if not msg:
        return type(exc).__name__
    return msg if isinstance(exc, expected) else f"{type(exc).__name__}: {msg}"


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
        if args.command == "recon":
            return _cmd_recon(args)
        if args.command == "demo":
            return _cmd_demo(args)
        if args.command == "datasets":
            return _cmd_datasets(args, parser)
        func = getattr(args, "func", None)
        if callable(func):  # sub-commands of other modules (checkpoints, pretrain)
            return int(func(args) or 0)
        raise UsageError(f"unknown command {args.command!r}")
    except UsageError as exc:
        if debug:
            traceback.print_exc()
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # every failure: one line, traceback with --debug
        if debug:
            traceback.print_exc()
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
