"""#38: per-pixel uncertainty maps, measured for calibration against a truth.

Each problem is fitted once by the method at its defaults (``--seeds N``: N times, seeds 0, 1,
...) and its candidate maps are recorded from the iterates by a callback (:data:`CANDIDATES`;
``spread_run`` is what ``uncertainty="spread"`` computes); the image, the maps, the reference and
the seconds are cached in ``benchmarks/cache/uncertainty``. The factor of each map is then fitted
on the *training* problems only: simulated porous rows (``common.porous_volume``, seed 1, Poisson
noise on 10^4 counts), the factor that puts 95 % of their pixels' errors within ±2σ, per view
count (``package``: the package's own factor, ``SPREAD_FACTOR``). It is reported on problems it
never saw: the five HTC training phantoms (real fan-beam data, 720-view SIRT-300 reference) and
rows 8 and 24 of the simulated coherent scan of ``scan.py`` (seed 0). Figures
(:func:`tomopy_dip.metrics.calibration`, inside the disc of 90 % of the grid): 2σ coverage,
Spearman's rank correlation of σ with |error| over 8×8 blocks, the Gaussian NLL against that of
the best constant σ; ``--cost``: seconds per iteration with and without the map, alternating
short runs.

Usage (alone on the machine, or side by side with one thread each)::

    python benchmarks/uncertainty.py --size 128 --views 60 --fit-only   # beside --views 20 --fit-only
    python benchmarks/uncertainty.py --size 128 --views 60 20           # the analysis (cached fits)
    python benchmarks/uncertainty.py --size 128 --views 60 --seeds 3 --only ta tb   # the ensemble
    python benchmarks/uncertainty.py --size 256 --views 60 --train-size 128 --only ta tb tc td solid_disc
    python benchmarks/uncertainty.py --size 128 --views 60 --cost
    python benchmarks/uncertainty.py --size 128 --views 60 20 --report
    python benchmarks/uncertainty.py --size 128 --views 60 --figure ta  # docs/src/img/uncertainty_example.png
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import (htc_problem, interleaved_sec_per_iter, load, machine, porous_volume, save,  # noqa: E402
                    use_shared_data, write_exchange)

import tomopy_dip  # noqa: E402
from tomopy_dip.fitting import uncertainty as U  # noqa: E402
from tomopy_dip.metrics import calibration, disc_mask, psnr  # noqa: E402

CACHE = ROOT / "benchmarks" / "cache" / "uncertainty"
HTC = ("ta", "tb", "tc", "td", "solid_disc")
#: Rows of the simulated scans: training (seed 1) and reported (seed 0, the scan of scan.py).
TRAIN_ROWS, TEST_ROWS = (4, 12), (8, 24)


def _porous(seed: int, rows: tuple, views: int, size: int) -> list[dict]:
    """Rows of a simulated porous volume measured as ``scan.py`` measures it (Poisson counts,
    flats, -log), with their truth scaled as a reconstruction estimates it."""
    from tomopy_dip.volume.scan import ScanSource

    CACHE.mkdir(parents=True, exist_ok=True)
    f = CACHE / f"porous_{seed}_{size}_{views}.h5"
    vol = porous_volume(size, 32, seed=seed)
    if not f.exists():
        write_exchange(f, vol, views, seed=seed)
    data = ScanSource(str(f)).read(list(rows))
    return [{"name": f"porous{seed}_{r}", "sinogram": data.sinograms[i], "theta": data.theta,
             "center": size / 2, "geometry": {}, "reference": vol[r] * (2.0 / size)} for i, r in enumerate(rows)]


def problems(kind: str, views: int, size: int) -> list[dict]:
    if kind == "train":
        return _porous(1, TRAIN_ROWS, views, size)
    out = _porous(0, TEST_ROWS, views, size)
    for ph in HTC:
        d = htc_problem(ph, views, size)
        out.append({"name": ph, "sinogram": d["sinogram"], "theta": d["theta"], "center": d["center"],
                    "geometry": d["geometry"], "reference": d["reference"]})
    return out


#: The candidate maps recorded from one fit (its iterates, seen by a callback): the moving
#: standard deviation of the iterates over a window of ``w`` iterations (Welford's update with
#: ``select="average"``'s weights, as :class:`tomopy_dip.fitting.uncertainty.Spread`), over the
#: whole run weighted towards its end (``spread_run``), the change of the returned image since
#: half / three quarters of the run (``drift_50``, ``drift_75``), and its difference from the FBP
#: smoothed over 2 pixels (``fbp_diff``).
WINDOWS = (100, 500)
CANDIDATES = (*(f"spread_{w}" for w in WINDOWS), "spread_run", "drift_50", "drift_75", "fbp_diff")
#: The candidate the package's ``uncertainty="spread"`` computes (:class:`tomopy_dip.fitting.uncertainty.Spread`,
#: checked against this replay by ``tests/test_uncertainty.py``); ``"package"`` in the results is it
#: at the package's factor (``SPREAD_FACTOR``, fitted on the training rows of all the view counts
#: together), the candidates at factors fitted per view count.
PACKAGE = "spread_run"


class _Recorder:
    """The candidate maps of one fit, from every iterate (``callback_every=1``)."""

    def __init__(self) -> None:
        self.n, self.mean, self.var, self.snaps = 0, {}, {}, {}

    def __call__(self, info: dict) -> None:
        from tomopy_dip.fitting.selection import average_weight

        x = info["image"].astype(np.float64)
        for key, decay in [(w, 1 - 1 / w) for w in WINDOWS] + [("run", 0.0)]:
            if key not in self.mean:
                self.mean[key], self.var[key] = x.copy(), np.zeros_like(x)
                continue
            w = average_weight(self.n, decay) if decay else 2.0 / (self.n + 2)
            d = x - self.mean[key]
            self.mean[key] += w * d
            self.var[key] = (1 - w) * (self.var[key] + w * d * d)
        if info["iteration"] % 50 == 0:
            self.snaps[info["iteration"]] = info["estimate"].astype(np.float32).copy()
        self.n += 1

    def maps(self, image: np.ndarray, fbp_image: np.ndarray) -> dict:
        from scipy.ndimage import gaussian_filter

        out = {f"spread_{w}": np.sqrt(self.var[w]) for w in WINDOWS}
        out["spread_run"] = np.sqrt(self.var["run"])
        for q in (50, 75):
            k = max((i for i in self.snaps if i <= self.n * q / 100), default=0)
            out[f"drift_{q}"] = np.abs(image - self.snaps[k])
        out["fbp_diff"] = gaussian_filter(np.abs(image - fbp_image), 2.0)
        return {k: v.astype(np.float32) for k, v in out.items()}


def fit(d: dict, method: str, views: int, size: int, seed: int = 0) -> dict:
    """The fit of ``d`` with the candidate maps of its iterates (cached)."""
    key = CACHE / f"{method}_{d['name']}_{size}_{views}_seed{seed}.npz"
    if key.exists():
        z = np.load(key)
        return {k: z[k] for k in z.files}
    rec = _Recorder()
    t0 = time.perf_counter()
    res = tomopy_dip.reconstruct(d["sinogram"], d["theta"], d["center"], method=method, progress=False,
                                 callback=rec, seed=seed, **d["geometry"])
    seconds = time.perf_counter() - t0
    from tomopy_dip.baselines import operator_for
    from tomopy_dip.physics.fbp import fbp

    op = operator_for(d["sinogram"], d["theta"], d["center"], **d["geometry"])
    fbp_image = fbp(torch.from_numpy(np.ascontiguousarray(d["sinogram"], np.float32)), op, "hann").numpy()
    out = {"image": res.images, "reference": d["reference"], "seconds": np.float64(seconds),
           "iterations": np.int64(res.iterations_run[0]), **rec.maps(res.images, np.asarray(fbp_image).reshape(res.images.shape))}
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(key, **out)
    return out


def sigma_of(fits: list[dict], estimator: str) -> np.ndarray:
    """The raw map of ``estimator`` for a problem's fits (seed 0 first): a candidate of the
    first fit, or the standard deviation over the seeds' images (``"ensemble"``)."""
    if estimator == "ensemble":
        return np.std(np.stack([f["image"] for f in fits]), axis=0, ddof=1)
    return fits[0][estimator]


