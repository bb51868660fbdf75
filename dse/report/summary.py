"""What a study run prints last: the per-pair Pareto plots, the top exported designs (table), the
comparison with each baseline at equal or smaller area, and the commands that continue.

Claims against a baseline (the Focus default design, dense, AdapTiV, CMC, evaluated with the
study's workloads, convention and accuracy provider in this same run) are iso-area: area is a
constraint, not an objective, so "dominates" is first said of the feasible designs whose area is
at most the baseline's; a dominating design at a larger area is named with its area beside it.
"Dominates": at least as good in every objective of the study and better in one. The design
named "best" is, among those that dominate the baseline (else among all at that area), the one
with the largest geometric-mean gain over the objectives (gain = baseline / value for a
minimised objective, value / baseline for a maximised one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dse.report.tables import feasible_trials, objective_columns
from dse.search import front
from dse.search.objectives import OBJECTIVES, maximized
from dse.search.study_store import DEFAULT_ATTR
from dse.search.studyfile import StudySpec

if TYPE_CHECKING:  # only tables are handed in: `study run --no-reports` imports no pandas
    import pandas as pd

RANKING_RULE = ("rank: successive Pareto fronts of the feasible trials; within a front, distance to the ideal "
                "point in min-max normalised objective space")


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _unit(objective: str) -> str:
    return OBJECTIVES[objective].unit


# -- the per-pair plots --------------------------------------------------------------------------
def pair_plots(written: list[Path]) -> list[str]:
    """The per-pair Pareto plots among the written report files, one entry per pair ("x.png/.svg")."""
    stems: dict[str, list[str]] = {}
    for p in written:
        if "_vs_" in p.name:
            stems.setdefault(p.stem, []).append(p.suffix)
    return [stem + "/".join(sorted(suffixes)) for stem, suffixes in sorted(stems.items())]


# -- the top designs -----------------------------------------------------------------------------
def top_table(spec: StudySpec, records: list[dict[str, Any]], folders: list[Path]) -> list[str]:
    """One row per exported design: rank, trial, each objective (with its unit), area, folder."""
    head = ["rank", "trial", *(f"{o} ({_unit(o)})" for o in spec.objectives), "area (mm²)", "folder"]
    rows = [[str(r["rank"]), str(r["trial"]), *(_fmt(r["objectives"][o]) for o in spec.objectives),
             _fmt(r["study_metrics"]["area_mm2"]), str(f)] for r, f in zip(records, folders)]
    widths = [max(len(line[i]) for line in [head, *rows]) for i in range(len(head))]

    def fmt(line: list[str]) -> str:
        cells = [c.rjust(w) for c, w in zip(line[:-1], widths)]
        return "  " + "  ".join(cells + [line[-1]])

    return [fmt(head), *(fmt(r) for r in rows)]


# -- baselines at equal or smaller area ----------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    baseline: str
    reference: dict[str, float]  # the baseline's metrics
    feasible_at_area: int  # feasible designs with area <= the baseline's
    dominating_at_area: int  # of those, how many dominate it
    best_at_area: pd.Series | None  # the best of those (see the module doc)
    front: int  # designs on the feasible front (any area within the constraints)
    dominating_front: int  # of those, how many dominate it
    best_front: pd.Series | None  # the best of those that dominate it

    @property
    def area(self) -> float:
        return float(self.reference["area_mm2"])


def _signed(spec: StudySpec, values: dict | pd.Series) -> list[float]:
    return [OBJECTIVES[o].sign * float(values[OBJECTIVES[o].metric])
            for o in spec.objectives]


def dominating(spec: StudySpec, rows: pd.DataFrame, reference: dict[str, float]) -> np.ndarray:
    """Per row: does it dominate the reference in the study's objectives (dse.search.front, moocore)?"""
    if not len(rows):
        return np.zeros(0, dtype=bool)
    cols = objective_columns(spec)
    return front.dominating(rows[cols].to_numpy(float), [float(reference[c]) for c in cols],
                            maximized(spec.objectives))


def gain(spec: StudySpec, row: pd.Series, reference: dict[str, float], objective: str) -> float | None:
    """How many times better than the reference in one objective (None when a value is not positive)."""
    metric = OBJECTIVES[objective].metric
    value, ref = float(row[metric]), float(reference[metric])
    if value <= 0 or ref <= 0:
        return None
    return value / ref if OBJECTIVES[objective].maximize else ref / value


def geomean_gain(spec: StudySpec, row: pd.Series, reference: dict[str, float]) -> float:
    gains = [g for o in spec.objectives if (g := gain(spec, row, reference, o)) is not None]
    return math.exp(sum(math.log(g) for g in gains) / len(gains)) if gains else 1.0


def _best(spec: StudySpec, rows: pd.DataFrame, reference: dict[str, float]) -> pd.Series | None:
    if rows.empty:
        return None
    # the objectives' columns as dicts: iterrows builds a Series per row (most of a run summary's time)
    scores = [geomean_gain(spec, r, reference) for r in rows[objective_columns(spec)].to_dict("records")]
    numbers = rows["number"].astype(int).tolist()
    order = sorted(range(len(rows)), key=lambda i: (-scores[i], numbers[i]))
    return rows.iloc[order[0]]


