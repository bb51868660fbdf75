"""A small study end to end through the CLI: run, reports, status, export, resume."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pandas as pd
import pytest

from dse.errors import UserError
from study_helpers import study_main, write_study


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One run of a 30-trial study with reports and an export of the 3 best designs."""
    tmp = tmp_path_factory.mktemp("study")
    path = write_study(tmp, constraints={"area_mm2_max": 4.0, "accuracy_drop_max": 3.0, "buffers_fit": True})
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = study_main(["run", str(path), "--results-dir", str(tmp / "results"), "--out", str(tmp / "accel"),
                           "--export-best", "3", "--no-progress"])
    assert code == 0
    return tmp, path, out.getvalue()


def test_run_prints_accuracy_fit_and_default_comparison(finished):
    _, _, out = finished
    assert "cross-validated" in out and "LOO" in out
    assert "vs Focus default (" in out and "mm²" in out


def test_reports_written(finished):
    tmp, _, _ = finished
    folder = tmp / "results" / "small"
    for name in ("journal.log", "trials.csv", "trials.parquet", "pareto.png", "pareto.svg",
                 "importances.csv", "accuracy_model.txt", "reference_points.csv",
                 "pareto_accuracy_vs_energy.png", "pareto_energy_vs_latency.svg"):
        assert (folder / name).is_file() and (folder / name).stat().st_size > 0, name
    assert (folder / "pareto.svg").read_text().lstrip().startswith("<?xml")
    try:
        import plotly  # noqa: F401  (pareto.html loads its plotly.min.js)
    except ImportError:
        pytest.skip("plotly not installed: no pareto.html (pip install plotly)")
    html = (folder / "pareto.html").read_text()
    assert "plotly" in html.lower() and "calibrated" in html
    refs = pd.read_csv(folder / "reference_points.csv", index_col=0)
    assert {"dense", "Focus default", "AdapTiV", "CMC"} <= set(refs.index)


def test_parquet_writes_numbers_and_none_as_floats(tmp_path):
    """Object columns of numbers and None (a threshold left at its default, an encoder threshold off)
    are floats in the Parquet file, None a null (NaN); text columns stay text; the CSV is as written."""
    from dse.report.tables import write_tables

    df = pd.DataFrame({"number": [0, 1, 2],
                       "threshold": pd.Series([0.9, None, 0.85], dtype=object),
                       "encoder_threshold": pd.Series([None, None, None], dtype=object),
                       "dram_bandwidth_gbps": pd.Series([64, None, 12.5], dtype=object),
                       "dataflow": ["ws", "os", "ws"],
                       "label": pd.Series(["a", None, 3], dtype=object)})
    _, parquet = write_tables(df, tmp_path)
    back = pd.read_parquet(parquet)
    for col in ("threshold", "encoder_threshold", "dram_bandwidth_gbps"):
        assert back[col].dtype == np.float64, (col, back[col].dtype)
    assert back["threshold"].tolist()[::2] == [0.9, 0.85] and np.isnan(back["threshold"][1])
    assert back["encoder_threshold"].isna().all()
    assert back["dram_bandwidth_gbps"].tolist()[::2] == [64.0, 12.5]
    assert back["dataflow"].tolist() == ["ws", "os", "ws"]
    assert back["label"].tolist() == ["a", "", "3"]  # mixed text and numbers: text, as before
    assert pd.read_csv(tmp_path / "trials.csv")["threshold"].tolist()[::2] == [0.9, 0.85]


def test_trials_table_one_row_per_trial_with_state(finished):
    tmp, _, _ = finished
    df = pd.read_csv(tmp / "results" / "small" / "trials.csv")
    pq = pd.read_parquet(tmp / "results" / "small" / "trials.parquet")
    assert len(df) == len(pq) == 30
    for col in df.columns:  # numbers in the CSV are numbers in the Parquet file
        if pd.api.types.is_float_dtype(df[col]) and df[col].notna().any():
            assert pd.api.types.is_float_dtype(pq[col]), (col, pq[col].dtype)
    assert pq["encoder_threshold"].dtype == np.float64 and pq["encoder_threshold"].isna().all()  # None: off
    assert sorted(df["number"]) == list(range(30))
    assert set(df["state"]) <= {"COMPLETE", "FAIL"}
    for col in ("feasible", "pareto", "accuracy", "energy_j", "latency_s", "area_mm2", "rows", "cols",
                "threshold", "accuracy_provider", "constraint:area_mm2_max", "constraint:buffers_fit"):
        assert col in df.columns, col
    assert df["accuracy_provider"].str.startswith("calibrated").all()
    # infeasible trials are kept and marked, never on the front
    assert (~df["feasible"]).any() and not (df["pareto"] & ~df["feasible"]).any()
    infeasible = df[~df["feasible"]]
    cons = infeasible[[c for c in df.columns if c.startswith("constraint:")]]
    assert (cons.max(axis=1) > 0).all()
    # trial 0 is the Focus default design (inside this space)
    first = df.iloc[0]
    assert first["default_design"] and first["rows"] == 32 and first["m_tile"] == 1024


