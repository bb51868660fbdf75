"""pareto.html: the study's interactive page (plotly), drawn from the trials table.

One page, with plotly's JavaScript once beside it (plotly.min.js, 4.8 MB, written once per
folder and rewritten only when the installed plotly's differs) instead of embedded in the page:
- the Pareto front: 3-D for three objectives, 2-D for two; then one 2-D panel per pair when
  there are three or more. Feasible trials coloured by area, the front of all objectives
  black-edged (projected on each pair), infeasible trials grey, the reference designs marked;
  hovering a point shows its trial number, objectives, area and knobs;
- each objective per trial (the optimisation history);
- the knob importances per objective (dse/report/importance.py), with the knobs it does not read.
Built from the trials table (dse/report/tables.py), not through optuna.visualization, which
deep-copies every trial (with its stored design and metrics) for each of its plots.
"""

from __future__ import annotations

import html as html_text
import shutil
from itertools import combinations
from pathlib import Path

import pandas as pd

from dse.report.importance import Importances
from dse.search.objectives import OBJECTIVES
from dse.search.studyfile import StudySpec

PLOTLY_JS = "plotly.min.js"
# name: (2-D symbol, 3-D symbol (Scatter3d has no triangles), colour); open symbols keep coinciding ones visible
REFERENCE_MARKERS = {"dense": ("square-open", "square-open", "black"),
                     "Focus default": ("star", "diamond", "crimson"),
                     "AdapTiV": ("triangle-up-open", "circle-open", "royalblue"),
                     "CMC": ("diamond-open", "diamond-open", "forestgreen")}


def _axis_title(objective: str, provider: str) -> str:
    o = OBJECTIVES[objective]
    extra = f" [{provider.split(' (')[0]}]" if objective.startswith("accuracy") and provider else ""
    return f"{o.label} {o.arrow}{extra}"


def _hover(df: pd.DataFrame, spec: StudySpec) -> list[str]:
    """Per trial: number, objectives, area, searched knobs."""
    knobs = [k.name for k in spec.space.searched if k.name in df.columns]
    metrics = [(o, OBJECTIVES[o].metric) for o in spec.objectives]
    out = []
    for row in df.itertuples(index=False):
        r = row._asdict()
        head = f"trial {r['number']}" + ("" if r["feasible"] else " (infeasible)")
        values = ", ".join(f"{o} {r[m]:.4g}" for o, m in metrics)
        settings = ", ".join(f"{k}={r[k]}" for k in knobs)
        out.append(f"{head}<br>{values}<br>area {r['area_mm2']:.3g} mm²<br>{settings}")
    return out


