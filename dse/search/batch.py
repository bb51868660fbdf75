"""Many design points of one study at once: the seam `study exhaustive` evaluates its chunks through.

`evaluate_chunk(spec, designs)` takes one row per design point (a column per searched knob,
named and valued as in trials.csv; fixed knobs come from the study) and returns, row for row,
every metric of a trial (METRIC_KEYS), its constraint values (`constraint:<name>`, <= 0
satisfied), `feasible` and `error` (a design the model refuses: metrics NaN, not feasible).

The numbers are those DesignEvaluator.run gives a trial: the same DesignPoint, the same cost
model run on arrays (dse/batch.py), the same metric and constraint code
(dse/search/evaluation.py workload_metrics, aggregate). Points whose query is more than the
prefill (other phases, prompt tokens, batch > 1) go through DesignEvaluator.run one by one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dse.batch import evaluate_batch
from dse.errors import UserError
from dse.evaluate import Evaluation
from dse.query import QueryResult, prefill_cost
from dse.search.evaluation import METRIC_KEYS, DesignEvaluator, aggregate, workload_metrics
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
            point = evaluator.design_point(design)
        except UserError as exc:  # a failed trial in a study
            errors[i] = str(exc)
            continue
        if point.phases == ("prefill",) and not point.prompt_tokens and point.batch == 1:
            points[i] = point
            continue
        try:  # the whole query: one point at a time
            outcome = evaluator.run(design)
        except UserError as exc:
            errors[i] = str(exc)
            continue
        metrics[i] = [outcome.metrics[k] for k in METRIC_KEYS]
        constraints[i] = outcome.constraints
    if points:
        rows = np.array(list(points), dtype=int)
        got, cons, failed = _prefill_points(evaluator, list(points.values()))
        metrics[rows] = np.column_stack([got[k] for k in METRIC_KEYS])
        if names:
            constraints[rows] = np.column_stack(cons)
        for j, message in failed.items():
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


def _prefill_points(evaluator: DesignEvaluator, points: list) -> tuple[dict, list, dict[int, str]]:
    """Metrics, constraint values and errors (by position) of prefill-only points, as arrays."""
    n = len(points)
    failed: dict[int, str] = {}
    per = []
    for w in evaluator.workloads:
        res = evaluate_batch(points, w)
        for j, message in enumerate(res.errors):
            if message:
                failed.setdefault(j, message)
        v = res.values
        ev = Evaluation(workload=w.name, accelerator="", convention="", profile_source="",
                        total_cycles=v["total_cycles"], compute_cycles=v["compute_cycles"],
                        stall_cycles=v["stall_cycles"], memory_stall_cycles=v["memory_stall_cycles"],
                        execution_time_s=v["execution_time_s"], energy_j=v["energy_j"], area_mm2=v["area_mm2"],
                        onchip_power_mw=v["onchip_power_mw"], buffer_kb=v["buffer_kb"], dram_bytes=v["dram_bytes"],
                        compute_fraction=v["compute_fraction"], breakdown={})
        # the prefill-only query of dse/query.py run_query (KV cache size is no metric)
        query = QueryResult(points[0], ev, {"prefill": prefill_cost(ev, w, 0)}, 0.0)
        acc = np.full((n, 3), np.nan)
        for j, p in enumerate(points):
            try:
                a = evaluator.provider.predict(p, w)
            except UserError as exc:
                failed.setdefault(j, str(exc))
                continue
            acc[j] = a.accuracy, a.drop, a.relative_drop_pct
        per.append(workload_metrics(query, acc[:, 0], acc[:, 1], acc[:, 2]))
    m = aggregate(per)
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
    return m, evaluator.spec.constraints.values(m, shortfall), failed


def plain_params(params: dict[str, Any]) -> dict[str, Any]:
    """numpy scalars -> Python ones (DesignPoint checks `isinstance(x, int)`)."""
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in params.items()}
