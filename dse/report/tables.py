"""All trials as one table (CSV and Parquet), Pareto membership, and the ranking used by export.

One row per trial in the storage, with its `state` (COMPLETE / FAIL; RUNNING while another worker
evaluates it; claims withdrawn before evaluation, dse/search/claims.py, are left out), `feasible`, `pareto`
(on the feasible non-dominated front), every metric, every design field (fixed ones too),
the constraint values (<= 0 satisfied), the accuracy provider's label and any error.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from optuna.trial import TrialState

from dse.search.evaluation import METRIC_KEYS, design_columns
from dse.search.front import nondominated
from dse.search.objectives import OBJECTIVES, maximized
from dse.search.study_store import DEFAULT_ATTR, UID_ATTR
from dse.search.studyfile import StudySpec

if TYPE_CHECKING:  # imported where a table is built (rows_frame): a report's figures start before
    import pandas as pd

__all__ = ["area_range", "column", "feasible_mask", "feasible_trials", "nondominated", "objective_columns", "rank", "rows_frame",
           "trial_rows", "trials_dataframe", "write_tables"]
LEADING = ["number", "state", "feasible", "pareto", DEFAULT_ATTR]


def objective_columns(spec: StudySpec) -> list[str]:
    return [OBJECTIVES[o].metric for o in spec.objectives]


def feasible_trials(df: pd.DataFrame) -> pd.DataFrame:
    """The finished trials that meet every constraint (an empty table as it is)."""
    return df[(df["state"] == "COMPLETE") & df["feasible"]] if len(df) else df


def column(table, name: str, dtype: Any = None) -> np.ndarray:
    """One column of a table (a DataFrame, or a dict of columns: what a plot process draws from, it imports
    no pandas) as a numpy array."""
    return np.asarray(table[name], dtype=dtype)


def feasible_mask(table) -> np.ndarray:
    """Per trial of a table (DataFrame or dict of columns): finished and meeting every constraint."""
    return (column(table, "state") == "COMPLETE") & column(table, "feasible", bool)


def area_range(table) -> tuple[float, float]:
    """The feasible trials' smallest and largest area (the figures' colour scale); (0, 1) when none.
    `table`: a DataFrame or a dict of columns."""
    if any(name not in table for name in ("state", "feasible", "area_mm2")):  # no trials
        return 0.0, 1.0
    areas = column(table, "area_mm2", float)[feasible_mask(table)]
    areas = areas[~np.isnan(areas)]
    return (float(areas.min()), float(areas.max())) if len(areas) else (0.0, 1.0)


def trials_dataframe(study, spec: StudySpec) -> pd.DataFrame:
    return rows_frame(trial_rows(study, spec))


def trial_rows(study, spec: StudySpec) -> list[dict[str, Any]]:
    """The trials table's rows (dicts, by trial number, `pareto` set), built without pandas: the report
    hands the figures their columns before it imports pandas (dse/report/__init__.py)."""
    rows: list[dict[str, Any]] = []
    constraint_names = spec.constraints.names()
    for t in study.get_trials(deepcopy=False):
        if t.state == TrialState.PRUNED:  # a withdrawn claim (dse/search/claims.py): not a trial of the study
            continue
        ua = t.user_attrs
        row: dict[str, Any] = {"number": t.number, "state": t.state.name,
                               "feasible": bool(ua.get("feasible", False)) if t.state.name == "COMPLETE" else False,
                               DEFAULT_ATTR: bool(ua.get(DEFAULT_ATTR, False))}
        metrics = ua.get("metrics") or {}
        for key in METRIC_KEYS:
            row[key] = metrics.get(key, np.nan)
        for name, value in zip(constraint_names, ua.get("constraint_values") or []):
            row[f"constraint:{name}"] = value
        row.update(design_columns(ua.get("design") or {}))
        row["accuracy_provider"] = ua.get("accuracy_provider", "")
        row["error"] = ua.get("error", "")
        for wname, wm in (ua.get("per_workload") or {}).items():
            for key in ("energy_j", "latency_s", "accuracy"):
                row[f"{wname}:{key}"] = wm.get(key)
        start, end = t.datetime_start, t.datetime_complete
        row["datetime_complete"] = end.isoformat() if end else ""
        row["duration_s"] = (end - start).total_seconds() if start and end else np.nan
        row["worker"] = str(ua.get(UID_ATTR, "")).rsplit(":", 1)[0]
        rows.append(row)
    rows.sort(key=lambda row: row["number"])
    ok = [row for row in rows if row["state"] == "COMPLETE" and row["feasible"]]
    cols = objective_columns(spec)
    front = nondominated(np.array([[row[c] for c in cols] for row in ok], dtype=float),
                         maximized(spec.objectives)) if ok else []
    for row in rows:
        row["pareto"] = False
    for row, on_front in zip(ok, front):
        row["pareto"] = bool(on_front)
    return rows


def rows_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """trial_rows as the trials table: LEADING columns first."""
    import pandas as pd

    if not rows:
        return pd.DataFrame(columns=LEADING)
    df = pd.DataFrame(rows)
    return df[LEADING + [c for c in df.columns if c not in LEADING]]


def rank(df: pd.DataFrame, spec: StudySpec) -> list[int]:
    """Trial numbers, best first: successive non-dominated fronts of the feasible trials; within a
    front, by distance to the ideal point in min-max normalised objective space."""
    cols = objective_columns(spec)
    maximize = np.array(maximized(spec.objectives))
    ok = feasible_trials(df)
    if ok.empty:
        return []
    values = ok[cols].to_numpy(float)
    v = np.where(maximize, -values, values)
    lo, hi = v.min(axis=0), v.max(axis=0)
    norm = (v - lo) / np.where(hi > lo, hi - lo, 1.0)
    numbers = ok["number"].to_numpy()
    remaining = np.arange(len(v))
    out: list[int] = []
    while len(remaining):
        front = remaining[nondominated(values[remaining], list(maximize))]
        dist = np.linalg.norm(norm[front], axis=1)
        out.extend(int(numbers[i]) for i in front[np.lexsort((numbers[front], dist))])
        remaining = np.setdiff1d(remaining, front)
    return out


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, (bool, np.bool_))


def parquet_table(df: pd.DataFrame) -> pd.DataFrame:
    """The table with one Parquet type per column. An object column of numbers and None (threshold,
    encoder_threshold, dram_bandwidth_gbps: None = the default / off / unlimited) becomes floats,
    None -> NaN (a null in the file), so that a reader gets numbers; any other mixed column, text."""
    table = df.copy()
    for col in table.columns:
        if table[col].dtype != object:
            continue
        if len(table) and all(_is_number(x) for x in table[col].dropna()):
            table[col] = table[col].astype(float)
            continue
        table[col] = table[col].map(lambda x: "" if x is None else x)
        if not all(isinstance(x, str) for x in table[col]):
            table[col] = table[col].astype(str)
    return table


def write_tables(df: pd.DataFrame, out_dir: Path, stem: str = "trials") -> list[Path]:
    """<stem>.csv and <stem>.parquet."""
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, parquet_path = out_dir / f"{stem}.csv", out_dir / f"{stem}.parquet"
    df.to_csv(csv_path, index=False)
    parquet_table(df).to_parquet(parquet_path, index=False)
    return [csv_path, parquet_path]
