"""Time to quality against v0.1.0, in the same run (#17's first benchmark).

For each HTC training phantom, TV-DIP at its defaults in today's package (the stopping rule on,
no ``num_iter``) and in v0.1.0's (unpacked from git, ``git archive 673ffb3 tomopy_dip``, into a
temporary directory and imported in a child process; nothing is committed), on the same data:
the wall time until the image each returns reaches the converged TV's PSNR at its best γ for
that phantom (``tv_oracle`` of ``tv_baseline.py``) + 1 dB. Today's package is timed on the image
it would return at that point (``select``'s estimate); v0.1.0's, in its favour, on its iterates
(the first iterate that reaches the target). Each child gets the problem (sinogram, geometry and
the 720-view SIRT-300 reference) from a temporary file and computes the PSNR itself, every 25
iterations (the same callback cost in both).

    python benchmarks/time_to_quality.py --views 60 --size 256 --threads 1 --versions v010
    python benchmarks/time_to_quality.py --views 60 --size 256 --threads 1 --versions now
    python benchmarks/time_to_quality.py --views 60 --size 256 --report

Two commands side by side, one thread each, run the two versions on the same machine at once
(the load is the same for both); results merge into ``results/time_to_quality_<views>_<size>.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from common import DATASETS, classical_table, first_reach, load, machine, median, save_rows, tv_baselines, use_shared_data

V010 = "673ffb3"
REPO = Path(__file__).resolve().parents[1]
EVERY = 25

CHILD = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
old, problem, threads, every = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if old != "-":
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f)]
    sys.path.insert(0, old)
import numpy as np, torch
torch.set_num_threads(threads)
import tomopy_dip
d = np.load(problem)
ref = d["reference"].astype(np.float64)
rng = ref.max() - ref.min()
psnr = lambda x: float(10 * np.log10(rng ** 2 / np.mean((np.asarray(x, np.float64).reshape(ref.shape) - ref) ** 2)))
geometry = json.loads(str(d["geometry"]))
curve = []
t0 = time.perf_counter()
cb = lambda info: curve.append((info["iteration"], time.perf_counter() - t0, psnr(info["image"]), psnr(info["estimate"])))
res = tomopy_dip.reconstruct(d["sinogram"], d["theta"], float(d["center"]), method="tv_dip", progress=False,
                             callback=cb, callback_every=every, **geometry)
seconds = time.perf_counter() - t0
print(json.dumps({"tomopy_dip": tomopy_dip.__file__, "seconds": seconds, "psnr": psnr(res.images),
                  "iterations": int(getattr(res, "iterations_run", [len(res.history["loss"])])[0]),
                  "curve": curve}))
"""


def run_child(package: str, problem: Path, threads: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, package, str(problem), str(threads), str(EVERY)],
                         capture_output=True, text=True, check=True, cwd=tempfile.gettempdir())
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(rows: dict, phantoms: list[str], views: int, size: int) -> None:
    print(f"\nTV-DIP on HTC-{views} at {size}²: seconds until the image reaches the oracle TV + 1 dB "
          "(v0.1.0: its first iterate there; now: the image it would return)\n")
    print("| phantom | target (dB) | v0.1.0: s (iteration) | v0.1.0 returned (dB, s) | now: s (iteration) "
          "| now returned (dB, s, iterations) | speed-up |")
    print("|---|---|---|---|---|---|---|")
    ratios = []
    for p in phantoms:
        r = rows.get(p, {})
        old, new = r.get("v010"), r.get("now")
        if old is None or new is None:
            continue
        o, n = old["to_target"], new["to_target"]
        cell = lambda t: "never" if t[1] is None else f"{t[1]:.0f} ({t[0]})"
        ratio = None if o[1] is None or n[1] is None else o[1] / n[1]
        if ratio is not None:
            ratios.append(ratio)
        print(f"| {p} | {r['target']:.2f} | {cell(o)} | {old['psnr']:.2f}, {old['seconds']:.0f} | {cell(n)} | "
              f"{new['psnr']:.2f}, {new['seconds']:.0f}, {new['iterations']} | "
              f"{'–' if ratio is None else f'{ratio:.2f}×'} |")
    if ratios:
        print(f"\nmedian speed-up where both reach the target: {median(ratios):.2f}× (target of #17: 10×)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phantoms", nargs="+", default=list(DATASETS["htc"]["problems"]))
    ap.add_argument("--views", type=int, default=60)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--versions", nargs="+", choices=("v010", "now"), default=["v010", "now"])
    ap.add_argument("--report", action="store_true", help="print the stored table and stop")
    args = ap.parse_args()
    use_shared_data()
    name = f"time_to_quality_{args.views}_{args.size}"
    if args.report:
        report(load(name).get("rows", {}), args.phantoms, args.views, args.size)
        return
    tv = tv_baselines(classical_table(args.phantoms, args.views, args.size))
    tmp = Path(tempfile.mkdtemp(prefix="tomopy_dip_ttq_"))
    try:
        if "v010" in args.versions:
            archive = subprocess.run(["git", "archive", V010, "tomopy_dip"], cwd=REPO, capture_output=True,
                                     check=True)
            subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive.stdout, check=True)
        for ph in args.phantoms:
            d = DATASETS["htc"]["load"](ph, args.views, args.size)
            problem = tmp / f"{ph}.npz"
            np.savez(problem, sinogram=d["sinogram"], theta=d["theta"], center=d["center"],
                     reference=d["reference"], geometry=json.dumps(d["geometry"]))
            target = tv[ph]["tv_oracle"]["psnr"] + 1.0
            row = {"target": target}
            for version in args.versions:
                res = run_child(str(tmp) if version == "v010" else "-", problem, args.threads)
                # the child says which package it imported; the record keeps the version, not a path
                assert (str(tmp) in res.pop("tomopy_dip")) == (version == "v010"), version
                column = 2 if version == "v010" else 3  # v0.1.0's iterates, today's returned image
                res["to_target"] = first_reach([(c[0], c[1], c[column]) for c in res["curve"]], target)
                row[version] = res
                print(f"{ph} {version}: {res['psnr']:.2f} dB after {res['iterations']} iterations, "
                      f"{res['seconds']:.0f} s; target {target:.2f} dB reached at {res['to_target']}", flush=True)
            save_rows(name, {"machine": machine(), "args": vars(args)}, {ph: row})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    report(load(name).get("rows", {}), args.phantoms, args.views, args.size)


if __name__ == "__main__":
    main()
