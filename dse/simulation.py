"""What `focus-dse simulate` prints for a design (simulate_result), its scalars as one table row
(scalar_columns), and those rows for many designs at once on arrays (simulate_rows: `simulate --designs`).

A design alone runs dse/query.py run_query; many run dse/batch.py evaluate_batch when they ask for the
prefill alone (the Focus paper's scope) and dse/query.py run_query_batch otherwise. Both batch paths
equal the one-design path to the last bit (tests/test_batch.py, tests/test_whole_query.py), and each
point's numbers go through the same Evaluation, PhaseCost and QueryResult as a design alone, so a row
holds exactly what `simulate --json` prints for its design (tests/test_simulate_designs.py).
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

import numpy as np

from dse.batch import evaluate_batch
from dse.cost.accelerator import load_spec
from dse.design import PHASES, DesignPoint
from dse.evaluate import Evaluation
from dse.levels import runs_sic
from dse.llm_run import RESULT_KEYS
from dse.phases.common import PhaseCost
from dse.query import QueryResult, run_query_batch
from dse.redundancy import provenance
from dse.workloads.catalog import Workload

CONVENTION_NOTES = {
    "focus-paper": "counts as the Focus paper's simulator does (its simplifications included)",
    "faithful": "focus-dse's own model: exact tiles, causal attention per tile, detection cycles, busy-time energy",
}
# the nested parts of a result that are not one row's scalars: the design is the table's own columns, the
# breakdowns are dicts per component, GEMM and layer
NOT_SCALAR = ("design", "breakdown", "per_layer", "redundancy")
NOTE_SEPARATOR = " | "  # between the notes of `modelled` (a list in the JSON)


def simulate_result(design: DesignPoint, workload: Workload, prefill: Evaluation, query: QueryResult | None,
                    backend: str, published: bool = True, with_design: bool = True) -> dict[str, Any]:
    """The JSON object `focus-dse simulate` prints for one design point: its prefill, and the whole
    query's keys unless the design asks for the prefill alone (`query` None, or its default); where
    the redundancy curves that moved a published profile came from. with_design=False leaves the design
    out (a table row: its columns are the design)."""
    result = {
        "workload": workload.name,
        "model": workload.model,
        "tokens": workload.tokens,
        "convention_note": CONVENTION_NOTES[design.convention],
        "backend": backend,
        **({"design": design.to_dict()} if with_design else {}),
        **prefill.to_dict(),
    }
    if query is not None and not query.is_default:
        result.update(query.to_dict())
    if published and load_spec(design.accelerator)["model"] == "focus" and runs_sic(design.concentration):
        result["redundancy"] = provenance(design.redundancy_clips, design.encoder_threshold is not None)
    return result


def scalar_columns(result: dict[str, Any]) -> dict[str, Any]:
    """A simulate result as one table row: every scalar, each phase's as `phases.<phase>.<key>`, the
    `modelled` notes joined; the design and the breakdowns left out (see NOT_SCALAR)."""
    row: dict[str, Any] = {}
    for key, value in result.items():
        if key in NOT_SCALAR:
            continue
        if key == "phases":
            for phase, numbers in value.items():
                row.update({f"phases.{phase}.{k}": v for k, v in numbers.items()})
        elif key == "modelled":
            row[key] = NOTE_SEPARATOR.join(value)
        else:
            row[key] = value
    return row


def order_columns(keys: list[str]) -> list[str]:
    """Result columns in a stable order: the top-level keys as met, then each phase's in pipeline order."""
    top = [k for k in keys if not k.startswith("phases.")]
    return top + [k for p in PHASES for k in keys if k.startswith(f"phases.{p}.")]


def simulate_rows(points: list[DesignPoint], workload: Workload) -> tuple[list[dict[str, Any] | None], list[str]]:
    """scalar_columns(simulate_result(...)) of each point (published profiles, analytic backend), or None
    and the one-line reason the model refuses it; the points run on arrays."""
    rows: list[dict[str, Any] | None] = [None] * len(points)
    errors = [""] * len(points)
    prefill = [i for i, p in enumerate(points) if _prefill_alone(p)]
    query = [i for i, p in enumerate(points) if not _prefill_alone(p)]
    if prefill:
        res = evaluate_batch([points[i] for i in prefill], workload)
        for j, i in enumerate(prefill):
            if res.errors[j]:
                errors[i] = res.errors[j]
                continue
            ev = _evaluation(points[i], workload, res.profile_source[j], {k: res.values[k][j] for k in RESULT_KEYS})
            rows[i] = _row(points[i], workload, ev, None)
    if query:
        batches, errs = run_query_batch([points[i] for i in query], workload)
        for j, message in enumerate(errs):
            errors[query[j]] = message
        for b in batches:
            q = b.query
            for k, j in enumerate(b.index):
                p = points[query[j]]
                ev = _evaluation(p, workload, q.prefill.profile_source,
                                 {key: _pick(getattr(q.prefill, key), k) for key in RESULT_KEYS})
                phases = {name: _phase(cost, k) for name, cost in q.phases.items()}
                rows[query[j]] = _row(p, workload, ev, QueryResult(p, ev, phases, _pick(q.kv_cache_bytes, k)))
    return rows, errors


def _prefill_alone(p: DesignPoint) -> bool:
    """Whether the point asks for what dse/evaluate.py evaluate answers: the paper's scope, no prompt."""
    return p.paper_scope and not p.prompt_tokens


def _row(point: DesignPoint, workload: Workload, prefill: Evaluation, query: QueryResult | None) -> dict[str, Any]:
    return scalar_columns(simulate_result(point, workload, prefill, query, "analytic", with_design=False))


def _evaluation(point: DesignPoint, workload: Workload, source: str, values: dict[str, Any]) -> Evaluation:
    """One point's prefill as evaluate() builds it (the breakdowns are not computed on arrays)."""
    return Evaluation(workload=workload.name, accelerator=load_spec(point.accelerator)["name"],
                      convention=point.convention, profile_source=source, breakdown={},
                      **{k: float(v) for k, v in values.items()})


def _phase(cost: PhaseCost, k: int) -> PhaseCost:
    """Point k's part of a phase computed on arrays."""
    numbers = {f.name: _pick(getattr(cost, f.name), k) for f in fields(cost) if f.name not in ("name", "details")}
    return replace(cost, **numbers, details={key: _pick(v, k) for key, v in cost.details.items()})


def _pick(value: Any, k: int) -> Any:
    """Element k of an array over the batch's points as a Python number; a shared value as it is."""
    if isinstance(value, np.ndarray):
        return (value if value.ndim == 0 else value[k]).item()
    return value.item() if isinstance(value, np.generic) else value
