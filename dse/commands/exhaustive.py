"""focus-dse study exhaustive STUDY: every point of the study's grid, its exact Pareto front, and how
close the study's own trials (when its storage holds them) came to it.

Writes <results-dir>/<study>/exhaustive/: front.csv and front.parquet (one row per design of
the exact front: its grid `point`, every metric, the constraint values and every design field,
named as in trials.csv), summary.json and front.png (the exact front with the study's trials
over it). Chunks finished so far stay in exhaustive/chunks/: the same command resumes a killed
or interrupted run. --workers N: local processes; --scheduler ADDRESS: a Dask cluster.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from dse.commands.study_args import DEFAULT_RESULTS, add_study_arguments, spec_and_storage
from dse.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

FOLDER = "exhaustive"


def register(ss) -> None:
    p = ss.add_parser("exhaustive", help="evaluate every grid point: the exact Pareto front of the study's space",
                      description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_study_arguments(p)
    p.add_argument("--workers", type=int, default=1, help="local processes evaluating chunks (default 1)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="a Dask distributed scheduler, e.g. tcp://10.0.0.5:8786: its workers evaluate the chunks")
    p.set_defaults(func=cmd_exhaustive)


def cmd_exhaustive(args: argparse.Namespace) -> int:
    from dse.search.exhaustive import CHUNK_POINTS, chunk_count, enumerate_grid, exact_front
    from dse.search.grid import Grid

    if args.workers < 1:
        raise UserError(f"--workers must be >= 1, got {args.workers}")
    if args.scheduler and args.workers != 1:
        from dse.errors import warn

        warn(f"--workers {args.workers} ignored: with --scheduler the cluster's workers evaluate the chunks")
    spec, ref = spec_and_storage(args)
    folder = Path(args.results_dir) / spec.name / FOLDER
    grid = Grid.of(spec.space, f"study {spec.name}")
    where = f"Dask scheduler {args.scheduler}" if args.scheduler else f"{args.workers} local process(es)"
    print(f"exhaustive {spec.name}: {grid.size:,} grid points ("
          f"{' x '.join(f'{len(v)} {n}' for n, v in zip(grid.names, grid.values))}) in chunks of "
          f"{CHUNK_POINTS:,} on {where}")
    sys.stdout.flush()
    run = enumerate_grid(spec, folder, args.workers, args.scheduler)
    if run.interrupted or not run.complete:
        print(f"interrupted: {len(run.chunks)} of {chunk_count(grid.size, CHUNK_POINTS)} chunks are stored in "
              f"{folder / 'chunks'}; `{_command(args)}` continues", file=sys.stderr)
        return 130
    try:  # every chunk is stored: the same command writes the front again from them
        front = exact_front(run)
        study = _study_trials(spec, ref)
        summary = _summary(run, front, study, ref)
        written = _write(folder, front, summary, spec, study)
    except KeyboardInterrupt:
        print(f"interrupted: every chunk is stored in {folder / 'chunks'}; `{_command(args)}` writes the front",
              file=sys.stderr)
        return 130
    _print(summary, folder, written)
    return 0


def _command(args: argparse.Namespace) -> str:
    """The command that continues this run (same study, storage and workers)."""
    from dse.commands.followup import PROGRAM, command_line
    from dse.search.storage import mask

    words = [PROGRAM, "study", "exhaustive", args.study]
    if args.results_dir != DEFAULT_RESULTS:
        words += ["--results-dir", args.results_dir]
    if args.storage:
        words += ["--storage", mask(args.storage)]
    if args.scheduler:
        words += ["--scheduler", args.scheduler]
    elif args.workers != 1:
        words += ["--workers", str(args.workers)]
    return command_line(words)


def _study_trials(spec, ref) -> pd.DataFrame | None:
    """The study's trials in its storage; None (and a note) when it holds none of this study."""
    from dse.report.tables import trials_dataframe
    from dse.search.study_store import open_study

    try:
        study = open_study(spec, ref, create=False)
    except UserError as exc:
        print(f"no study trials to compare: {exc}")
        return None
    return trials_dataframe(study, spec)


