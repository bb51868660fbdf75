"""The README's main job against Optuna's own floor, measured in one run, as ratios.

    .venv/bin/python benchmarks/bench_study.py [--trials 600] [--repeat 3] [--workers-check]

Optuna's floor: the same NSGA-II (population, seed) on the same distributions and constraints
(the quickstart's 11 searched knobs), in memory, with a trivial objective (closed forms of the
params), `--trials` trials. Measured two ways: inside a process (the `optimize` call alone) and
as a whole fresh process (interpreter start + `import optuna` + the trials), because the main
job is a fresh process too.
Per round (rounds alternate every measurement, so that a busy neighbour hits all of them):
- main job: a fresh `python -m dse study run quickstart` (default storage, every report, the
  export of the 5 best designs), wall time, / the process floor (issue 14: <= 8x; issue 23: <= 4x:
  the fastest main job over the fastest floor of the run);
- trials alone, in this process, on each storage: the journal file (the default), SQLite, and
  PostgreSQL with `--postgres URL`: trials/s (default storage: >= 100) and / the in-process floor;
- reports alone (`focus-dse study plot`'s work + the export, in this process) / the in-process floor.
The machine may be shared: the spread over the rounds is printed (min / median / max), and the
load average at the start and the end.
`--workers-check`: also the speed-up of 2 worker processes over 1 on one journal (1500 trials each).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from dse.search import open_study, run_study
from dse.search.storage import StorageRef
from dse.search.studyfile import load_study

FLOOR = r"""
import json, math, sys, time
t0 = time.perf_counter()
import optuna
optuna.logging.set_verbosity(optuna.logging.WARNING)
cfg = json.loads(sys.argv[1])

def objective(trial):
    p = {}
    for k in cfg["knobs"]:
        if k["kind"] == "int":
            p[k["name"]] = trial.suggest_int(k["name"], k["low"], k["high"], step=k["step"] or 1, log=k["log"])
        elif k["kind"] == "float":
            p[k["name"]] = trial.suggest_float(k["name"], k["low"], k["high"], step=k["step"], log=k["log"])
        else:
            p[k["name"]] = trial.suggest_categorical(k["name"], k["choices"])
    size = p.get("rows", 32) * p.get("cols", 32)
    for i, name in enumerate(cfg["constraints"]):
        trial.set_constraint(name, size / 4096 - 1 - i)
    return [p.get("threshold", 0.9) + math.log(p.get("sec_scale", 1.0)), size * p.get("frequency_mhz", 500),
            1 / size + p.get("sec_scale", 1.0)][:len(cfg["directions"])]

study = optuna.create_study(directions=cfg["directions"], sampler=optuna.samplers.NSGAIISampler(
    seed=cfg["seed"], population_size=cfg["population"]))
