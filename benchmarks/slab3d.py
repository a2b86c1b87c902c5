"""3-D against 2-D: one 3-D U-Net fitted to a slab of slices (``dims=3``) against every slice
fitted by its own 2-D network (the default), on a simulated slab with the truth known.

The slab: ``--slices`` consecutive central slices of a random-ellipsoid volume (EDIP's 3-D
training distribution, :func:`tomopy_dip.learning.phantoms.random_ellipsoids`) of ``--size``³,
``--views`` parallel views over 180°, Gaussian noise of ``--noise`` times the mean absolute
sinogram value. For each method and ``dims``: PSNR / SSIM of the volume against the truth,
iterations and wall time (1 process, ``--threads`` torch threads). Beside them, once per
problem, the converged TV (:func:`tomopy_dip.baselines.tv_ls`) slice by slice (``tv_2d``) and
as a volume (``tv_3d``), each with the gamma and variant best against the truth. Writes
``results/slab3d_<size>_<slices>_<views>.json``.

    python benchmarks/slab3d.py --size 64 --slices 16 --views 30 --noise 0.02 --methods tv_dip --threads 1

``--problem fips``: the FIPS gel phantom's 17 time frames (fan beam, ``--views`` of 18/36/72,
``--size`` 256/128/64) stacked as the rows of one slab, frame 0 first; scored on frame 0, the
one the dense pre-scan matches (the truth of the other frames is unknown). Writes
``results/slab3d_fips_<size>_<views>.json``::

    python benchmarks/slab3d.py --problem fips --size 128 --views 36 --methods tv_dip --set slab=17 --threads 1

``--record``: one 3-D fit of the whole slab per method without stopping (``--set num_iter=...``
is its length), recording every slice's loss and error at every iteration, then the stopping rule
(``stop="plateau"``, which sees the slab's summed loss) replayed offline for several tolerances
and patiences: iterations run and the PSNR of the volume it returns (each slice's minimum-loss
iterate up to the stop). The rule only decides when a fit ends (the fit is the same bit for bit),
so a replay is the run that rule would have made. Writes
``results/slab3d_record_<problem>_<size>_<views>_<method>_<dims>d.json``::

    python benchmarks/slab3d.py --record --methods tv_dip --dims 3 --set num_iter=10000 --threads 1
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
import torch

from common import TV_VARIANTS, load, machine, save, save_rows, tv_oracle, tv_scan, use_shared_data

import tomopy_dip
from tomopy_dip.baselines import operator_for
from tomopy_dip.learning.phantoms import random_ellipsoids
from tomopy_dip.metrics import psnr, ssim
from tomopy_dip.physics.measurement import simulate


def slab_problem(size: int, slices: int, views: int, noise: float, seed: int = 0) -> dict:
    """The truth ``(slices, size, size)``, its noisy sinograms and angles."""
    vol = random_ellipsoids(size, seed=seed)
    first = (size - slices) // 2
    truth = np.ascontiguousarray(vol[first:first + slices])
    theta = np.linspace(0, np.pi, views, endpoint=False)
    clean = simulate(truth, theta)
    rng = np.random.default_rng(seed)
    sino = (clean + noise * np.abs(clean).mean() * rng.standard_normal(clean.shape)).astype(np.float32)
    return {"truth": truth, "sinogram": sino, "theta": theta, "center": None, "geometry": {}, "scored": slice(None)}


def fips_problem(size: int, views: int) -> dict:
    """The FIPS gel phantom's 17 frames as a slab; the truth of frame 0 only (the pre-scan)."""
    use_shared_data()
    from tomopy_dip.data.datasets import load_fips_gel

    frames = [load_fips_gel(views, frame=f, size=size) for f in range(17)]
    return {"truth": frames[0]["reference"][None], "sinogram": np.stack([f["sinogram"] for f in frames]),
            "theta": frames[0]["theta"], "center": frames[0]["center"], "geometry": frames[0]["geometry"],
            "scored": slice(0, 1)}


def score(images: np.ndarray, truth: np.ndarray) -> dict:
    """PSNR of the volume (data range of the truth) and the mean SSIM of its slices."""
    return {"psnr": psnr(images, truth), "ssim": float(np.mean([ssim(a, b) for a, b in zip(images, truth)]))}


#: The TV's gamma grid here (refined by quarter decades around the best): wider than the HTC
#: grid (:data:`common.TV_GAMMAS`) below, as the rays through a 64² slice are shorter.
SLAB_GAMMAS = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)

#: Iterations between the iterates :func:`psnr_curve` scores.
CURVE_EVERY = 100


def psnr_curve(seen: dict[int, dict[int, np.ndarray]], truth: np.ndarray) -> list[list[float]]:
    """PSNR of the volume along the run: at each recorded iteration ``k``, every slice's iterate
    at ``k`` (its last one where its fit stopped before ``k``); the same for 2-D fits (one run per
    slice) and a 3-D one (one run for the slab)."""
    steps = sorted({k for per in seen.values() for k in per})
    out = []
    for k in steps:
        vol = np.stack([per[max(j for j in per if j <= k)] if min(per) <= k else per[min(per)]
                        for _, per in sorted(seen.items())])
        out.append([int(k), psnr(vol, truth)])
    return out


