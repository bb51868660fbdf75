"""Many design points of one study at once: the seam `study exhaustive` evaluates its chunks through.

`evaluate_chunk(spec, designs)` takes one row per design point (a column per searched knob,
named and valued as in trials.csv; fixed knobs come from the study) and returns, row for row,
every metric of a trial (METRIC_KEYS), its constraint values (`constraint:<name>`, <= 0
satisfied), `feasible` and `error` (a design the model refuses: metrics NaN, not feasible).

Today it runs each point through DesignEvaluator.run, the function a study trial runs, so
the numbers are the trials' numbers to the last bit. A vectorised evaluator of the same model
replaces the loop behind this one signature.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dse.errors import UserError
from dse.search.evaluation import METRIC_KEYS, DesignEvaluator
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
    metrics = np.full((len(designs), len(METRIC_KEYS)), np.nan)
    constraints = np.full((len(designs), len(names)), np.nan)
    feasible = np.zeros(len(designs), dtype=bool)
    errors: list[str] = [""] * len(designs)
    for i, params in enumerate(designs.to_dict("records")):
        design = spec.space.design_dict(_plain(params), spec.accelerator, spec.convention)
        try:
            outcome = evaluator.run(design)
        except UserError as exc:  # a failed trial in a study
            errors[i] = str(exc)
            continue
        metrics[i] = [outcome.metrics[k] for k in METRIC_KEYS]
        constraints[i] = outcome.constraints
        feasible[i] = outcome.feasible
    out = designs.reset_index(drop=True).copy()
    out[list(METRIC_KEYS)] = metrics
    out[names] = constraints
    out["feasible"] = feasible
    out["error"] = errors
    return out


def _plain(params: dict[str, Any]) -> dict[str, Any]:
    """numpy scalars -> Python ones (DesignPoint checks `isinstance(x, int)`)."""
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in params.items()}
