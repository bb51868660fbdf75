"""`focus-dse study exhaustive`: the exact front of a study's grid, on small grids.

Checked against brute force (every grid point through DesignEvaluator.run, an independent
dominance check), against an Optuna study on the same space (no trial beats the front),
across executors (inline, local processes, a Dask LocalCluster) and across a SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from dse.search.evaluation import METRIC_KEYS, DesignEvaluator
from dse.search.exhaustive import enumerate_grid, exact_front
from dse.search.grid import grid_points
from dse.search.studyfile import load_study
from study_helpers import study_main, write_study

ROOT = Path(__file__).resolve().parents[1]
GRID_SPACE = {  # 432 points, about a third over the area limit
    "rows": {"low": 16, "high": 96, "step": 16},
    "cols": {"low": 16, "high": 96, "step": 16},
    "dataflow": ["ws", "os"],
    "threshold": {"low": 0.8, "high": 0.96, "step": 0.08},
    "sec_scale": [0.5, 2.0],
    "dram_bandwidth_gbps": 64,
}
CONSTRAINTS = {"area_mm2_max": 4.0, "accuracy_drop_max": 2.0, "buffers_fit": True}


def grid_study(folder: Path, name: str = "grid", **overrides) -> Path:
    raw = {"space": GRID_SPACE, "constraints": CONSTRAINTS, "trials": 60, **overrides}
    return write_study(folder, name=name, **raw)


@pytest.fixture(scope="module")
def enumerated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("exhaustive")
    spec = load_study(str(grid_study(folder)))
    run = enumerate_grid(spec, folder / "out", chunk_points=100, progress=False)
    return spec, run, exact_front(run)


def _dominated_by_any(v: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Brute force, all objectives minimised: is row i strictly dominated by some row?"""
    return np.array([((others <= row).all(axis=1) & (others < row).any(axis=1)).any() for row in v], dtype=bool)


def test_the_front_is_the_brute_force_front(enumerated):
    spec, run, front = enumerated
    evaluator = DesignEvaluator(spec)
    outcomes = [evaluator.run(spec.space.design_dict(p, spec.accelerator, spec.convention)) for p in grid_points(spec.space)]
    feasible = [o for o in outcomes if o.feasible]
    assert run.total("points") == len(outcomes) == 432
    assert run.total("feasible") == len(feasible)
    assert 0 < run.total("screened") < 432 and run.total("screened") + run.total("evaluated") == 432
    assert len(feasible) < sum(o.metrics["area_mm2"] <= 4.0 for o in outcomes), "the accuracy limit bites too"
    sign = np.array([-1.0, 1.0, 1.0])  # accuracy up, energy and latency down
    v = np.array([[o.metrics["accuracy"], o.metrics["energy_j"], o.metrics["latency_s"]] for o in feasible]) * sign
    expected = sorted((o.metrics["accuracy"], o.metrics["energy_j"], o.metrics["latency_s"])
                      for o, dominated in zip(feasible, _dominated_by_any(v, v)) if not dominated)
    assert sorted(map(tuple, front[["accuracy", "energy_j", "latency_s"]].to_numpy(float))) == expected
    for row in front.to_dict("records"):
        outcome = evaluator.run(spec.space.design_dict({n: row[n] for n in spec.space.grid()}, spec.accelerator,
                                                       spec.convention))
        assert {k: row[k] for k in outcome.design if k != "buffer_kb"} == \
            {k: v for k, v in outcome.design.items() if k != "buffer_kb"}
        for key in METRIC_KEYS:  # a trial's numbers, to the last bit
            assert row[key] == outcome.metrics[key], key


def test_no_study_trial_is_better_than_the_exact_front(tmp_path):
    path = grid_study(tmp_path, trials=80)
    assert study_main(["run", str(path), "--results-dir", str(tmp_path), "--no-progress", "--no-reports"]) == 0
    assert study_main(["exhaustive", str(path), "--results-dir", str(tmp_path)]) == 0
    out = tmp_path / "grid" / "exhaustive"
    summary = json.loads((out / "summary.json").read_text())
    for key in ("points", "feasible", "seconds", "points_per_second", "front_size", "hypervolume", "reference_point",
                "study_hypervolume", "hv_ratio"):
        assert key in summary, key
    assert summary["points"] == 432 and summary["study_trials"] == 80
    assert 0 < summary["hv_ratio"] <= 1.0 and summary["study_trials_beyond_front"] == 0
    front = pd.read_csv(out / "front.csv")
    assert len(front) == summary["front_size"] == len(pd.read_parquet(out / "front.parquet"))
    assert (out / "front.png").stat().st_size > 10_000

    from dse.report.tables import trials_dataframe
    from dse.search import resolve_storage
    from dse.search.study_store import open_study

    spec = load_study(str(path))
    trials = trials_dataframe(open_study(spec, resolve_storage(spec.name, tmp_path, None, None), create=False), spec)
    assert set(front.columns) - {"point"} <= set(trials.columns), "columns named as in trials.csv"
    done = trials[(trials["state"] == "COMPLETE") & trials["feasible"]]
    assert len(done) > 10
    sign = np.array([-1.0, 1.0, 1.0])
    cols = ["accuracy", "energy_j", "latency_s"]
    f, t = front[cols].to_numpy(float) * sign, done[cols].to_numpy(float) * sign
    for row in t:  # weakly dominated: some front design is at least as good in every objective
        assert (f <= row).all(axis=1).any(), row


