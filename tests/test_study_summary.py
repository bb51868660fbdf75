"""What a run tells the user (issue 13, items 6-8 and 10): the exact resume command after Ctrl-C,
`study status` naming a non-dominated trial among tied bests with units, and the run summary
(per-pair plots, top designs, baselines at equal or smaller area, the commands that continue)."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from study_helpers import study_main, write_study


def run_cli(command: str, capsys) -> tuple[int, str, str]:
    """A printed `focus-dse ...` line, run in-process."""
    from dse.cli import main

    words = shlex.split(command)
    assert words[0] == "focus-dse"
    capsys.readouterr()
    code = main(words[1:])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- item 6: Ctrl-C ---------------------------------------------------------------------------------
def test_ctrl_c_prints_the_command_that_resumes_this_study(tmp_path, monkeypatch, capsys):
    """The run had --storage, --results-dir, --out, --seed and --export-best: the printed command keeps
    them all, so running it resumes the same study and exports where the run would have."""
    import dse.search.worker as worker

    monkeypatch.chdir(tmp_path)
    (tmp_path / "store").mkdir()
    path = write_study(tmp_path, name="intr", trials=20)
    real_outcomes, calls = worker._outcomes, []

    def interrupted_after_8(evaluator, designs):
        calls.extend(designs)
        if len(calls) > 8:
            raise KeyboardInterrupt  # what Ctrl-C raises in the running process
        return real_outcomes(evaluator, designs)

    monkeypatch.setattr(worker, "_outcomes", interrupted_after_8)
    args = ["run", str(path), "--storage", "store/intr.log", "--results-dir", "res", "--out", "designs",
            "--seed", "3", "--export-best", "2", "--no-progress"]
    assert study_main(args) == 130
    err = capsys.readouterr().err
    monkeypatch.setattr(worker, "_outcomes", real_outcomes)
    resume = re.search(r"`(focus-dse study resume [^`]*)` continues", err).group(1)
    assert shlex.split(resume)[4:] == ["--results-dir", "res", "--storage", "store/intr.log", "--seed", "3",
                                       "--out", "designs", "--export-best", "2"]

    code, out, _ = run_cli(resume, capsys)
    assert code == 0 and "study has 20 finished trials" in out
    assert sorted(p.name for p in (tmp_path / "designs" / "intr").iterdir() if p.is_dir()) == ["1", "2"]
    assert not (tmp_path / "accel_configs").exists() and not (tmp_path / "results").exists()
    assert len(list((tmp_path / "store").glob("intr.log"))) == 1 and not (tmp_path / "res" / "intr" / "study.db").exists()


# -- item 7: study status -----------------------------------------------------------------------------
def test_status_names_a_non_dominated_trial_among_tied_bests_with_units(tmp_path, capsys):
    """Accuracy depends only on the concentration knobs: with those fixed every trial ties on it. The
    first of them (trial 0 of the grid: ws, 512-row M tiles) is dominated (os, 1024-row tiles are faster
    and use less energy); status named it, it must name a front design."""
    space = {"rows": [16, 32], "cols": [32], "dataflow": ["ws", "os"], "m_tile": [512, 1024],
             "dram_bandwidth_gbps": 64}
    path = write_study(tmp_path, name="ties", trials=8, space=space, sampler="grid",
                       constraints={"area_mm2_max": 8.0, "buffers_fit": True})
    assert study_main(["run", str(path), "--results-dir", str(tmp_path), "--no-progress", "--no-reports"]) == 0
    capsys.readouterr()
    assert study_main(["status", str(path), "--results-dir", str(tmp_path), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)

    from dse.report.tables import trials_dataframe
    from dse.search import load_study, resolve_storage
    from dse.search.study_store import open_study

    spec = load_study(str(path))
    df = trials_dataframe(open_study(spec, resolve_storage("ties", tmp_path, None, None), create=False), spec)
    ok = df[(df["state"] == "COMPLETE") & df["feasible"]]
    ties = ok[ok["accuracy"] == ok["accuracy"].max()]
    assert len(ties) == len(ok) > 2 and not ties.iloc[0]["pareto"], "the defect's setting: the first tie is dominated"
    best = status["best"]["accuracy"]
    assert best["trial"] in set(ties["number"])
    assert df.set_index("number").loc[best["trial"], "pareto"] and best["pareto"]
    assert best["tied_trials"] == len(ties) and best["unit"] == "points"
    for o, unit in (("energy", "J"), ("latency", "s")):
        assert status["best"][o]["unit"] == unit and status["best"][o]["pareto"]

    assert study_main(["status", str(path), "--results-dir", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert re.search(rf"best accuracy: [\d.]+ points \(trial {best['trial']}; {len(ties)} feasible trials tie; "
                     r"on the Pareto front\)", text), text
    assert re.search(r"best energy: [\d.]+ J \(trial \d+; on the Pareto front\)", text), text
    assert re.search(r"best latency: [\d.]+ s \(trial \d+", text), text


# -- items 8 and 10: the run summary -----------------------------------------------------------------
@pytest.fixture(scope="module")
def summary(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("summary")
    path = write_study(tmp, name="sm", trials=30, constraints={"area_mm2_max": 6.0, "accuracy_drop_max": 3.0,
                                                               "buffers_fit": True})
    out = io.StringIO()
    args = ["run", str(path), "--results-dir", str(tmp / "res"), "--out", str(tmp / "designs"), "--export-best", "3",
            "--no-progress"]
    with contextlib.redirect_stdout(out):
        assert study_main(args) == 0
    return tmp, path, out.getvalue()


def next_commands(out: str) -> dict[str, str]:
    lines = out[out.index("\nnext:\n") + 7:].splitlines()
    return {line.split(":")[0].strip(): line.split(":", 1)[1].strip() for line in lines if line.startswith("  ")}


def test_summary_lists_the_per_pair_plots(summary):
    tmp, _, out = summary
    line = next(line for line in out.splitlines() if line.startswith("Pareto plots per objective pair"))
    folder = tmp / "res" / "sm"
    for pair in ("accuracy_vs_energy", "accuracy_vs_latency", "energy_vs_latency"):
        assert f"pareto_{pair}.png/.svg" in line
        assert (folder / f"pareto_{pair}.png").is_file() and (folder / f"pareto_{pair}.svg").is_file()
    assert f"in {folder}/" in line


def test_summary_tables_the_exported_designs(summary):
    tmp, _, out = summary
    root = tmp / "designs" / "sm"
    assert f"top 3 designs, exported to {root}/ (rank: successive Pareto fronts" in out
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.split()[:2] == ["rank", "trial"])
    assert lines[head].split() == ["rank", "trial", "accuracy", "(points)", "energy", "(J)", "latency", "(s)",
                                   "area", "(mm²)", "folder"]
    index = pd.read_csv(root / "index.csv")
    for i in range(3):
        cells = lines[head + 1 + i].split()
        record = json.loads((Path(cells[-1]) / "design.json").read_text())
        assert [int(cells[0]), int(cells[1])] == [index["rank"][i], index["trial"][i]] == [record["rank"],
                                                                                            record["trial"]]
        expected = [record["objectives"][o] for o in ("accuracy", "energy", "latency")]
        expected.append(record["study_metrics"]["area_mm2"])
        assert [float(c) for c in cells[2:6]] == pytest.approx(expected, rel=5e-4)  # printed to 4 digits


def test_summary_next_commands_run_as_printed(summary, capsys):
    """Each printed command works as is: it reaches this study (results dir, export root)."""
    tmp, _, out = summary
    steps = next_commands(out)
    assert set(steps) == {"extend the study", "export more designs", "browse every trial", "re-simulate design 1"}

    design = tmp / "designs" / "sm" / "1" / "design.json"
    code, sim, _ = run_cli(steps["re-simulate design 1"], capsys)
    record = json.loads(design.read_text())
    assert code == 0 and json.loads(sim)["energy_j"] == record["metrics"]["energy_j"]

    code, printed, _ = run_cli(steps["export more designs"], capsys)
    assert code == 0 and len(printed.split()) == 10  # the best 10, to the run's export root (its own folder)
    assert all(Path(p).parent == tmp / "designs" / "sm" for p in printed.split())

    assert steps["browse every trial"] == f"optuna-dashboard {tmp / 'res' / 'sm' / 'journal.log'}"
    dashboard = pytest.importorskip("optuna_dashboard", reason="optuna-dashboard not installed")
    from test_study_dashboard import wsgi_get

    status, body = wsgi_get(dashboard.wsgi(shlex.split(steps["browse every trial"])[1]), "/api/studies")
    assert status.startswith("200") and [s["study_name"] for s in json.loads(body)["study_summaries"]] == ["sm"]

    assert " --trials 60 " in steps["extend the study"]
    code, more, _ = run_cli(steps["extend the study"] + " --no-reports", capsys)
    assert code == 0 and "study has 60 finished trials" in more


def baseline_blocks(out: str) -> dict[str, list[str]]:
    blocks, name = {}, None
    for line in out.splitlines():
        m = re.match(r"vs (.+?) \(", line)
        if m:
            name = m.group(1)
            blocks[name] = []
        elif name and line.startswith("  "):
            blocks[name].append(line)
        else:
            name = None
    return blocks


def test_summary_claims_against_baselines_are_iso_area(summary):
    """Every 'dominate' at <= the baseline's area is true of the trials table; a dominating design at a
    larger area is named with its area ratio; the counts are what the table says."""
    from dse.search import load_study
    from dse.search.objectives import OBJECTIVES

    tmp, path, out = summary
    spec = load_study(str(path))
    df = pd.read_csv(tmp / "res" / "sm" / "trials.csv")
    refs = pd.read_csv(tmp / "res" / "sm" / "reference_points.csv", index_col=0)
    ok = df[(df["state"] == "COMPLETE") & df["feasible"]]
    blocks = baseline_blocks(out)
    assert list(blocks)[0] == "Focus default" and set(blocks) == set(refs.index)
    for name, lines in blocks.items():
        ref = refs.loc[name].to_dict()
        at_area = ok[ok["area_mm2"] <= ref["area_mm2"]]
        signed = [(OBJECTIVES[o].sign, OBJECTIVES[o].metric) for o in spec.objectives]  # lower is better
        dom = [int(r["number"]) for _, r in at_area.iterrows()
               if all(s * r[m] <= s * ref[m] for s, m in signed) and any(s * r[m] < s * ref[m] for s, m in signed)]
        head = lines[0]
        assert head.startswith(f"  at <= {ref['area_mm2']:.4g} mm²: ")
        if dom:
            assert f": {len(dom)} of {len(at_area)} feasible designs dominate it" in head
            named = int(re.search(r"trial (\d+)", lines[1]).group(1))
            assert named in dom
        else:
            assert f"none of {len(at_area)} feasible designs dominates it" in head
        for line in lines[1:]:
            if line.startswith("    trial"):
                named = int(re.search(r"trial (\d+)", line).group(1))
                area = float(re.search(r"at ([\d.]+) mm²", line).group(1))
                assert area == pytest.approx(df.set_index("number").loc[named, "area_mm2"], rel=5e-4)
                if area > ref["area_mm2"]:
                    assert "x its area)" in line


def test_compare_counts_only_designs_at_equal_or_smaller_area():
    """A design better in every objective but larger than the baseline does not dominate it 'at <= area'."""
    from dse.report.summary import compare, describe
    from dse.search.studyfile import parse_study

    spec = parse_study({"name": "t", "workloads": ["llava_vid/mvbench"], "accelerator": "focus",
                        "objectives": ["accuracy", "energy"], "constraints": {"area_mm2_max": 8.0}}, "test")
    ref = {"accuracy": 60.0, "energy_j": 50.0, "area_mm2": 3.0}
    df = pd.DataFrame([
        {"number": 0, "state": "COMPLETE", "feasible": True, "pareto": True, "accuracy": 61.0, "energy_j": 20.0,
         "area_mm2": 7.5},  # dominates, at 2.5x the area
        {"number": 1, "state": "COMPLETE", "feasible": True, "pareto": True, "accuracy": 59.0, "energy_j": 30.0,
         "area_mm2": 2.9},  # smaller, less accurate
        {"number": 2, "state": "COMPLETE", "feasible": False, "pareto": False, "accuracy": 70.0, "energy_j": 1.0,
         "area_mm2": 1.0},  # infeasible: never counted
    ])
    c = compare(df, spec, "Focus default", ref)
    assert (c.feasible_at_area, c.dominating_at_area, int(c.best_at_area["number"])) == (1, 0, 1)
    assert (c.front, c.dominating_front, int(c.best_front["number"])) == (2, 1, 0)
    text = "\n".join(describe(spec, c))
    assert "at <= 3 mm²: none of 1 feasible designs dominates it; the best is worse in accuracy" in text
    # the baseline design itself among the trials: equal, not "worse in" nothing
    same = pd.concat([df[df["number"] != 1], pd.DataFrame([{"number": 3, "state": "COMPLETE", "feasible": True,
                                                            "pareto": True, "default_design": True, **ref}])],
                     ignore_index=True)
    again = "\n".join(describe(spec, compare(same, spec, "Focus default", ref)))
    assert "none of 1 feasible designs dominates it; the best equals it in every objective:" in again
    assert "trial 3: accuracy 60 points (1x), energy 50 J (1x) at 3 mm² (the default design itself)" in again
    assert "at any area up to the 8 mm² constraint: 1 of 2 front designs dominate it" in text
    assert "trial 0: accuracy 61 points (1.02x), energy 20 J (0.4x) at 7.5 mm² (2.5x its area)" in text


def test_dominating_a_reference_known_answers():
    """moocore's pairwise test (dse.search.front.dominating): better in one and equal elsewhere dominates;
    equal, better-and-worse, or NaN do not; accuracy is maximised, energy minimised."""
    from dse.report.summary import compare
    from dse.search.front import dominating
    from dse.search.studyfile import parse_study

    ref = [60.0, 50.0]  # accuracy, energy
    points = [[61.0, 50.0],  # better accuracy, same energy: dominates
              [60.0, 49.0],  # same accuracy, less energy: dominates
              [60.0, 50.0],  # equal: does not
              [61.0, 51.0],  # better and worse: does not
              [59.0, 40.0],  # worse accuracy: does not
              [float("nan"), 1.0],  # unknown: does not
              [70.0, 10.0]]  # better in both: dominates
    assert dominating(points, ref, [True, False]).tolist() == [True, True, False, False, False, False, True]
    assert dominating(points, [60.0, float("nan")], [True, False]).tolist() == [False] * 7
    assert dominating(np.zeros((0, 2)), ref, [True, False]).tolist() == []
    spec = parse_study({"name": "t", "workloads": ["llava_vid/mvbench"], "accelerator": "focus",
                        "objectives": ["accuracy", "energy"], "constraints": {"area_mm2_max": 8.0}}, "test")
    df = pd.DataFrame([{"number": i, "state": "COMPLETE", "feasible": True, "pareto": True, "accuracy": a,
                        "energy_j": e, "area_mm2": 1.0} for i, (a, e) in enumerate(points)])
    c = compare(df, spec, "Focus default", {"accuracy": 60.0, "energy_j": 50.0, "area_mm2": 3.0})
    assert (c.feasible_at_area, c.dominating_at_area, int(c.best_at_area["number"])) == (7, 3, 6)
