"""Shared helpers of the benchmark scripts (not part of the package)."""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

import tomopy_dip
from tomopy_dip.baselines import operator_for, sirt, tv_ls
from tomopy_dip.data.datasets import load_htc2022
from tomopy_dip.metrics import psnr, ssim
from tomopy_dip.physics.measurement import data_scale
from tomopy_dip.utils import cpu_bfloat16_units

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"


def use_shared_data() -> None:
    """Point the dataset registry at ``../shared/data`` when it exists (offline runs)."""
    shared = ROOT.parents[1] / "shared" / "data"
    if "TOMOPY_DIP_MIRROR" not in os.environ and shared.is_dir():
        os.environ["TOMOPY_DIP_MIRROR"] = str(shared)


def cpu() -> dict:
    """The CPU the figures come from: its model, the vector units torch uses and whether it has
    bfloat16 matrix units (the machines of this project vary: bfloat16 was 2x faster than
    float32 at 512² on one with AMX units and 40-65x slower on an AVX2-only one)."""
    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    return {"model": model, "torch_capability": torch.backends.cpu.get_cpu_capability(),
            "bfloat16_units": cpu_bfloat16_units()}


def machine() -> dict:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "cpu": cpu(),
        "tomopy_dip": tomopy_dip.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }


def save(name: str, data: dict, indent: int | None = 1) -> Path:
    """Write ``results/<name>.json`` atomically (a temporary file renamed over it); ``indent=None``
    for a compact file (long per-iteration records)."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=indent, default=float))
    os.replace(tmp, path)
    return path


def save_rows(name: str, header: dict, rows: dict) -> Path:
    """Save ``rows`` into ``results/<name>.json``, merged with the rows already there.

    Read just before writing, and merged entry by entry within a row, so that several processes
    (e.g. one per problem or per method, one torch thread each) can fill the same file.
    """
    merged = load(name).get("rows", {})
    for key, row in rows.items():
        old = merged.get(key)
        merged[key] = {**old, **row} if isinstance(old, dict) and isinstance(row, dict) else row
    return save(name, {**header, "rows": merged})


def load(name: str) -> dict:
    """The saved ``results/<name>.json``, or an empty dict."""
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def drifting_stack(size: int, rows: int, seed: int = 0) -> np.ndarray:
    """A simulated 3-D object ``(rows, size, size)``: a disc with 8 random ellipses that drift a
    little from row to row (neighbouring slices alike, as in a real volume)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[-1:1:size * 1j, -1:1:size * 1j]
    blobs = [(rng.uniform(-0.5, 0.5, 2), rng.uniform(0.1, 0.35, 2), rng.uniform(0, np.pi), rng.uniform(0.2, 1.0))
             for _ in range(8)]
    out = np.empty((rows, size, size), np.float32)
    for r in range(rows):
        img = np.where(xx ** 2 + yy ** 2 < 0.8, 0.3, 0.0)
        for c, ax, ang, val in blobs:
            x, y = xx - c[0] - 0.01 * r, yy - c[1] - 0.01 * r
            u, v = x * np.cos(ang) + y * np.sin(ang), -x * np.sin(ang) + y * np.cos(ang)
            img = img + val * ((u / ax[0]) ** 2 + (v / ax[1]) ** 2 < 1)
        out[r] = img
    return out