t1 = time.perf_counter()
study.optimize(objective, n_trials=cfg["trials"])
print(json.dumps({"optimize": time.perf_counter() - t1, "import": t1 - t0}))
"""


def floor_config(spec, trials: int) -> str:
    from dse.search.objectives import directions

    knobs = [{"name": k.name, "kind": k.kind, "low": k.low, "high": k.high, "step": k.step, "log": k.log,
              "choices": list(k.choices)} for k in spec.space.searched]
    return json.dumps({"knobs": knobs, "constraints": spec.constraints.names(),
                       "directions": directions(spec.objectives), "seed": spec.seed, "trials": trials,
                       "population": spec.sampler.options.get("population_size", 50)})


def optuna_floor(spec, trials: int) -> tuple[float, float]:
    """(in-process optimize seconds, whole fresh process seconds)."""
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", FLOOR, floor_config(spec, trials)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)["optimize"], time.perf_counter() - t


def main_job(tmp: Path, trials: int) -> float:
    """Seconds of a fresh `focus-dse study run quickstart` with every report and the export."""
    folder = Path(tempfile.mkdtemp(dir=tmp))
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dse", "study", "run", "quickstart", "--trials", str(trials),
                    "--no-progress", "--results-dir", str(folder / "results"), "--out", str(folder / "accel")],
                   cwd=folder, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - t
    for name in ("pareto.png", "pareto.svg", "pareto.html", "importances.png", "trials.parquet"):
        assert (folder / "results" / "quickstart" / name).is_file(), name
    assert (folder / "accel" / "quickstart" / "5" / "design.json").is_file()
    return seconds


def trials_alone(spec, ref: StorageRef, trials: int) -> float:
    summary = run_study(spec, ref, trials, workers=1, seed=spec.seed, progress=False)
    assert summary.written == trials, summary
    return summary.seconds


def reports_alone(spec, ref: StorageRef, folder: Path) -> float:
    from dse.commands.study import _reports

    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        _reports(spec, ref, str(folder / "results"), export_k=5, export_root=str(folder / "accel"))
    return time.perf_counter() - t


def spread(values: list[float], fmt: str = "{:.2f}") -> str:
    return " / ".join(fmt.format(v) for v in (min(values), statistics.median(values), max(values)))


def steady_rate(study) -> float:
    done = sorted(t.datetime_complete for t in study.get_trials(deepcopy=False) if t.datetime_complete)
    span = (done[-1] - done[0]).total_seconds()
    return (len(done) - 1) / span if span > 0 else float("nan")


def cpu_seconds() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def workers_check(spec, tmp: Path, trials: int) -> None:
    """Speed-up of 2 worker processes over 1 on one journal file."""
    rates = {}
    for workers in (1, 2):
        js = replace(spec, name=f"bench_journal_{workers}", trials=trials)
        ref = StorageRef("journal", str(tmp / f"workers_{workers}.log"))
        cpu = cpu_seconds()
        summary = run_study(js, ref, trials, workers=workers, seed=js.seed, progress=False)
        cpu = 1e3 * (cpu_seconds() - cpu) / max(1, summary.written)
        rates[workers] = (summary.trials_per_second, steady_rate(open_study(js, ref, create=False)), cpu)
        print(f"journal, {workers} worker(s): {summary.written} trials, {rates[workers][0]:.1f} trials/s wall, "
              f"{rates[workers][1]:.1f} steady, {cpu:.2f} CPU ms/trial (all processes)")
    wall_up = rates[2][0] / rates[1][0]
    print(f"speed-up of 2 workers over 1 (journal): {wall_up:.3f}x wall, {rates[2][1] / rates[1][1]:.3f}x steady "
          f"(target >= 1.6) -> {'PASS' if wall_up >= 1.6 else 'FAIL'}; CPU-bound estimate on 2 idle cores "
          f"{2 * rates[1][2] / rates[2][2]:.3f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=600, help="trials per measurement (default 600)")
    ap.add_argument("--repeat", type=int, default=3, help="rounds (default 3)")
    ap.add_argument("--postgres", metavar="URL", help="also time the trials on this (empty) PostgreSQL database")
    ap.add_argument("--workers-check", action="store_true", help="also 2 workers vs 1 on a journal (1500 trials)")
    args = ap.parse_args()
    spec = replace(load_study("quickstart"), trials=args.trials)
    load_start = os.getloadavg()[0]
    print(f"quickstart: {len(spec.space.searched)} searched knobs, {args.trials} trials, NSGA-II population "
          f"{spec.sampler.options.get('population_size', 50)}; {os.cpu_count()} cores, load average {load_start:.2f}")
    rows: dict[str, list[float]] = {}

    def record(key: str, value: float) -> None:
        rows.setdefault(key, []).append(value)

    with tempfile.TemporaryDirectory(prefix="bench-study-") as tmp:
        tmp = Path(tmp)
        for r in range(args.repeat):
            inner, process = optuna_floor(spec, args.trials)
            record("floor_in", inner)
            record("floor_proc", process)
            job = main_job(tmp, args.trials)
            record("job", job)
            record("job_x", job / process)
            storages = {"journal (default)": StorageRef("journal", str(tmp / f"j{r}.log")),
                        "sqlite": StorageRef("sqlite", f"sqlite:///{tmp / f's{r}.db'}")}
            if args.postgres:
                storages["postgresql"] = StorageRef("rdb", args.postgres)
            for label, ref in storages.items():
                s = trials_alone(replace(spec, name=f"bench_{os.getpid()}_{r}"), ref, args.trials)
                record(f"trials {label}", s)
                record(f"trials {label} x", s / inner)
                record(f"trials {label} rate", args.trials / s)
            folder = Path(tempfile.mkdtemp(dir=tmp))
            rep = reports_alone(replace(spec, name=f"bench_{os.getpid()}_{r}"), storages["journal (default)"], folder)
            record("reports", rep)
            record("reports_x", rep / inner)
            print(f"round {r + 1}: floor {inner:.2f} s in process, {process:.2f} s as a process; main job "
                  f"{job:.2f} s = {job / process:.1f}x; trials "
                  + ", ".join(f"{k} {rows[f'trials {k}'][-1]:.2f} s" for k in storages)
                  + f"; reports {rep:.2f} s", flush=True)
        print(f"\nover {args.repeat} rounds (min / median / max):")
        print(f"  Optuna floor, {args.trials} NSGA-II trials in memory: {spread(rows['floor_in'])} s in process, "
              f"{spread(rows['floor_proc'])} s as a fresh process")
        # min of runs over min of runs: a round whose floor ran cold (the first, often) cannot flatter the ratio
        ratio = min(rows["job"]) / min(rows["floor_proc"])
        print(f"  main job (fresh process, every report, export): {spread(rows['job'])} s; per round "
              f"{spread(rows['job_x'], '{:.1f}')} x that round's process floor; fastest main job / fastest floor "
              f"{ratio:.1f}x (target <= 4) -> {'PASS' if ratio <= 4 else 'FAIL'}")
        for label in storages:
            print(f"  trials alone, {label}: {spread(rows[f'trials {label}'])} s = "
                  f"{spread(rows[f'trials {label} x'], '{:.1f}')} x the in-process floor; "
                  f"{spread(rows[f'trials {label} rate'], '{:.0f}')} trials/s")
        rate = statistics.median(rows["trials journal (default) rate"])
        print(f"  default storage: {rate:.0f} trials/s (target >= 100) -> {'PASS' if rate >= 100 else 'FAIL'} (median)")
        print(f"  reports alone (plots, tables, html, importances, export): {spread(rows['reports'])} s = "
              f"{spread(rows['reports_x'], '{:.1f}')} x the in-process floor")
        print(f"  load average: {load_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end "
              f"(other processes share the {os.cpu_count()} cores)")
        if args.workers_check:
            workers_check(spec, tmp, 1500)


if __name__ == "__main__":
    main()
