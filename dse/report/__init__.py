"""Study reports: trials table (CSV + Parquet), Pareto plots (PNG + SVG), HTML, importances,
status text, and the export of the best designs (dse/report/export.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dse.report.tables import rank, trials_dataframe, write_tables
from dse.search.objectives import OBJECTIVES
from dse.search.studyfile import StudySpec


def write_reports(study, spec: StudySpec, out_dir: Path, html: bool = True, evaluator=None,
                  refs: dict[str, dict] | None = None, plotter=None) -> tuple[pd.DataFrame, list[Path]]:
    """Everything under <results-dir>/<study>/: trials.csv/.parquet, pareto.png/.svg (+ per pair),
    pareto.html (+ plotly.min.js), importances.csv/.png, accuracy_model.txt, reference_points.csv.
    `evaluator` / `refs`: the study's DesignEvaluator and its reference points when the caller
    already has them (they are computed once per report). The figures are drawn by `plotter`
    (dse/report/plotter.py) when given: the caller then calls its finish(), which returns their
    paths (they are not in the list returned here); by this process otherwise."""
    from dse.report.html import write_html
    from dse.report.importance import importances, plot_importances, write_importances
    from dse.report.pareto import pareto_jobs
    from dse.report.plotter import Plotter
    from dse.search.evaluation import DesignEvaluator

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    own = plotter is None
    plotter = plotter or Plotter()
    df = trials_dataframe(study, spec)
    evaluator = evaluator or DesignEvaluator(spec)
    refs = evaluator.reference_points() if refs is None else refs
    complete = bool(len(df)) and bool((df["state"] == "COMPLETE").any())
    if complete:  # the longest part, first
        for func, args in pareto_jobs(df, spec, refs, out_dir):
            plotter.submit(func, *args)
    written = write_tables(df, out_dir)
    pd.DataFrame.from_dict(refs, orient="index").rename_axis("design").to_csv(out_dir / "reference_points.csv")
    written.append(out_dir / "reference_points.csv")
    (out_dir / "accuracy_model.txt").write_text(evaluator.provider.summary() + "\n")
    written.append(out_dir / "accuracy_model.txt")
    if complete:
        imp = importances(study, spec, evaluator)
        written += write_importances(imp, out_dir)
        plotter.submit(plot_importances, imp, out_dir)
        if html:
            provider = next((p for p in df["accuracy_provider"] if p), "")
            written += write_html(df, spec, refs, imp, out_dir, provider)
    if own:
        written += plotter.finish()
    return df, written


def default_comparison(df: pd.DataFrame, spec: StudySpec, refs: dict[str, dict]) -> str:
    """Does the feasible front dominate the Focus-default design, or contain it? With numbers."""
    ref = refs.get("Focus default")
    if ref is None or df.empty:
        return "no Focus-default reference for this study"
    cols = [OBJECTIVES[o].metric for o in spec.objectives]
    sign = [(-1 if OBJECTIVES[o].direction == "maximize" else 1) for o in spec.objectives]
    front = df[df["pareto"]]
    base = [s * ref[c] for s, c in zip(sign, cols)]
    dominating = []
    for _, row in front.iterrows():
        v = [s * row[c] for s, c in zip(sign, cols)]
        if all(a <= b for a, b in zip(v, base)) and any(a < b for a, b in zip(v, base)):
            dominating.append(row)
    default_rows = df[df["default_design"] & (df["state"] == "COMPLETE")]
    on_front = bool(default_rows["pareto"].any()) if len(default_rows) else False
    fmt = "  ".join(f"{o}={ref[c]:.4g}" for o, c in zip(spec.objectives, cols))
    lines = [f"Focus default: {fmt}"]
    if dominating:
        best = min(dominating, key=lambda r: sum(s * r[c] / abs(ref[c]) for s, c in zip(sign, cols) if ref[c]))
        gains = "  ".join(f"{o}={best[c]:.4g} ({best[c] / ref[c]:.3g}x)" for o, c in zip(spec.objectives, cols))
        gains += f"  [area {best['area_mm2']:.3g} vs {ref['area_mm2']:.3g} mm2]"
        lines.append(f"the front DOMINATES it: {len(dominating)} of {len(front)} front designs are at least as good "
                     f"in every objective and better in one; e.g. trial {int(best['number'])}: {gains}")
    elif on_front:
        lines.append("the front CONTAINS it: no feasible design found dominates the Focus default")
    else:
        lines.append("the front neither contains nor dominates it (it is dominated only by an infeasible design, "
                     "or was not evaluated)")
    return "\n".join(lines)


__all__ = ["default_comparison", "rank", "trials_dataframe", "write_reports", "write_tables"]