def porous_volume(size: int, rows: int, seed: int = 0) -> np.ndarray:
    """A simulated coherent 3-D sample ``(rows, size, size)``: a cylinder of matrix (0.5) with
    spherical pores (0) and grains (1.0) of radii that run over several rows, so that
    neighbouring rows are alike but no two rows are the same (not ellipses of one family)."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(np.arange(rows, dtype=np.float32), *(np.arange(size, dtype=np.float32),) * 2,
                          indexing="ij")
    c = (size - 1) / 2
    inside = (y - c) ** 2 + (x - c) ** 2 < (0.42 * size) ** 2
    vol = np.where(inside, 0.5, 0.0).astype(np.float32)
    scale = size / 256
    for value, count, (lo, hi) in ((0.0, 90, (3, 16)), (1.0, 60, (2, 9))):
        for _ in range(count):
            r = rng.uniform(lo, hi) * scale
            cz = rng.uniform(-hi * scale / 2, rows + hi * scale / 2)
            rad, ang = 0.40 * size * np.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
            cy, cx = c + rad * np.sin(ang), c + rad * np.cos(ang)
            ball = (z - cz) ** 2 * scale ** 2 + (y - cy) ** 2 + (x - cx) ** 2 < r ** 2
            vol[ball & inside] = value
    return vol


def write_exchange(path, images: np.ndarray, views: int, counts: float = 1e4, seed: int = 0) -> Path:
    """``images`` ``(rows, size, size)`` measured in parallel beam over 180° (``views`` angles,
    centre ``size / 2``; line integrals of ``2 / size`` per unit and pixel) with Poisson noise on
    ``counts`` incident counts, written as raw counts, flats, darks and angles in degrees in a Data
    Exchange file. A reconstruction estimates ``images * 2 / size``."""
    import h5py
    import torch

    from tomopy_dip.physics.geometry import Geometry
    from tomopy_dip.physics.projector import get_operator

    rows, size = images.shape[0], images.shape[-1]
    rng = np.random.default_rng(seed)
    theta = np.arange(views) * (180.0 / views)
    op = get_operator(Geometry(np.deg2rad(theta), size, center=size / 2))
    proj = np.stack([op(torch.from_numpy(np.ascontiguousarray(img))[None])[0].numpy() * (2.0 / size)
                     for img in images], axis=1)
    data = rng.poisson(counts * np.exp(-proj)).astype(np.uint16)
    with h5py.File(path, "w") as f:
        f["exchange/data"] = data
        f["exchange/data_white"] = np.full((4, rows, size), int(counts), np.uint16)
        f["exchange/data_dark"] = np.zeros((2, rows, size), np.uint16)
        f["exchange/theta"] = theta
    return Path(path)


def sirt_reference(name: str, dense, cache: bool = True) -> np.ndarray:
    """SIRT-300 (non-negative) of a dense scan, cached as ``results/<name>.npy``.

    ``dense()`` returns ``(sinogram, operator)``; it is called only when the cache is missing.
    """
    path = RESULTS / f"{name}.npy"
    if cache and path.exists():
        return np.load(path)
    ref = sirt(*dense(), 300, nonneg=True)
    RESULTS.mkdir(exist_ok=True)
    np.save(path, ref)
    return ref


def htc_problem(phantom: str, n_views: int, size: int, cache: bool = True) -> dict:
    """Sparse-view HTC data, its operator and the 720-view SIRT-300 reference (BENCHMARK.md)."""
    d = load_htc2022(phantom, n_views, size)

    def dense():
        full = load_htc2022(phantom, 720, size)
        return full["sinogram"], operator_for(full["sinogram"], full["theta"], full["center"], **full["geometry"])

    ref = sirt_reference(f"ref_htc_{phantom}_{size}", dense, cache)
    d["op"] = operator_for(d["sinogram"], d["theta"], d["center"], **d["geometry"])
    d["reference"] = ref
    return d


def fips_problem(n_views: int, size: int = 256) -> dict:
    """The FIPS gel phantom's first time frame (fan beam, ``n_views`` of 18/36/72), its operator
    and the dense pre-scan's FBP as the reference (:func:`tomopy_dip.data.datasets.load_fips_gel`)."""
    from tomopy_dip.data.datasets import load_fips_gel

    d = load_fips_gel(n_views, 0, size)
    d["op"] = operator_for(d["sinogram"], d["theta"], d["center"], **d["geometry"])
    return d


#: The datasets of the quality tables: their problems, by name, at ``views`` and ``size``.
#: HTC's problems are its training phantoms at any view count; FIPS's are its view counts
#: (``views`` is ignored there).
DATASETS = {
    "htc": {"problems": ("ta", "tb", "tc", "td", "solid_disc"),
            "load": lambda key, views, size: htc_problem(key, views, size),
            "results": lambda views, size: f"htc_{views}_{size}",
            "classical": lambda views, size: f"classical_{views}_{size}"},
    "fips": {"problems": ("18", "36"),
             "load": lambda key, views, size: fips_problem(int(key), size),
             "results": lambda views, size: f"fips_{size}",
             "classical": lambda views, size: f"classical_fips_{size}"},
}