def test_area_screen_is_the_whole_models_area():
    from dse.search.screen import chip_area

    for name, convention in (("full_space", "faithful"), ("full_space", "focus-paper"), ("quickstart", "faithful")):
        spec = load_study(name)
        evaluator = DesignEvaluator(spec)
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
        for _ in range(15):
            design = spec.space.design_dict(spec.space.suggest(study.ask()), spec.accelerator, convention)
            try:
                outcome = evaluator.run(design)
            except Exception as exc:  # noqa: BLE001  (a refused design has no area to compare)
                assert "UserError" in type(exc).__name__
                continue
            assert chip_area(DesignEvaluator.design_point(design)) == outcome.metrics["area_mm2"], design


def test_logic_area_bounds_the_chip_and_spares_its_srams(monkeypatch):
    """logic_area (no buffers) is at most the chip's area; area_against gives chip_area's verdict against a
    limit, and prices no SRAM of a chip whose logic alone is over it."""
    import dse.cost.accelerator as accelerator
    from dse.search.screen import area_against, chip_area, logic_area

    spec = load_study("quickstart")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=5))
    points = [DesignEvaluator.design_point(spec.space.design_dict(spec.space.suggest(study.ask()), spec.accelerator,
                                                                  spec.convention)) for _ in range(40)]
    limit = spec.constraints.area_mm2_max
    areas = [(logic_area(p), chip_area(p)) for p in points]
    assert all(0 < logic <= area for logic, area in areas)
    assert [area_against(p, limit) > limit for p in points] == [area > limit for _, area in areas]
    over_by_logic = [p for p, (logic, _) in zip(points, areas) if logic > limit]
    assert over_by_logic
    accelerator._built.cache_clear()
    monkeypatch.setattr(accelerator, "price_buffers", lambda *a: pytest.fail("an SRAM was priced"))
    assert all(area_against(p, limit) > limit for p in over_by_logic)


def test_the_area_screen_on_a_grid_of_numbers_only(tmp_path):
    """Every knob a number, one of them fractional: a row of the chunk's table holds floats only, yet
    each chip is built from its own integer knobs (it was refused as 'rows 16.0', so nothing was
    screened), and the screen is each point's own chip area against the limit."""
    from dse.search.grid import Grid
    from dse.search.screen import chip_area, over_area

    space = {"rows": {"low": 16, "high": 96, "step": 16}, "cols": [32, 64], "threshold": [0.8, 0.9],
             "dram_bandwidth_gbps": 64}
    spec = load_study(str(write_study(tmp_path, name="numbers", space=space, constraints={"area_mm2_max": 3.5})))
    grid = Grid.of(spec.space)
    digits = grid.digits(0, grid.size)
    points = grid.frame(digits)
    over = over_area(spec, grid, digits, points)
    areas = [chip_area(DesignEvaluator.design_point(spec.space.design_dict(
        {k: (int(v) if float(v).is_integer() and k != "threshold" else float(v)) for k, v in row.items()},
        spec.accelerator, spec.convention))) for _, row in points.iterrows()]
    assert list(over) == [a > 3.5 for a in areas] and 0 < over.sum() < len(over), (over, areas)


