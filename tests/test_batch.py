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
from model_points import assert_batch_is_evaluate, compiler_study, random_points, study_rows


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
    alone, decode once per group of points (weight buffering x at most 3 layer patterns), not per point
    (nor per dataflow: one group holds them all)."""
    import dse.phases.decode
    import dse.query

    # buffers priced by the memory compiler: the test is how decode batches, and on a fresh machine (CI)
    # CACTI pricing these 320 random chips' SRAMs took 105 s of the suite's 8.5 minutes
    spec = compiler_study("video-qa")
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
    assert 0 < calls["run_decode"] <= 6
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


def test_a_batch_runs_its_pruned_layers_as_one_array(monkeypatch):
    """Layers whose token counts differ per point (after SEC and similarity) run as one (layers x points)
    array: a group takes a few layer_tally calls, not one per distinct layer, and every point's numbers
    are still exactly the ones `evaluate` gives it alone."""
    import dse.llm_run as llm_run

    w = resolve_workload("llava_vid/videomme")
    points = [DesignPoint(rows=32, cols=32 * (1 + i % 3), threshold=0.8 + 0.005 * i, sec_scale=0.6 + 0.02 * i)
              for i in range(24)]
    calls, distinct = [], []
    layer_tally, profile_tallies = llm_run.layer_tally, llm_run._profile_tallies
    monkeypatch.setattr(llm_run, "layer_tally", lambda *a: calls.append(np.ndim(a[2])) or layer_tally(*a))
    monkeypatch.setattr(llm_run, "_profile_tallies",
                        lambda ctx, unit, layers: distinct.append(len(layers)) or profile_tallies(ctx, unit, layers))
    got = evaluate_batch(points, w)
    assert distinct == [max(distinct)] and max(distinct) > 5  # one group, many distinct layers
    assert calls.count(2) == 1 and len(calls) <= 3  # the pruned ones at once; the rest (unpruned) alone
    for i, p in enumerate(points):
        ev = evaluate(p, w)
        assert [got.values[k][i] for k in RESULT_KEYS if k != "buffer_kb"] == \
            [getattr(ev, k) for k in RESULT_KEYS if k != "buffer_kb"], p


def test_one_group_holds_every_dataflow(monkeypatch):
    """Points that differ only in numbers and dataflow run as one group (the dataflow an array: each
    formula that depends on it runs once per dataflow present, each point keeping its own), and every
    point's numbers, whole query included, are exactly the ones it gets alone."""
    import dse.batch

    w = resolve_workload("llava_vid/videomme")
    points = [DesignPoint(rows=16 * (1 + i % 5), cols=16 * (1 + i % 7), dataflow=("ws", "os", "is")[i % 3],
                          m_tile=(512, 1024)[i % 2], threshold=0.8 + 0.01 * i, weight_buffering="double",
                          phases=("prefill", "decode"), output_tokens=3, dram_bandwidth_gbps=64.0)
              for i in range(12)]
    sizes = []
    group = dse.batch._evaluate_group
    monkeypatch.setattr(dse.batch, "_evaluate_group", lambda pts, *a: sizes.append(len(pts)) or group(pts, *a))
    assert_batch_is_evaluate(points, w)
    assert sizes == [12]
    batches, errors = run_query_batch(points, w)
    assert errors == [""] * 12
    for b in batches:
        for j, i in enumerate(b.index):
            alone = run_query(points[int(i)], w)
            assert float(np.broadcast_to(b.query.tpot_s, b.index.shape)[j]) == alone.tpot_s
            assert float(np.broadcast_to(b.query.ttft_s, b.index.shape)[j]) == alone.ttft_s


def test_a_point_whose_sram_cacti_refuses_runs_alone_and_the_rest_stay_on_arrays(monkeypatch):
    """A point with an SRAM CACTI refuses (here, for the test, the concentrate_out SRAM read by 4 scatter
    accumulators) fails alone with CACTI's words, as it does by itself, while its group's other points stay
    on arrays: one such point among bench_batch's 4,000 random points once sent its whole group one by one
    (268 points/s instead of ~22,000)."""
    import dse.cost.buffer_pricing as pricing
    from dse.cost import accelerator
    from dse.errors import UserError

    one_sram = pricing._one_sram

    def refusing(name, per_copy, block, readers, banked):
        if name == "concentrate_out" and readers == 4:
            raise UserError("CACTI cannot build an SRAM of this test: refused")
        return one_sram(name, per_copy, block, readers, banked)

    monkeypatch.setattr(pricing, "_one_sram", refusing)
    accelerator._built.cache_clear()  # one design's chips: built again, with the refusal
    w = resolve_workload("llava_vid/videomme")
    points = [DesignPoint(rows=152, cols=80, dataflow=("os", "ws")[i % 2], m_tile=512, n_tile=256, n_scatter=n,
                          dram_bandwidth_gbps=64.0) for i, n in enumerate((2, 3, 4, 5, 6))]
    try:
        got = assert_batch_is_evaluate(points, w)
    finally:
        accelerator._built.cache_clear()
    assert "CACTI cannot build an SRAM of this test" in got.errors[2]
    assert got.vectorised.tolist() == [True, True, False, True, True]
