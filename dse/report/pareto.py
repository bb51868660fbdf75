"""Pareto fronts as PNG and SVG (matplotlib): one panel per objective pair, reference designs marked.

pareto.png / pareto.svg hold every pair side by side; pareto_<a>_vs_<b>.png/.svg one pair each.
Grey dots: feasible trials; red crosses: infeasible; coloured line: the feasible front of all
objectives projected on the pair (its 2-D non-dominated subset drawn as a step line); markers:
dense, Focus default, AdapTiV, CMC at their paper configurations (same workloads, provider, model).
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from dse.report.tables import nondominated
from dse.search.objectives import OBJECTIVES
from dse.search.studyfile import StudySpec

REFERENCE_STYLE = {
    "dense": dict(marker="s", color="black"),
    "Focus default": dict(marker="*", color="crimson", s=220),
    "AdapTiV": dict(marker="^", color="royalblue"),
    "CMC": dict(marker="D", color="forestgreen"),
}


def _label(objective: str, provider: str) -> str:
    o = OBJECTIVES[objective]
    label = f"{o.label} {o.arrow}"
    if objective.startswith("accuracy") and provider:
        label += f"\n[{provider.split(' (')[0]} accuracy]"
    return label


def _panel(ax, df: pd.DataFrame, spec: StudySpec, a: str, b: str, refs: dict[str, dict], provider: str) -> None:
    ma, mb = OBJECTIVES[a].metric, OBJECTIVES[b].metric
    done = df[df["state"] == "COMPLETE"]
    feas, infeas = done[done["feasible"]], done[~done["feasible"]]
    ax.scatter(infeas[ma], infeas[mb], s=10, marker="x", color="lightcoral", alpha=0.5,
               label=f"infeasible ({len(infeas)})")
    ax.scatter(feas[ma], feas[mb], s=10, color="0.65", alpha=0.6, label=f"feasible ({len(feas)})")
    front = feas[feas["pareto"]]
    if len(front):
        maximize = [OBJECTIVES[a].direction == "maximize", OBJECTIVES[b].direction == "maximize"]
        pts = front[[ma, mb]].to_numpy(float)
        two_d = pts[nondominated(pts, maximize)]
        two_d = two_d[np.argsort(two_d[:, 0])]
        ax.scatter(front[ma], front[mb], s=22, color="darkorange", zorder=3, label=f"Pareto front ({len(front)})")
        # the staircase bounding the region the 2-D front dominates
        ax.step(two_d[:, 0], two_d[:, 1], where="pre" if maximize[0] else "post", color="darkorange", lw=1.2,
                zorder=3)
    for name, metrics in refs.items():
        style = dict(REFERENCE_STYLE.get(name, dict(marker="o", color="purple")))
        size = style.pop("s", 80)
        ax.scatter([metrics[ma]], [metrics[mb]], s=size, edgecolor="white", linewidth=0.8, zorder=5,
                   label=name, **style)
        ax.annotate(name, (metrics[ma], metrics[mb]), textcoords="offset points", xytext=(6, 4), fontsize=8)
    for axis, metric, set_scale in ((ax.xaxis, ma, ax.set_xscale), (ax.yaxis, mb, ax.set_yscale)):
        values = pd.concat([done[metric], pd.Series([m[metric] for m in refs.values()], dtype=float)]).dropna()
        values = values[values > 0]
        if len(values) and not metric.startswith("accuracy") and values.max() / values.min() > 30:
            from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

            set_scale("log")
            axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            axis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(_label(a, provider))
    ax.set_ylabel(_label(b, provider))
    ax.grid(True, alpha=0.3)


def plot_pareto(df: pd.DataFrame, spec: StudySpec, refs: dict[str, dict], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    provider = next((p for p in df.get("accuracy_provider", pd.Series(dtype=str)) if p), spec.accuracy.provider)
    pairs = list(combinations(spec.objectives, 2))
    workloads = ", ".join(w if isinstance(w, str) else str(w) for w in spec.workloads)
    title = f"study {spec.name}: {spec.accelerator} on {workloads} ({spec.convention}; {len(df)} trials)"
    written: list[Path] = []
    if not pairs:  # one objective: its value per trial
        fig, ax = plt.subplots(figsize=(7, 4.5))
        metric = OBJECTIVES[spec.objectives[0]].metric
        done = df[df["state"] == "COMPLETE"]
        ax.scatter(done["number"], done[metric], s=10, c=np.where(done["feasible"], "0.5", "lightcoral"))
        for name, metrics in refs.items():
            ax.axhline(metrics[metric], ls="--", lw=1, color=REFERENCE_STYLE.get(name, {}).get("color", "purple"),
                       label=name)
        ax.set_xlabel("trial")
        ax.set_ylabel(_label(spec.objectives[0], provider))
        ax.legend(fontsize=8)
        fig.suptitle(title, fontsize=10)
        for ext in ("png", "svg"):
            fig.savefig(out_dir / f"pareto.{ext}", dpi=130, bbox_inches="tight")
            written.append(out_dir / f"pareto.{ext}")
        plt.close(fig)
        return written
    n = len(pairs)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.6 * cols, 4.6 * rows), squeeze=False)
    for ax, (a, b) in zip(axes.flat, pairs):
        _panel(ax, df, spec, a, b, refs, provider)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 7), fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 0.96))
    for ext in ("png", "svg"):
        fig.savefig(out_dir / f"pareto.{ext}", dpi=130)
        written.append(out_dir / f"pareto.{ext}")
    plt.close(fig)
    for a, b in pairs:
        fig, ax = plt.subplots(figsize=(6, 4.8))
        _panel(ax, df, spec, a, b, refs, provider)
        ax.legend(fontsize=7, loc="best")
        ax.set_title(f"{spec.name}: {a} vs {b}", fontsize=10)
        fig.tight_layout()
        for ext in ("png", "svg"):
            path = out_dir / f"pareto_{a}_vs_{b}.{ext}"
            fig.savefig(path, dpi=130)
            written.append(path)
        plt.close(fig)
    return written
