"""Pareto fronts as PNG and SVG (matplotlib): one panel per objective pair, reference designs marked.

pareto.png / pareto.svg hold every pair side by side; pareto_<a>_vs_<b>.png/.svg one pair each.
Red crosses: infeasible trials; dots: feasible trials coloured by their area (area is a
constraint, not an objective, so a design that looks better than a reference may be bigger);
black-edged dots: the feasible Pareto front of *all* objectives, projected on the pair (so some
look dominated in 2-D); orange line, drawn over the points: the pair's own 2-D front; markers:
dense, Focus default, AdapTiV, CMC at their paper configurations (same workloads, provider,
model), the baselines hollow so that coinciding ones stay visible, each labelled with its area,
the labels placed so that they do not overlap.
Axis labels, log axes and the 2-D staircase are shared with front.png (dse/report/front.py).
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path
from typing import Any, Callable

import numpy as np

from dse.report.tables import area_range, column, feasible_mask, objective_columns
from dse.search.front import nondominated
from dse.search.objectives import OBJECTIVES, maximized
from dse.search.studyfile import StudySpec

# A figure's `table`: the trials as columns, a dict of numpy arrays (what a plot process draws from: it imports no
# pandas, figure_columns) or a DataFrame (pd.DataFrame | dict[str, np.ndarray]).

# drawn in this order (biggest first), so that a smaller marker on the same spot stays on top
REFERENCE_STYLE = {
    "Focus default": dict(marker="*", color="crimson", s=260, filled=True),
    "dense": dict(marker="s", color="black", s=90, filled=False),
    "AdapTiV": dict(marker="^", color="royalblue", s=110, filled=False),
    "CMC": dict(marker="D", color="forestgreen", s=60, filled=False),
}
OTHER_STYLE = dict(marker="o", color="purple", s=80, filled=False)
# what the figures read of the trials table, beside the objectives' metrics
FIGURE_COLUMNS = ("number", "state", "feasible", "pareto", "area_mm2", "accuracy_provider")
AREA_CMAP = "viridis"
INFEASIBLE_COLOUR = "lightcoral"
FRONT_2D_COLOUR = "darkorange"
LOG_TICKS = (1.0, 2.0, 5.0)  # per decade, on log axes
# figure layouts (_figure's panel size and margins, inches): the overview's panels, and one pair's figure
OVERVIEW_LAYOUT = ((4.6, 3.6), (1.0, 1.1, 0.75, 1.15))
PAIR_LAYOUT = ((4.8, 3.8), (1.0, 1.1, 0.8, 1.45))
# ticks a prepared axis gets ahead (prepare_figures): as many as a log axis of three decades at 1, 2, 5 draws
PREPARED_TICKS = 20
# frames a plot process prepares at most: the overview and 3 pairs (3 objectives); each stays open in pyplot
# until drawn on, and pyplot warns from 21 open figures
PREPARED_FIGURES = 4
FONT = 7.5  # reference labels, points
# label offsets (points) tried in turn, with alignment: right, left, above, below, farther out
OFFSETS = [(7, 3, "left"), (-7, 3, "right"), (7, -10, "left"), (-7, -10, "right"), (7, 13, "left"),
           (-7, 13, "right"), (7, -20, "left"), (-7, -20, "right"), (7, 23, "left"), (-7, 23, "right")]


def axis_label(objective: str, provider: str = "") -> str:
    o = OBJECTIVES[objective]
    label = f"{o.label} {o.arrow}"
    if objective.startswith("accuracy") and provider:
        label += f"\n[{provider.split(' (')[0]} accuracy]"
    return label


def front_note(spec: StudySpec) -> str:
    """What the drawn fronts are (said on every Pareto figure)."""
    n = len(spec.objectives)
    area = spec.constraints.area_mm2_max
    limit = f", constraint ≤ {area:g}" if area is not None else ""
    return (f"colour: area (mm²{limit}). Black-edged: the Pareto front of all {n} objectives "
            f"({', '.join(spec.objectives)}), projected on each pair; orange line: that pair's own 2-D front.")


def reference_order(refs: dict[str, dict]) -> list[str]:
    """The reference designs in drawing order (REFERENCE_STYLE's, then any other)."""
    known = [n for n in REFERENCE_STYLE if n in refs]
    return known + [n for n in refs if n not in REFERENCE_STYLE]


def _place_labels(ax, labels: list[tuple[str, float, float]]) -> None:
    """Annotate each (text, x, y) at the first offset whose text box stays inside the axes and
    overlaps no label placed before and no reference marker (else the first that overlaps nothing;
    boxes estimated in points from the text length)."""
    to_points = 72.0 / ax.figure.dpi
    (left, bottom), (right, top) = np.asarray(ax.get_window_extent().get_points()) * to_points
    anchors = [np.asarray(ax.transData.transform((x, y))) * to_points for _, x, y in labels]
    taken: list[tuple[float, float, float, float]] = [(a[0] - 6, a[1] - 6, a[0] + 6, a[1] + 6) for a in anchors]

    def free(box) -> bool:
        return not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in taken)

    for (text, x, y), anchor in zip(labels, anchors):
        width = 0.56 * FONT * max(len(line) for line in text.split("\n"))
        height = 1.3 * FONT * (text.count("\n") + 1)
        boxes = []
        for dx, dy, ha in OFFSETS:
            x0 = anchor[0] + dx - (width if ha == "right" else 0)
            boxes.append(((dx, dy, ha), (x0, anchor[1] + dy, x0 + width, anchor[1] + dy + height)))
        inside = [c for c in boxes if left <= c[1][0] and c[1][2] <= right and bottom <= c[1][1] and c[1][3] <= top]
        choice, box = next((c for c in inside if free(c[1])), None) or next((c for c in boxes if free(c[1])),
                                                                             boxes[0])
        taken.append(box)
        dx, dy, ha = choice
        ax.annotate(text, (x, y), textcoords="offset points", xytext=(dx, dy), ha=ha, va="bottom", fontsize=FONT,
                    zorder=7, bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.75))


