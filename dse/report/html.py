"""pareto.html: the study's interactive page (plotly.js), drawn from the trials table.

One page, with plotly's JavaScript once beside it (plotly.min.js, 4.8 MB, copied from the
installed plotly package once per folder, again only when it differs) instead of embedded:
- the Pareto front: 3-D for three objectives, 2-D for two; then one 2-D panel per pair when
  there are three or more. Drawn as the PNGs are (dse/report/pareto.py: its markers, colours,
  log axes and 2-D front): feasible trials coloured by area, the front of all objectives
  black-edged (projected on each pair), the pair's own 2-D front as an orange line, infeasible
  trials as crosses, the reference designs marked (in 3-D, where plotly has no star or
  triangle, by the nearest shape it has, which the figure's title names); hovering a point
  shows its trial number, objectives, area and knobs;
- each objective per trial (the optimisation history);
- the knob importances per objective (dse/report/importance.py), with the knobs it does not read.
The figures are plotly.js specifications (data + layout) written as JSON straight from the
trials table: neither optuna.visualization (which deep-copies every trial, with its stored
design and metrics, for each of its plots) nor plotly's Python figure classes (which validate
every value) are involved.
"""

from __future__ import annotations

import html as html_text
import json
import math
import shutil
from itertools import combinations
from pathlib import Path

import pandas as pd

from dse.report.importance import Importances
from dse.report.pareto import (FRONT_2D_COLOUR, INFEASIBLE_COLOUR, LOG_TICKS, OTHER_STYLE, REFERENCE_STYLE, front_2d,
                               front_note, reference_order, shown_values, wants_log)
from dse.report.tables import area_range
from dse.search.objectives import OBJECTIVES
from dse.search.studyfile import StudySpec

