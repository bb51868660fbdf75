"""Several workers on one study (journal file), SIGKILL + resume, Ctrl-C: no trial lost or duplicated."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from dse.search import load_study, resolve_storage
from dse.search.study_store import UID_ATTR, open_study
from study_helpers import study_command, write_study

ROOT = Path(__file__).resolve().parents[1]


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    return subprocess.Popen(study_command() + args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def stored(path: Path, results: Path, storage: str | None = None):
    spec = load_study(str(path))
    ref = resolve_storage(spec.name, results, storage, None)
    return open_study(spec, ref, create=False).get_trials(deepcopy=False)


def check_intact(trials, expected: int | None = None, settled: bool = True) -> None:
    """Trials numbered 0..n-1 once each, no trial written twice, every claim finished or withdrawn
    (`settled`: none left RUNNING; a killed worker leaves its claims RUNNING until the next worker
    withdraws them), withdrawn claims never evaluated; `expected` finished trials."""
    numbers = [t.number for t in trials]
    assert numbers == list(range(len(trials))), "trial numbers must be 0..n-1, each once"
    uids = [t.user_attrs[UID_ATTR] for t in trials]
    assert len(set(uids)) == len(uids), "a trial was written twice"
    if settled:
        assert all(t.state.name in ("COMPLETE", "FAIL", "PRUNED") for t in trials), "no trial may be left RUNNING"
    for t in trials:
        if t.state.name == "PRUNED":
            assert t.user_attrs["withdrawn"] and "metrics" not in t.user_attrs, "a withdrawn claim is not evaluated"
    if expected is not None:
        assert len(finished(trials)) == expected


def finished(trials):
    return [t for t in trials if t.state.name in ("COMPLETE", "FAIL")]


def wait_for(path, results, n, proc, storage=None, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            if len(finished(stored(path, results, storage))) >= n:
                return
        except Exception:  # storage not created yet
            pass
        time.sleep(0.2)
    raise AssertionError(f"fewer than {n} finished trials after {timeout} s")


def test_two_workers_on_a_journal_lose_and_duplicate_nothing(tmp_path):
    path = write_study(tmp_path, name="par", trials=160)
    proc = start(["run", str(path), "--workers", "2", "--results-dir", str(tmp_path), "--no-progress",
                  "--no-reports"], tmp_path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert (tmp_path / "par" / "journal.log").is_file()  # the default storage
    trials = stored(path, tmp_path)
    check_intact(trials, expected=160)
    workers = {t.user_attrs[UID_ATTR].rsplit(":", 1)[0] for t in trials}
    assert len(workers) == 2, "both workers wrote trials"
    assert "160 trials in" in out


@pytest.mark.parametrize("workers", [1, 2])
def test_sigkill_then_resume_keeps_every_completed_trial(tmp_path, workers):
    path = write_study(tmp_path, name="killed", trials=100000)
    storage = str(tmp_path / "killed.log") if workers > 1 else None
    args = ["run", str(path), "--workers", str(workers), "--results-dir", str(tmp_path), "--no-progress",
            "--no-reports"] + (["--storage", storage] if storage else [])
    proc = start(args, tmp_path)
    wait_for(path, tmp_path, 40, proc, storage)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole process group: parent and workers, mid-trial
    proc.wait(timeout=10)
    killed = stored(path, tmp_path, storage)
    before = {t.number: (t.params, t.values, t.user_attrs[UID_ATTR]) for t in finished(killed)}
    assert len(before) >= 40
    check_intact(killed, settled=False)
    target = len(before) + 15
    resume = start(["resume", str(path), "--trials", str(target), "--results-dir", str(tmp_path), "--no-progress",
                    "--no-reports", "--workers", str(workers)] + (["--storage", storage] if storage else []), tmp_path)
    out, err = resume.communicate(timeout=120)
    assert resume.returncode == 0, err
    after = stored(path, tmp_path, storage)
    check_intact(after, expected=target)
    for t in after:
        if t.number in before:
            assert (t.params, t.values, t.user_attrs[UID_ATTR]) == before[t.number]


def test_ctrl_c_stops_cleanly(tmp_path):
    path = write_study(tmp_path, name="intr", trials=100000)
    proc = start(["run", str(path), "--workers", "2", "--results-dir", str(tmp_path), "--no-progress"], tmp_path)
    wait_for(path, tmp_path, 30, proc)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "resume" in err
    assert f"--results-dir {tmp_path}" in err, err  # the hint finds the study again
    trials = stored(path, tmp_path)
    check_intact(trials)
    n = len(finished(trials))
    assert re.search(rf"study has {n} finished trials", out)


def test_two_commands_on_one_journal_stop_at_the_target(tmp_path):
    """Two separate `run --trials N` on one journal: every design is claimed before it is evaluated
    (dse/search/claims.py), so together they stop at exactly N."""
    path = write_study(tmp_path, name="both", trials=100000)
    log = str(tmp_path / "both.log")
    args = ["run", str(path), "--trials", "150", "--storage", log, "--results-dir", str(tmp_path), "--no-progress",
            "--no-reports"]
    first = start(args, tmp_path)
    second = start(args, tmp_path)
    for proc in (first, second):
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    check_intact(stored(path, tmp_path, log), expected=150)


def test_workers_see_each_others_trials(tmp_path):
    """NSGA-II generations advance with the study's trial count, not each worker's share: the workers
    search one study together instead of two independent ones."""
    path = write_study(tmp_path, name="shared", trials=80)
    proc = start(["run", str(path), "--workers", "2", "--results-dir", str(tmp_path), "--no-progress",
                  "--no-reports"], tmp_path)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    trials = stored(path, tmp_path)
    check_intact(trials, expected=80)
    generations = [v for t in trials for k, v in t.system_attrs.items() if k.endswith("generation")]
    assert generations, "NSGA-II records each trial's generation"
    # population 10: 80 trials shared are ~7 generations; two independent searches of 40 reach ~3
    assert max(generations) >= 5, max(generations)


def check_each_worker_wrote_trials(trials, workers: int) -> None:
    """Every worker stored trials, each under its own sequence numbers (its claims, 0, 1, ...) once."""
    from collections import defaultdict

    sequences = defaultdict(list)
    for t in trials:
        worker, seq = t.user_attrs[UID_ATTR].rsplit(":", 1)
        sequences[worker].append(int(seq))
    assert len(sequences) == workers, f"{len(sequences)} workers wrote trials, not {workers}"
    for seq in sequences.values():
        assert sorted(seq) == list(range(len(seq))), "a worker's claim lost or written twice"


def run_eight_workers(tmp_path: Path, name: str, storage: str) -> None:
    """8 worker processes on one study in `storage`: every trial completed exactly once, none lost,
    none duplicated, the target exact."""
    path = write_study(tmp_path, name=name, trials=120)
    proc = start(["run", str(path), "--workers", "8", "--storage", storage, "--results-dir", str(tmp_path),
                  "--no-progress", "--no-reports"], tmp_path)
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    trials = stored(path, tmp_path, storage)
    check_intact(trials, expected=120)  # numbered 0.. once each, none RUNNING, no uid twice
    check_each_worker_wrote_trials(trials, 8)
    assert "120 trials in" in out and "study has 120 finished trials" in out


def test_eight_workers_on_a_journal_complete_every_trial_exactly_once(tmp_path):
    run_eight_workers(tmp_path, "eight", str(tmp_path / "eight.log"))


def run_separate_commands(tmp_path: Path, name: str, storage: str, commands: int = 4, target: int = 120) -> None:
    """The same `study run --trials N` started `commands` times on one storage (as on several machines):
    exactly N finished trials, no design stored twice (skip_repeats), each process on its own sampler
    seed (issue 19: every process started from the same seed and they repeated each other)."""
    path = write_study(tmp_path, name=name, trials=100000,
                       sampler={"name": "nsga2", "population_size": 10, "skip_repeats": True})
    args = ["run", str(path), "--trials", str(target), "--storage", storage, "--results-dir", str(tmp_path),
            "--no-progress", "--no-reports"]
    procs = [start(args, tmp_path) for _ in range(commands)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    trials = stored(path, tmp_path, storage)
    check_intact(trials, expected=target)
    done = finished(trials)
    assert len({tuple(sorted(t.params.items())) for t in done}) == target, "a design was stored twice"
    streams: dict[str, list] = {}  # worker -> the seed of each of its claims, in order
    for t in sorted(trials, key=lambda t: int(t.user_attrs[UID_ATTR].rsplit(":", 1)[1])):
        streams.setdefault(t.user_attrs[UID_ATTR].rsplit(":", 1)[0], []).append(t.user_attrs["worker_seed"])
    assert len(streams) >= 2
    # a worker that finds another claiming beside it reseeds after its first claim
    assert all(len(set(s[1:])) <= 1 for s in streams.values())
    last = [s[-1] for s in streams.values()]
    assert len(set(last)) == len(last), "two processes went on with one sampler seed"


def test_four_commands_on_one_journal_split_the_target_exactly(tmp_path):
    run_separate_commands(tmp_path, "four", str(tmp_path / "four.log"))


def test_claims_of_a_killed_worker_are_withdrawn_and_redone(tmp_path):
    """A worker killed mid-generation leaves its claims RUNNING; the next run on the same host withdraws
    them (their process is gone) and reaches the target with them counted nowhere."""
    path = write_study(tmp_path, name="claims", trials=100000)
    proc = start(["run", str(path), "--results-dir", str(tmp_path), "--no-progress", "--no-reports"], tmp_path)
    wait_for(path, tmp_path, 30, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    trials = stored(path, tmp_path)
    target = len(finished(trials)) + 5
    resume = start(["resume", str(path), "--trials", str(target), "--results-dir", str(tmp_path), "--no-progress",
                    "--no-reports"], tmp_path)
    _, err = resume.communicate(timeout=120)
    assert resume.returncode == 0, err
    after = stored(path, tmp_path)
    check_intact(after, expected=target)
    for t in trials:
        if t.state.name == "RUNNING":
            assert after[t.number].state.name == "PRUNED" and "is gone" in after[t.number].user_attrs["withdrawn"]