def wants_log(metric: str, values) -> bool:
    """Whether an axis of `metric` showing `values` is logarithmic, in every Pareto figure (these and
    pareto.html's): when the positive values span more than 30x (energy, latency; never accuracy)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    return not metric.startswith("accuracy") and len(values) > 0 and values.max() / values.min() > 30


def shown_values(table, refs: dict[str, dict], metric: str) -> list[float]:
    """What a Pareto panel's axis of `metric` shows: every completed trial and every reference design."""
    return [*column(table, metric)[column(table, "state") == "COMPLETE"], *(m[metric] for m in refs.values())]


def log_scale(ax, which: str, metric: str, values) -> None:
    """Log scale on axis `which` ("x" or "y") when `wants_log`, ticks at 1, 2, 5 per decade written
    plainly."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    if not wants_log(metric, values):
        return
    getattr(ax, f"set_{which}scale")("log")
    axis = getattr(ax, f"{which}axis")
    axis.set_major_locator(LogLocator(base=10, subs=LOG_TICKS))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_locator(NullLocator())


def front_2d(points: np.ndarray, a: str, b: str) -> tuple[np.ndarray, str]:
    """The 2-D front of `points` (columns: objectives a, b) sorted by a, and where its staircase steps
    (matplotlib's `where`: "pre" when a is maximised, else "post") to bound the region it dominates."""
    maximize = maximized((a, b))
    two_d = points[nondominated(points, maximize)]
    return two_d[np.argsort(two_d[:, 0])], "pre" if maximize[0] else "post"


def staircase(ax, points: np.ndarray, a: str, b: str, **style) -> None:
    """The 2-D front of `points` (columns: objectives a, b) as an orange staircase (`front_2d`)."""
    two_d, where = front_2d(points, a, b)
    ax.step(two_d[:, 0], two_d[:, 1], where=where, color=FRONT_2D_COLOUR, **style)


def _panel(ax, table, a: str, b: str, refs: dict[str, dict], provider: str, norm):
    """One pair. Returns the scatter whose colours are the areas (for the colour bar)."""
    ma, mb = OBJECTIVES[a].metric, OBJECTIVES[b].metric
    x, y, area = (column(table, c, float) for c in (ma, mb, "area_mm2"))
    done, feas = column(table, "state") == "COMPLETE", feasible_mask(table)
    infeas = done & ~feas
    ax.scatter(x[infeas], y[infeas], s=9, marker="x", color=INFEASIBLE_COLOUR, alpha=0.45, linewidths=0.8, zorder=1,
               label=f"infeasible ({infeas.sum()})")
    pareto = column(table, "pareto", bool)
    rest, front = feas & ~pareto, feas & pareto
    mappable = ax.scatter(x[rest], y[rest], s=10, c=area[rest], cmap=AREA_CMAP, norm=norm, alpha=0.55,
                          linewidths=0, zorder=2, label=f"feasible ({feas.sum()})")
    if front.any():
        ax.scatter(x[front], y[front], s=26, c=area[front], cmap=AREA_CMAP, norm=norm, edgecolors="black",
                   linewidths=0.7, zorder=3, label=f"Pareto front, all objectives ({front.sum()})")
        # the pair's own 2-D front, over the points
        staircase(ax, np.column_stack([x[front], y[front]]), a, b, lw=1.6, zorder=4, label="2-D front of this pair")
    labels = []
    for name in reference_order(refs):
        metrics = refs[name]
        style = dict(REFERENCE_STYLE.get(name, OTHER_STYLE))
        filled = style.pop("filled")
        color = style.pop("color")
        colours = dict(color=color, edgecolors="white") if filled else dict(facecolors="none", edgecolors=color)
        ax.scatter([metrics[ma]], [metrics[mb]], linewidths=0.8 if filled else 1.8, zorder=5, label=name,
                   **colours, **style)
        area = metrics.get("area_mm2")
        labels.append((f"{name} ({area:.2g} mm²)" if area == area and area is not None else name,
                       metrics[ma], metrics[mb]))
    for which, metric in (("x", ma), ("y", mb)):
        log_scale(ax, which, metric, shown_values(table, refs, metric))
    ax.set_xlabel(axis_label(a, provider))
    ax.set_ylabel(axis_label(b, provider))
    ax.grid(True, alpha=0.3)
    ax.autoscale_view()
    _place_labels(ax, labels)
    return mappable


def _area_norm(table):
    from matplotlib.colors import Normalize

    return Normalize(*area_range(table))


def _legend_handles(ax) -> tuple[list, list[str]]:
    """The panel's legend entries, with neutral colours for the area-coloured point clouds."""
    from matplotlib.lines import Line2D

    handles, labels = ax.get_legend_handles_labels()
    neutral = {"feasible": Line2D([], [], ls="", marker="o", ms=4, color="0.55"),
               "Pareto front": Line2D([], [], ls="", marker="o", ms=6, color="0.55", markeredgecolor="black")}
    for i, label in enumerate(labels):
        for start, proxy in neutral.items():
            if label.startswith(start):
                handles[i] = proxy
    return handles, labels


def prepare_figures(spec: StudySpec, waiting: Callable[[], bool] = lambda: False) -> None:
    """Build the study's Pareto figures' empty frames ahead (the overview's, then each pair's), each axis
    with its first PREPARED_TICKS ticks (PREPARED_FIGURES of them at most), until `waiting()` says figures
    wait to be drawn: a plot process does it while the trials run, and drawing then finds them ready
    (_figure; the frame and its ticks hold no data, and are a tenth of a figure's time). Matplotlib makes ticks as a draw first needs them and
    reuses them after (Axis.get_major_ticks), so ticks made ahead draw what ticks made then would: the
    same bytes."""
    pairs = len(list(combinations(spec.objectives, 2)))
    if not pairs:
        return
    layouts = [(*_overview_grid(pairs), *OVERVIEW_LAYOUT)] + [(1, 1, *PAIR_LAYOUT)] * pairs
    for layout in layouts[:PREPARED_FIGURES]:
        if waiting():
            return
        fig, axes, cax = _new_figure(*layout)
        for ax in (*axes.flat, cax):
            ax.xaxis.get_major_ticks(PREPARED_TICKS)
            ax.yaxis.get_major_ticks(PREPARED_TICKS)
        _PREPARED.setdefault(layout, []).append((fig, axes, cax))


_PREPARED: dict[tuple, list] = {}  # _figure's layout -> figures prepare_figures built (in a plot process)


def _overview_grid(pairs: int) -> tuple[int, int]:
    """(rows, columns) of the overview's panels: up to 3 pairs per row."""
    cols = min(pairs, 3)
    return (pairs + cols - 1) // cols, cols


def _figure(rows: int, cols: int, panel: tuple[float, float], margins: tuple[float, float, float, float]):
    """A figure of rows x cols panels of fixed size in inches and margins (left, right, top, bottom): one
    prepare_figures built when there is one, else a new one."""
    prepared = _PREPARED.get((rows, cols, panel, margins))
    return prepared.pop() if prepared else _new_figure(rows, cols, panel, margins)


def _new_figure(rows: int, cols: int, panel: tuple[float, float], margins: tuple[float, float, float, float],
                gaps: tuple[float, float] = (1.05, 1.0)):
    """A new _figure: margins and gaps fixed, no tight_layout pass (it measures every text twice) and
    the same layout every time."""
    import matplotlib.pyplot as plt

    (pw, ph), (left, right, top, bottom), (gw, gh) = panel, margins, gaps
    width = left + cols * pw + (cols - 1) * gw + right
    height = top + rows * ph + (rows - 1) * gh + bottom
    fig, axes = plt.subplots(rows, cols, figsize=(width, height), squeeze=False)
    fig.subplots_adjust(left=left / width, right=1 - right / width, top=1 - top / height, bottom=bottom / height,
                        wspace=gw / pw, hspace=gh / ph)
    cax = fig.add_axes((1 - (right - 0.25) / width, bottom / height, 0.14 / width,
                        (height - top - bottom) / height))
    return fig, axes, cax


def _save(fig, stem: Path) -> list[Path]:
    """PNG and SVG of one figure (PNG lightly compressed, SVG text kept as text: both written faster;
    no date and fixed element ids in the SVG: the same data give the same bytes)."""
    import matplotlib

    png, svg = stem.with_suffix(".png"), stem.with_suffix(".svg")
    fig.savefig(png, dpi=130, pil_kwargs={"compress_level": 1})
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "focus-dse"}):
        fig.savefig(svg, metadata={"Date": None})
    return [png, svg]


