"""focus-dse study {run,resume,status,plot,export,exhaustive}: Optuna design-space exploration studies.

STUDY is a study file (.yaml/.yml/.toml) or a built-in name (`quickstart`); status, plot and
export also take the name of a study already in the storage. Storage: --storage URL
(sqlite:///x.db, postgresql://user@host/db, or a path ending in .log for a journal file),
else the study file's `storage`, else <results-dir>/<study>/journal.log (or the study.db
of a study made before the journal became the default). See dse/search/ for the study file,
dse/accuracy/ for accuracy providers.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dse.commands.study_args import (DEFAULT_EXPORT, DEFAULT_EXPORT_BEST, DEFAULT_RESULTS, add_study_arguments,
                                     spec_and_storage)
from dse.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

    from dse.report.export import Export

def _running(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trials", type=int, help="the study's target number of finished trials (default: the file's)")
    p.add_argument("--workers", type=int, default=1, help="local worker processes on this study (default 1)")
    p.add_argument("--timeout", type=float, help="stop this run after so many seconds")
    p.add_argument("--seed", type=int, help="sampler seed (overrides the file's)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-reports", action="store_true", help="skip plots/tables/export after the run")
    p.add_argument("--export-best", type=int, default=DEFAULT_EXPORT_BEST, metavar="K",
                   help="after the run, export the K best designs to --out (default 5; 0: none)")
    p.add_argument("--out", default=DEFAULT_EXPORT, help="export root (default accel_configs/)")


def register(sub) -> None:
    p = sub.add_parser("study", help="Optuna design-space exploration: run, resume, status, plot, export",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ss = p.add_subparsers(dest="study_command", required=True, parser_class=type(p))
    run = ss.add_parser("run", help="run a study (creates it, or joins it if it exists with the same definition)")
    add_study_arguments(run)
    _running(run)
    run.set_defaults(func=cmd_run)
    resume = ss.add_parser("resume", help="continue a stored study up to its target number of trials")
    add_study_arguments(resume)
    _running(resume)
    resume.set_defaults(func=cmd_resume)
    status = ss.add_parser("status", help="trials by state, feasible, Pareto front, best values")
    add_study_arguments(status)
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.set_defaults(func=cmd_status)
    plot = ss.add_parser("plot", help="write trials.csv/.parquet, pareto.png/.svg/.html, importances")
    add_study_arguments(plot)
    plot.set_defaults(func=cmd_plot)
    export = ss.add_parser("export", help="write the K best designs as SCALE-Sim configs, topologies and design files")
    add_study_arguments(export)
    export.add_argument("--best", type=int, default=5, metavar="K", help="how many designs (default 5)")
    export.add_argument("--out", default=DEFAULT_EXPORT,
                        help="export root; designs go to OUT/<study>/<rank>/ (OUT/<study>-<key>/ when OUT/<study>/ "
                             "holds another study's or storage's exports, which are never replaced)")
    export.set_defaults(func=cmd_export)
    from dse.commands import exhaustive

    exhaustive.register(ss)


def _check_running_args(args: argparse.Namespace) -> None:
    if args.workers < 1:
        raise UserError(f"--workers must be >= 1, got {args.workers}")
    if args.trials is not None and args.trials < 1:
        raise UserError(f"--trials must be >= 1, got {args.trials}")
    if args.timeout is not None and args.timeout <= 0:
        raise UserError(f"--timeout must be positive, got {args.timeout}")
    if args.export_best < 0:
        raise UserError(f"--export-best must be >= 0, got {args.export_best}")


def _run(args: argparse.Namespace, create: bool) -> int:
    from dataclasses import replace

    from dse.search.runner import run_study
    from dse.search.study_store import TARGET_ATTR, open_study

    _check_running_args(args)
    spec, ref = spec_and_storage(args)
    if args.seed is not None:
        spec = replace(spec, seed=args.seed)
    timeout = args.timeout if args.timeout is not None else spec.timeout
    # the storage first: an unreachable one fails (one line) before anything is printed
    study = open_study(spec, ref, create=create)
    target = args.trials
    if target is None:  # resume continues to the stored target; run uses the file's
        stored_target = study.user_attrs.get(TARGET_ATTR) if not create else None
        target = int(stored_target) if isinstance(stored_target, int) and stored_target > 0 else spec.trials
    from dse.accuracy import get_provider

    print(f"study {spec.name}: {spec.accelerator} on {', '.join(map(str, spec.workloads))}; objectives "
          f"{', '.join(spec.objectives)}; sampler {spec.sampler.name}; storage {ref.display}; "
          f"{args.workers} worker(s); target {target} trials")
    print(get_provider(spec.accuracy.provider, spec.accuracy.options).summary())
    sys.stdout.flush()
    from dse.report.plotter import Plotter

    # imports matplotlib and builds the figures' frames while the trials run
    plotter = None if args.no_reports else Plotter.start(prepare=_figure_frames(spec))
    try:
        summary = run_study(spec, ref, target, args.workers, spec.seed, timeout, progress=not args.no_progress,
                            create=create, study=study)
    except BaseException:
        if plotter:
            plotter.cancel()
        raise
    print(f"{summary.written} trials in {summary.seconds:.1f} s ({summary.trials_per_second:.1f} trials/s); "
          f"study has {summary.after} finished trials ({', '.join(sorted(set(summary.reasons)))})")
    if summary.failed:
        if plotter and summary.failed == summary.written:
            plotter.cancel()
        failed = f"{summary.failed} of the {summary.written} trials of this run failed; the first: {summary.first_error}"
        if summary.failed == summary.written:  # nothing to report on: say why, exit non-zero
            raise UserError(f"{failed} (stored in {ref.display}; `focus-dse study status` lists them)")
        print(f"note: {failed}", file=sys.stderr)
    commands = _command_line(args)
    if summary.interrupted:
        print(f"interrupted: {summary.after} finished trials are stored in {ref.display}; "
              f"`{commands.resume()}` continues, `{commands.plot()}` writes reports", file=sys.stderr)
        if plotter:
            plotter.cancel()
        return 130
    reports = None
    if plotter:
        reports = _reports(spec, ref, args.results_dir, export_k=args.export_best, export_root=args.out,
                           plotter=plotter, study=study)
    _print_summary(spec, ref, reports, commands, summary.after)
    return 0


def _command_line(args: argparse.Namespace):
    from dse.commands.followup import StudyCommandLine

    return StudyCommandLine.from_args(args, {"results_dir": DEFAULT_RESULTS, "out": DEFAULT_EXPORT,
                                             "export_best": DEFAULT_EXPORT_BEST})


def _print_summary(spec, ref, reports: Reports | None, commands, finished: int) -> None:
    """The end of a run: per-pair plots, baselines at equal area, top designs (dse/report/summary.py),
    and the exact commands to go on (with --no-reports: only those)."""
    from dse.commands.followup import dashboard, resimulate
    from dse.report.summary import next_lines, run_summary

    export = reports.export if reports else None
    steps = [("extend the study", commands.resume(trials=2 * finished))]
    if reports is None:
        steps.append(("write the reports", commands.plot()))
    exported = len(export.records) if export else 0
    steps += [("export more designs", commands.export(2 * max(exported, DEFAULT_EXPORT_BEST))),
              ("browse every trial", dashboard(ref))]
    if export is not None:
        steps.append(("re-simulate design 1", resimulate(export.designs[0] / "design.json")))
    if reports is None:
        print("\n".join(next_lines(steps)))
    else:
        print(run_summary(spec, reports.df, reports.refs, reports.folder, reports.written, export, steps))


@dataclass(frozen=True)
class Reports:
    """What `_reports` wrote and computed (the run summary reuses it)."""
    folder: Path
    df: pd.DataFrame
    refs: dict[str, dict]
    written: list[Path]
    export: Export | None


def _reports(spec, ref, results_dir: str, export_k: int = 0, export_root: str = DEFAULT_EXPORT,
             plotter=None, study=None) -> Reports:
    """Reports and export. The figures are drawn by `plotter` (default: a plot process started
    now, which imports matplotlib while the storage is read) while this process writes the rest.
    `study`: the run's own study object, opened before its trials, when there is one: the storage is
    not opened again. A single worker wrote through that same object, so it is read to the end
    already; reading its trials reads what worker processes wrote through their own storage objects
    (a journal replays the lines written since; an RDB storage's cache, empty until then, fetches
    every trial)."""
    from dse.report import write_reports
    from dse.report.plotter import Plotter
    from dse.search.evaluation import DesignEvaluator
    from dse.search.study_store import open_study

    if plotter is None:  # `study plot`: the plot processes start now
        plotter = Plotter.start(prepare=_figure_frames(spec))
    try:
        study = study or open_study(spec, ref, create=False)
        out_dir = Path(results_dir) / spec.name
        evaluator = DesignEvaluator(spec)
        refs = evaluator.reference_points()  # once per report: the plots and the comparison share them
        df, written = write_reports(study, spec, out_dir, evaluator=evaluator, refs=refs, plotter=plotter)
        export = None
        if export_k and len(df) and df["feasible"].any():
            from dse.report.export import export_best

            export = export_best(study, df, spec, export_k, Path(export_root), ref)
        written += plotter.finish()
    except BaseException:
        plotter.cancel()
        raise
    print(f"reports in {out_dir}/: {', '.join(sorted({p.name for p in written if '_vs_' not in p.name}))}")
    if export is not None:
        print(f"exported {len(export.designs)} best designs to {export.folder}/")
    return Reports(out_dir, df, refs, written, export)


def _figure_frames(spec):
    """What a plot process prepares before the figures' data arrive: their frames (prepare_figures)."""
    from dse.report.pareto import prepare_figures

    return prepare_figures, (spec,)


