"""The batch evaluator is the scalar model run on arrays: both ways agree to the last cycle.

dse/batch.py evaluate_batch against dse/evaluate.py evaluate on random design points (every
accelerator, both conventions, custom buffers and bandwidths, precision, cores, concentration
levels), and dse/search/batch.py evaluate_chunk against DesignEvaluator.run (what a study trial
computes) on quickstart points and on a whole-query study.
"""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import optuna
import pandas as pd
import pytest

from dse.batch import BATCH_KEYS, evaluate_batch
from dse.cost.accelerator import default_buffer_bytes
from dse.errors import UserError
from dse.evaluate import DesignPoint, evaluate
from dse.phases.prefill import run_prefill
from dse.query import run_query, run_query_batch
from dse.search.batch import evaluate_chunk, study_evaluator
from dse.search.evaluation import METRIC_KEYS
from dse.search.studyfile import load_study
from dse.workloads import resolve_workload

FLOAT_KEYS = [k for k in BATCH_KEYS if k != "total_cycles"]


def _random_point(rng: random.Random) -> DesignPoint:
    accelerator = rng.choice(["dense", "focus", "focus", "adaptiv", "cmc"])
    convention = rng.choice(["faithful", "focus-paper"])
    knobs = {"rows": rng.choice(range(8, 257, 8)), "cols": rng.choice(range(8, 257, 8)),
             "m_tile": rng.choice([256, 512, 1024, 2048, 4096]), "n_tile": rng.choice([32, 64, 96, 128, 192, 256]),
             "n_scatter": rng.randint(1, 8)}
    buffers = {}
    if rng.random() < 0.4:  # some buffers resized from what the tiles need, smaller or larger
        needed = default_buffer_bytes(accelerator, knobs, convention == "focus-paper")
        buffers = {name: size / 1024 * rng.choice([0.25, 0.5, 2.0]) for name, size in needed.items()
                   if rng.random() < 0.5}
    level = rng.choice(["sec+sic", "sec+sic", "sec", "sic", "none"]) if accelerator == "focus" else "sec+sic"
    return DesignPoint(
        accelerator=accelerator, convention=convention, dataflow=rng.choice(["ws", "os", "is"]),
        frequency_mhz=float(rng.choice(range(200, 1001, 100))), vector_size=rng.choice([8, 16, 32, 64, 128]),
        block=rng.choice([(1, 1, 1), (2, 1, 1), (1, 2, 2), (2, 2, 2), (3, 3, 3)]),
        threshold=rng.choice([None, round(rng.uniform(0.7, 0.99), 4)]), sec_scale=rng.uniform(0.25, 4.0),
        concentration=level, buffer_kb=buffers,
        dram_bandwidth_gbps=rng.choice([None, 16.0, 64.0, rng.uniform(8, 512)]),
        dram_pj_per_byte=rng.choice([99.98, rng.uniform(5, 150)]),
        precision=rng.choice(["fp16", "bf16", "fp8", "int8"]), cores=rng.choice([1, 1, 2, 3, 4]), **knobs)


def _points(n: int, seed: int) -> list[DesignPoint]:
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        try:
            out.append(_random_point(rng))
        except UserError:  # a combination the design refuses (e.g. a level's unbuilt buffer sized)
            continue
    return out


@pytest.mark.parametrize("workload, seed", [("llava_vid/videomme", 1), ("qwen2_5_vl/mme", 2)])
def test_batch_equals_scalar_on_random_points(workload, seed):
    w = resolve_workload(workload)
    points = _points(1100, seed)
    got = evaluate_batch(points, w)
    assert got.vectorised.sum() > 0.9 * len(points) - sum(bool(e) for e in got.errors)
    for i, p in enumerate(points):
        try:
            ev = evaluate(p, w)
        except UserError as exc:
            assert got.errors[i] == str(exc)
            continue
        assert got.errors[i] == ""
        assert got.values["total_cycles"][i] == ev.total_cycles, p  # to the last cycle
        for k in FLOAT_KEYS:
            assert got.values[k][i] == pytest.approx(getattr(ev, k), rel=1e-12, abs=0), (k, p)
    seen = {(p.accelerator, p.convention, p.concentration, p.precision, p.cores > 1) for p in points}
    assert len(seen) > 60  # every accelerator, convention, level, precision, one and several cores


