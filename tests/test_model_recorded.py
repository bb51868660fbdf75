"""The cost model against the numbers it gave when they were recorded (tests/fixtures/model_numbers.json.gz,
written by tests/fixtures/record_model_numbers.py): one design at a time (evaluate, run_query, a study
trial) and many at once on arrays (evaluate_batch, run_query_batch, run_many, evaluate_chunk), on
random points of every accelerator, convention, level, precision, core count, buffer size, bandwidth,
query and study. Cycles to the last cycle; one design's numbers to the last bit; arrays' numbers within
1e-12 (numpy's float64 may round a sum's last bit differently)."""

from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dse.batch import evaluate_batch
from dse.errors import UserError
from dse.evaluate import evaluate
from dse.query import run_query, run_query_batch
from dse.search.batch import evaluate_chunk, study_evaluator
from dse.search.evaluation import METRIC_KEYS
from dse.workloads import resolve_workload
from model_points import (PHASE_KEYS, PREFILL_KEYS, QUERY_KEYS, compiler_study, query_points, random_points,
                          study_designs, study_rows)

RECORDED = Path(__file__).parent / "fixtures" / "model_numbers.json.gz"
PREFILL = [("llava_vid/videomme", 1), ("qwen2_5_vl/mme", 2)]
QUERY = [("llava_vid/videomme", 7), ("qwen2_5_vl/mme", 8), ("minicpm_v/mvbench", 9)]
STUDIES = [("quickstart", 300), ("video-qa", 320), ("captioning", 120)]


@cache
def recorded() -> dict:
    with gzip.open(RECORDED, "rt") as f:
        return json.load(f)


def close(got, expected, exact: bool) -> bool:
    return got == expected if exact else got == pytest.approx(expected, rel=1e-12, abs=0)


@pytest.mark.parametrize("workload, seed", PREFILL)
def test_one_design_at_a_time(workload, seed):
    w = resolve_workload(workload)
    for p, want in zip(random_points(1100, seed), recorded()["prefill"][workload]):
        try:
            ev = evaluate(p, w)
        except UserError as exc:
            assert want.get("error") == str(exc), p
            continue
        assert {k: getattr(ev, k) for k in PREFILL_KEYS} == want, p


@pytest.mark.parametrize("workload, seed", PREFILL)
def test_many_designs_on_arrays(workload, seed):
    w = resolve_workload(workload)
    points = random_points(1100, seed)
    got = evaluate_batch(points, w)
    assert got.vectorised.sum() > 0.9 * len(points) - sum(bool(e) for e in got.errors)
    for i, (p, want) in enumerate(zip(points, recorded()["prefill"][workload])):
        if "error" in want:
            assert got.errors[i] == want["error"], p
            continue
        assert got.errors[i] == "" and got.values["total_cycles"][i] == want["total_cycles"], p
        for k in PREFILL_KEYS:
            assert close(got.values[k][i], want[k], exact=False), (k, p)
    seen = {(p.accelerator, p.convention, p.concentration, p.precision, p.cores > 1) for p in points}
    assert len(seen) > 60  # every accelerator, convention, level, precision, one and several cores


def _query_numbers(q, j=None) -> dict:
    def pick(v):
        return v if j is None else float(np.broadcast_to(v, q.prefill.total_cycles.shape)[j])

    return {"phases": {name: {k: pick(getattr(ph, k)) for k in PHASE_KEYS} for name, ph in q.phases.items()},
            **{k: pick(getattr(q, k)) for k in QUERY_KEYS}}


@pytest.mark.parametrize("workload, seed", QUERY)
def test_whole_queries(workload, seed):
    """run_query point by point and run_query_batch on arrays: every phase to the last bit."""
    w = resolve_workload(workload)
    points = query_points(600, seed)
    batches, errors = run_query_batch(points, w)
    on_arrays = {int(i): (b.query, j) for b in batches for j, i in enumerate(b.index)}
    several = 0
    for i, (p, want) in enumerate(zip(points, recorded()["query"][workload])):
        if "error" in want:
            with pytest.raises(UserError) as exc:
                run_query(p, w)
            assert str(exc.value) == want["error"] == errors[i] and i not in on_arrays, p
            continue
        assert _query_numbers(run_query(p, w)) == want, p
        assert errors[i] == "" and _query_numbers(*on_arrays[i]) == want, p
        several += len(want["phases"]) > 1
    assert several > 100


@pytest.mark.parametrize("study, n", STUDIES)
def test_study_trials(study, n):
    """A trial (DesignEvaluator.run), a generation at once (DesignEvaluator.run_many) and `study exhaustive`'s chunks
    (evaluate_chunk): the recorded metrics, constraints and feasibility."""
    spec = compiler_study(study)
    evaluator = study_evaluator(spec)
    designs = study_designs(spec, n)
    want = recorded()["trials"][study]
    generation = evaluator.run_many(designs)
    chunk = evaluate_chunk(spec, pd.DataFrame(study_rows(spec, n, 11)))
    names = [c for c in chunk.columns if c.startswith("constraint:")]
    for i, (design, expected) in enumerate(zip(designs, want)):
        if "error" in expected:
            with pytest.raises(UserError) as exc:
                evaluator.run(design)
            assert str(exc.value) == expected["error"] == str(generation[i]) == chunk["error"][i]
            continue
        one = evaluator.run(design)
        got = {"metrics": one.metrics, "constraints": one.constraints, "feasible": one.feasible,
               "profile_source": one.profile_source, "accuracy_provider": one.accuracy_provider}
        assert got == expected, design
        assert generation[i] == one
        assert chunk["total_cycles"][i] == expected["metrics"]["total_cycles"]
        for k in METRIC_KEYS:
            assert close(chunk[k][i], expected["metrics"][k], exact=False), (i, k)
        assert list(chunk.loc[i, names]) == pytest.approx(expected["constraints"], rel=1e-12, abs=0)
        assert chunk["feasible"][i] == expected["feasible"]
