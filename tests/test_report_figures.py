"""The report's figures: what they show and that they show it legibly (issues 13 and 14)."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from dse.search import load_study, run_study
from dse.search.storage import parse_storage
from study_helpers import write_study


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A finished 30-trial study: (spec, study, trials table, reference points)."""
    from dse.report.tables import trials_dataframe
    from dse.search.evaluation import DesignEvaluator
    from dse.search.study_store import open_study

    tmp = tmp_path_factory.mktemp("figures")
    spec = load_study(str(write_study(tmp, name="fig")))
    ref = parse_storage(str(tmp / "fig.log"))
    run_study(spec, ref, 30, progress=False)
    study = open_study(spec, ref, create=False)
    return tmp, spec, study, trials_dataframe(study, spec), DesignEvaluator(spec).reference_points()


def _jobs(study, spec, refs, out_dir):
    """The Pareto figures' drawing jobs, as a report makes them."""
    from dse.report.pareto import figure_columns, pareto_jobs
    from dse.report.tables import trial_rows

    return pareto_jobs(figure_columns(trial_rows(study, spec), spec), spec, refs, out_dir)


def _boxes_overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_reference_labels_do_not_overlap_when_designs_coincide(small):
    """AdapTiV and CMC almost on one spot (as in the latency panels) once printed 'AdapCMC'."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dse.report.pareto import _area_norm, _panel

    _, _, _, df, refs = small
    refs = {k: dict(v) for k, v in refs.items()}
    refs["CMC"]["accuracy"] = refs["AdapTiV"]["accuracy"] + 0.01
    refs["CMC"]["latency_s"] = refs["AdapTiV"]["latency_s"] * 1.01
    fig, ax = plt.subplots(figsize=(6, 4.5))
    _panel(ax, df, "accuracy", "latency", refs, "calibrated", _area_norm(df))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    labels = [t for t in ax.texts if t.get_text().split(" (")[0] in refs]
    assert len(labels) == len(refs)
    boxes = [t.get_window_extent(renderer) for t in labels]
    for (ta, a), (tb, b) in itertools.combinations(zip(labels, boxes), 2):
        assert not _boxes_overlap(a, b), (ta.get_text(), tb.get_text())
    # coinciding baselines are hollow: the one drawn last does not hide the other
    hollow = [c for c in ax.collections if c.get_label() in ("AdapTiV", "CMC")]
    assert len(hollow) == 2 and all(len(c.get_facecolor()) == 0 or c.get_facecolor()[0][3] == 0 for c in hollow)
    # the 2-D staircase is drawn over the trials' points
    stair = next(line for line in ax.lines if line.get_label() == "2-D front of this pair")
    points = [c for c in ax.collections if c.get_label().split(" (")[0] in ("feasible", "infeasible")
              or c.get_label().startswith("Pareto front")]
    assert points and all(stair.get_zorder() > c.get_zorder() for c in points)
    plt.close(fig)


def test_pareto_figures_show_area_and_say_what_the_front_is(small, tmp_path):
    _, spec, study, _, refs = small
    written = [path for func, args in _jobs(study, spec, refs, tmp_path) for path in func(*args)]
    assert {p.name for p in written} >= {"pareto.png", "pareto.svg", "pareto_accuracy_vs_energy.svg"}
    svg = (tmp_path / "pareto.svg").read_text()
    assert "area (mm²)" in svg  # the colour bar
    assert "projected on each pair" in svg and "Pareto front of all 3 objectives" in svg
    pair = (tmp_path / "pareto_energy_vs_latency.svg").read_text()
    assert "area (mm²)" in pair and "projected" in pair


def test_figures_drawn_in_the_plot_process_are_the_same_bytes(small, tmp_path):
    """Drawing in the child process changes where, not what: identical files."""
    from dse.report.plotter import Plotter

    _, spec, study, _, refs = small
    inline, plotter = Plotter(), Plotter.start()
    for func, args in _jobs(study, spec, refs, tmp_path / "inline"):
        inline.submit(func, *args)
    for func, args in _jobs(study, spec, refs, tmp_path / "child"):
        plotter.submit(func, *args)
    inline, child = inline.finish(), plotter.finish()
    assert [p.name for p in inline] == [p.name for p in child]
    for a, b in zip(inline, child):
        assert a.read_bytes() == b.read_bytes(), a.name


@pytest.mark.parametrize("limit", [4, 2])
def test_figures_drawn_on_prepared_frames_are_the_same_bytes(small, tmp_path, monkeypatch, limit):
    """Frames and ticks a plot process builds while the trials run (prepare_figures, at most PREPARED_FIGURES
    of them) draw the same files."""
    from dse.report import pareto

    _, spec, study, _, refs = small
    monkeypatch.setattr(pareto, "PREPARED_FIGURES", limit)
    plain = [p for func, args in _jobs(study, spec, refs, tmp_path / "plain") for p in func(*args)]
    pareto.prepare_figures(spec)
    assert sum(map(len, pareto._PREPARED.values())) == limit  # the overview and each of the 3 pairs, or fewer
    prepared = [p for func, args in _jobs(study, spec, refs, tmp_path / "prepared") for p in func(*args)]
    assert not any(pareto._PREPARED.values())  # every frame was drawn on
    assert [p.name for p in plain] == [p.name for p in prepared]
    for a, b in zip(plain, prepared):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_figure_jobs_draw_without_pandas(small, tmp_path):
    """A plot process imports matplotlib only (pandas would take it as long again while the trials run):
    every figure job, the importances' too, draws in a fresh interpreter that never imports pandas."""
    import pickle

    from dse.report.importance import importances, plot_importances
    from dse.search.evaluation import DesignEvaluator

    _, spec, study, _, refs = small
    jobs = _jobs(study, spec, refs, tmp_path / "out")
    jobs.append((plot_importances, (importances(study, spec, DesignEvaluator(spec)), tmp_path / "out")))
    (tmp_path / "jobs.pkl").write_bytes(pickle.dumps(jobs))
    script = ("import pickle, sys\n"
              "import matplotlib; matplotlib.use('Agg')\n"
              f"jobs = pickle.loads(open({str(tmp_path / 'jobs.pkl')!r}, 'rb').read())\n"
              "written = [p for func, args in jobs for p in func(*args)]\n"
              "print(len(written), 'pandas' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["9", "False"], done.stdout + done.stderr


def _failing_preparation(waiting):
    raise RuntimeError("a preparation that fails")


def test_a_failed_preparation_only_loses_its_head_start(tmp_path):
    """prepare is a head start: when it fails, the plot process still draws (what it would have prepared,
    drawing builds)."""
    from dse.report.plotter import Plotter

    plotter = Plotter.start(prepare=(_failing_preparation, ()))
    path = tmp_path / "drawn"
    plotter.submit(_touch, path)
    assert plotter.finish() == [path] and path.exists()


def _touch(path):
    path.touch()
    return [path]


def test_plot_process_reports_a_failure(tmp_path):
    from dse.report.plotter import Plotter

    plotter = Plotter.start()
    plotter.submit(np.zeros, "not a shape")
    with pytest.raises(RuntimeError, match="plot process"):
        plotter.finish()


def test_html_loads_plotly_from_beside_it(small, tmp_path):
    pytest.importorskip("plotly")
    from dse.report.html import PLOTLY_JS, write_html
    from dse.report.importance import importances
    from dse.search.evaluation import DesignEvaluator

    _, spec, study, df, refs = small
    imp = importances(study, spec, DesignEvaluator(spec))
    written = write_html(df, spec, refs, imp, tmp_path, "calibrated")
    assert {p.name for p in written} == {"pareto.html", PLOTLY_JS}
    page = (tmp_path / "pareto.html").read_text()
    assert f"src='{PLOTLY_JS}'" in page and page.count("Plotly.newPlot") >= 3
    assert len(page) < 1_000_000  # the 4.8 MB of plotly.js are not in the page
    assert "does not read" in page and "projected" in page
    # every figure is a valid plotly specification (plotly's own validators)
    import plotly.graph_objects as go

    from dse.report.html import _history_figure, _importance_figure, _pareto_figures

    for figure in _pareto_figures(df, spec, refs, "calibrated") + [_history_figure(df, spec, "calibrated"),
                                                                    _importance_figure(imp)]:
        go.Figure(figure)
    js = tmp_path / PLOTLY_JS
    before = js.stat().st_mtime_ns
    write_html(df, spec, refs, imp, tmp_path, "calibrated")
    assert js.stat().st_mtime_ns == before  # written once per folder


def test_html_pairs_draw_what_the_png_draws(small):
    """pareto.html's pairs panel as the PNG panel (issue 19): the same log axes, the orange 2-D front
    staircase through the same points, the reference markers' shapes, the legend above the panels
    (below them it overprinted the axis titles)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dse.report.html import SYMBOLS, _pareto_figures
    from dse.report.pareto import FRONT_2D_COLOUR, REFERENCE_STYLE, _area_norm, _panel

    _, spec, _, df, refs = small
    df = df.copy()
    slow = df.index[df["state"] == "COMPLETE"][0]
    df.loc[slow, "latency_s"] = 100 * df["latency_s"].max()  # a slow trial: latency axes are log (> 30x)
    pairs_figure = _pareto_figures(df, spec, refs, "calibrated")[-1]
    layout, data = pairs_figure["layout"], pairs_figure["data"]
    assert layout["legend"]["y"] >= 1 and layout["legend"]["yanchor"] == "bottom"
    fig, ax = plt.subplots()
    logs = 0
    for i, (a, b) in enumerate(itertools.combinations(spec.objectives, 2)):
        suffix = "" if i == 0 else str(i + 1)
        ax.clear()
        _panel(ax, df, a, b, refs, "calibrated", _area_norm(df))
        for which, scale in (("x", ax.get_xscale()), ("y", ax.get_yscale())):
            assert layout[f"{which}axis{suffix}"].get("type", "linear") == scale, (a, b, which)
            logs += scale == "log"
        traces = [t for t in data if t["xaxis"] == f"x{suffix}"]
        line = next(t for t in traces if t["name"] == "2-D front of this pair")
        stair = next(l for l in ax.lines if l.get_label() == "2-D front of this pair")
        assert line["x"] == stair.get_xdata().tolist() and line["y"] == stair.get_ydata().tolist()
        shape = {"steps-post": "hv", "steps-pre": "vh"}[stair.get_drawstyle()]
        assert line["line"] == {"color": FRONT_2D_COLOUR, "width": 2, "shape": shape}
        for name, style in REFERENCE_STYLE.items():
            symbol = next(t for t in traces if t["name"] == name)["marker"]["symbol"]
            assert symbol == SYMBOLS[style["marker"]] + ("" if style["filled"] else "-open"), name
    plt.close(fig)
    assert logs >= 2  # the two latency axes at least


def test_reproduce_sweep_plot_axes_from_zero_and_every_series_in_the_legend():
    from dse.commands.reproduce import sweep_figure
    from dse.paper import sweep

    fig = sweep_figure(sweep("block", convention="focus-paper"), "block")
    latency, energy = fig.axes
    assert latency.get_ylim()[0] == 0 and energy.get_ylim()[0] == 0
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "energy" in labels and "paper simulator (latency)" in labels and "paper simulator (energy)" in labels
    assert len(labels) == 5
    fig.canvas.draw()
    legend = fig.legends[0].get_window_extent()
    for ax in fig.axes:  # the legend lies outside both panels
        assert not _boxes_overlap(legend, ax.get_window_extent())


def test_reproduce_sweep_names_its_convention_and_marks_values_beyond_the_measured_curve():
    """sweep_vector_size drew 512-4096 as if measured when the curve ended at 384: values beyond a
    curve are marked. (The LLM's vector curve, the paper's sweep, now covers 8-4096: the marking is
    checked on rows that say a value was clamped.)"""
    from dse.commands.reproduce import sweep_figure
    from dse.paper import SWEEPS, sweep

    rows = sweep("vector_size", convention="faithful")
    assert {r["value"]: r["redundancy"] for r in rows} == {v: "measured" for v in SWEEPS["vector_size"]}
    assert not any(bar.get_hatch() for bar in sweep_figure(rows, "vector_size").axes[0].patches)
    beyond = [dict(r, redundancy="clamped to 384") if r["value"] > 128 else r for r in rows]
    fig = sweep_figure(beyond, "vector_size")
    latency, energy = fig.axes
    assert "faithful convention" in latency.get_title()
    hatches = [bar.get_hatch() or "" for bar in latency.patches]
    assert hatches == 2 * ["//" if v > 128 else "" for v in SWEEPS["vector_size"]]  # compute and stall bars
    hollow = next(line for line in energy.lines if line.get_label().startswith("hatched, hollow"))
    assert list(hollow.get_xdata()) == ["512", "2048", "4096"] and "vector_size 384" in hollow.get_label()
    block = sweep_figure(sweep("block", convention="focus-paper"), "block")
    assert "focus-paper convention" in block.axes[0].get_title()
    assert not any(bar.get_hatch() for bar in block.axes[0].patches)  # every block was measured


def _unwritable(path):
    raise PermissionError(13, "Permission denied", str(path))


def test_an_unwritable_figure_is_the_same_one_line_error_as_in_one_process(tmp_path):
    """An OSError (a full disk, an unwritable folder) in a plot process is raised again as is, so
    the CLI prints its one line instead of a traceback."""
    from dse.report.plotter import Plotter

    plotter = Plotter.start()
    plotter.submit(_unwritable, tmp_path / "pareto.png")
    with pytest.raises(PermissionError, match="Permission denied"):
        plotter.finish()


_KILLED_PARENT = """
import multiprocessing, time
from dse.report.plotter import Plotter

plotter = Plotter.start(2)
plotter.submit(time.sleep, 1.0)
plotter.submit(time.sleep, 1.0)
# larger than a pipe's buffer: the parent dies half-way through sending it, and a child that
# reads it waits for the rest, which never comes (issue 19)
plotter.submit(len, b"x" * (4 << 20))
print(*(p.pid for p in multiprocessing.active_children()), flush=True)
time.sleep(60)
"""


def _running(pid: int) -> bool:
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie holds no memory; init reaps it


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_plot_processes_end_when_their_parent_is_killed(sig):
    """A parent killed while it hands out the figures leaves no plot process behind."""
    parent = subprocess.Popen([sys.executable, "-c", _KILLED_PARENT], stdout=subprocess.PIPE, text=True)
    children = [int(pid) for pid in parent.stdout.readline().split()]
    assert len(children) == 2
    parent.send_signal(sig)
    parent.wait()
    deadline = time.monotonic() + 5
    while any(map(_running, children)) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [pid for pid in children if _running(pid)]
    for pid in left:  # not to leave them to the rest of the session
        os.kill(pid, signal.SIGKILL)
    assert not left, "plot processes outlived their parent"
