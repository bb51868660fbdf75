"""Issue 19: what a second new-user pass found. Each test runs a command that misbehaved before the fix."""

import pytest

from dse.cli import main


def refused(capsys, *argv) -> str:
    """The command fails with one line on stderr and exit code 2; returns that line."""
    code = main(list(argv))
    _, err = capsys.readouterr()
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    return err.strip()


# -- item 7: flags that meant nothing were silently ignored ------------------------------------------
@pytest.mark.parametrize("argv, says", [
    (["simulate", "--workload", "llava_vid/videomme", "--tokens", "5"], "--tokens describe a custom workload"),
    (["simulate", "--workload", "llava_vid/videomme", "--frames", "2", "--patches", "3"], "--frames, --patches"),
    (["simulate", "--model", "qwen2-7b", "--tokens", "100", "--frames", "2", "--patches", "3"],
     "--tokens 100 is not --frames x --patches = 6"),
    (["reproduce-paper", "--dram-bandwidth-gbps", "8"], "add --whole-query"),
    (["sweep", "--workload", "llava_vid/videomme", "--array", "17..256"], "HI must be LO times a power of two"),
])
def test_meaningless_flags_are_refused(capsys, argv, says):
    assert says in refused(capsys, *argv)


@pytest.mark.parametrize("flag", [["--accelerator", "focus"], ["--precision", "int8"], ["--cores", "4"],
                                  ["--convention", "focus-paper"], ["--workload", "llava_vid/videomme"],
                                  ["--m-tile", "512"], ["--buffer-kb", "output=64"]])
def test_topology_refuses_design_flags(capsys, tmp_path, flag):
    path = tmp_path / "t.csv"
    path.write_text("Layer, M, N, K,\nq, 64, 32, 32,\n")
    assert f"{flag[0]} mean nothing for --topology" in refused(capsys, "simulate", "--topology", str(path), *flag)