#: The plateau rules :func:`replay` tries (tolerance, patience).
REPLAY_RULES = tuple((t, p) for t in (0.05, 0.02, 0.01) for p in (700, 1000, 1500))


def replay(loss: np.ndarray, err: np.ndarray, scored: np.ndarray, truth: np.ndarray) -> list[dict]:
    """The plateau rule (:class:`tomopy_dip.fitting.stopping.LossPlateau`) replayed on one fit's
    losses ``(iterations, slices)``: it sees their sum, and the minimum-loss selection returns
    each slice's iterate of least loss up to the stop. ``err`` ``(iterations, scored slices)``
    holds the squared errors of the scored slices' iterates; for each of :data:`REPLAY_RULES` the
    iterations run and the PSNR of the returned volume, beside the cap and the best iterate."""
    vol_psnr = lambda e: float(err_psnr(e, truth))  # noqa: E731
    total = loss.sum(1)
    best = np.minimum.accumulate(total)

    def returned(stop: int) -> float:
        at = np.argmin(loss[:stop + 1, scored], axis=0)  # each scored slice's minimum-loss iterate
        return vol_psnr(err[at, np.arange(len(scored))].sum())

    it_psnr = [vol_psnr(e) for e in err.sum(1)]
    rows = [{"rule": "best iterate", "iterations": int(np.argmax(it_psnr)) + 1, "psnr": max(it_psnr)},
            {"rule": "none (the cap)", "iterations": len(total), "psnr": returned(len(total) - 1)}]
    for tol, pat in REPLAY_RULES:
        stop = next((k for k in range(pat, len(total)) if best[k] >= (1.0 - tol) * best[k - pat]), len(total) - 1)
        rows.append({"rule": f"plateau, tol {tol:g}, P {pat}", "iterations": stop + 1, "psnr": returned(stop)})
    return rows


def err_psnr(err_sum: np.ndarray | float, truth: np.ndarray) -> np.ndarray:
    """PSNR of a volume from its summed squared error against ``truth`` (peak: truth's range)."""
    return 10 * np.log10(float(truth.max() - truth.min()) ** 2 / (np.asarray(err_sum) / truth.size))


def save_record(name: str, header: dict, loss: np.ndarray, err: np.ndarray, truth: np.ndarray) -> None:
    """``results/<name>.json``: the replayed rules, and along the run the slab's summed loss and the
    PSNR of the scored volume (every iteration, compact)."""
    save(name, {**header, "loss": [float(f"{v:.6g}") for v in loss.sum(1)],
                "psnr": [round(float(v), 3) for v in err_psnr(err.sum(1), truth)]}, indent=None)