def tooth_problem(n_views: int = 31, detector_bin: int = 4, row: int = 0) -> dict:
    """TomoPy's tooth (parallel beam, 181 views over 180°): a sparse subset and a dense reference.

    Normalised and -log'd, detector binned by ``detector_bin`` (640 -> 160 pixels by default),
    centre by Vo's method; ``n_views`` evenly spaced views of the 181; reference: SIRT-300 of
    all 181 views on the same ``ndet`` x ``ndet`` grid.
    """
    from tomopy_dip.data import preprocess as pp
    from tomopy_dip.data.datasets import load_tooth

    raw = load_tooth()
    proj = pp.minus_log(pp.normalize(raw["proj"], raw["flat"], raw["dark"]))
    center = float(pp.find_center(proj, raw["theta"], ind=row))
    sino = pp.bin_detector(pp.to_sinograms(proj)[row], detector_bin).astype(np.float32)
    center = float(pp.binned_center(center, detector_bin))
    theta = raw["theta"]
    ref = sirt_reference(f"ref_tooth_{row}_{sino.shape[1]}", lambda: (sino, operator_for(sino, theta, center)))
    idx = np.round(np.linspace(0, len(theta) - 1, n_views)).astype(int)
    d = {"sinogram": np.ascontiguousarray(sino[idx]), "theta": theta[idx], "center": center,
         "geometry": {}, "reference": ref}
    d["op"] = operator_for(d["sinogram"], d["theta"], center)
    return d


def first_reach(curve: list[tuple[int, float, float]], target: float) -> tuple[int | None, float | None]:
    """(iteration, seconds) at which a (iteration, seconds, psnr) curve first reaches target."""
    for it, sec, p in curve:
        if p >= target:
            return it, sec
    return None, None


def median(values):
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


#: The gamma grid of the TV baselines (half-decades; ``0.5 ||A x - y||^2 + gamma TV(x)`` with the
#: data at unit image scale, see :func:`tomopy_dip.baselines.tv_ls`). Until 2026-11-28 it began at
#: 0.1: gamma 0.1 and 0.3 were never best on HTC (15-17 dB at 20 views, 256², against 31-33 dB at
#: the best gamma, 10-17.8) and took the most PDHG iterations (up to the 10 000 cap).
TV_GAMMAS = (1.0, 3.0, 10.0, 30.0, 100.0)

#: The two TV variants every table reports.
TV_VARIANTS = {"tv_iso": True, "tv_aniso": False}


def _tv_row(d: dict, s: float, gamma: float, isotropic: bool, x0=None) -> tuple[dict, np.ndarray]:
    t0 = time.perf_counter()
    res = tv_ls(d["sinogram"] / s, d["op"], gamma, isotropic=isotropic, x0=x0, volume=d.get("volume", False))
    img, ref = res.image[d.get("scored", slice(None))] * s, d["reference"]
    return ({"gamma": gamma, "isotropic": isotropic, "psnr": psnr(img, ref), "ssim": ssim(img, ref),
             "iterations": res.iterations, "converged": res.converged, "seconds": time.perf_counter() - t0},
            res.image)


def tv_scan(d: dict, isotropic: bool = True, gammas=TV_GAMMAS) -> list[dict]:
    """Converged TV least squares (:func:`tomopy_dip.baselines.tv_ls`) over a gamma grid, scored
    against ``d["reference"]``, refined by quarter decades on both sides of the grid's best.

    The data are divided by the engine's data scale (of the FBP) first; the grid runs in
    increasing order, each solve started from the previous one's image (same solution, fewer
    iterations). A stack of sinograms (``d["volume"]``: one volume, else slice by slice) has one
    scale and one gamma, and is scored on its slices ``d["scored"]``.
    """
    fb = tomopy_dip.fbp(torch.from_numpy(d["sinogram"]), d["op"], "hann")
    s = float(data_scale(fb[None])[0])
    rows, x0 = [], None
    for g in sorted(gammas):
        row, x0 = _tv_row(d, s, g, isotropic, x0)
        rows.append(row)
    best = max(rows, key=lambda r: r["psnr"])["gamma"]
    have = {round(math.log10(r["gamma"]), 3) for r in rows}
    for g in (best * 10 ** -0.25, best * 10 ** 0.25):
        if round(math.log10(g), 3) not in have:
            rows.append(_tv_row(d, s, float(f"{g:.4g}"), isotropic)[0])
    return sorted(rows, key=lambda r: r["gamma"])


