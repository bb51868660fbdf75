"""How the array path groups and runs design points (its numbers are checked against recorded ones in
tests/test_model_recorded.py): prompt tokens, a batch of one, whole queries on arrays without any point
alone, refused designs, and KV caches of points of different structures."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dse.batch import evaluate_batch
from dse.design import DesignPoint
from dse.evaluate import evaluate
from dse.llm_run import RESULT_KEYS
from dse.query import run_query, run_query_batch
from dse.search.batch import evaluate_chunk
from dse.search.evaluation import METRIC_KEYS
from dse.search.studyfile import load_study
from dse.workloads import resolve_workload
from model_points import assert_batch_is_evaluate, random_points, study_rows


def test_batch_with_prompt_tokens_is_evaluate_with_them():
    assert_batch_is_evaluate(random_points(400, seed=6), resolve_workload("llava_vid/videomme"), prompt_tokens=64)


def test_batch_of_one_is_evaluate():
    w = resolve_workload("llava_vid/videomme")
    p = DesignPoint(rows=64, cols=48, dataflow="os", cores=2, precision="int8", dram_bandwidth_gbps=32.0)
    one = evaluate_batch([p], w)
    ev = evaluate(p, w)
    assert [one.values[k][0] for k in RESULT_KEYS] == [getattr(ev, k) for k in RESULT_KEYS]


def test_chunk_runs_the_whole_query_on_arrays(monkeypatch):
    """Encoder, prefill with P text tokens and decode of G tokens of a study's chunk: no point's query
    alone, decode once per group of points (dataflow x weight buffering x 3), not per point."""
    import dse.phases.decode
    import dse.query

    spec = load_study("video-qa")
    rows = study_rows(spec, 320, seed=4)
    calls = {"run_query": 0, "run_decode": 0}

    def counted(name, fn):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)
        return wrapper

    with monkeypatch.context() as m:
        m.setattr(dse.query, "run_query", counted("run_query", dse.query.run_query))
        m.setattr(dse.phases.decode, "run_decode", counted("run_decode", dse.phases.decode.run_decode))
        out = evaluate_chunk(spec, pd.DataFrame(rows))
    assert calls["run_query"] == 0
    assert 0 < calls["run_decode"] <= 18
    assert (out["error"] == "").mean() > 0.9 and out["feasible"].any()


def test_chunk_reports_refused_designs():
    spec = load_study("quickstart")
    rows = study_rows(spec, 5, seed=5)
    rows[2] = {**rows[2], "rows": -8}
    out = evaluate_chunk(spec, pd.DataFrame(rows))
    assert "rows must be a positive integer" in out["error"][2] and not out["feasible"][2]
    assert np.isnan(out.loc[2, list(METRIC_KEYS)].astype(float)).all()
    assert (out["error"].drop(2) == "").all()


def test_query_batch_of_prefill_only_points_of_several_structures():
    """The paper's scope (prefill alone, batch 1) of different accelerators and hand-sized buffers in one
    call: each point's KV cache is its own (run_query's)."""
    w = resolve_workload("llava_vid/videomme")
    points = [DesignPoint(buffer_kb={"output": 100.0}), DesignPoint(accelerator="dense"), DesignPoint(sec_scale=0.5)]
    batches, errors = run_query_batch(points, w)
    assert errors == ["", "", ""]
    got = {int(i): float(np.broadcast_to(b.query.kv_cache_bytes, b.index.shape)[j])
           for b in batches for j, i in enumerate(b.index)}
    assert got == {i: run_query(p, w).kv_cache_bytes for i, p in enumerate(points)}