def _point_traces(df: pd.DataFrame, spec: StudySpec, refs: dict[str, dict], axes: list[str], hover: pd.Series,
                  area_range: tuple[float, float], legend: bool, colorbar: bool) -> list:
    """Infeasible, feasible, front and reference traces over the given objectives (2 or 3 axes)."""
    import plotly.graph_objects as go

    three = len(axes) == 3
    scatter = go.Scatter3d if three else go.Scatter
    metrics = [OBJECTIVES[o].metric for o in axes]

    def coords(frame) -> dict:
        return dict(zip("xyz", (frame[m].tolist() for m in metrics)))

    done = df[df["state"] == "COMPLETE"]
    feas, infeas = done[done["feasible"]], done[~done["feasible"]]
    size = 3 if three else 5
    area = dict(colorscale="Viridis", cmin=area_range[0], cmax=area_range[1])
    traces = [
        scatter(**coords(infeas), mode="markers", name=f"infeasible ({len(infeas)})", showlegend=legend,
                legendgroup="infeasible", marker=dict(size=size, color="lightgrey", symbol="x"),
                text=hover[infeas.index].tolist(), hoverinfo="text"),
        scatter(**coords(feas[~feas["pareto"]]), mode="markers", name=f"feasible ({len(feas)}), colour = area",
                showlegend=legend, legendgroup="feasible", text=hover[feas[~feas["pareto"]].index].tolist(),
                hoverinfo="text",
                marker=dict(size=size, color=feas[~feas["pareto"]]["area_mm2"].tolist(), opacity=0.6, **area,
                            colorbar=dict(title="area (mm²)") if colorbar else None, showscale=colorbar)),
        scatter(**coords(feas[feas["pareto"]]), mode="markers", showlegend=legend, legendgroup="front",
                name=f"Pareto front of all {len(spec.objectives)} objectives ({int(feas['pareto'].sum())})",
                text=hover[feas[feas["pareto"]].index].tolist(), hoverinfo="text",
                marker=dict(size=size + 3, color=feas[feas["pareto"]]["area_mm2"].tolist(), **area,
                            line=dict(color="black", width=1))),
    ]
    for name, m in refs.items():
        symbol2d, symbol3d, colour = REFERENCE_MARKERS.get(name, ("circle-open", "circle-open", "purple"))
        symbol = symbol3d if three else symbol2d
        traces.append(scatter(**coords(pd.DataFrame([m])), mode="markers", name=name, showlegend=legend,
                              legendgroup=name, hoverinfo="text",
                              text=[f"{name}<br>area {m.get('area_mm2', float('nan')):.3g} mm²"],
                              marker=dict(size=12 if three else 13, symbol=symbol, color=colour,
                                          line=dict(color=colour, width=2))))
    return traces


def _pareto_figures(df: pd.DataFrame, spec: StudySpec, refs: dict[str, dict], provider: str) -> list:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    hover = pd.Series(_hover(df, spec), index=df.index)
    feas = df[(df["state"] == "COMPLETE") & df["feasible"]]["area_mm2"]
    area_range = (float(feas.min()), float(feas.max())) if len(feas) else (0.0, 1.0)
    objectives = list(spec.objectives)
    figures = []
    if len(objectives) in (2, 3):
        fig = go.Figure(_point_traces(df, spec, refs, objectives, hover, area_range, True, True))
        titles = [_axis_title(o, provider) for o in objectives]
        if len(objectives) == 3:
            fig.update_layout(scene=dict(xaxis_title=titles[0], yaxis_title=titles[1], zaxis_title=titles[2]),
                              height=700)
        else:
            fig.update_layout(xaxis_title=titles[0], yaxis_title=titles[1], height=550)
        fig.update_layout(title="Pareto front", legend=dict(orientation="h", y=-0.08))
        figures.append(fig)
    pairs = list(combinations(objectives, 2))
    if len(objectives) >= 3:
        cols = min(3, len(pairs))
        rows = (len(pairs) + cols - 1) // cols
        fig = make_subplots(rows=rows, cols=cols, horizontal_spacing=0.08, vertical_spacing=0.12)
        for i, (a, b) in enumerate(pairs):
            r, c = i // cols + 1, i % cols + 1
            for trace in _point_traces(df, spec, refs, [a, b], hover, area_range, i == 0, i == 0):
                fig.add_trace(trace, row=r, col=c)
            fig.update_xaxes(title_text=_axis_title(a, provider), row=r, col=c)
            fig.update_yaxes(title_text=_axis_title(b, provider), row=r, col=c)
        fig.update_layout(title="each pair: the front of all objectives projected (black-edged points)",
                          height=430 * rows, legend=dict(orientation="h", y=-0.15))
        figures.append(fig)
    return figures