def test_batch_with_prompt_tokens_is_run_prefill():
    w = resolve_workload("llava_vid/videomme")
    points = _points(400, seed=6)
    got = evaluate_batch(points, w, prompt_tokens=64)
    for i, p in enumerate(points):
        try:
            ev = run_prefill(p, w, 64, "published", "analytic")[0]
        except UserError as exc:
            assert got.errors[i] == str(exc)
            continue
        assert [got.values[k][i] for k in BATCH_KEYS] == [getattr(ev, k) for k in BATCH_KEYS], p  # to the last bit


def test_batch_of_one_is_evaluate():
    w = resolve_workload("llava_vid/videomme")
    p = DesignPoint(rows=64, cols=48, dataflow="os", cores=2, precision="int8", dram_bandwidth_gbps=32.0)
    one = evaluate_batch([p], w)
    ev = evaluate(p, w)
    assert [one.values[k][0] for k in BATCH_KEYS] == [getattr(ev, k) for k in BATCH_KEYS]


QUERIES = [  # phases, P, G, B, encoder_threshold
    (("encoder", "prefill", "decode"), 64, 2, 1, None), (("prefill", "decode"), 0, 33, 3, None),
    (("encoder", "prefill"), 16, 0, 2, 0.9), (("prefill",), 32, 0, 2, None), (("encoder", "prefill", "decode"), 8, 5, 1, 0.8)]
PHASE_KEYS = ("macs", "cycles", "compute_cycles", "memory_stall_cycles", "time_s", "energy_j", "dram_bytes")


@pytest.mark.parametrize("workload, seed", [("llava_vid/videomme", 7), ("qwen2_5_vl/mme", 8), ("minicpm_v/mvbench", 9)])
def test_query_batch_equals_run_query_on_random_points(workload, seed):
    """run_query_batch (every phase on arrays) against run_query point by point: every accelerator,
    convention, level, precision, cores, custom buffers and bandwidths, encoder_threshold, P, G, B."""
    w = resolve_workload(workload)
    rng = random.Random(seed)
    points = []
    for p in _points(600, seed):
        phases, P, G, B, enc = rng.choice(QUERIES)  # decode without a bandwidth: refused
        points.append(replace(p, phases=phases, prompt_tokens=P, output_tokens=G or 1, batch=B, encoder_threshold=enc))
    batches, errors = run_query_batch(points, w)
    got = {int(i): (b.query, j) for b in batches for j, i in enumerate(b.index)}
    vectorised = 0
    for i, p in enumerate(points):
        try:
            q = run_query(p, w)
        except UserError as exc:
            assert errors[i] == str(exc) and i not in got, p
            continue
        assert errors[i] == "" and i in got, p
        batch, j = got[i]
        assert list(batch.phases) == list(q.phases)
        for name, phase in q.phases.items():
            assert np.asarray(batch.phases[name].cycles)[j] == phase.cycles
            for k in PHASE_KEYS:
                value = np.broadcast_to(getattr(batch.phases[name], k), batch.prefill.total_cycles.shape)[j]
                assert value == getattr(phase, k), (name, k, p)
        for k in ("ttft_s", "tpot_s", "query_time_s", "query_energy_j", "kv_cache_bytes"):
            value = np.broadcast_to(getattr(batch, k), batch.prefill.total_cycles.shape)[j]
            assert value == getattr(q, k), (k, p)
        vectorised += len(q.phases) > 1
    assert vectorised > 100


def _quickstart_rows(spec, n: int, seed: int) -> list[dict]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    rows = []
    for _ in range(n):
        trial = study.ask()
        rows.append(spec.space.suggest(trial))
        study.tell(trial, 0.0)
    return rows


def _assert_chunk_is_run(spec, rows: list[dict], rel: float = 0.0) -> pd.DataFrame:
    out = evaluate_chunk(spec, pd.DataFrame(rows))
    evaluator = study_evaluator(spec)
    names = [c for c in out.columns if c.startswith("constraint:")]
    assert len(out) == len(rows)
    for i, params in enumerate(rows):
        try:
            outcome = evaluator.run(spec.space.design_dict(params, spec.accelerator, spec.convention))
        except UserError as exc:
            assert out["error"][i] == str(exc) and not out["feasible"][i]
            continue
        assert out["error"][i] == ""
        assert out["total_cycles"][i] == outcome.metrics["total_cycles"]  # to the last cycle
        for k in METRIC_KEYS:
            assert out[k][i] == pytest.approx(outcome.metrics[k], rel=rel, abs=0), (i, k)
        assert list(out.loc[i, names]) == pytest.approx(outcome.constraints, rel=rel, abs=0)
        assert out["feasible"][i] == outcome.feasible
    return out