def _summary(run, front: pd.DataFrame, study: pd.DataFrame | None, ref) -> dict:
    import numpy as np

    from dse.report.tables import feasible_trials
    from dse.search.exhaustive import code_version, maximized, objective_metrics
    from dse.search.front import hypervolume, nondominated, reference_point, weakly_dominated
    from dse.search.objectives import OBJECTIVES

    spec = run.spec
    metrics, maximize = objective_metrics(spec), maximized(spec)
    points, seconds = run.total("points"), run.seconds
    s: dict = {
        "study": spec.name, "grid": {n: len(v) for n, v in zip(run.grid.names, run.grid.values)},
        "points": points, "screened": run.total("screened"), "evaluated": run.total("evaluated"),
        "failed": run.total("failed"), "feasible": run.total("feasible"), "seconds": round(seconds, 3),
        "points_per_second": points / seconds if seconds > 0 else None,
        "evaluated_per_second": run.total("evaluated") / seconds if seconds > 0 else None,
        "runs": run.runs, "chunks": len(run.chunks), "code": code_version(),
        "objectives": {o: {"metric": OBJECTIVES[o].metric, "direction": OBJECTIVES[o].direction}
                       for o in spec.objectives},
        "front_size": len(front), "hypervolume": 0.0, "reference_point": None,
    }
    if not len(front):
        return s
    values = front[metrics].to_numpy(float)
    reference = reference_point(values, maximize)
    s["hypervolume"] = hypervolume(values, maximize, reference)
    s["reference_point"] = dict(zip(spec.objectives, map(float, reference)))
    if study is None:
        return s
    done = feasible_trials(study)
    trial_values = done[metrics].to_numpy(float) if len(done) else np.zeros((0, len(metrics)))
    study_front = trial_values[nondominated(trial_values, maximize)]
    s.update({"study_storage": ref.display, "study_trials": int(len(study)), "study_feasible": int(len(done)),
              "study_front_size": int(len(study_front)),
              "study_hypervolume": hypervolume(study_front, maximize, reference)})
    s["hv_ratio"] = s["study_hypervolume"] / s["hypervolume"] if s["hypervolume"] > 0 else None
    # a feasible trial better than the exact front would mean the grid missed it or the model changed
    s["study_trials_beyond_front"] = int((~weakly_dominated(trial_values, values, maximize)).sum())
    return s


def _write(folder: Path, front: pd.DataFrame, summary: dict, spec, study: pd.DataFrame | None) -> list[Path]:
    from dse.report.front import plot_front
    from dse.report.tables import write_tables

    written = write_tables(front, folder, stem="front")
    path = folder / "summary.json"
    path.write_text(json.dumps(summary, indent=1) + "\n")
    written.append(path)
    if len(front):
        written += plot_front(front, spec, summary, study, folder)
    return written


def _print(s: dict, folder: Path, written: list[Path]) -> None:
    rate = f" ({s['points_per_second']:,.0f} points/s)" if s["points_per_second"] else ""
    print(f"{s['points']:,} points in {s['seconds']:.1f} s{rate}, {s['runs']} run(s): {s['evaluated']:,} evaluated, "
          f"{s['screened']:,} over the area limit without evaluation; {s['feasible']:,} feasible")
    if not s["front_size"]:
        print("no feasible design in the grid: no front")
    else:
        ref = ", ".join(f"{k} {v:.6g}" for k, v in s["reference_point"].items())
        print(f"exact front: {s['front_size']:,} designs; hypervolume {s['hypervolume']:.6g} (reference point {ref})")
    if "hv_ratio" in s:
        ratio = f"{s['hv_ratio']:.4f}" if s["hv_ratio"] is not None else "n/a"
        print(f"study {s['study']} ({s['study_trials']} trials, {s['study_feasible']} feasible, front "
              f"{s['study_front_size']}, {s['study_storage']}): hypervolume {s['study_hypervolume']:.6g}, "
              f"hv_ratio {ratio}")
        if s["study_trials_beyond_front"]:
            from dse.errors import warn

            warn(f"{s['study_trials_beyond_front']} feasible study trials are not dominated by the exact front: "
                 "were they evaluated by another version of the model?")
    print(f"wrote {folder}/: {', '.join(p.name for p in written)}")