def cmd_run(args: argparse.Namespace) -> int:
    return _run(args, create=True)


def cmd_resume(args: argparse.Namespace) -> int:
    return _run(args, create=False)


def best_trials(df, spec) -> dict[str, dict]:
    """Per objective, its best value among the feasible trials and a trial that reaches it. Several
    trials often tie (accuracy depends on the concentration knobs only): the one named is on the
    Pareto front (among the ties there always is one) and ranks first by the export ranking."""
    from dse.report.tables import feasible_trials, rank
    from dse.search.objectives import OBJECTIVES

    feasible = feasible_trials(df)
    if not len(feasible):
        return {}
    position = {number: i for i, number in enumerate(rank(df, spec))}
    best = {}
    for o in spec.objectives:
        obj = OBJECTIVES[o]
        value = feasible[obj.metric].max() if obj.maximize else feasible[obj.metric].min()
        ties = feasible[feasible[obj.metric] == value]
        named = min(ties["number"], key=lambda n: position[n])
        best[o] = {"value": float(value), "unit": obj.unit, "trial": int(named), "tied_trials": int(len(ties)),
                   "pareto": bool(ties.loc[ties["number"] == named, "pareto"].iloc[0])}
    return best


def status_dict(spec, ref, study) -> dict:
    from dse.report.tables import feasible_trials, trials_dataframe
    from dse.search.objectives import OBJECTIVES

    df = trials_dataframe(study, spec)
    states = df["state"].value_counts().to_dict() if len(df) else {}
    feasible = feasible_trials(df)
    best = best_trials(df, spec)
    provider = next((p for p in df.get("accuracy_provider", []) if p), spec.accuracy.provider)
    return {
        "study": spec.name, "storage": ref.display, "accelerator": spec.accelerator,
        "workloads": [str(w) for w in spec.workloads], "objectives": {o: OBJECTIVES[o].direction for o in spec.objectives},
        "constraints": spec.constraints.names(), "sampler": spec.sampler.name, "accuracy_provider": provider,
        "target_trials": int(study.user_attrs.get("focus_dse_target", spec.trials)), "trials": int(len(df)), "states": {k: int(v) for k, v in states.items()},
        "feasible": int(len(feasible)), "pareto": int(df["pareto"].sum()) if len(df) else 0, "best": best,
    }


