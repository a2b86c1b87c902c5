"""The previews of a volume run: ``recon.png`` and ``convergence.png``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tomopy_dip.volume.outputs import ResultDirectory

__all__ = ["write_previews", "CONVERGENCE_SLICES"]

#: Slices shown in the convergence figure.
CONVERGENCE_SLICES = 8


def write_previews(results: ResultDirectory, rows: list, records: dict, fbps: dict[int, np.ndarray],
              title: str) -> dict[str, Path]:
    """``recon.png`` (the FBP beside the result of the middle row fitted now, else the finished
    slices; with uncertainty maps, the map of that row beside it) and ``convergence.png`` (up to
    :data:`CONVERGENCE_SLICES` slices)."""
    from tomopy_dip.interfaces.plotting import plot_comparison, plot_convergence, save_preview

    done = [r for r in rows if records.get(r, {}).get("status") == "done"]
    if not done:
        return {}
    files: dict[str, Path] = {}
    png = results.path / "recon.png"
    shown = [r for r in fbps if r in done]
    if shown or results.uncertainty:
        r = shown[0] if shown else done[len(done) // 2]
        panels = {f"FBP, row {r}": fbps[r]} if shown else {}
        panels[f"{title.split(': ')[-1]}, row {r}"] = results.read_slice(r)
        if results.uncertainty:
            panels[f"uncertainty (one standard deviation), row {r}"] = results.read_uncertainty(r)
        files["recon.png"] = plot_comparison(panels, png, title=title, common_range=False)
    else:
        pick = [done[i] for i in np.unique(np.linspace(0, len(done) - 1, min(len(done), 4)).round().astype(int))]
        files["recon.png"] = save_preview(png, np.stack([results.read_slice(r) for r in pick]),
                                          titles=[f"row {r}" for r in pick], title=title)
    pick = [done[i] for i in np.unique(np.linspace(0, len(done) - 1, min(len(done), CONVERGENCE_SLICES))
                                       .round().astype(int))]
    hists = [results.read_history(r) for r in pick]
    n = max(len(h["loss"]) for h in hists)
    history = {k: np.full((n, len(pick)), np.nan) for k in hists[0]}
    for j, h in enumerate(hists):
        for k, v in h.items():
            history[k][: len(v), j] = v
    selected = np.array([records[r].get("iteration_returned", -1) for r in pick])
    files["convergence.png"] = plot_convergence(history, results.path / "convergence.png", selected=selected,
                                                slices=pick, title=title)
    return files