def tv_oracle(scans: dict[str, list[dict]]) -> dict:
    """The best row of several gamma scans (``{variant: rows}``) against the reference: the
    "oracle" TV, an upper bound no user reaches; the row gets its ``variant``."""
    return max(({**row, "variant": v} for v, rows in scans.items() for row in rows), key=lambda r: r["psnr"])


def tv_fixed(scans_by_problem: dict[str, list[dict]]) -> tuple[float, dict[str, dict]]:
    """The single gamma of best mean PSNR over several problems' scans of one variant (what a
    user tuning on training data would pick; among the gammas every scan has) and each
    problem's row at it."""
    shared = set.intersection(*({r["gamma"] for r in rows} for rows in scans_by_problem.values()))
    gammas = sorted(shared)

    def mean_psnr(g):
        return statistics.mean(next(r["psnr"] for r in rows if r["gamma"] == g) for rows in scans_by_problem.values())
    best = max(gammas, key=mean_psnr)
    return best, {p: next(r for r in rows if r["gamma"] == best) for p, rows in scans_by_problem.items()}


def tv_best(d: dict) -> dict:
    """The oracle TV of one problem: the best of the isotropic and anisotropic gamma scans."""
    return tv_oracle({v: tv_scan(d, iso) for v, iso in TV_VARIANTS.items()})


def classical(d: dict) -> dict:
    """FBP (Hann), SIRT-300 and the TV scans (isotropic and anisotropic) of one problem."""
    ref, op = d["reference"], d["op"]
    t0 = time.perf_counter()
    fb = tomopy_dip.fbp(torch.from_numpy(d["sinogram"]), op, "hann").numpy()
    out = {"fbp": {"psnr": psnr(fb, ref), "ssim": ssim(fb, ref), "seconds": time.perf_counter() - t0}}
    t0 = time.perf_counter()
    x = sirt(d["sinogram"], op, 300)
    out["sirt"] = {"psnr": psnr(x, ref), "ssim": ssim(x, ref), "seconds": time.perf_counter() - t0}
    for variant, iso in TV_VARIANTS.items():
        out[variant] = tv_scan(d, iso)
    return out


def classical_table(problems, views: int, size: int, fresh: bool = False, dataset: str = "htc") -> dict[str, dict]:
    """:func:`classical` of a dataset's problems (:data:`DATASETS`), cached in
    ``results/classical_<views>_<size>.json`` (HTC) or ``results/classical_fips_<size>.json``
    (computed for the problems missing there, or all with ``fresh``)."""
    spec = DATASETS[dataset]
    name = spec["classical"](views, size)
    rows = {} if fresh else load(name).get("rows", {})
    for key in problems:
        if key not in rows:
            t0 = time.perf_counter()
            rows[key] = classical(spec["load"](key, views, size))
            save_rows(name, {"machine": machine()}, {key: rows[key]})
            best = tv_oracle({v: rows[key][v] for v in TV_VARIANTS})
            what = f"{key} ({views} views)" if dataset == "htc" else f"{dataset} {key}"
            print(f"{what}: FBP {rows[key]['fbp']['psnr']:.2f}, SIRT {rows[key]['sirt']['psnr']:.2f}, "
                  f"oracle TV {best['psnr']:.2f} ({best['variant']}, gamma {best['gamma']:g}) "
                  f"[{time.perf_counter() - t0:.0f} s]", flush=True)
    return {key: rows[key] for key in problems}


