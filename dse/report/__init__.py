"""Study reports: trials table (CSV + Parquet), Pareto plots (PNG + SVG), HTML, importances,
status text, and the export of the best designs (dse/report/export.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dse.search.studyfile import StudySpec

if TYPE_CHECKING:
    import pandas as pd


def write_reports(study, spec: StudySpec, out_dir: Path, html: bool = True, evaluator=None,
                  refs: dict[str, dict] | None = None, plotter=None) -> tuple[pd.DataFrame, list[Path]]:
    """Everything under <results-dir>/<study>/: trials.csv/.parquet, pareto.png/.svg (+ per pair),
    pareto.html (+ plotly.min.js), importances.csv/.png, accuracy_model.txt, reference_points.csv.
    `evaluator` / `refs`: the study's DesignEvaluator and its reference points when the caller
    already has them (they are computed once per report). The figures are drawn by `plotter`
    (dse/report/plotter.py) when given: the caller then calls its finish(), which returns their
    paths (they are not in the list returned here); by this process otherwise.
    The Pareto figures go to the plotter first, their columns read from the trials without pandas:
    plot processes draw them while this process imports pandas (0.2-0.3 s) and writes the rest."""
    from dse.report.pareto import figure_columns, pareto_jobs
    from dse.report.plotter import Plotter
    from dse.report.tables import trial_rows
    from dse.search.evaluation import DesignEvaluator

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    own = plotter is None
    plotter = plotter or Plotter()
    rows = trial_rows(study, spec)
    evaluator = evaluator or DesignEvaluator(spec)
    refs = evaluator.reference_points() if refs is None else refs
    complete = any(row["state"] == "COMPLETE" for row in rows)
    if complete:  # the longest part, first
        for func, args in pareto_jobs(figure_columns(rows, spec), spec, refs, out_dir):
            plotter.submit(func, *args)

    import pandas as pd

    from dse.report.html import write_html
    from dse.report.importance import importances, plot_importances, write_importances
    from dse.report.tables import rows_frame, write_tables

    df = rows_frame(rows)
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