def _history_figure(df: pd.DataFrame, spec: StudySpec, provider: str):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    done = df[df["state"] == "COMPLETE"]
    n = len(spec.objectives)
    fig = make_subplots(rows=1, cols=n, horizontal_spacing=0.06)
    for i, o in enumerate(spec.objectives):
        metric = OBJECTIVES[o].metric
        for feasible, colour, label in ((True, "steelblue", "feasible"), (False, "lightgrey", "infeasible")):
            part = done[done["feasible"] == feasible]
            fig.add_trace(go.Scatter(x=part["number"].tolist(), y=part[metric].tolist(), mode="markers",
                                     marker=dict(size=4, color=colour), name=label, legendgroup=label,
                                     showlegend=i == 0), row=1, col=i + 1)
        fig.update_xaxes(title_text="trial", row=1, col=i + 1)
        fig.update_yaxes(title_text=_axis_title(o, provider), row=1, col=i + 1)
    fig.update_layout(title="each objective per trial", height=380)
    return fig


def _importance_figure(imp: Importances):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    objectives = list(dict.fromkeys(imp.table["objective"]))
    fig = make_subplots(rows=1, cols=len(objectives), subplot_titles=objectives, horizontal_spacing=0.1)
    for i, name in enumerate(objectives):
        rows = imp.table[(imp.table["objective"] == name) & imp.table["reads"]].sort_values("importance")
        fig.add_trace(go.Bar(x=rows["importance"].tolist(), y=rows["knob"].tolist(), orientation="h",
                             marker_color="steelblue", showlegend=False), row=1, col=i + 1)
        fig.update_xaxes(range=[0, 1], title_text="share of importance", row=1, col=i + 1)
    height = 140 + 24 * imp.table["knob"].nunique()
    fig.update_layout(title="knob importance per objective (PED-ANOVA over the knobs each objective reads)",
                      height=height)
    return fig


def _plotly_js(out_dir: Path) -> None:
    """plotly.min.js beside the page: copied from the installed plotly when missing or different."""
    from importlib.resources import files

    source = files("plotly") / "package_data" / PLOTLY_JS
    target = out_dir / PLOTLY_JS
    if not target.is_file() or target.stat().st_size != Path(str(source)).stat().st_size:
        shutil.copyfile(str(source), target)


def write_html(df: pd.DataFrame, spec: StudySpec, refs: dict[str, dict], imp: Importances, out_dir: Path,
               provider: str = "") -> list[Path]:
    """pareto.html and plotly.min.js; nothing when plotly is not installed or no trial completed."""
    try:
        import plotly  # noqa: F401
    except ImportError:
        return []
    if not len(df) or not (df["state"] == "COMPLETE").any():
        return []
    from dse.report.pareto import front_note

    provider = provider or spec.accuracy.provider
    figures = _pareto_figures(df, spec, refs, provider) + [_history_figure(df, spec, provider)]
    notes = []
    if not imp.empty:
        figures.append(_importance_figure(imp))
        unread = {o: ", ".join(g[~g["reads"]]["knob"]) for o, g in imp.table.groupby("objective", sort=False)}
        notes = [f"{o}: does not read {k} (importance 0 by construction)" for o, k in unread.items() if k]
        notes.append(f"how: {imp.method}")
    parts = [fig.to_html(full_html=False, include_plotlyjs=False) for fig in figures]
    title = f"focus-dse study {spec.name}"
    objectives = ", ".join(f"{o} {OBJECTIVES[o].arrow}" for o in spec.objectives)
    intro = [f"accuracy provider: {provider}; objectives: {objectives}; {len(df)} trials.", front_note(spec), *notes]
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{html_text.escape(title)}</title>"
            "<script>window.PlotlyConfig = {MathJaxConfig: 'local'};</script>"
            f"<script charset='utf-8' src='{PLOTLY_JS}'></script></head><body>"
            f"<h2>{html_text.escape(title)}</h2>" + "".join(f"<p>{html_text.escape(line)}</p>" for line in intro)
            + "\n".join(parts) + "</body></html>")
    out_dir.mkdir(parents=True, exist_ok=True)
    _plotly_js(out_dir)
    path = out_dir / "pareto.html"
    path.write_text(page)
    return [path, out_dir / PLOTLY_JS]