def test_cycle_columns_are_whole_cycles_and_latency_their_unrounded_time(finished):
    """Issue 19: stall_cycles was fractional in trials.csv; latency_s is computed from the model's
    unrounded cycles (evaluation.py docstring), within half a cycle of total_cycles / f."""
    tmp, _, _ = finished
    df = pd.read_csv(tmp / "results" / "small" / "trials.csv")
    done = df[df["state"] == "COMPLETE"]
    for col in ("total_cycles", "stall_cycles"):
        assert pd.api.types.is_integer_dtype(done[col]), (col, done[col].dtype)
    cycles_of_latency = done["latency_s"] * done["frequency_mhz"] * 1e6
    # half a cycle of rounding, and the float rounding of the product (1e-12 of the cycles)
    assert ((cycles_of_latency - done["total_cycles"]).abs() <= 0.5 + 1e-12 * done["total_cycles"]).all()


def test_status_json(finished, capsys):
    tmp, path, _ = finished
    assert study_main(["status", str(path), "--results-dir", str(tmp / "results"), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["trials"] == 30 and s["states"].get("COMPLETE", 0) + s["states"].get("FAIL", 0) == 30
    assert s["pareto"] >= 1 and set(s["best"]) == {"accuracy", "energy", "latency"}
    # by name alone (the spec stored with the study)
    assert study_main(["status", "small", "--results-dir", str(tmp / "results")]) == 0
    assert "Pareto front" in capsys.readouterr().out


def test_export_scalesim_loads_and_design_resimulates(finished):
    from scalesim.scale_config import scale_config

    from dse.design import DesignPoint
    from dse.evaluate import evaluate
    from dse.workloads import resolve_workload

    tmp, _, _ = finished
    root = tmp / "accel" / "small"
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    assert [p.name for p in folders] == ["1", "2", "3"]
    index = pd.read_csv(root / "index.csv")
    assert list(index["rank"]) == [1, 2, 3]
    for folder in folders:
        cfg = scale_config()
        cfg.read_conf_file(str(folder / "scalesim.cfg"))
        record = json.loads((folder / "design.json").read_text())
        d = record["design"]
        assert cfg.get_array_dims() == (d["rows"], d["cols"]) or list(cfg.get_array_dims()) == [d["rows"], d["cols"]]
        assert cfg.get_dataflow() == d["dataflow"]
        assert (folder / "topology.csv").read_text().startswith("Layer, M, N, K")
        assert (folder / "layout.csv").is_file()
        ev = evaluate(DesignPoint.from_dict(d), resolve_workload(record["workload"])).to_dict()
        for key, metric in (("energy_j", "energy_j"), ("execution_time_s", "latency_s"), ("area_mm2", "area_mm2")):
            assert ev[key] == record["metrics"][metric], key
        # the design's DRAM bandwidth (64 GB/s) in 2-byte words per cycle at its clock, USER mode
        assert cfg.use_user_dram_bandwidth()
        words = max(1, round(d["dram_bandwidth_gbps"] * 1e3 / d["frequency_mhz"] / 2))
        assert cfg.get_bandwidths_as_list() == [words]
        assert isinstance(record["metrics"]["total_cycles"], int)
        assert record["metrics_workload"] == record["workload"] == "llava_vid/mvbench"
        assert set(record["per_workload"]) == {"llava_vid/mvbench"}


def test_export_resimulates_through_simulate_cli(finished, capsys):
    from dse.cli import main

    tmp, _, _ = finished
    design = tmp / "accel" / "small" / "1" / "design.json"
    record = json.loads(design.read_text())
    assert main(["simulate", "--design", str(design), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["energy_j"] == record["metrics"]["energy_j"]
    assert out["execution_time_s"] == record["metrics"]["latency_s"]
    assert out["total_cycles"] == round(record["metrics"]["total_cycles"])


def test_export_command_and_resume(finished, capsys):
    tmp, path, _ = finished
    out = tmp / "exp2"
    assert study_main(["export", str(path), "--results-dir", str(tmp / "results"), "--best", "2",
                       "--out", str(out)]) == 0
    assert sorted(p.name for p in (out / "small").iterdir() if p.is_dir()) == ["1", "2"]
    # resume to a higher target adds exactly the difference; numbers stay unique
    assert study_main(["resume", str(path), "--results-dir", str(tmp / "results"), "--trials", "40",
                       "--no-progress", "--no-reports"]) == 0
    capsys.readouterr()
    assert study_main(["status", str(path), "--results-dir", str(tmp / "results"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["trials"] == 40


def test_resume_of_absent_study_is_an_error(tmp_path, capsys):
    path = write_study(tmp_path, name="never")
    assert study_main(["resume", str(path), "--results-dir", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "never" in err


def test_infeasible_designs_fail_or_are_marked_not_dropped(tmp_path):
    """A design the model rejects is stored as FAIL with its message."""
    from dse.search import load_study, resolve_storage, run_study
    from dse.search.study_store import open_study

    path = write_study(tmp_path, name="fails", trials=6, accuracy={"provider": "user", "command": "exit 3"},
                       sampler="random")
    spec = load_study(str(path))
    ref = resolve_storage(spec.name, tmp_path, None, None)
    run_study(spec, ref, 6, progress=False)
    trials = open_study(spec, ref, create=False).trials
    assert len(trials) == 6 and all(t.state.name == "FAIL" for t in trials)
    assert all("exited 3" in t.user_attrs["error"] for t in trials)


def test_buffers_fit_constraint(tmp_path):
    from dse.search import load_study
    from dse.search.evaluation import DesignEvaluator

    path = write_study(tmp_path, space={"buffer_kb": {"output": {"low": 64, "high": 1024, "log": True}}})
    evaluator = DesignEvaluator(load_study(str(path)))
    design = evaluator.default_design()
    ok = evaluator.run(design)
    assert ok.feasible and ok.buffer_shortfall == 0.0  # the default output buffer is exactly what tiles need
    small = evaluator.run({**design, "buffer_kb": {"output": 96}})
    assert not small.feasible and small.buffer_shortfall == pytest.approx(0.75)  # 96 of 384 kB


def test_grid_sampler_stops_at_grid_size(tmp_path):
    from dse.search import load_study, resolve_storage, run_study

    path = write_study(tmp_path, name="grid", sampler="grid", trials=100,
                       space={"rows": [16, 32], "dataflow": ["ws", "os"], "threshold": {"low": 0.8, "high": 0.9,
                                                                                         "step": 0.05}})
    spec = load_study(str(path))
    summary = run_study(spec, resolve_storage(spec.name, tmp_path, None, None), 100, progress=False)
    assert summary.after == 12


@pytest.mark.parametrize("workers", [1, 2])
def test_grid_sampler_visits_distinct_points(tmp_path, workers):
    """Every grid point once: the default design takes no grid slot, workers split the grid."""
    from dse.search import load_study, run_study
    from dse.search.storage import parse_storage
    from dse.search.study_store import open_study

    path = write_study(tmp_path, name="gridd", sampler="grid", trials=24,
                       space={"rows": [16, 32, 64], "dataflow": ["ws", "os"], "m_tile": [512, 1024],
                              "threshold": [0.8, 0.9]})
    spec = load_study(str(path))
    ref = parse_storage(str(tmp_path / "grid.log"))
    summary = run_study(spec, ref, 24, workers=workers, progress=False)
    trials = open_study(spec, ref, create=False).get_trials(deepcopy=False)
    points = {tuple(sorted(t.params.items())) for t in trials}
    assert summary.after == len(trials) == 24
    assert len(points) == 24, "each grid point exactly once"
    assert run_study(spec, ref, 100, workers=workers, progress=False).after == 24  # the grid is done


def test_export_custom_and_several_workloads(tmp_path):
    """A custom workload is written as {model, frames, patches} (what simulate rebuilds it from); with
    several workloads the top-level metrics are the first's, the per-workload ones all kept."""
    from dse.design import DesignPoint
    from dse.evaluate import evaluate
    from dse.workloads import resolve_workload

    custom = {"model": "qwen2-7b", "frames": 16, "patches": 196}
    path = write_study(tmp_path, name="multi", trials=8, workloads=[custom, "llava_vid/mvbench"],
                       constraints={"buffers_fit": True})
    assert study_main(["run", str(path), "--results-dir", str(tmp_path / "r"), "--out", str(tmp_path / "a"),
                       "--export-best", "1", "--no-progress"]) == 0
    record = json.loads((tmp_path / "a" / "multi" / "1" / "design.json").read_text())
    assert record["workload"] == custom
    w = resolve_workload(None, **record["workload"])
    assert record["metrics_workload"] == w.name == record["workloads"][0]
    assert set(record["per_workload"]) == {w.name, "llava_vid/mvbench"}
    ev = evaluate(DesignPoint.from_dict(record["design"]), w).to_dict()
    assert ev["energy_j"] == record["metrics"]["energy_j"] and ev["total_cycles"] == record["metrics"]["total_cycles"]
    assert record["study_metrics"]["energy_j"] == pytest.approx(
        sum(m["energy_j"] for m in record["per_workload"].values()))


def test_resume_defaults_to_the_stored_target(tmp_path, capsys):
    from dse.search import load_study, resolve_storage
    from dse.search.study_store import open_study

    path = write_study(tmp_path, name="tgt", trials=5)
    common = ["--results-dir", str(tmp_path), "--no-progress", "--no-reports"]
    assert study_main(["run", str(path), "--trials", "3", *common]) == 0
    assert study_main(["run", str(path), "--trials", "12", "--timeout", "0.0001", *common]) == 0  # stops early
    capsys.readouterr()
    assert study_main(["resume", str(path), *common]) == 0
    assert "target 12 trials" in capsys.readouterr().out
    spec = load_study(str(path))
    assert len(open_study(spec, resolve_storage(spec.name, tmp_path, None, None), create=False).get_trials()) == 12


def test_unreachable_storage_fails_before_printing(tmp_path, capsys):
    path = write_study(tmp_path)
    assert study_main(["run", str(path), "--storage", "postgresql://u:p/w@127.0.0.1:1/x", "--no-progress",
                       "--results-dir", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "p/w" not in captured.err


def test_bad_cli_values(tmp_path, capsys):
    path = write_study(tmp_path)
    for args in (["--workers", "0"], ["--trials", "-3"], ["--timeout", "0"]):
        assert study_main(["run", str(path), "--results-dir", str(tmp_path), *args]) == 2
        assert capsys.readouterr().err.count("\n") == 1
    with pytest.raises(UserError):
        from dse.search.storage import parse_storage

        parse_storage("not-a-url")


def test_run_reports_through_the_run_s_own_study_object(tmp_path, monkeypatch):
    """`study run` reads its reports through the study object it opened before the trials (the storage is
    not opened again for them), and that object sees every trial the run wrote through run_study's own
    storage objects (SQLite: a cached RDB storage)."""
    import dse.report
    import dse.search.study_store as store

    opened, reported = [], []
    open_study, write_reports = store.open_study, dse.report.write_reports
    monkeypatch.setattr(store, "open_study", lambda *a, **k: opened.append(open_study(*a, **k)) or opened[-1])
    monkeypatch.setattr(dse.report, "write_reports", lambda study, *a, **k: reported.append(study)
                        or write_reports(study, *a, **k))
    path = write_study(tmp_path, trials=12)
    assert study_main(["run", str(path), "--storage", f"sqlite:///{tmp_path}/s.db", "--results-dir",
                       str(tmp_path / "res"), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    assert len(reported) == 1 and reported[0] is opened[0]  # the command's own, opened first
    assert sorted(pd.read_csv(tmp_path / "res" / "small" / "trials.csv")["number"]) == list(range(12))


def _run(spec, folder, trials):
    from dse.search import resolve_storage, run_study

    ref = resolve_storage(spec.name, folder, None, None)
    run_study(spec, ref, trials, progress=False)
    return ref


def _area_and_params(spec, ref):
    from dse.search.study_store import DEFAULT_ATTR, open_study

    trials = open_study(spec, ref, create=False).get_trials(deepcopy=False)
    return [(t.user_attrs["metrics"]["area_mm2"], tuple(sorted(t.params.items())), bool(t.user_attrs.get(DEFAULT_ATTR)))
            for t in trials]


def test_skipped_proposals_are_never_evaluated_nor_stored(tmp_path):
    """sampler.skip_over_area / skip_repeats: every stored trial but the default design is a new design
    within the area limit, also across a resume; without them the same study stores designs over it."""
    from dse.search import load_study, run_study

    sampler = {"name": "nsga2", "population_size": 10}
    plain = load_study(str(write_study(tmp_path, name="plain", sampler=sampler, trials=60)))
    rows = _area_and_params(plain, _run(plain, tmp_path, 60))
    assert any(area > 5.0 for area, _, _ in rows)  # what the option prevents

    spec = load_study(str(write_study(tmp_path, name="skips", trials=40,
                                      sampler={**sampler, "skip_over_area": True, "skip_repeats": True})))
    ref = _run(spec, tmp_path, 40)
    assert run_study(spec, ref, 60, progress=False).after == 60  # resumed: the stored designs are skipped too
    rows = _area_and_params(spec, ref)
    assert len(rows) == 60 and rows[0][2]  # trial 0: the default design
    assert all(area <= 5.0 for area, _, _ in rows)
    assert len({params for _, params, _ in rows}) == 60


def test_skipping_gives_up_after_max_skipped_in_a_row(tmp_path, monkeypatch, capsys):
    """No design fits the area limit: after MAX_SKIPPED skips the next proposal is evaluated, with one warning;
    the default design is evaluated whatever its area."""
    import dse.search.worker as worker
    from dse.errors import reset_warnings
    from dse.search import load_study

    monkeypatch.setattr(worker, "MAX_SKIPPED", 5)
    reset_warnings()
    spec = load_study(str(write_study(tmp_path, name="tiny", trials=4, constraints={"area_mm2_max": 0.01},
                                      sampler={"name": "random", "skip_over_area": True})))
    rows = _area_and_params(spec, _run(spec, tmp_path, 4))
    assert len(rows) == 4 and rows[0][2] and all(area > 0.01 for area, _, _ in rows)
    assert capsys.readouterr().err.count("proposals were all skipped") == 1


def test_a_generation_at_once_is_the_same_study(tmp_path, monkeypatch):
    """NSGA-II's trials of one generation are evaluated together (worker.generation_room): the stored
    study is trial for trial the one a run evaluating them one by one writes."""
    import dse.search.worker as worker
    from dse.search.study_store import UID_ATTR, open_study
    from dse.search import load_study, resolve_storage, run_study

    spec = load_study(str(write_study(tmp_path, name="generations", trials=70,
                                      sampler={"name": "nsga2", "population_size": 16, "skip_repeats": True})))
    sizes = []
    outcomes = worker._outcomes
    monkeypatch.setattr(worker, "_outcomes", lambda ev, designs: sizes.append(len(designs)) or outcomes(ev, designs))
    stored = {}
    for mode in ("generation", "one by one"):
        if mode == "one by one":
            monkeypatch.setattr(worker, "generation_room", lambda local, trial, default_attr: 1)
        ref = resolve_storage(spec.name, tmp_path / mode.replace(" ", "_"), None, None)
        run_study(spec, ref, 70, seed=1, progress=False)
        stored[mode] = [(t.params, t.values, t.state, {k: v for k, v in t.user_attrs.items() if k != UID_ATTR})
                        for t in open_study(spec, ref, create=False).get_trials()]
    assert max(sizes) == 16  # a whole generation at once in the first run
    assert len(stored["generation"]) == 70 and stored["generation"] == stored["one by one"]


def test_the_progress_bar_counts_its_rate_from_the_first_trials_stored(monkeypatch):
    """On a fresh machine the first trials wait ~20 s for CACTI: the bar's time left must not extrapolate
    that wait ("1/600 [00:20<3:25:10]") but count from when trials were first stored; "?" until then."""
    import io

    import tqdm.std

    from dse.search.progress import StudyBar

    now = [100.0]
    monkeypatch.setattr(tqdm.std, "time", lambda: now[0])  # tqdm's clock, which the bar reads too
    bar = StudyBar(total=600, initial=0, file=io.StringIO(), unit="trial", mininterval=0)
    now[0] += 20.0  # the first generation waits for CACTI
    bar.update(1)
    assert "<?, ?trial/s" in str(bar)
    now[0] += 0.5
    bar.update(71)  # 71 more in half a second: 142 trials/s, 528 left
    assert bar.format_dict["rate"] == pytest.approx(142.0)
    assert "<00:03, 142.00trial/s" in str(bar)
    now[0] += 8.5
    bar.update(528)  # full: the rate over the whole run, as the run's summary line gives it
    assert "600/600 [00:29<00:00, 20.69trial/s]" in str(bar)
    bar.close()