def factor(fits: list[list[dict]], estimator: str, coverage: float = 0.95, k: float = 2.0) -> float:
    """The factor that puts ``coverage`` of the pooled pixels' errors within ``±k`` factor·σ."""
    ratios = []
    for f in fits:
        m = disc_mask(f[0]["image"].shape)
        ratios.append(np.abs(f[0]["image"] - f[0]["reference"])[m] / np.maximum(sigma_of(f, estimator)[m], 1e-12))
    return float(np.quantile(np.concatenate(ratios), coverage) / k)


def run(args: argparse.Namespace) -> None:
    """Fit every problem at every view count (``--seeds`` seeds each), then fit each estimator's
    factor on the training rows and report it on the others: the candidates of one fit, or with
    several seeds the ensemble."""
    use_shared_data()
    name = f"uncertainty_{args.method}_{args.size}"
    data = load(name)
    data["machine"] = machine()
    seeds = range(args.seeds)
    pooled: dict[str, list] = {"train": [], "test": []}  # the package's estimator: one factor for all views
    for views in args.views:
        tsize = args.train_size or args.size
        train = [[fit(d, args.method, views, tsize, sd) for sd in seeds] for d in problems("train", views, tsize)]
        test = {d["name"]: [fit(d, args.method, views, args.size, sd) for sd in seeds]
                for d in problems("test", views, args.size) if not args.only or d["name"] in args.only}
        pooled["train"] += train
        pooled["test"] += [(views, pname, fits) for pname, fits in test.items()]
        if args.fit_only:
            continue
        for est in CANDIDATES if args.seeds == 1 else ["ensemble"]:
            c = factor(train, est)
            data.setdefault("factors", {}).setdefault(est, {})[str(views)] = c
            for pname, fits in test.items():
                f = fits[0]
                row = {k: round(v, 4) for k, v in calibration(f["image"], c * sigma_of(fits, est), f["reference"]).items()}
                row.update(psnr=round(psnr(f["image"], f["reference"]), 2), seconds=round(float(f["seconds"]), 1),
                           iterations=int(f["iterations"]))
                data.setdefault("rows", {}).setdefault(est, {}).setdefault(str(views), {})[pname] = row
        save(name, data)
    if not args.fit_only and args.seeds == 1:
        # the factor these training rows give all views together (3.23 from 128², 60 and 20
        # views: the package's), and the package's own factor, with which its rows are reported
        data["pooled_training_factor"] = {"views": args.views, "factor": factor(pooled["train"], PACKAGE)}
        c = U.SPREAD_FACTOR
        data["factors"]["package"] = {str(v): c for v in args.views}
        for views, pname, fits in pooled["test"]:
            f = fits[0]
            row = {k: round(v, 4) for k, v in calibration(f["image"], c * sigma_of(fits, PACKAGE), f["reference"]).items()}
            row.update(psnr=round(psnr(f["image"], f["reference"]), 2), iterations=int(f["iterations"]))
            data["rows"].setdefault("package", {}).setdefault(str(views), {})[pname] = row
        save(name, data)
    if not args.fit_only:
        report(data)