def record(args, d: dict, scored: np.ndarray, method: str, dims: int, extra: dict) -> None:
    """One fit of the whole slab by ``method`` without stopping, every slice's loss and the
    scored slices' squared errors at every iteration, and the replayed stopping rules (module
    docstring)."""
    nslices = len(d["sinogram"])
    if dims != 3 or extra.get("slab", 16) < nslices:
        raise SystemExit("--record replays one fit: dims 3 with the whole slab in it (--set slab=N)")
    loss, err = {}, {}  # iteration -> per slice
    where = {int(i): j for j, i in enumerate(scored)}  # slice -> its place in the truth

    def cb(info):
        k, i = info["iteration"], info["slice"]
        loss.setdefault(k, np.zeros(nslices))[i] = info["loss"]
        if i in where:
            e = info["image"].astype(np.float64) - d["truth"][where[i]]
            err.setdefault(k, np.zeros(len(scored)))[where[i]] = float(np.sum(e * e))

    t0 = time.perf_counter()
    res = tomopy_dip.reconstruct(d["sinogram"], d["theta"], d["center"], method=method, dims=dims, progress=False,
                                 **d["geometry"], callback=cb, **{**extra, "stop": "none"})
    seconds = time.perf_counter() - t0
    L, E = np.stack([loss[k] for k in sorted(loss)]), np.stack([err[k] for k in sorted(err)])
    rows = replay(L, E, scored, d["truth"])
    rows[1]["psnr_returned"] = psnr(res.images[scored], d["truth"])  # the cap's image as returned: the check
    name = f"slab3d_record_{args.problem}_{args.size}_{args.views}_{method}_{dims}d"
    save_record(name, {"machine": machine(), "args": vars(args), "seconds": seconds, "replay": rows}, L, E, d["truth"])
    print(f"\n{method} dims={dims}: {len(L)} iterations, {seconds:.0f} s; returned at the cap "
          f"{rows[1]['psnr_returned']:.2f} dB (replayed {rows[1]['psnr']:.2f})\n\n| rule | iterations | PSNR |\n|---|---|---|")
    for r in rows:
        print(f"| {r['rule']} | {r['iterations']} | {r['psnr']:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problem", choices=("ellipsoids", "fips"), default="ellipsoids")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--slices", type=int, default=16)
    ap.add_argument("--views", type=int, default=30)
    ap.add_argument("--noise", type=float, default=0.02)
    ap.add_argument("--methods", nargs="*", default=["tv_dip"])
    ap.add_argument("--dims", nargs="+", type=int, default=[2, 3])
    ap.add_argument("--seed", type=int, default=0, help="the phantom's seed")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--set", nargs="*", default=[], help="extra keyword=value for the methods")
    ap.add_argument("--record", action="store_true", help="record whole runs and replay the stopping rule")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    extra = {k: eval(v) for k, v in (s.split("=", 1) for s in args.set)}  # noqa: S307 - benchmark CLI
    if args.problem == "fips":
        d = fips_problem(args.size, args.views)
        name, key = f"slab3d_fips_{args.size}_{args.views}", "frame0"
    else:
        d = slab_problem(args.size, args.slices, args.views, args.noise, args.seed)
        name, key = f"slab3d_{args.size}_{args.slices}_{args.views}", f"seed{args.seed}"
    scored = np.arange(len(d["sinogram"]))[d["scored"]]
    if args.record:
        for m in args.methods:
            for dims in args.dims:
                record(args, d, scored, m, dims, extra)
        return
    rows = {}
    op = operator_for(d["sinogram"][0], d["theta"], d["center"], **d["geometry"])
    fb = tomopy_dip.fbp(torch.from_numpy(d["sinogram"]), op, "hann").numpy()
    rows["fbp"] = score(fb[scored], d["truth"])
    print(f"FBP: {rows['fbp']['psnr']:.2f} dB", flush=True)
    stored = load(name).get("rows", {}).get(key, {})
    for dims in (2, 3):  # the converged TV, slice by slice and as a volume, gamma chosen against the truth
        label = f"tv_{dims}d"
        if label not in stored:
            t0 = time.perf_counter()
            problem = {"sinogram": d["sinogram"], "op": op, "reference": d["truth"], "volume": dims == 3,
                       "scored": scored}
            rows[label] = tv_oracle({v: tv_scan(problem, iso, SLAB_GAMMAS) for v, iso in TV_VARIANTS.items()})
            rows[label]["seconds"] = time.perf_counter() - t0
            print(f"{label} (oracle gamma {rows[label]['gamma']:g}, {rows[label]['variant']}): "
                  f"{rows[label]['psnr']:.2f} dB", flush=True)
    save_rows(name, {"machine": machine(), "args": vars(args)}, {key: rows})
    for m in args.methods:
        for dims in args.dims:
            label = f"{m}_{dims}d" + (f"[{','.join(args.set)}]" if args.set else "")
            seen: dict[int, dict[int, np.ndarray]] = {}  # slice -> iteration -> iterate
            t0 = time.perf_counter()
            res = tomopy_dip.reconstruct(d["sinogram"], d["theta"], d["center"], method=m, dims=dims,
                                         progress=False, **d["geometry"],
                                         callback=lambda info: info["slice"] in scored and seen.setdefault(
                                             info["slice"], {}).__setitem__(info["iteration"], info["image"].copy()),
                                         callback_every=CURVE_EVERY, **extra)
            seconds = time.perf_counter() - t0
            its = res.iterations_run
            curve = psnr_curve(seen, d["truth"])
            best = max(curve, key=lambda c: c[1])
            rows[label] = {**score(res.images[scored], d["truth"]), "seconds": seconds,
                           "iterations": [int(its.min()), int(its.max())], "stop_reason": sorted(set(res.stop_reason)),
                           "sec_per_iter": seconds / max(1, int(its.sum()) if dims == 2 else int(its.max())),
                           "best_psnr": best[1], "best_iteration": best[0], "curve": curve}
            print(f"{label}: {rows[label]['psnr']:.2f} dB / SSIM {rows[label]['ssim']:.3f} (best iterate "
                  f"{best[1]:.2f} dB at {best[0]}), iterations {its.min()}-{its.max()}, {seconds:.0f} s", flush=True)
            save_rows(name, {"machine": machine(), "args": vars(args)}, {key: rows})
    stored = load(name)["rows"][key]
    print("\n| method | PSNR / SSIM | iterations | seconds |\n|---|---|---|---|")
    for label, r in stored.items():
        its = r.get("iterations")
        its = f"{its[0]}–{its[1]}" if isinstance(its, list) else (f"{its} (PDHG, gamma {r['gamma']:g})" if its else "–")
        print(f"| {label} | {r['psnr']:.2f} / {r['ssim']:.3f} | {its} | "
              f"{r.get('seconds', 0):.0f} |")


if __name__ == "__main__":
    main()