def _provider(table, spec: StudySpec) -> str:
    return next((p for p in table.get("accuracy_provider", ()) if p), spec.accuracy.provider)


def pyplot():
    """matplotlib.pyplot on the Agg backend (files only)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_columns(rows: list[dict[str, Any]], spec: StudySpec) -> dict[str, list]:
    """What the figures read of the trials table (dse/report/tables.py trial_rows), as columns: FIGURE_COLUMNS
    and the objectives' metrics."""
    names = [c for c in dict.fromkeys([*FIGURE_COLUMNS, *objective_columns(spec)]) if any(c in row for row in rows)]
    return {c: [row.get(c, np.nan) for row in rows] for c in names}  # missing: NaN, as in the table


def pareto_jobs(columns: dict[str, list], spec: StudySpec, refs: dict[str, dict], out_dir: Path) -> list[tuple]:
    """The Pareto figures as independent drawing jobs (function, args): the overview, then each pair, each
    carrying `columns` (figure_columns: a job is pickled to a plot process, which makes the table)."""
    pairs = list(combinations(spec.objectives, 2))
    return [(_draw, (plot_overview, columns, spec, refs, out_dir))] + \
        [(_draw, (plot_pair, columns, spec, refs, out_dir, a, b)) for a, b in pairs]


def _draw(plot, columns: dict[str, list], *args: Any) -> list[Path]:
    return plot({name: np.asarray(values) for name, values in columns.items()}, *args)


