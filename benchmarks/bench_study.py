"""Study throughput: trials per second in one process on SQLite (target >= 20/s), and the
speed-up of 2 worker processes over 1 on a journal file (target >= 1.6x).

    .venv/bin/python benchmarks/bench_study.py [--trials N] [--journal-trials M]

The study is the built-in `quickstart` (analytic backend, calibrated accuracy, NSGA-II; its
searched knobs are listed in the output) with its target raised to N / M trials, in fresh
storages in a temporary folder. Every worker re-reads the storage (incrementally) before each
trial, so the workers of the 2-worker run see each other's trials and search one study together.
Reported (speed-ups with 3 decimals; PASS/FAIL on the unrounded ratio):
- wall: the whole `run_study` call (process start-up of the workers included);
- steady: trials / (last trial's completion - first trial's completion), from the storage's
  timestamps, i.e. throughput once the workers are running.
Also the time of one design evaluation alone (both workloads' models + accuracy), for scale.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from dse.search.evaluation import DesignEvaluator
from dse.search.runner import open_study, run_study
from dse.search.storage import StorageRef
from dse.search.studyfile import load_study


def steady_rate(study) -> float:
    done = sorted(t.datetime_complete for t in study.get_trials(deepcopy=False) if t.datetime_complete)
    span = (done[-1] - done[0]).total_seconds()
    return (len(done) - 1) / span if span > 0 else float("nan")


def cpu_seconds() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def run(spec, ref: StorageRef, trials: int, workers: int) -> tuple[float, float, int, float]:
    """(wall trials/s, steady trials/s, trials written, CPU ms per trial over all processes)."""
    cpu = cpu_seconds()
    summary = run_study(spec, ref, trials, workers=workers, seed=spec.seed, progress=False)
    cpu = cpu_seconds() - cpu
    study = open_study(spec, ref, create=False)
    return summary.trials_per_second, steady_rate(study), summary.written, 1e3 * cpu / max(1, summary.written)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=600, help="trials of the SQLite run (default 600)")
    ap.add_argument("--journal-trials", type=int, default=1500, help="trials of each journal run (default 1500)")
    args = ap.parse_args()
    spec = load_study("quickstart")
    evaluator = DesignEvaluator(spec)
    design = evaluator.default_design()
    evaluator.run(design)
    t0 = time.perf_counter()
    for _ in range(200):
        evaluator.run(design)
    eval_ms = (time.perf_counter() - t0) / 200 * 1e3
    print(f"quickstart: {len(spec.space.searched)} searched knobs ({', '.join(k.name for k in spec.space.searched)})")
    print(f"one design evaluation (model + energy + calibrated accuracy): {eval_ms:.2f} ms")

    with tempfile.TemporaryDirectory(prefix="bench-study-") as tmp:
        tmp = Path(tmp)
        sql = replace(spec, name="bench_sqlite", trials=args.trials)
        wall, steady, n, _ = run(sql, StorageRef("sqlite", f"sqlite:///{tmp / 'sqlite.db'}"), args.trials, 1)
        print(f"SQLite, 1 process: {n} trials, {wall:.1f} trials/s wall, {steady:.1f} trials/s steady "
              f"(target >= 20) -> {'PASS' if wall >= 20 else 'FAIL'}")

        rates = {}
        for workers in (1, 2):
            js = replace(spec, name=f"bench_journal_{workers}", trials=args.journal_trials)
            ref = StorageRef("journal", str(tmp / f"journal_{workers}.log"))
            rates[workers] = run(js, ref, args.journal_trials, workers)
            wall, steady, n, cpu = rates[workers]
            print(f"journal, {workers} worker(s): {n} trials, {wall:.1f} trials/s wall, {steady:.1f} trials/s steady, "
                  f"{cpu:.2f} CPU ms/trial (all processes)")
        wall_up = rates[2][0] / rates[1][0]
        steady_up = rates[2][1] / rates[1][1]
        cpu_bound = 2 * rates[1][3] / rates[2][3]
        print(f"speed-up of 2 workers over 1 (journal): {wall_up:.3f}x wall, {steady_up:.3f}x steady "
              f"(target >= 1.6) -> {'PASS' if wall_up >= 1.6 else 'FAIL'}")
        print(f"  CPU-bound estimate on 2 idle cores (2 x CPU per trial of 1 worker / of 2): {cpu_bound:.3f}x; "
              f"load average now {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores (other processes share them)")


if __name__ == "__main__":
    main()