def cmd_status(args: argparse.Namespace) -> int:
    from dse.search.study_store import open_study

    spec, ref = spec_and_storage(args, stored=True)
    study = open_study(spec, ref, create=False)
    s = status_dict(spec, ref, study)
    if args.json:
        json.dump(s, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    states = ", ".join(f"{v} {k.lower()}" for k, v in sorted(s["states"].items())) or "none"
    lines = [f"study {s['study']} in {s['storage']}",
             f"  {s['accelerator']} on {', '.join(s['workloads'])}; sampler {s['sampler']}",
             f"  objectives: {', '.join(f'{k} ({v})' for k, v in s['objectives'].items())}; constraints: "
             f"{', '.join(s['constraints']) or 'none'}",
             f"  accuracy: {s['accuracy_provider']}",
             f"  trials: {s['trials']} of target {s['target_trials']} ({states}); feasible {s['feasible']}; "
             f"Pareto front {s['pareto']}"]
    for o, b in s["best"].items():
        ties = (f"; {b['tied_trials']} feasible trials tie" if b["tied_trials"] > 1 else "") + \
            ("; on the Pareto front" if b["pareto"] else "")
        lines.append(f"  best {o}: {b['value']:.6g} {b['unit']} (trial {b['trial']}{ties})")
    print("\n".join(lines))
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    spec, ref = spec_and_storage(args, stored=True)
    _reports(spec, ref, args.results_dir)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from dse.report.tables import trials_dataframe
    from dse.report.export import export_best
    from dse.search.study_store import open_study

    if args.best < 1:
        raise UserError(f"--best must be >= 1, got {args.best}")
    spec, ref = spec_and_storage(args, stored=True)
    study = open_study(spec, ref, create=False)
    df = trials_dataframe(study, spec)
    for f in export_best(study, df, spec, args.best, Path(args.out), ref).designs:
        print(f)
    return 0