def plot_overview(table, spec: StudySpec, refs: dict[str, dict], out_dir: Path) -> list[Path]:
    """pareto.png/.svg: every pair side by side (one objective: its value per trial)."""
    plt = pyplot()
    out_dir.mkdir(parents=True, exist_ok=True)
    provider = _provider(table, spec)
    pairs = list(combinations(spec.objectives, 2))
    workloads = ", ".join(w if isinstance(w, str) else str(w) for w in spec.workloads)
    trials = len(column(table, "number"))
    title = f"study {spec.name}: {spec.accelerator} on {workloads} ({spec.convention}; {trials} trials)"
    if not pairs:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        metric = OBJECTIVES[spec.objectives[0]].metric
        done = column(table, "state") == "COMPLETE"
        ax.scatter(column(table, "number")[done], column(table, metric, float)[done], s=10,
                   c=np.where(column(table, "feasible", bool)[done], "0.5", INFEASIBLE_COLOUR))
        for name, metrics in refs.items():
            ax.axhline(metrics[metric], ls="--", lw=1, color=REFERENCE_STYLE.get(name, OTHER_STYLE)["color"],
                       label=name)
        ax.set_xlabel("trial")
        ax.set_ylabel(axis_label(spec.objectives[0], provider))
        ax.legend(fontsize=8, loc="upper right")
        fig.suptitle(title, fontsize=10)
        fig.subplots_adjust(left=0.12, right=0.97, top=0.9, bottom=0.12)
        written = _save(fig, out_dir / "pareto")
        plt.close(fig)
        return written
    norm = _area_norm(table)
    n = len(pairs)
    fig, axes, cax = _figure(*_overview_grid(n), *OVERVIEW_LAYOUT)
    mappable = None
    for ax, (a, b) in zip(axes.flat, pairs):
        mappable = _panel(ax, table, a, b, refs, provider, norm)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    handles, labels = _legend_handles(axes.flat[0])
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 8), fontsize=8, frameon=False)
    fig.suptitle(f"{title}\n{front_note(spec)}", fontsize=9.5)
    fig.colorbar(mappable, cax=cax, label="area (mm²)")
    written = _save(fig, out_dir / "pareto")
    plt.close(fig)
    return written


def plot_pair(table, spec: StudySpec, refs: dict[str, dict], out_dir: Path, a: str, b: str) -> list[Path]:
    """pareto_<a>_vs_<b>.png/.svg: one pair with its own legend and colour bar."""
    import textwrap

    plt = pyplot()
    out_dir.mkdir(parents=True, exist_ok=True)
    fig, axes, cax = _figure(1, 1, *PAIR_LAYOUT)
    ax = axes[0, 0]
    mappable = _panel(ax, table, a, b, refs, _provider(table, spec), _area_norm(table))
    fig.colorbar(mappable, cax=cax, label="area (mm²)")
    handles, labels = _legend_handles(ax)
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=7, frameon=False)
    fig.suptitle(f"{spec.name}: {a} vs {b}\n" + textwrap.fill(front_note(spec), 95), fontsize=8)
    written = _save(fig, out_dir / f"pareto_{a}_vs_{b}")
    plt.close(fig)
    return written
