"""Peak memory of reconstructions against the estimate of :mod:`tomopy_dip.fitting.memory`.

Every problem runs in a fresh child process (a random sinogram, TV-DIP with the default
network, a few iterations, ``stop="none"``): the child prints its peak resident memory
(``ru_maxrss``) beside the estimate it made before the run; the table gives both and their
ratio. ``--calibrate`` also measures the parts the estimate's constants come from: the resident
memory of the imports, a system matrix's peak while it is built, and the fit's own peak above
the built operator (the peak is reset between them through ``/proc/self/clear_refs``, Linux),
and fits the bytes per feature-map element and the fixed part by least squares.

    python benchmarks/memory.py --threads 1
    python benchmarks/memory.py --threads 1 --calibrate
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

#: (size, views, precision, backend, iterations) of the table.
CASES = [
    (256, 180, "float32", "auto", 5),
    (512, 180, "float32", "auto", 5),
    (640, 181, "float32", "auto", 5),
    (512, 30, "float32", "auto", 5),
    (256, 180, "float32", "astra", 5),
    (512, 180, "float32", "astra", 5),
    (256, 180, "bfloat16", "auto", 3),
    (512, 180, "bfloat16", "astra", 2),
]
#: The fits measured by ``--calibrate`` (on-the-fly projector: the fit's own memory).
CALIBRATION = [(s, 180, "float32", "astra", 4) for s in (128, 256, 384, 512, 640)] + \
              [(s, 180, "bfloat16", "astra", 2) for s in (128, 256, 512)]

CHILD = r"""
import json, os, resource, sys, time
import numpy as np, torch
torch.set_num_threads(int(sys.argv[6]))
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
def reset_peak():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
size, nproj, precision, backend, n_iter, parts = (int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4],
                                                  int(sys.argv[5]), sys.argv[7] == "1")
import tomopy_dip, astra  # noqa: F401  (astra: the projector imports it on first use)
from tomopy_dip.fitting.memory import estimate_memory, activation_elements, parameter_count
from tomopy_dip.fitting.problem import slice_geometries
from tomopy_dip.methods import get_method
from tomopy_dip.physics.projector import get_operator
imports = status("VmRSS")
method = get_method("tv_dip")
kw = dict(num_iter=n_iter, stop="none", progress=False, precision=precision, backend=backend, device="cpu")
options = method.parse(kw, "benchmark")
theta = np.linspace(0, np.pi, nproj, endpoint=False)
geoms = slice_geometries(theta, size, np.array([size / 2]), options)
plan = estimate_memory(method, options, nproj, size, geometries=geoms, in_process=False)
sino = np.random.default_rng(0).random((1, nproj, size)).astype(np.float32)
out = {"plan": {k: getattr(plan, k) for k in ("network", "parameters", "projector", "projector_build", "data",
                                               "baseline", "backend", "matrix_bytes")},
       "estimate": plan.total, "imports": imports,
       "elements": activation_elements(options.network((size, size)), size, size),
       "params": parameter_count(options.network((size, size)))}
t0 = time.perf_counter()
if parts:
    before = status("VmRSS")
    op = get_operator(geoms[0], backend, None)
    out["operator_peak"] = status("VmHWM") - before
    out["operator"] = status("VmRSS") - before
    reset_peak()
    before = status("VmRSS")
res = tomopy_dip.reconstruct(sino, theta, size / 2, method="tv_dip", **kw)
if parts:
    out["fit_peak"] = status("VmHWM") - before
out["peak"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
out["backend"] = get_operator(geoms[0], backend, None).backend
out["seconds"] = time.perf_counter() - t0
print("RESULT " + json.dumps(out))
"""


def run_case(case: tuple, threads: int, parts: bool) -> dict:
    size, nproj, precision, backend, n_iter = case
    cmd = [sys.executable, "-c", CHILD, str(size), str(nproj), precision, backend, str(n_iter), str(threads),
           "1" if parts else "0"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1],
                          env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    if proc.returncode != 0:
        raise RuntimeError(f"case {case} failed:\n{proc.stderr[-3000:]}")
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def _mib(n: float) -> str:
    return f"{n / 2**20:,.0f}"


def table(threads: int) -> list[dict]:
    rows = []
    print("| problem | backend | measured peak (MiB) | estimate (MiB) | measured / estimate | seconds |")
    print("|---|---|---|---|---|---|")
    for case in CASES:
        r = run_case(case, threads, parts=False)
        size, nproj, precision, backend, n_iter = case
        name = f"{size}², {nproj} views, {precision}, {n_iter} it."
        used = r["backend"] + ("" if backend != "auto" else " (auto)")
        print(f"| {name} | {used} | {_mib(r['peak'])} | {_mib(r['estimate'])} | "
              f"{r['peak'] / r['estimate']:.2f} | {r['seconds']:.0f} |", flush=True)
        rows.append({"case": case, **r})
    return rows


def calibrate(threads: int) -> None:
    """Measure the parts and fit the constants of :mod:`tomopy_dip.fitting.memory`."""
    from tomopy_dip.fitting import memory

    fits = {}
    imports = []
    print("| problem | elements E | fit peak above the operator (MiB) | imports (MiB) |")
    print("|---|---|---|---|")
    for case in CALIBRATION:
        r = run_case(case, threads, parts=True)
        imports.append(r["imports"])
        p = r["plan"]
        # the fit's own part: less what the plan counts outside the network (parameters, data of a fit)
        own = r["fit_peak"] - p["parameters"] - (p["data"] - 4 * (case[1] * case[0] + case[0] ** 2))
        fits.setdefault(case[2], []).append((r["elements"], own))
        print(f"| {case[0]}², {case[1]} views, {case[2]} | {r['elements']:,} | {_mib(r['fit_peak'])} | "
              f"{_mib(r['imports'])} |", flush=True)
    print()
    for precision, pts in fits.items():
        e = np.array([x for x, _ in pts], float)
        y = np.array([v for _, v in pts], float)
        a, b = np.polyfit(e, y, 1)
        print(f"{precision}: {a:.2f} bytes per element (now {memory.ACTIVATION_BYTES[precision]}), "
              f"fixed {b / 2**20:.0f} MiB (now {memory.NETWORK_FIXED_BYTES / 2**20:.0f} MiB)")
    print(f"imports: {np.median(imports) / 2**20:.0f} MiB (baseline now {memory.BASELINE_BYTES / 2**20:.0f} MiB)")
    builds = [run_case((s, 180, "float32", "matrix", 1), threads, parts=True) for s in (256, 512)]
    for s, r in zip((256, 512), builds):
        est = r["plan"]["matrix_bytes"]
        print(f"matrix {s}², 180 views: peak while built / estimate {r['operator_peak'] / est:.2f}, "
              f"built / estimate {r['operator'] / est:.2f} "
              f"(now {memory.MATRIX_BUILD_FACTOR})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="torch threads of each child")
    ap.add_argument("--calibrate", action="store_true", help="measure the parts and fit the constants")
    args = ap.parse_args()
    if args.calibrate:
        calibrate(args.threads)
    else:
        table(args.threads)


if __name__ == "__main__":
    main()
