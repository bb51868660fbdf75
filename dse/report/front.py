"""front.png: the exact Pareto front of a study's grid, with the study's own trials drawn over it.

One panel per objective pair. Orange dots: every design of the exact front (all objectives),
projected on the pair; orange line: the staircase of that projection's own 2-D front (the
best any design of the grid reaches in these two objectives). Grey dots: the study's feasible
trials; blue: the study's front (all objectives). The title gives the hypervolume ratio.
Axis labels, log axes and the staircase are those of the Pareto figures (dse/report/pareto.py).
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from dse.report.pareto import axis_label, log_scale, pyplot, staircase
from dse.report.tables import feasible_trials
from dse.search.objectives import OBJECTIVES


def _panel(ax, front: pd.DataFrame, study: pd.DataFrame | None, a: str, b: str) -> None:
    ma, mb = OBJECTIVES[a].metric, OBJECTIVES[b].metric
    pts = front[[ma, mb]].to_numpy(float)
    shown = [pts]
    if study is not None and len(study):
        feasible = feasible_trials(study)
        ax.scatter(feasible[ma], feasible[mb], s=9, color="0.6", alpha=0.5, zorder=2,
                   label=f"study trials, feasible ({len(feasible)})")
        own = feasible[feasible["pareto"]]
        ax.scatter(own[ma], own[mb], s=26, marker="^", facecolor="none", edgecolor="royalblue", linewidth=1.0,
                   zorder=4, label=f"study's front ({len(own)})")
        shown.append(feasible[[ma, mb]].to_numpy(float))
    ax.scatter(pts[:, 0], pts[:, 1], s=10, color="orange", alpha=0.7, zorder=3,
               label=f"exact front ({len(front)} designs)")
    staircase(ax, pts, a, b, lw=1.4, zorder=3, label="best of the grid in this pair")
    everything = np.vstack(shown)
    log_scale(ax, "x", ma, everything[:, 0])
    log_scale(ax, "y", mb, everything[:, 1])
    ax.set_xlabel(axis_label(a))
    ax.set_ylabel(axis_label(b))
    ax.grid(True, alpha=0.3)


def plot_front(front: pd.DataFrame, spec, summary: dict, study: pd.DataFrame | None, out_dir: Path) -> list[Path]:
    plt = pyplot()
    pairs = list(combinations(spec.objectives, 2))
    if not pairs:  # one objective: its exact best against the trials
        return []
    cols = min(len(pairs), 3)
    rows = -(-len(pairs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.6 * cols, 4.8 * rows), squeeze=False)
    for ax, (a, b) in zip(axes.flat, pairs):
        _panel(ax, front, study, a, b)
    for ax in list(axes.flat)[len(pairs):]:
        ax.axis("off")
    title = (f"{spec.name}: exact front of all {summary['points']:,} grid points "
             f"({summary['feasible']:,} feasible; {summary['front_size']:,} designs on the front)")
    if summary.get("hv_ratio") is not None:
        title += (f"\nstudy's {summary['study_trials']} trials: hypervolume {summary['study_hypervolume']:.4g} of "
                  f"{summary['hypervolume']:.4g} = {100 * summary['hv_ratio']:.1f} % of the exact front's")
    fig.suptitle(title, fontsize=10)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.05, 1, 0.98))
    path = Path(out_dir) / "front.png"
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return [path]
