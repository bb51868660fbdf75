"""Study reports: trials table (CSV + Parquet), Pareto plots (PNG + SVG), HTML, importances,
status text, and the export of the best designs (dse/report/export.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dse.report.tables import rank, trials_dataframe, write_tables
from dse.search.studyfile import StudySpec


def write_reports(study, spec: StudySpec, out_dir: Path, html: bool = True,
                  evaluator=None, refs: dict[str, dict] | None = None) -> tuple[pd.DataFrame, list[Path]]:
    """Everything under <results-dir>/<study>/: trials.csv/.parquet, pareto.png/.svg (+ per pair),
    pareto.html, importances.csv/.png, accuracy_model.txt, reference_points.csv.
    `evaluator` / `refs`: the study's DesignEvaluator and its reference points when the caller
    already has them (they are computed once per report)."""
    from dse.report.html import importances, write_html, write_importances
    from dse.report.pareto import plot_pareto
    from dse.search.evaluation import DesignEvaluator

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    df = trials_dataframe(study, spec)
    written = write_tables(df, out_dir)
    evaluator = evaluator or DesignEvaluator(spec)
    refs = evaluator.reference_points() if refs is None else refs
    pd.DataFrame.from_dict(refs, orient="index").rename_axis("design").to_csv(out_dir / "reference_points.csv")
    written.append(out_dir / "reference_points.csv")
    (out_dir / "accuracy_model.txt").write_text(evaluator.provider.summary() + "\n")
    written.append(out_dir / "accuracy_model.txt")
    if len(df) and (df["state"] == "COMPLETE").any():
        written += plot_pareto(df, spec, refs, out_dir)
        written += write_importances(importances(study, spec), out_dir)
        if html:
            provider = next((p for p in df["accuracy_provider"] if p), "")
            path = write_html(study, spec, out_dir, provider)
            if path:
                written.append(path)
    return df, written


__all__ = ["rank", "trials_dataframe", "write_reports", "write_tables"]
