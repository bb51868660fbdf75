"""Many design points of one study at once: how `study exhaustive` evaluates its chunks and a study run
a generation of trials.

`evaluate_chunk(spec, designs)` takes one row per design point (a column per searched knob,
named and valued as in trials.csv; fixed knobs come from the study) and returns, row for row,
every metric of a trial (METRIC_KEYS), its constraint values (`constraint:<name>`, <= 0
satisfied), `feasible` and `error` (a design the model refuses: metrics NaN, not feasible).

The numbers are those DesignEvaluator.run gives a trial: the same DesignPoint, the same cost
model run on arrays (the whole query, encoder and decode included: dse/query.py
run_query_batch), the same metric and constraint code (dse/search/evaluation.py
workload_metrics, aggregate).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from dse.errors import UserError
from dse.query import run_query_batch
from dse.search.evaluation import METRIC_KEYS, DesignEvaluator, Outcome, aggregate, workload_metrics
from dse.search.studyfile import StudySpec

_EVALUATORS: dict[str, DesignEvaluator] = {}  # per process: workloads and accuracy provider built once


def study_evaluator(spec: StudySpec) -> DesignEvaluator:
    key = spec.fingerprint()
    if key not in _EVALUATORS:
        _EVALUATORS[key] = DesignEvaluator(spec)
    return _EVALUATORS[key]


def constraint_columns(spec: StudySpec) -> list[str]:
    return [f"constraint:{name}" for name in spec.constraints.names()]


def evaluate_chunk(spec: StudySpec, designs: pd.DataFrame) -> pd.DataFrame:
    """Every metric and constraint of each design point (rows in the order given)."""
    evaluator = study_evaluator(spec)
    names = constraint_columns(spec)
    n = len(designs)
    metrics = np.full((n, len(METRIC_KEYS)), np.nan)
    constraints = np.full((n, len(names)), np.nan)
    errors: list[str] = [""] * n
    points: dict[int, Any] = {}
    for i, params in enumerate(designs.to_dict("records")):
        design = spec.space.design_dict(plain_params(params), spec.accelerator, spec.convention)
        try:
            points[i] = evaluator.design_point(design)
        except UserError as exc:  # a failed trial in a study
            errors[i] = str(exc)
    if points:
        rows = np.array(list(points), dtype=int)
        got = _query_points(evaluator, list(points.values()))
        metrics[rows] = np.column_stack([got.metrics[k] for k in METRIC_KEYS])
        if names:
            constraints[rows] = np.column_stack(got.constraints)
        for j, message in got.failed.items():
            errors[rows[j]] = message
            metrics[rows[j]] = np.nan
            constraints[rows[j]] = np.nan
    out = designs.reset_index(drop=True).copy()
    out[list(METRIC_KEYS)] = metrics
    out[names] = constraints
    out["feasible"] = ~np.isnan(constraints).any(axis=1) & (constraints <= 0).all(axis=1) \
        & np.array([not e for e in errors], dtype=bool)  # dtype: an empty chunk too
    out["error"] = errors
    return out


@dataclass
class _Numbers:
    """What DesignEvaluator.run computes, for many points: arrays with one element per point."""

    metrics: dict[str, np.ndarray]  # over the study's workloads (aggregate)
    per_workload: dict[str, dict[str, np.ndarray]]
    constraints: list[np.ndarray]
    shortfall: np.ndarray
    failed: dict[int, str]  # position -> what run() raises for that point
    provider: list[str]  # the accuracy provider's label and the profile's source (of the last workload, as run())
    source: list[str]


def _query_points(evaluator: DesignEvaluator, points: list) -> _Numbers:
    """Metrics, constraint values and errors (by position) of the points, as arrays: per workload
    the whole query (dse/query.py run_query_batch), then the accuracy, as DesignEvaluator.run."""
    n = len(points)
    failed: dict[int, str] = {}
    per: dict[str, dict[str, np.ndarray]] = {}
    provider, source = [""] * n, [""] * n
    for w in evaluator.workloads:
        batches, errors = run_query_batch(points, w)
        for j, message in enumerate(errors):
            if message:
                failed.setdefault(j, message)
        acc = np.full((n, 3), np.nan)
        for j, p in enumerate(points):
            if j in failed:  # run() stops at the query: the provider never sees the design
                continue
            try:
                a = evaluator.provider.predict(p, w)
            except UserError as exc:
                failed.setdefault(j, str(exc))
                continue
            acc[j] = a.accuracy, a.drop, a.relative_drop_pct
            provider[j] = a.provider
        m = {k: np.full(n, np.nan) for k in METRIC_KEYS if k != "edp_js"}  # aggregate derives edp_js
        for b in batches:
            got = workload_metrics(b.query, acc[b.index, 0], acc[b.index, 1], acc[b.index, 2])
            for k, v in got.items():
                m[k][b.index] = v
            for j in b.index:
                source[j] = b.query.prefill.profile_source
        per[w.name] = m
    m = aggregate(list(per.values()))
    m = {k: np.broadcast_to(np.asarray(v, dtype=float), (n,)) for k, v in m.items()}
    unknown = np.isnan(m["accuracy_drop"])
    if unknown.any():
        try:
            evaluator.check_drop_known()
        except UserError as exc:
            for j in np.flatnonzero(unknown):
                failed.setdefault(int(j), str(exc))
    shortfall = np.full(n, np.nan)
    for j, p in enumerate(points):
        if j not in failed:
            try:
                shortfall[j] = evaluator.shortfall(p)
            except UserError as exc:
                failed[j] = str(exc)
    return _Numbers(m, per, evaluator.spec.constraints.values(m, shortfall), shortfall, failed, provider, source)


def run_designs(evaluator: DesignEvaluator, designs: list[dict[str, Any]]) -> list[Outcome | UserError]:
    """DesignEvaluator.run(design) of each design (a generation of trials at once): its Outcome, or
    the UserError run() raises for it."""
    out: list[Outcome | UserError | None] = [None] * len(designs)
    points, where = [], []
    for i, design in enumerate(designs):
        try:
            points.append(evaluator.design_point(design))
            where.append(i)
        except UserError as exc:
            out[i] = exc
    if points:
        got = _query_points(evaluator, points)
        for j, i in enumerate(where):
            if j in got.failed:
                out[i] = UserError(got.failed[j])
                continue
            per = {w: _plain(m, j) for w, m in got.per_workload.items()}
            out[i] = Outcome(design=points[j].to_dict(), metrics=_plain(got.metrics, j), per_workload=per,
                             constraints=[float(c[j]) for c in got.constraints], accuracy_provider=got.provider[j],
                             profile_source=got.source[j], buffer_shortfall=float(got.shortfall[j]))
    return out  # type: ignore[return-value]


def _plain(metrics: dict[str, np.ndarray], j: int) -> dict[str, Any]:
    """Point j's metrics as run() gives them (Python numbers; cycles an integer)."""
    return {k: int(v[j]) if k == "total_cycles" else float(v[j]) for k, v in metrics.items()}


def plain_params(params: dict[str, Any]) -> dict[str, Any]:
    """numpy scalars -> Python ones (DesignPoint checks `isinstance(x, int)`)."""
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in params.items()}
