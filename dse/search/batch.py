"""Many design points of one study at once: how `study exhaustive` evaluates its chunks and a study run
a generation of trials.

`evaluate_chunk(spec, designs)` takes one row per design point (a column per searched knob,
named and valued as in trials.csv; fixed knobs come from the study) and returns, row for row,
every metric of a trial (METRIC_KEYS), its constraint values (`constraint:<name>`, <= 0
satisfied), `feasible` and `error` (a design the model refuses: metrics NaN, not feasible).

The numbers are those DesignEvaluator.run gives a trial: the same trial's life (dse/search/evaluation.py
trial_numbers), with the cost model on arrays (the whole query, encoder and decode included: dse/query.py
run_query_batch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from dse.errors import UserError
from dse.search.evaluation import METRIC_KEYS, DesignEvaluator, trial_numbers
from dse.search.studyfile import StudySpec

if TYPE_CHECKING:  # the trial loop imports this module: pandas is imported where tables are built
    import pandas as pd

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
        got = trial_numbers(evaluator, list(points.values()))
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


def plain_params(params: dict[str, Any]) -> dict[str, Any]:
    """numpy scalars -> Python ones (DesignPoint checks `isinstance(x, int)`)."""
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in params.items()}