def test_custom_workload_tokens_with_frames(capsys):
    """--tokens with --frames alone still means patches per frame = tokens / frames."""
    import json

    assert main(["simulate", "--model", "qwen2-7b", "--tokens", "100", "--frames", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["workload"] == "qwen2-7b-2x50"


# -- item 3: NaN and infinity in study files: a traceback, and the bad study was already stored ---------
@pytest.mark.parametrize("override, says", [
    ({"constraints": {"area_mm2_max": float("nan")}}, "constraints.area_mm2_max is nan"),
    ({"constraints": {"area_mm2_max": float("inf")}}, "constraints.area_mm2_max is inf"),
    ({"constraints": {"accuracy_drop_max": float("nan")}}, "constraints.accuracy_drop_max is nan"),
    ({"space": {"rows": {"low": 8, "high": 64, "step": float("nan")}}}, "space.rows.step is nan"),
    ({"space": {"m_tile": [512, float("inf")]}}, "space.m_tile[1] is inf"),
])
def test_non_finite_study_values_are_refused_before_storing(capsys, tmp_path, override, says):
    from study_helpers import study_main, write_study

    bad = write_study(tmp_path, "nonfinite", **override)
    assert ".nan" in bad.read_text() or ".inf" in bad.read_text()
    assert study_main(["run", str(bad), "--results-dir", str(tmp_path), "--trials", "2", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "nonfinite").exists()  # nothing created: the corrected file runs
    good = write_study(tmp_path, "nonfinite")
    assert study_main(["run", str(good), "--results-dir", str(tmp_path), "--trials", "2", "--no-progress",
                       "--no-reports"]) == 0


def test_study_name_with_path_separators_says_why(capsys, tmp_path):
    from study_helpers import study_main, write_study

    path = write_study(tmp_path, "escape")
    path.write_text(path.read_text().replace("name: escape", "name: ../../escape"))
    assert study_main(["run", str(path), "--results-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "'name' is '../../escape'" in err and "no path separators" in err


# -- item 4: a long answer whose attention crosses from compute- to DRAM-bound ran for minutes --------
def test_decode_crossing_over_is_closed_form_in_the_answer_length(monkeypatch):
    """10^8 output tokens whose per-token attention turns DRAM-bound on the way: the stall is summed per
    residue class of the cache length (a handful of closed-form evaluations, not one per 32 tokens), and
    agrees with summing the same stall token by token on a shorter answer (tests/test_whole_query.py)."""
    import dse.phases.decode as decode
    from dse.design import DesignPoint
    from dse.query import run_query
    from dse.workloads import resolve_workload

    evaluations = []
    original = decode.gemm_cycles
    monkeypatch.setattr(decode, "gemm_cycles", lambda *a: evaluations.append(a) or original(*a))
    crossings = []
    stall = decode._crossing_stall
    monkeypatch.setattr(decode, "_crossing_stall", lambda *a: crossings.append(a) or stall(*a))
    d = DesignPoint(accelerator="dense", phases=("prefill", "decode"), output_tokens=10 ** 8, dram_bandwidth_gbps=64)
    tpot = run_query(d, resolve_workload("llava_vid/videomme")).tpot_s
    assert len(crossings) == 1 and tpot > 0
    assert len(evaluations) < 100


# -- item 6: a study whose every trial failed exited 0 -------------------------------------------------
def test_a_run_whose_every_trial_fails_exits_2_naming_the_first_error(capsys, tmp_path):
    import sys

    from study_helpers import study_main, write_study

    command = f"{sys.executable} -c \"import sys; sys.exit('evaluation harness not found')\""
    path = write_study(tmp_path, name="allfail", trials=3, accuracy={"provider": "user", "command": command})
    assert study_main(["run", str(path), "--results-dir", str(tmp_path), "--no-progress"]) == 2
    out, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1 and "3 of the 3 trials of this run failed" in err
    assert "evaluation harness not found" in err
    assert "study has 3 finished trials" in out  # the failed trials are kept


def test_a_run_with_some_failed_trials_says_so_and_succeeds(capsys, tmp_path, monkeypatch):
    from study_helpers import study_main, write_study

    (tmp_path / "half_eval.py").write_text(
        "def accuracy(request):\n"
        "    if request['design']['rows'] % 16:\n"
        "        raise RuntimeError('GPU out of memory')\n"
        "    return 60.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = write_study(tmp_path, name="somefail", trials=12,
                       accuracy={"provider": "user", "function": "half_eval:accuracy", "dense_accuracy": 64.0})
    assert study_main(["run", str(path), "--results-dir", str(tmp_path), "--no-progress", "--no-reports"]) == 0
    err = capsys.readouterr().err
    assert "trials of this run failed; the first: " in err and "GPU out of memory" in err


# -- item 8: a Dask scheduler whose workers all left waited silently forever ---------------------------
def test_dask_run_says_when_the_scheduler_has_no_workers_and_goes_on_when_they_return(monkeypatch):
    import time

    distributed = pytest.importorskip("distributed")
    import dse.search.executors as executors

    monkeypatch.setattr(executors, "POLL_SECONDS", 0.1)
    monkeypatch.setattr(executors, "NO_WORKERS_SECONDS", 0.5)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster:
        said, results = [], []

        def workers_back(message, key=None):  # the run says so; then a worker joins again
            said.append(message)
            cluster.scale(1)

        def done(result):
            results.append(result)
            if len(results) == 1:  # the only worker leaves with chunks still to do
                cluster.scale(0)
                while cluster.workers:
                    time.sleep(0.02)

        monkeypatch.setattr(executors, "warn", workers_back)
        executors.run_dask(range(6), lambda i: time.sleep(0.05) or i, done, lambda: None, cluster.scheduler_address)
    assert sorted(results) == list(range(6))
    assert len(said) == 1 and "has had no workers" in said[0] and "Ctrl-C" in said[0]