def compare(df: pd.DataFrame, spec: StudySpec, name: str, reference: dict[str, float]) -> Comparison:
    ok = feasible_trials(df)
    area = float(reference["area_mm2"])
    at_area = ok[ok["area_mm2"] <= area] if len(ok) else ok
    dom = at_area[dominating(spec, at_area, reference)]
    on_front = ok[ok["pareto"]] if len(ok) else ok
    front_dom = on_front[dominating(spec, on_front, reference)]
    return Comparison(name, reference, len(at_area), len(dom), _best(spec, dom if len(dom) else at_area, reference),
                      len(on_front), len(front_dom), _best(spec, front_dom, reference))


def _design_text(spec: StudySpec, row: pd.Series, reference: dict[str, float]) -> str:
    parts = []
    for o in spec.objectives:
        g = gain(spec, row, reference, o)
        ratio = f" ({float(row[OBJECTIVES[o].metric]) / float(reference[OBJECTIVES[o].metric]):.3g}x)" if g else ""
        parts.append(f"{o} {_fmt(float(row[OBJECTIVES[o].metric]))} {_unit(o)}{ratio}")
    return f"trial {int(row['number'])}: " + ", ".join(parts) + f" at {_fmt(float(row['area_mm2']))} mm²"


def _worse_in(spec: StudySpec, row: pd.Series, reference: dict[str, float]) -> list[str]:
    a, b = _signed(spec, row), _signed(spec, reference)
    return [o for o, x, y in zip(spec.objectives, a, b) if x > y]


def describe(spec: StudySpec, c: Comparison) -> list[str]:
    ref = c.reference
    values = ", ".join(f"{o} {_fmt(float(ref[OBJECTIVES[o].metric]))} {_unit(o)}" for o in spec.objectives)
    lines = [f"vs {c.baseline} ({values} at {_fmt(c.area)} mm²):"]
    where = f"at <= {_fmt(c.area)} mm²"
    if c.best_at_area is None:
        lines.append(f"  {where}: no feasible design")
    elif c.dominating_at_area:
        lines.append(f"  {where}: {c.dominating_at_area} of {c.feasible_at_area} feasible designs dominate it, "
                     "the best:")
        lines.append(f"    {_design_text(spec, c.best_at_area, ref)}")
    else:
        worse = _worse_in(spec, c.best_at_area, ref)
        how = f"is worse in {', '.join(worse)}" if worse else "equals it in every objective"
        itself = " (the default design itself)" if not worse and bool(c.best_at_area.get(DEFAULT_ATTR, False)) else ""
        lines.append(f"  {where}: none of {c.feasible_at_area} feasible designs dominates it; the best {how}:")
        lines.append(f"    {_design_text(spec, c.best_at_area, ref)}{itself}")
    best = c.best_front
    same = best is not None and c.best_at_area is not None and int(best["number"]) == int(c.best_at_area["number"])
    if best is not None and not same:
        limit = spec.constraints.area_mm2_max
        scope = f"any area up to the {_fmt(limit)} mm² constraint" if limit is not None else "any area"
        lines.append(f"  at {scope}: {c.dominating_front} of {c.front} front designs dominate it, the best:")
        lines.append(f"    {_design_text(spec, best, ref)} ({float(best['area_mm2']) / c.area:.3g}x its area)")
    return lines


def baseline_lines(df: pd.DataFrame, spec: StudySpec, refs: dict[str, dict]) -> list[str]:
    """Every baseline the run evaluated, the Focus default design first."""
    out = ["baselines, evaluated in this run (dominates: as good in every objective and better in one; "
           "best: the largest geometric-mean gain):"]
    for name in sorted(refs, key=lambda n: n != "Focus default"):
        out += describe(spec, compare(df, spec, name, refs[name]))
    return out


# -- the whole summary ---------------------------------------------------------------------------
def run_summary(spec: StudySpec, df: pd.DataFrame, refs: dict[str, dict], out_dir: Path, written: list[Path],
                export, next_steps: list[tuple[str, str]]) -> str:
    """`export`: dse.report.export.Export of this run, or None when nothing was exported."""
    lines = []
    pairs = pair_plots(written)
    if pairs:
        lines.append(f"Pareto plots per objective pair in {out_dir}/: {', '.join(pairs)}")
    complete = len(df) and (df["state"] == "COMPLETE").any()
    if complete:
        lines += baseline_lines(df, spec, refs)
    if export is not None:
        lines.append(f"top {len(export.records)} designs, exported to {export.folder}/ ({RANKING_RULE}; "
                     "source.json names the study and storage):")
        lines += top_table(spec, export.records, export.designs)
    lines += next_lines(next_steps)
    return "\n".join(lines)


def next_lines(steps: list[tuple[str, str]]) -> list[str]:
    """`next:` and one line per (what it does, command)."""
    if not steps:
        return []
    width = max(len(label) for label, _ in steps) + 1
    return ["next:", *(f"  {(label + ':').ljust(width)}  {command}" for label, command in steps)]
