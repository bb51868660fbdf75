"""The README's numbers about the quickstart, its exact front and the whole-query searches, computed anew.

    .venv/bin/python docs/readme_numbers.py [--section quickstart|exact|whole-query|weight-buffering|sram]
                                            [--workers 2]
                                            [--check README.md]

Everything runs in a temporary folder (results/ and accel_configs/ are not touched), through the
command line a user has:
- `focus-dse study run quickstart` as a fresh process (600 trials, seed 0, every report and the
  export), timed; its baselines compared at equal area with the run summary's own rule
  (dse/report/summary.py `compare`);
- `focus-dse study exhaustive quickstart --workers N` (sections quickstart and exact): the exact
  front of the quickstart's grid and the share of its hypervolume the 600 trials reach;
- the whole-query searches (section whole-query): the quickstart's study file (grid, sampler, seed,
  trials, constraints) with the query and objectives of the built-in `video-qa` and `captioning`
  studies, so that only what is optimised differs; their feasible fronts against the quickstart's;
  and the built-in `video-qa` and `captioning` themselves (a finer, continuous space);
- the built-in `video-qa` and `captioning` at seeds 0, 1 and 2, each with weight buffering searched (their
  files) and left single (section weight-buffering): what their fronts choose, and each front's
  hypervolume against the union of the six fronts of its study;
- the quickstart again with its buffers priced by the memory compiler's macros alone (section sram):
  its front beside the default's (the faithful convention's CACTI-scaled buffers).
Each section prints the README's paragraph as Markdown, to paste in its place, then this run's
timings with the load average (not for the README, whose Speed figures come from the benchmarks);
`--check README.md` then says whether the README holds every paragraph word for word.
A few minutes on 2 cores, most of it the exhaustive grid and the twelve weight-buffering searches.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from dse.report.tables import objective_columns, trials_dataframe
from dse.report.summary import Comparison, compare
from dse.search import load_study
from dse.search.evaluation import DesignEvaluator
from dse.search.front import hypervolume, nondominated, reference_point
from dse.search.objectives import OBJECTIVES, maximized
from dse.search import open_study
from dse.search.storage import parse_storage
from dse.search.studyfile import STUDIES_DIR, StudySpec

SECTIONS = ("quickstart", "exact", "whole-query", "weight-buffering", "sram")
WHOLE_QUERY = ("video-qa", "captioning")
SEEDS = (0, 1, 2)  # the weight-buffering section's: a front's choices move with the seed


def focus_dse(*args: str, cwd: Path) -> tuple[str, float]:
    """A fresh `focus-dse` process: (stdout, wall seconds); its failure ends the script with its stderr."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "dse", *args], cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"focus-dse {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc.stdout, seconds


def study_run(study: str, tmp: Path, *extra: str) -> tuple[StudySpec, pd.DataFrame, str, float]:
    """Run a study (a built-in name or a file) into `tmp`: (spec, trials table, stdout, seconds)."""
    spec = load_study(study)
    storage = tmp / f"{spec.name}.log"
    out, seconds = focus_dse("study", "run", study, "--storage", str(storage), "--results-dir", str(tmp / "results"),
                             "--out", str(tmp / "accel_configs"), "--no-progress", *extra, cwd=tmp)
    return spec, trials_dataframe(open_study(spec, parse_storage(str(storage)), create=False), spec), out, seconds


def front(df: pd.DataFrame) -> pd.DataFrame:
    """The feasible Pareto front of a trials table (its `pareto` column)."""
    return df[(df["state"] == "COMPLETE") & df["feasible"] & df["pareto"]]


def num(value: float) -> str:
    """Three significant digits, written as the README writes them (16.0, 8.87, 148)."""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def design(row, spec: StudySpec) -> str:
    """'62.65 / 28.7 J / 16.0 s at 2.89 mm²': the study's objectives, then the area."""
    parts = [f"{row[OBJECTIVES[o].metric]:.2f}" if o.startswith("accuracy") else
             f"{num(row[OBJECTIVES[o].metric])} {OBJECTIVES[o].unit}" for o in spec.objectives]
    return " / ".join(parts) + f" at {num(row['area_mm2'])} mm²"


def versus(row, reference: dict, spec: StudySpec) -> str:
    """'better in energy (-48 %) and latency (-56 %), worse in accuracy (-0.13 points)'."""
    better, worse = [], []
    for o in spec.objectives:
        metric = OBJECTIVES[o].metric
        diff = float(row[metric]) - float(reference[metric])
        gap = f"{diff:+.2f} points" if o.startswith("accuracy") else f"{100 * diff / float(reference[metric]):+.0f} %"
        if diff:
            (better if OBJECTIVES[o].sign * diff < 0 else worse).append(f"{o} ({gap.replace('-', '−')})")
    said = [f"{word} in {' and '.join(items)}" for word, items in (("better", better), ("worse", worse)) if items]
    return ", ".join(said) or "equal in every objective"


def dominated_by(c: Comparison) -> str:
    return "none" if not c.dominating_at_area else f"{c.dominating_at_area}"


def quickstart_paragraph(spec: StudySpec, df: pd.DataFrame, out: str, seconds: float,
                         exact: dict) -> tuple[str, str]:
    """(the README's paragraph, this run's timing)."""
    refs = DesignEvaluator(spec).reference_points()
    comps = {name: compare(df, spec, name, m) for name, m in refs.items()}
    focus = comps["Focus default"]
    trials = re.search(r"^(\d+) trials in ([\d.]+) s", out, re.M)
    if trials is None:
        sys.exit("the quickstart's output lost its 'N trials in S s' line: update docs/readme_numbers.py")
    ref = focus.reference
    text = (f"Against the paper's Focus design, evaluated in the same run ({design(ref, spec)} on "
            f"{', '.join(map(str, spec.workloads))}, `{spec.convention}` convention, {spec.accuracy.provider} "
            "accuracy; "
            f"one run, seed {spec.seed}, one worker, {spec.sampler.name.upper().replace('NSGA2', 'NSGA-II')}): "
            f"at ≤ {num(focus.area)} mm² {dominated_by(focus)} of the {focus.feasible_at_area} feasible designs "
            f"{'dominates' if focus.dominating_at_area <= 1 else 'dominate'} it")
    if focus.best_at_area is not None:
        text += (f" (the best, {design(focus.best_at_area, spec)}, is "
                 f"{versus(focus.best_at_area, ref, spec)})")
    if focus.dominating_front:
        best = focus.best_front
        text += (f"; {focus.dominating_front} of the search's {focus.front} front designs dominate it, "
                 f"e.g. {design(best, spec)} ({float(best['area_mm2']) / focus.area:.1f}× its area)")
    baselines = [comps[n] for n in ("AdapTiV", "CMC") if n in comps]
    text += (". At ≤ their own areas, " + " and ".join(
        f"{dominated_by(c)} of {c.feasible_at_area} feasible designs dominate {c.baseline}" for c in baselines))
    adaptiv = baselines[0] if baselines else None
    if adaptiv is not None and adaptiv.dominating_at_area:
        text += (f" (e.g. {design(adaptiv.best_at_area, spec)} against {adaptiv.baseline}'s "
                 f"{design(adaptiv.reference, spec)})")
    beaten_at_area = [c.baseline for c in [focus, *baselines] if c.dominating_at_area]
    text += (f". Beaten at equal or smaller area: {', '.join(beaten_at_area) or 'none of them'}. The search "
             f"reaches {100 * exact['hv_ratio']:.1f} % of the exact front's hypervolume (`study exhaustive "
             "quickstart`, below).")
    return text, (f"the {trials[1]} trials took {float(trials[2]):.1f} s, the whole command {seconds:.1f} s, "
                  f"load average {os.getloadavg()[0]:.1f}")


def exact_run(tmp: Path, workers: int) -> tuple[dict, pd.DataFrame, float]:
    """`study exhaustive quickstart` on the quickstart's trials in `tmp`: (summary, exact front, seconds)."""
    _, seconds = focus_dse("study", "exhaustive", "quickstart", "--storage", str(tmp / "quickstart.log"),
                           "--results-dir", str(tmp / "results"), "--workers", str(workers), cwd=tmp)
    folder = tmp / "results" / "quickstart" / "exhaustive"
    return json.loads((folder / "summary.json").read_text()), pd.read_parquet(folder / "front.parquet"), seconds


def share(series: pd.Series) -> str:
    """'all 1000' or '0.75 (34), 0.87 (36), 0.99 (18)': a column's values on a front, in order."""
    counts = series.value_counts().sort_index()
    if len(counts) == 1:
        return f"all {counts.index[0]:g}" if isinstance(counts.index[0], float) else f"all {counts.index[0]}"
    return ", ".join(f"{v:g} ({n})" if isinstance(v, float) else f"{v} ({n})" for v, n in counts.items())


def exact_paragraph(summary: dict, exact_front: pd.DataFrame, seconds: float, workers: int) -> tuple[str, str]:
    """(the README's paragraph, this run's timing)."""
    return (f"Of the quickstart's {summary['points']:,} grid points, {summary['screened']:,} are over the area limit, "
            f"screened by their chip's area, and the other {summary['evaluated']:,} are evaluated "
            f"({summary['feasible']:,} feasible). The exact front has {summary['front_size']} designs: clock "
            f"{share(exact_front['frequency_mhz'])} MHz, N tile {share(exact_front['n_tile'])}, dataflow "
            f"{share(exact_front['dataflow'])}; the quickstart's own {summary['study_trials']} trials (seed 0) "
            f"reach hv_ratio {summary['hv_ratio']:.3f}.",
            f"{summary['seconds']:.1f} s with --workers {workers}, {seconds:.1f} s for the whole command, load "
            f"average {os.getloadavg()[0]:.1f}")


def whole_query_spec(name: str, tmp: Path) -> Path:
    """The quickstart's study file with a built-in whole-query study's objectives and query knobs (the
    space keys the quickstart does not have): the same grid, sampler, seed and constraints."""
    quick = yaml.safe_load((STUDIES_DIR / "quickstart.yaml").read_text())
    query = yaml.safe_load((STUDIES_DIR / f"{name}.yaml").read_text())
    quick["space"] |= {k: v for k, v in query["space"].items() if k not in quick["space"]}
    quick |= {"name": f"quickstart-{name}", "objectives": query["objectives"],
              "description": f"the quickstart's grid searched on {name}'s query and objectives"}
    path = tmp / f"quickstart-{name}.yaml"
    path.write_text(yaml.safe_dump(quick, sort_keys=False))
    return path


def processing_elements(f: pd.DataFrame) -> pd.Series:
    return f["rows"] * f["cols"] * f["cores"]


def profile(f: pd.DataFrame) -> dict[str, str]:
    """A front's designs in numbers: how many, their array sizes, each knob's values."""
    pes = processing_elements(f)
    return {"designs": str(len(f)), "PEs (median)": f"{pes.median():,.0f}",
            "PEs (quartiles)": f"{pes.quantile(0.25):,.0f}–{pes.quantile(0.75):,.0f}",
            **{k: share(f[k]) for k in ("dataflow", "n_tile", "m_tile", "sec_scale", "threshold", "block",
                                        "vector_size", "n_scatter", "frequency_mhz")}}


def builtin_sentence(runs: dict[str, pd.DataFrame]) -> str:
    """The built-in whole-query studies' own fronts (their finer, continuous space)."""
    said = []
    for name, df in runs.items():
        f = front(df)
        said.append(f"`{name}` {len(f)} designs, median {processing_elements(f).median():,.0f} PEs, dataflow "
                    f"{share(f['dataflow'])}")
    return ("The built-in studies search a finer, continuous space (their study files; 600 trials, seed 0), "
            "where the feasible fronts are: " + "; ".join(said) + ".")


def whole_query_paragraph(quick_df: pd.DataFrame, runs: dict[str, pd.DataFrame]) -> str:
    """The fronts side by side (a Markdown table) and the comparison in words."""
    profiles = {"quickstart": profile(front(quick_df)), **{n: profile(front(df)) for n, df in runs.items()}}
    head = "| front | " + " | ".join(profiles) + " |\n|---|" + "---|" * len(profiles) + "\n"
    rows = "".join(f"| {key} | " + " | ".join(p[key] for p in profiles.values()) + " |\n"
                   for key in profiles["quickstart"])
    quick_pes = processing_elements(front(quick_df)).median()
    words = []
    for name, df in runs.items():
        pes = processing_elements(front(df)).median()
        change = "the same" if pes == quick_pes else "larger" if pes > quick_pes else "smaller"
        words.append(f"`{name}`'s front has {len(front(df))} designs against the quickstart's {len(front(quick_df))}, "
                     f"its median array {change} ({pes:,.0f} vs {quick_pes:,.0f} PEs)")
    return ("Searching the whole query on the quickstart's grid (its study file, sampler, seed 0 and 600 trials, "
            "with the query and objectives of `video-qa` and `captioning`; feasible fronts, "
            "`docs/readme_numbers.py`): " + "; ".join(words) + ".\n\n" + (head + rows).rstrip("\n"))


def buffering_spec(name: str, seed: int, searched: bool, tmp: Path) -> Path:
    """A built-in whole-query study at `seed`, with weight buffering searched (its file) or left single."""
    data = yaml.safe_load((STUDIES_DIR / f"{name}.yaml").read_text())
    if not searched:
        del data["space"]["weight_buffering"]  # the design default: single
    data |= {"name": f"{name}-{'searched' if searched else 'single'}-{seed}", "seed": seed}
    path = tmp / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def buffering_line(name: str, runs: dict[tuple[bool, int], tuple[StudySpec, pd.DataFrame]]) -> str:
    """One study's fronts with weight buffering searched and left single, per seed, and their hypervolumes
    at one reference: just beyond the union of the six fronts (dse/search/front.py reference_point)."""
    spec = runs[True, 0][0]
    cols, maximize = objective_columns(spec), maximized(spec.objectives)
    fronts = {key: front(df) for key, (_, df) in runs.items()}
    union = np.vstack([f[cols].to_numpy(float) for f in fronts.values()])
    union = union[nondominated(union, maximize)]
    ref = reference_point(union, maximize)
    whole = hypervolume(union, maximize, ref)

    def per_seed(searched: bool, what) -> str:
        return " / ".join(what(fronts[searched, seed]) for seed in SEEDS)

    def hv(f: pd.DataFrame) -> str:
        return f"{hypervolume(f[cols].to_numpy(float), maximize, ref) / whole:.3f}"

    searched = [fronts[True, seed] for seed in SEEDS]
    double = " / ".join(f"{(f['weight_buffering'] == 'double').sum()} of {len(f)}" for f in searched)
    dataflows = "; ".join(f"seed {seed} {share(fronts[flag, seed]['dataflow'])}"
                          for flag in (True, False) for seed in SEEDS)
    answer = int(runs[True, 0][1]["output_tokens"].iloc[0])
    return (f"- `{name}` (G = {answer}), seeds {' / '.join(map(str, SEEDS))}: "
            f"front designs double {double}; without the knob fronts of {per_seed(False, lambda f: str(len(f)))} "
            f"designs. Dataflows, searched then single: {dataflows}. Hypervolume against the union of the six "
            f"fronts: {per_seed(True, hv)} searched, {per_seed(False, hv)} single.")


def buffering_paragraph(runs: dict[str, dict]) -> str:
    return ("Searching weight buffering (`video-qa` and `captioning` as built in, with `weight_buffering: "
            "[single, double]`, against the same files without it; 600 trials each, faithful, "
            "`docs/readme_numbers.py --section weight-buffering`):"
            + "".join("\n\n" + buffering_line(name, by_run) for name, by_run in runs.items()))


def compiler_spec(tmp: Path) -> Path:
    """The quickstart's study file with every buffer priced by the compiler's macros (as before CACTI)."""
    quick = yaml.safe_load((STUDIES_DIR / "quickstart.yaml").read_text())
    quick["space"]["sram_model"] = "compiler"
    quick |= {"name": "quickstart-compiler", "description": "the quickstart, buffers priced by the compiler"}
    path = tmp / "quickstart-compiler.yaml"
    path.write_text(yaml.safe_dump(quick, sort_keys=False))
    return path


def sram_paragraph(default_df: pd.DataFrame, compiler_df: pd.DataFrame) -> str:
    """The quickstart's front with the default SRAM pricing beside the compiler's macros alone."""
    knobs = ["rows", "cols", "dataflow", "frequency_mhz", "m_tile", "n_tile", "vector_size", "block", "threshold",
             "sec_scale", "n_scatter"]
    fronts = {"CACTI-scaled (default)": front(default_df), "compiler macros": front(compiler_df)}
    designs = [{tuple(r) for r in f[knobs].itertuples(index=False)} for f in fronts.values()]
    head = "| quickstart front, buffers priced by | " + " | ".join(fronts) + " |\n|---|---|---|\n"
    rows = "".join(f"| {key} | " + " | ".join(profile(f)[key] for f in fronts.values()) + " |\n"
                   for key in ("designs", "PEs (median)", "m_tile", "n_tile", "n_scatter"))
    return ("The quickstart's front with its buffers priced by the faithful default (the compiler's macros "
            "times CACTI's size curve) beside the same search with the compiler's macros alone (600 trials, seed "
            f"0, `docs/readme_numbers.py`): {len(designs[0] & designs[1])} designs are on both fronts, "
            f"{len(designs[0] - designs[1])} only on the default's, {len(designs[1] - designs[0])} only on the "
            "compiler's.\n\n" + (head + rows).rstrip("\n"))


def paste(text: str) -> str:
    """Paragraphs wrapped as the README's (95 columns); table lines as they are."""
    return "\n\n".join(block if block.startswith("|") else textwrap.fill(block, 95, break_on_hyphens=False)
                       for block in text.split("\n\n"))


def stale(readme: str, text: str) -> list[str]:
    """The paragraphs of `text` not in `readme` word for word (line breaks aside)."""
    words = " ".join(readme.split())
    return [block for block in text.split("\n\n") if " ".join(block.split()) not in words]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--section", choices=SECTIONS, action="append", help="only these (default: all)")
    ap.add_argument("--workers", type=int, default=2, help="processes of `study exhaustive` (default 2)")
    ap.add_argument("--check", metavar="README", type=Path,
                    help="exit 1 when a printed paragraph is not in this file word for word")
    args = ap.parse_args()
    sections = args.section or list(SECTIONS)
    printed: dict[str, tuple[str, str]] = {}  # title: (the README's text, this run's timing)
    with tempfile.TemporaryDirectory(prefix="readme-numbers-") as name:
        tmp = Path(name)
        spec, df, out, seconds = study_run("quickstart", tmp, "--export-best", "5")
        if {"quickstart", "exact"} & set(sections):
            exact = exact_run(tmp, args.workers)
            if "quickstart" in sections:
                printed["Set up and run: the quickstart against the baselines"] = \
                    quickstart_paragraph(spec, df, out, seconds, exact[0])
            if "exact" in sections:
                printed["The exact front"] = exact_paragraph(*exact, args.workers)
        if "whole-query" in sections:
            runs = {n: study_run(str(whole_query_spec(n, tmp)), tmp, "--no-reports")[1] for n in WHOLE_QUERY}
            builtin = {n: study_run(n, tmp, "--no-reports")[1] for n in WHOLE_QUERY}
            printed["The whole query: searching it"] = (whole_query_paragraph(df, runs) + "\n\n"
                                                       + builtin_sentence(builtin), "")
        if "weight-buffering" in sections:
            runs = {n: {(searched, seed): study_run(str(buffering_spec(n, seed, searched, tmp)), tmp, "--no-reports")[:2]
                        for searched in (True, False) for seed in SEEDS} for n in WHOLE_QUERY}
            printed["Weight buffering: what the searches choose"] = (buffering_paragraph(runs), "")
        if "sram" in sections:
            printed["SRAM: the quickstart's front"] = (
                sram_paragraph(df, study_run(str(compiler_spec(tmp)), tmp, "--no-reports")[1]), "")
    for title, (text, timing) in printed.items():
        note = f"\n(this run, not for the README: {timing})\n" if timing else ""
        print(f"## README, {title}\n\n{paste(text)}\n{note}")
    if args.check:
        missing = [block for text, _ in printed.values() for block in stale(args.check.read_text(), text)]
        if missing:
            sys.exit(f"{args.check} lacks {len(missing)} of these paragraphs, e.g.: {missing[0][:120]}...")
        print(f"{args.check} has every paragraph above")


if __name__ == "__main__":
    main()