PLOTLY_JS = "plotly.min.js"
SYMBOLS = {"*": "star", "s": "square", "^": "triangle-up", "D": "diamond", "o": "circle"}  # matplotlib -> plotly
SYMBOLS_3D = {"star": "diamond", "triangle-up": "circle"}  # Scatter3d draws neither: the nearest it has
# the Pareto figures' legend: above the panels, where no axis title is (plotly makes room for it)
LEGEND = {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"}


def _axis_title(objective: str, provider: str) -> str:
    o = OBJECTIVES[objective]
    extra = f" [{provider.split(' (')[0]}]" if objective.startswith("accuracy") and provider else ""
    return f"{o.label} {o.arrow}{extra}"


def _titled(text: str) -> dict:
    return {"title": {"text": text}}


def _objective_axis(objective: str, provider: str, df: pd.DataFrame, refs: dict[str, dict]) -> dict:
    """An objective's axis in a Pareto figure: its title, and log where the PNGs draw it log."""
    axis = _titled(_axis_title(objective, provider))
    metric = OBJECTIVES[objective].metric
    values = shown_values(df, refs, metric)
    if wants_log(metric, values):
        positive = [v for v in values if 0 < v < math.inf]  # wants_log says there are some
        decades = range(math.floor(math.log10(min(positive))), math.ceil(math.log10(max(positive))) + 1)
        ticks = [m * 10.0 ** e for e in decades for m in LOG_TICKS]
        axis.update(type="log", tickvals=ticks, ticktext=[f"{t:g}" for t in ticks])  # written plainly, as in the PNGs
    return axis


def _reference_marker(name: str, three: bool) -> dict:
    """A reference design's marker as the PNGs draw it (dse/report/pareto.py REFERENCE_STYLE): filled
    with a white edge, or open so that coinciding ones stay visible."""
    style = REFERENCE_STYLE.get(name, OTHER_STYLE)
    symbol = SYMBOLS[style["marker"]]
    symbol = SYMBOLS_3D.get(symbol, symbol) if three else symbol
    size = math.sqrt(style["s"]) * 4 / 3  # matplotlib's s is an area in pt², plotly's size a width in px
    size = round(size * (0.6 if three else 1))  # Scatter3d draws a size ~1.6x as wide as a 2-D scatter
    if style["filled"]:
        return {"symbol": symbol, "size": size, "color": style["color"], "line": {"color": "white", "width": 1}}
    return {"symbol": f"{symbol}-open", "size": size, "color": style["color"], "line": {"color": style["color"],
                                                                                         "width": 2}}


def _shapes_3d(refs: dict[str, dict]) -> str:
    """What the 3-D figure draws differently from the PNGs, said in its title."""
    changed = [(name, SYMBOLS[REFERENCE_STYLE.get(name, OTHER_STYLE)["marker"]]) for name in reference_order(refs)]
    changed = [f"{name} as a {SYMBOLS_3D[symbol]}" for name, symbol in changed if symbol in SYMBOLS_3D]
    return f" (3-D markers: {', '.join(changed)}; plotly draws no stars or triangles in 3-D)" if changed else ""


def _values(series) -> list:
    """JSON-ready numbers (NaN -> null)."""
    return [None if isinstance(v, float) and math.isnan(v) else v for v in series.tolist()]


def _hover(df: pd.DataFrame, spec: StudySpec) -> pd.Series:
    """Per trial: number, objectives, area, searched knobs."""
    knobs = [k.name for k in spec.space.searched if k.name in df.columns]
    metrics = [(o, OBJECTIVES[o].metric) for o in spec.objectives]
    out = []
    for r in df.to_dict("records"):
        head = f"trial {r['number']}" + ("" if r["feasible"] else " (infeasible)")
        values = ", ".join(f"{o} {r[m]:.4g}" for o, m in metrics)
        settings = ", ".join(f"{k}={r[k]}" for k in knobs)
        out.append(f"{head}<br>{values}<br>area {r['area_mm2']:.3g} mm²<br>{settings}")
    return pd.Series(out, index=df.index)


def _point_traces(df: pd.DataFrame, spec: StudySpec, refs: dict[str, dict], axes: list[str], hover: pd.Series,
                  area_range: tuple[float, float], first: bool, xy: tuple[str, str] = ("x", "y")) -> list[dict]:
    """Infeasible, feasible, front and reference traces over the given objectives (2 or 3 axes);
    `first`: the panel whose traces carry the legend and the colour bar."""
    three = len(axes) == 3
    metrics = [OBJECTIVES[o].metric for o in axes]
    done = df[df["state"] == "COMPLETE"]
    feas, infeas = done[done["feasible"]], done[~done["feasible"]]
    rest, front = feas[~feas["pareto"]], feas[feas["pareto"]]
    size = 3 if three else 5
    area = {"colorscale": "Viridis", "cmin": area_range[0], "cmax": area_range[1]}

    def trace(frame: pd.DataFrame, name: str, group: str, marker: dict, text: list) -> dict:
        t = {"type": "scatter3d" if three else "scatter", "mode": "markers", "name": name, "legendgroup": group,
             "showlegend": first, "marker": marker, "text": text, "hoverinfo": "text"}
        t.update(zip("xyz", (_values(frame[m]) for m in metrics)))
        if not three:
            t.update(xaxis=xy[0], yaxis=xy[1])
        return t

    traces = [
        trace(infeas, f"infeasible ({len(infeas)})", "infeasible",
              {"size": size, "color": INFEASIBLE_COLOUR, "symbol": "x"}, hover[infeas.index].tolist()),
        trace(rest, f"feasible ({len(feas)}), colour = area", "feasible",
              {"size": size, "color": _values(rest["area_mm2"]), "opacity": 0.6, "showscale": first,
               "colorbar": {"title": {"text": "area (mm²)"}}, **area}, hover[rest.index].tolist()),
        trace(front, f"Pareto front of all {len(spec.objectives)} objectives ({len(front)})", "front",
              {"size": size + 3, "color": _values(front["area_mm2"]), "line": {"color": "black", "width": 1}, **area},
              hover[front.index].tolist()),
    ]
    if not three and len(front):  # over the points, as in the PNGs
        two_d, where = front_2d(front[metrics].to_numpy(float), *axes)
        traces.append({"type": "scatter", "mode": "lines", "name": "2-D front of this pair", "legendgroup": "2-D front",
                       "showlegend": first, "x": two_d[:, 0].tolist(), "y": two_d[:, 1].tolist(),
                       "line": {"color": FRONT_2D_COLOUR, "width": 2, "shape": "vh" if where == "pre" else "hv"},
                       "hoverinfo": "skip", "xaxis": xy[0], "yaxis": xy[1]})
    for name in reference_order(refs):
        m = refs[name]
        traces.append(trace(pd.DataFrame([m]), name, name, _reference_marker(name, three),
                            [f"{name}<br>area {m.get('area_mm2', float('nan')):.3g} mm²"]))
    return traces


def _grid_axes(n: int, cols: int, panels: list[tuple[dict, dict]], gap: float = 0.07) -> tuple[dict, list]:
    """Layout axes for n 2-D panels in rows of `cols`, each panel's (x, y) axis settings given, and
    each panel's (xaxis, yaxis) names."""
    rows = (n + cols - 1) // cols
    width, height = (1 - gap * (cols - 1)) / cols, (1 - 0.12 * (rows - 1)) / rows
    layout, names = {}, []
    for i, (x, y) in enumerate(panels):
        r, c = divmod(i, cols)
        suffix = "" if i == 0 else str(i + 1)
        x0, y1 = c * (width + gap), 1 - r * (height + 0.12)
        layout[f"xaxis{suffix}"] = {"domain": [x0, x0 + width], "anchor": f"y{suffix}", **x}
        layout[f"yaxis{suffix}"] = {"domain": [y1 - height, y1], "anchor": f"x{suffix}", **y}
        names.append((f"x{suffix}", f"y{suffix}"))
    return layout, names


def _pareto_figures(df: pd.DataFrame, spec: StudySpec, refs: dict[str, dict], provider: str) -> list[dict]:
    hover = _hover(df, spec)
    areas = area_range(df)
    objectives = list(spec.objectives)
    axis = {o: _objective_axis(o, provider, df, refs) for o in objectives}
    figures = []
    if len(objectives) in (2, 3):
        data = _point_traces(df, spec, refs, objectives, hover, areas, True)
        title = "Pareto front"
        if len(objectives) == 3:
            axes = {"scene": {f"{a}axis": axis[o] for a, o in zip("xyz", objectives)}}
            title += _shapes_3d(refs)
        else:
            axes = {"xaxis": axis[objectives[0]], "yaxis": axis[objectives[1]]}
        figures.append({"data": data, "layout": {"title": {"text": title}, "height": 700, "legend": LEGEND, **axes}})
    pairs = list(combinations(objectives, 2))
    if len(objectives) >= 3:
        cols = min(3, len(pairs))
        axes, names = _grid_axes(len(pairs), cols, [(axis[a], axis[b]) for a, b in pairs])
        data = []
        for i, ((a, b), xy) in enumerate(zip(pairs, names)):
            data += _point_traces(df, spec, refs, [a, b], hover, areas, i == 0, xy)
        rows = (len(pairs) + cols - 1) // cols
        figures.append({"data": data, "layout": {
            "title": {"text": "each pair: the front of all objectives projected (black-edged points), "
                              "the pair's own 2-D front (orange line)"},
            "height": 450 * rows, "legend": LEGEND, **axes}})
    return figures


def _history_figure(df: pd.DataFrame, spec: StudySpec, provider: str) -> dict:
    done = df[df["state"] == "COMPLETE"]
    axes, names = _grid_axes(len(spec.objectives), len(spec.objectives),
                             [(_titled("trial"), _titled(_axis_title(o, provider))) for o in spec.objectives])
    data = []
    for i, (o, (x, y)) in enumerate(zip(spec.objectives, names)):
        for feasible, colour, label in ((True, "steelblue", "feasible"), (False, "lightgrey", "infeasible")):
            part = done[done["feasible"] == feasible]
            data.append({"type": "scatter", "mode": "markers", "x": _values(part["number"]),
                         "y": _values(part[OBJECTIVES[o].metric]), "xaxis": x, "yaxis": y, "name": label,
                         "legendgroup": label, "showlegend": i == 0, "marker": {"size": 4, "color": colour}})
    return {"data": data, "layout": {"title": {"text": "each objective per trial"}, "height": 380, **axes}}


def _importance_figure(imp: Importances) -> dict:
    table = imp.table  # built from the rows at each call
    objectives = list(dict.fromkeys(table["objective"]))
    axes, names = _grid_axes(len(objectives), len(objectives),
                             [(_titled("share of importance"), _titled("")) for _ in objectives], gap=0.12)
    data = []
    for o, (x, y) in zip(objectives, names):
        rows = table[(table["objective"] == o) & table["reads"]].sort_values("importance")
        data.append({"type": "bar", "orientation": "h", "x": _values(rows["importance"]), "y": rows["knob"].tolist(),
                     "xaxis": x, "yaxis": y, "name": o, "showlegend": False, "marker": {"color": "steelblue"}})
        axes["xaxis" + x[1:]]["range"] = [0, 1]
        axes["xaxis" + x[1:]]["title"]["text"] = f"{o}: share of importance"
    return {"data": data, "layout": {
        "title": {"text": "knob importance per objective (PED-ANOVA over the knobs each objective reads)"},
        "height": 140 + 24 * table["knob"].nunique(), **axes}}


def _js(value) -> str:
    """JSON inside a <script> element (a '</' in a string would end the element)."""
    return json.dumps(value).replace("</", "<\\/")


def _plotly_js(out_dir: Path) -> bool:
    """plotly.min.js beside the page, copied from the installed plotly when missing or different;
    False when plotly is not installed."""
    from importlib.resources import files
    from importlib.util import find_spec

    if find_spec("plotly") is None:
        return False
    source = Path(str(files("plotly") / "package_data" / PLOTLY_JS))
    target = out_dir / PLOTLY_JS
    if not target.is_file() or target.stat().st_size != source.stat().st_size:
        shutil.copyfile(source, target)
    return True


def _plot(i: int, figure: dict) -> str:
    """One figure of the page, its title a heading above it: plotly draws a title in the top margin,
    where a legend that wraps onto more lines (a narrow window) would cover it."""
    layout = dict(figure["layout"])
    heading = layout.pop("title")["text"]
    return (f"<h3 style='text-align: center; font: 17px sans-serif'>{html_text.escape(heading)}</h3>"
            f"<div id='fig{i}'></div><script>Plotly.newPlot('fig{i}', {_js(figure['data'])}, "
            f"{_js(layout)}, {{responsive: true}});</script>\n")


def write_html(df: pd.DataFrame, spec: StudySpec, refs: dict[str, dict], imp: Importances, out_dir: Path,
               provider: str = "") -> list[Path]:
    """pareto.html and plotly.min.js; nothing when plotly is not installed or no trial completed."""
    if not len(df) or not (df["state"] == "COMPLETE").any():
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    if not _plotly_js(out_dir):
        return []
    provider = provider or spec.accuracy.provider
    figures = _pareto_figures(df, spec, refs, provider) + [_history_figure(df, spec, provider)]
    notes = []
    if not imp.empty:
        figures.append(_importance_figure(imp))
        unread = {o: ", ".join(g[~g["reads"]]["knob"]) for o, g in imp.table.groupby("objective", sort=False)}
        notes = [f"{o}: does not read {k} (importance 0 by construction)" for o, k in unread.items() if k]
        notes.append(f"how: {imp.method}")
    title = f"focus-dse study {spec.name}"
    objectives = ", ".join(f"{o} {OBJECTIVES[o].arrow}" for o in spec.objectives)
    intro = [f"accuracy provider: {provider}; objectives: {objectives}; {len(df)} trials.", front_note(spec), *notes]
    plots = "".join(_plot(i, f) for i, f in enumerate(figures))
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{html_text.escape(title)}</title>"
            f"<script charset='utf-8' src='{PLOTLY_JS}'></script></head><body>"
            f"<h2>{html_text.escape(title)}</h2>" + "".join(f"<p>{html_text.escape(line)}</p>" for line in intro)
            + plots + "</body></html>")
    path = out_dir / "pareto.html"
    path.write_text(page)
    return [path, out_dir / PLOTLY_JS]