def test_chunk_equals_trials_on_quickstart_points():
    spec = load_study("quickstart")
    out = _assert_chunk_is_run(spec, _quickstart_rows(spec, 300, seed=3))
    assert out["feasible"].any() and not out["feasible"].all()


@pytest.mark.parametrize("study, n", [("video-qa", 320), ("captioning", 60)])
def test_chunk_runs_the_whole_query_on_arrays(study, n, monkeypatch):
    """Encoder, prefill with P text tokens and decode of G tokens: evaluate_chunk equals a trial
    (DesignEvaluator.run) to the last cycle and 1e-12, without running any point's query alone."""
    import dse.phases.decode
    import dse.query

    spec = load_study(study)
    rows = _quickstart_rows(spec, n, seed=4)
    calls = {"run_query": 0, "run_decode": 0}

    def counted(name, fn):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)
        return wrapper

    with monkeypatch.context() as m:
        m.setattr(dse.query, "run_query", counted("run_query", dse.query.run_query))
        m.setattr(dse.query, "run_decode", counted("run_decode", dse.phases.decode.run_decode))
        out = evaluate_chunk(spec, pd.DataFrame(rows))
    assert calls["run_query"] == 0  # no point through the scalar path
    assert 0 < calls["run_decode"] <= 9  # once per group of points (dataflow x 3), not per point
    assert (out["error"] == "").mean() > 0.9 and out["feasible"].any()
    _assert_chunk_is_run(spec, rows)


def test_chunk_reports_refused_designs():
    spec = load_study("quickstart")
    rows = _quickstart_rows(spec, 5, seed=5)
    rows[2] = {**rows[2], "rows": -8}
    out = evaluate_chunk(spec, pd.DataFrame(rows))
    assert "rows must be a positive integer" in out["error"][2] and not out["feasible"][2]
    assert np.isnan(out.loc[2, list(METRIC_KEYS)].astype(float)).all()
    assert (out["error"].drop(2) == "").all()


@pytest.mark.parametrize("study, n", [("quickstart", 120), ("video-qa", 150), ("captioning", 120)])
def test_run_designs_is_run(study, n):
    """A generation of trials at once (dse/search/batch.py run_designs): the Outcome run() gives each
    design, or the error it raises, to the last bit (whole queries included: decode sums layers with
    equal KV caches in run_query's order)."""
    from dse.search.batch import run_designs

    spec = load_study(study)
    evaluator = study_evaluator(spec)
    designs = [spec.space.design_dict(params, spec.accelerator, spec.convention)
               for params in _quickstart_rows(spec, n, seed=7)]
    designs[3] = {**designs[3], "rows": -8}  # refused by the DesignPoint
    got = run_designs(evaluator, designs)
    for design, outcome in zip(designs, got):
        try:
            expected = evaluator.run(design)
        except UserError as exc:
            assert isinstance(outcome, UserError) and str(outcome) == str(exc)
            continue
        assert outcome == expected
    assert sum(isinstance(o, UserError) for o in got) < n // 2


def test_query_batch_of_prefill_only_points_of_several_structures():
    """The paper's scope (prefill alone, batch 1) of different accelerators and hand-sized buffers in one
    call: each point's KV cache is its own (run_query's)."""
    from dse.query import run_query, run_query_batch

    w = resolve_workload("llava_vid/videomme")
    points = [DesignPoint(buffer_kb={"output": 100.0}), DesignPoint(accelerator="dense"), DesignPoint(sec_scale=0.5)]
    batches, errors = run_query_batch(points, w)
    assert errors == ["", "", ""]
    got = {int(i): float(np.broadcast_to(b.query.kv_cache_bytes, b.index.shape)[j])
           for b in batches for j, i in enumerate(b.index)}
    assert got == {i: run_query(p, w).kv_cache_bytes for i, p in enumerate(points)}