def test_local_processes_and_a_dask_cluster_give_the_same_result(enumerated, tmp_path):
    distributed = pytest.importorskip("distributed")
    spec, inline, front = enumerated
    local = enumerate_grid(spec, tmp_path / "local", workers=2, chunk_points=100, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        dask = enumerate_grid(spec, tmp_path / "dask", scheduler=cluster.scheduler_address, chunk_points=100,
                              progress=False)
    for run in (local, dask):
        assert run.complete and not run.interrupted
        for key in ("points", "screened", "evaluated", "feasible", "failed"):
            assert run.total(key) == inline.total(key), key
        pd.testing.assert_frame_equal(exact_front(run), front)


def test_a_killed_run_resumes_from_its_chunks(tmp_path):
    path = grid_study(tmp_path, name="killed", space={**GRID_SPACE, "m_tile": [1024, 2048], "n_scatter": [2, 4]})
    folder = tmp_path / "out"
    chunks = folder / "chunks"
    script = (f"from pathlib import Path\nfrom dse.search.studyfile import load_study\n"
              f"from dse.search.exhaustive import enumerate_grid\n"
              f"enumerate_grid(load_study({str(path)!r}), Path({str(folder)!r}), chunk_points=10, progress=False)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(list(chunks.glob("[0-9]*.json"))) < 5:
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it could be killed"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    kept = {p: p.stat().st_mtime_ns for p in chunks.glob("[0-9]*.json")}
    assert 5 <= len(kept) < 173
    (chunks / "0000170.json.99999.tmp").write_text('{"cut": ')  # a write a kill cut short
    spec = load_study(str(path))
    resumed = enumerate_grid(spec, folder, chunk_points=10, progress=False)
    assert resumed.complete and resumed.done_before == len(kept) and resumed.runs == 2
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items()), "stored chunks are not evaluated again"
    assert not list(chunks.glob("*.tmp"))
    fresh = enumerate_grid(spec, tmp_path / "fresh", chunk_points=10, progress=False)
    assert resumed.total("feasible") == fresh.total("feasible") and resumed.total("points") == 1728
    pd.testing.assert_frame_equal(exact_front(resumed), exact_front(fresh))


def test_chunks_of_another_grid_are_discarded(enumerated, tmp_path, capsys):
    spec, _, _ = enumerated
    enumerate_grid(spec, tmp_path, chunk_points=200, progress=False)
    other = load_study(str(grid_study(tmp_path, space={**GRID_SPACE, "sec_scale": [1.0, 2.0]})))
    run = enumerate_grid(other, tmp_path, chunk_points=200, progress=False)
    assert run.done_before == 0 and run.complete
    assert "chunks of another grid" in capsys.readouterr().err


def test_grid_values_are_the_values_optuna_samples():
    from dse.search.space import parse_knob

    knob = parse_knob("threshold", {"low": 0.75, "high": 0.99, "step": 0.03}, "t")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = {study.ask().suggest_float("threshold", 0.75, 0.99, step=0.03) for _ in range(300)}
    assert seen == set(knob.grid())  # bit for bit (0.75 + 6 * 0.03 is 0.9299999999999999)


@pytest.mark.parametrize("args, message", [
    (["--workers", "0"], "--workers must be >= 1"),
    (["--scheduler", "tcp://127.0.0.1:1"], "cannot reach the Dask scheduler at tcp://127.0.0.1:1"),
])
def test_bad_arguments_are_one_line(tmp_path, capsys, monkeypatch, args, message):
    from dse.search import executors

    monkeypatch.setattr(executors, "CONNECT_SECONDS", 2)
    path = grid_study(tmp_path)
    assert study_main(["exhaustive", str(path), "--results-dir", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_a_continuous_knob_is_refused(tmp_path, capsys):
    path = grid_study(tmp_path, space={**GRID_SPACE, "sec_scale": {"low": 0.5, "high": 2.0, "log": True}})
    assert study_main(["exhaustive", str(path), "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sec_scale" in err and "step" in err, err


def test_front_helpers_on_a_hand_computed_example():
    from dse.search.front import hypervolume, nondominated, reference_point, weakly_dominated

    front = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]])  # both minimised
    ref = reference_point(front, [False, False])
    assert ref.tolist() == pytest.approx([3.2, 3.2])  # worst value + 10 % of the range
    # rectangles up to (3.2, 3.2): 2.2 x 0.2 + 1.2 x 1 + 0.2 x 1
    assert hypervolume(front, [False, False], ref) == pytest.approx(1.84)
    flipped = front * [-1.0, 1.0]  # the first objective maximised instead: the same volume
    assert hypervolume(flipped, [True, False], reference_point(flipped, [True, False])) == pytest.approx(1.84)
    assert hypervolume(np.array([[4.0, 0.5]]), [False, False], ref) == 0.0  # beyond the reference
    points = np.vstack([front, [[2.0, 2.0], [2.5, 2.5]]])
    assert nondominated(points, [False, False]).tolist() == [True, True, True, True, False]  # ties kept
    assert weakly_dominated(points, front, [False, False]).all()
    assert not weakly_dominated(np.array([[1.5, 1.5]]), front, [False, False])[0]


def test_ctrl_c_stops_cleanly_and_the_same_command_continues(tmp_path):
    # large enough (11,664 points in one chunk, none screened out by area) that the batch
    # evaluator is still at work 0.5 s in
    path = grid_study(tmp_path, name="intr", space={**GRID_SPACE, "m_tile": [512, 1024, 2048], "n_scatter": [2, 4, 6],
                                                    "vector_size": [16, 32, 64]},
                      constraints={**CONSTRAINTS, "area_mm2_max": 100.0})
    args = [sys.executable, "-m", "dse", "study", "exhaustive", str(path), "--results-dir", str(tmp_path),
            "--workers", "2"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    manifest = tmp_path / "intr" / "exhaustive" / "chunks" / "manifest.json"
    deadline = time.monotonic() + 60
    while not (manifest.exists() and '"started"' in manifest.read_text()):  # the run has begun
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    time.sleep(0.5)  # mid-chunk
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and f"focus-dse study exhaustive {path} --results-dir {tmp_path}" in err, err
    again = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    summary = json.loads((tmp_path / "intr" / "exhaustive" / "summary.json").read_text())
    assert summary["points"] == 11664 and summary["runs"] == 2