def cost(args: argparse.Namespace) -> None:
    """Seconds per iteration with and without the map (HTC ``ta``, alternating short runs, median
    of 5): the cost of ``"spread"`` against a plain fit; ``"ensemble"`` costs its members' fits."""
    use_shared_data()
    d = htc_problem("ta", args.views[0], args.size)
    runs = {"plain": (args.method, {"stop": "none"}), "spread": (args.method, {"stop": "none", "uncertainty": "spread"})}
    sec = interleaved_sec_per_iter({**d, "geometry": d["geometry"]}, runs, repeats=5, start=10, stop=110)
    name = f"uncertainty_{args.method}_{args.size}"
    data = load(name)
    data["cost"] = {"sec_per_iter": sec, "spread": round(sec["spread"] / sec["plain"], 3),
                    "ensemble": float(U.ENSEMBLE_MEMBERS), "views": args.views[0], "machine": machine()}
    save(name, data)
    print(data["cost"])


def report(data: dict) -> None:
    for est, by_views in data.get("rows", {}).items():
        for views, rows in by_views.items():
            c = data["factors"][est][views]
            print(f"\n**{est}, {views} views** (factor {c:.3f}, fitted on the training rows)\n")
            print("| problem | PSNR | 2σ coverage | rank corr. | NLL | NLL const. σ | iterations |")
            print("|---|---|---|---|---|---|---|")
            for p, r in rows.items():
                print(f"| {p} | {r['psnr']:.2f} | {r['coverage']:.3f} | {r['rank_correlation']:.2f} | "
                      f"{r['nll']:.3f} | {r['nll_constant']:.3f} | {r['iterations']} |")
            med = {k: float(np.median([r[k] for r in rows.values()])) for k in ("coverage", "rank_correlation")}
            beats = sum(r["nll"] < r["nll_constant"] for r in rows.values())
            print(f"| median | | {med['coverage']:.3f} | {med['rank_correlation']:.2f} | beats const. on {beats} "
                  f"of {len(rows)} | | |")
    if "cost" in data:
        print(f"\ncost: {data['cost']}")


