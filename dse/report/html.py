"""Interactive HTML (optuna.visualization, plotly) and parameter importances.

pareto.html is one self-contained page (plotly.js embedded once): the Pareto front of the
objectives (3-D for three, 2-D panels per pair otherwise), parameter importances per
objective, and the optimisation history. importances.csv / importances.png give the
importances (PED-ANOVA, Optuna's default evaluator) as a table and a bar chart.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import pandas as pd

from dse.search.objectives import OBJECTIVES
from dse.search.studyfile import StudySpec


def _completed(study) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def importances(study, spec: StudySpec) -> pd.DataFrame:
    """Importance of each searched knob per objective (rows: knobs; columns: objectives)."""
    import optuna

    if _completed(study) < 3 or not spec.space.searched:
        return pd.DataFrame()
    import warnings

    out = {}
    for i, name in enumerate(spec.objectives):
        sign = -1.0 if OBJECTIVES[name].direction == "maximize" else 1.0  # PED-ANOVA looks for low targets
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                imp = optuna.importance.get_param_importances(study, target=lambda t, i=i, s=sign: s * t.values[i])
        except (RuntimeError, ValueError, ZeroDivisionError):
            continue
        out[name] = imp
    df = pd.DataFrame(out).fillna(0.0)
    if not df.empty:
        df = df.loc[df.max(axis=1).sort_values(ascending=False).index]
        df.index.name = "knob"
    return df


def write_importances(df: pd.DataFrame, out_dir: Path) -> list[Path]:
    if df.empty:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, png_path = out_dir / "importances.csv", out_dir / "importances.png"
    df.to_csv(csv_path)
    ax = df.iloc[::-1].plot.barh(figsize=(7, 0.35 * len(df) + 1.5))
    ax.set_xlabel("importance (PED-ANOVA, normalised per objective)")
    ax.figure.tight_layout()
    ax.figure.savefig(png_path, dpi=120)
    plt.close(ax.figure)
    return [csv_path, png_path]


def write_html(study, spec: StudySpec, out_dir: Path, provider: str = "") -> Path | None:
    """pareto.html; None when plotly is not installed (optuna.visualization needs it)."""
    try:
        import plotly  # noqa: F401
    except ImportError:
        return None
    import optuna.visualization as vis

    if _completed(study) < 1:
        return None
    names = [f"{OBJECTIVES[o].label}" + (f" [{provider.split(' (')[0]}]" if o.startswith("accuracy") and provider
                                          else "") for o in spec.objectives]
    figures = []
    n = len(spec.objectives)
    if n in (2, 3):
        figures.append(vis.plot_pareto_front(study, target_names=names))
    if n > 3 or n == 3:
        for a, b in combinations(range(n), 2):
            figures.append(vis.plot_pareto_front(study, target_names=[names[a], names[b]],
                                                 targets=lambda t, a=a, b=b: (t.values[a], t.values[b])))
    if n == 1:
        figures.append(vis.plot_optimization_history(study, target_name=names[0]))
    else:
        for i in range(n):
            figures.append(vis.plot_optimization_history(study, target=lambda t, i=i: t.values[i],
                                                         target_name=names[i]))
    if spec.space.searched and _completed(study) >= 3:
        import warnings

        for i in range(n):
            sign = -1.0 if OBJECTIVES[spec.objectives[i]].direction == "maximize" else 1.0
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    figures.append(vis.plot_param_importances(study, target=lambda t, i=i, s=sign: s * t.values[i],
                                                              target_name=names[i]))
            except (RuntimeError, ValueError, ZeroDivisionError):
                pass
    parts = []
    for i, fig in enumerate(figures):
        parts.append(fig.to_html(full_html=False, include_plotlyjs=(i == 0)))
    title = f"focus-dse study {spec.name}"
    html = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head><body>"
            f"<h2>{title}</h2><p>accuracy provider: {provider or spec.accuracy.provider}; objectives: "
            f"{', '.join(f'{o} {OBJECTIVES[o].arrow}' for o in spec.objectives)}; infeasible trials are shown "
            f"in grey where Optuna knows their constraints.</p>" + "\n".join(parts) + "</body></html>")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "pareto.html"
    path.write_text(html)
    return path