def tv_baselines(table: dict[str, dict]) -> dict[str, dict]:
    """Per problem of a :func:`classical_table`: ``tv_fixed`` (the variant and single gamma of
    best mean PSNR over the table's problems) and ``tv_oracle`` (best variant and gamma per
    problem), each a row with ``gamma`` and ``variant``."""
    fixed = {}
    for variant in TV_VARIANTS:
        g, rows = tv_fixed({p: t[variant] for p, t in table.items()})
        fixed[variant] = (statistics.mean(r["psnr"] for r in rows.values()), g, rows)
    variant = max(fixed, key=lambda v: fixed[v][0])
    _, g, rows = fixed[variant]
    return {p: {"tv_fixed": {**rows[p], "variant": variant},
                "tv_oracle": tv_oracle({v: t[v] for v in TV_VARIANTS})} for p, t in table.items()}


def dip_run(d: dict, method: str, num_iter: int | None, every: int = 25, **kw) -> dict:
    """Run a DIP-family method with a PSNR-tracking callback (``num_iter`` None: the method's
    default cap; the stopping rule ends the run)."""
    ref = d["reference"]
    curve, returned = [], []
    t0 = time.perf_counter()

    def cb(info):
        curve.append((info["iteration"], time.perf_counter() - t0, psnr(info["image"], ref)))
        same = info["estimate"] is info["image"]  # select="last"
        returned.append((info["iteration"], curve[-1][1], curve[-1][2] if same else psnr(info["estimate"], ref)))

    res = tomopy_dip.reconstruct(d["sinogram"], d["theta"], d["center"], method=method,
                                 callback=cb, callback_every=every, progress=False, **d["geometry"],
                                 **({} if num_iter is None else {"num_iter": num_iter}), **kw)
    seconds = time.perf_counter() - t0
    img = res.images
    n_run = int(res.iterations_run[0])
    return {"method": method, "psnr": psnr(img, ref), "ssim": ssim(img, ref), "seconds": seconds,
            "iterations": n_run, "num_iter": num_iter, "stop_reason": res.stop_reason[0],
            "selected_iteration": int(res.iteration[0]),
            "best_psnr": max(p for _, _, p in curve), "curve": curve,
            # PSNR of the image ``select`` would return at each point (the iterate itself for
            # select="last", the average so far for "average", the min-loss image for "min_loss")
            "returned_curve": returned,
            "sec_per_iter": seconds / max(n_run, 1), "image": img}


def interleaved_sec_per_iter(d: dict, runs: dict, repeats: int = 5, start: int = 10, stop: int = 60) -> dict:
    """Median seconds per iteration of several methods, measured alternately in short runs.

    ``runs`` maps a label to ``(method, keywords)``. Each repeat runs every method for ``stop``
    iterations, one after the other, and times iterations ``start``..``stop - 1`` from the
    engine's history (setup, FBP and the first iterations excluded), so that a change of machine load during
    the benchmark affects all methods alike. Returns ``{label: median s/iter}``.
    """
    times = {label: [] for label in runs}
    for _ in range(repeats):
        for label, (method, kw) in runs.items():
            res = tomopy_dip.reconstruct(d["sinogram"], d["theta"], d["center"], method=method,
                                         num_iter=stop, progress=False, **d["geometry"], **kw)
            sec = np.asarray(res.history["seconds"]).reshape(stop, -1)[:, 0]  # elapsed after iteration k
            times[label].append((sec[stop - 1] - sec[start - 1]) / (stop - start))
    return {label: statistics.median(v) for label, v in times.items()}


def stability(curve, peak_iter: int) -> dict:
    """Largest drop below the running peak within 4x DIP's peak iteration."""
    horizon = 4 * max(peak_iter, 1)
    pts = [(it, p) for it, _, p in curve if it <= horizon]
    best_so_far, drop = -np.inf, 0.0
    for it, p in pts:
        best_so_far = max(best_so_far, p)
        drop = max(drop, best_so_far - p)
    covered = max(it for it, _ in pts) if pts else 0
    return {"horizon": horizon, "covered": covered, "max_drop_from_peak": drop}