def figure(data: dict, method: str, size: int, views: int, problem: str, est: str, path: Path) -> Path:
    """The docs' example: a problem's image, its error against the reference and its map."""
    from tomopy_dip.interfaces.plotting import plot_comparison

    fits = [dict(np.load(p)) for p in sorted(CACHE.glob(f"{method}_{problem}_{size}_{views}_seed*.npz"))]
    f = fits[0]
    c = data["factors"][est][str(views)]
    err = np.abs(f["image"] - f["reference"])
    sigma = c * sigma_of(fits, PACKAGE if est == "package" else est)
    row = data["rows"][est][str(views)][problem]
    return plot_comparison({f"{method}, {views} views ({row['psnr']:.2f} dB)": f["image"],
                            "|error| against the reference": err,
                            f"2σ ({'the default map' if est == 'package' else est}, coverage {row['coverage']:.2f})":
                            2 * sigma}, path,
                           title=f"{problem}, {size}²: where to trust the image", common_range=False)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--views", type=int, nargs="+", default=[60, 20])
    p.add_argument("--method", default="tv_dip")
    p.add_argument("--seeds", type=int, default=1, help="fits per problem (seeds 0, 1, ...; 'ensemble' needs 2 or more)")
    p.add_argument("--train-size", type=int, default=None,
                   help="fit the factors on the training rows at this size (default --size)")
    p.add_argument("--only", nargs="+", default=None, metavar="PROBLEM", help="report only these problems")
    p.add_argument("--fit-only", action="store_true", help="fit and cache, no analysis (run side by side per view count)")
    p.add_argument("--estimator", default="package", help="--figure: the estimator shown (package: the default map)")
    p.add_argument("--cost", action="store_true", help="only the seconds per iteration with and without the map")
    p.add_argument("--report", action="store_true")
    p.add_argument("--figure", default=None, metavar="PROBLEM",
                   help="write the docs' example figure of PROBLEM (first --views, --estimator)")
    args = p.parse_args()
    if args.figure:
        out = ROOT / "docs" / "src" / "img" / "uncertainty_example.png"
        out.parent.mkdir(exist_ok=True)
        print(figure(load(f"uncertainty_{args.method}_{args.size}"), args.method, args.size, args.views[0],
                     args.figure, args.estimator, out))
    elif args.cost:
        cost(args)
    elif args.report:
        report(load(f"uncertainty_{args.method}_{args.size}"))
    else:
        run(args)


if __name__ == "__main__":
    main()
