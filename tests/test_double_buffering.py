"""weight_buffering wired into the cost model (issue 22): the acceptance figures against physical floors
computed here, the batch path against the scalar one, decode's crossing sum, the register's price, the
flag and the study knob. The closed forms themselves: tests/test_weight_buffering.py."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from dse.design import DesignPoint, structure_key
from dse.errors import UserError
from dse.evaluate import evaluate
from dse.query import run_query, run_query_batch
from dse.workloads import resolve_workload
from model_points import assert_batch_is_evaluate, query_points, random_points

REGISTER = "Stationary register (double buffering)"
# the paper's dense array on the whole query: llava_vid/videomme, P = 64, G = 32, 64 GB/s, focus-paper
PAPER_QUERY = dict(accelerator="dense", convention="focus-paper", phases=("encoder", "prefill", "decode"),
                   prompt_tokens=64, output_tokens=32, dram_bandwidth_gbps=64.0)


@pytest.fixture(scope="module")
def paper_queries():
    w = resolve_workload("llava_vid/videomme")
    return {b: run_query(DesignPoint(**PAPER_QUERY, weight_buffering=b), w) for b in ("single", "double")}


def decode_floors_s(R: int = 32, C: int = 32, mhz: float = 500.0, gbps: float = 64.0) -> tuple[float, float]:
    """Per output token, from Qwen2-7B's config alone (hidden 3584, 28 layers, 28 heads of 128 sharing 4 KV
    heads, MLP 18944, untied vocab 152064, FP16): (the time every fold's stationary operand needs to shift
    into the array, R cycles a fold; DRAM bytes of the weights and the K and V read / bandwidth), summed
    over the 32 tokens after S + P = 11,648 + 64 cached ones, divided by 32."""
    hidden, kv_dim, head_dim, inter, vocab, layers, kv_heads = 3584, 512, 128, 18944, 152064, 28, 4
    weights = [(hidden, hidden)] * 2 + [(hidden, kv_dim)] * 2 + [(hidden, inter)] * 2 + [(inter, hidden)]

    def folds(K, N):  # weight-stationary: K over the rows, N over the columns
        return math.ceil(K / R) * math.ceil(N / C)

    shift = dram = 0.0
    for token in range(32):
        L = 11648 + 64 + token + 1  # keys it attends over, itself included
        fold_count = layers * (sum(folds(K, N) for K, N in weights) + kv_heads * (folds(head_dim, L) + folds(L, head_dim)))
        fold_count += folds(hidden, vocab)
        shift += fold_count * R / (mhz * 1e6)
        dram += 2 * (layers * (sum(K * N for K, N in weights) + 2 * kv_dim * L) + hidden * vocab) / (gbps * 1e9)
    return shift / 32, dram / 32


def test_double_decode_sits_on_the_physical_floors(paper_queries):
    """Acceptance: time per output token within [floor, 1.25 floor], floor = max(shift, DRAM)."""
    shift, dram = decode_floors_s()
    floor = max(shift, dram)
    tpot = paper_queries["double"].tpot_s
    assert floor <= tpot <= 1.25 * floor, (tpot, shift, dram)
    # 7.07 G weight MACs at M = 1 = 6.9 M folds of 32 cycles; 14.1 GB of weights and 0.66 GB of K and V
    assert shift == pytest.approx(0.46294, rel=1e-4) and dram == pytest.approx(0.23146, rel=1e-4)
    decode = paper_queries["double"].phases["decode"]
    assert decode.dram_bytes / 32 / 64e9 >= dram  # the model moves at least the floor's bytes
    assert tpot < paper_queries["single"].tpot_s / 2.9  # single pays M + 2R + C - 2 per fold


def test_double_prefill_faster_by_at_most_15_percent_and_the_chip_larger(paper_queries):
    single, double = (paper_queries[b].prefill for b in ("single", "double"))
    assert 0.85 * single.total_cycles <= double.total_cycles < single.total_cycles
    assert double.area_mm2 > single.area_mm2
    for name in ("encoder", "prefill", "decode"):
        assert paper_queries["double"].phases[name].cycles < paper_queries["single"].phases[name].cycles


def test_whole_query_comparison_runs_every_accelerator_at_one_buffering():
    from dse.whole_query import compare

    single, double = (compare("llava_vid/videomme", "focus-paper", 64, 32, 64.0, ("focus", "dense"), b)
                      for b in ("single", "double"))
    assert {q.design.weight_buffering for q in double.queries.values()} == {"double"}
    assert double.queries["dense"].tpot_s == pytest.approx(0.463, abs=5e-4)
    assert double.speedup("dense") > single.speedup("dense")  # decode shrinks, where Focus gains least


def test_never_faster_than_the_pes_or_the_dram_and_never_slower_than_single():
    """Random whole queries of every kind under double: every phase at least its MACs over the PEs and its
    DRAM bytes over the bandwidth, and at most what single buffering takes."""
    w = resolve_workload("llava_vid/videomme")
    checked = 0
    for p in query_points(120, seed=22):
        if p.accelerator == "adaptiv" or p.dram_bandwidth_gbps is None:  # AdapTiV's prefill is its own MAC lines
            continue
        try:
            single = run_query(p, w)
        except UserError:
            continue
        double = run_query(replace(p, weight_buffering="double"), w)
        for name, ph in double.phases.items():
            pes = p.rows * p.cols * p.cores
            assert ph.compute_cycles >= ph.macs / pes * (1 - 1e-9), (name, p)
            assert ph.time_s >= ph.dram_bytes / (p.dram_bandwidth_gbps * 1e9) * (1 - 1e-9), (name, p)
            assert ph.cycles <= single.phases[name].cycles * (1 + 1e-12), (name, p)
        checked += 1
    assert checked > 40


def test_arrays_equal_one_design_at_a_time_under_double():
    """The batch path (groups split by weight_buffering) gives evaluate()'s numbers to the last bit, with
    single and double points mixed in one call."""
    points = random_points(300, seed=23)
    points = [replace(p, weight_buffering="double") if i % 3 else p for i, p in enumerate(points)]
    got = assert_batch_is_evaluate(points, resolve_workload("llava_vid/videomme"), prompt_tokens=16)
    assert got.vectorised.sum() > 250


@pytest.mark.parametrize("workload, seed", [("llava_vid/videomme", 24), ("minicpm_v/mvbench", 25)])
def test_whole_queries_on_arrays_equal_one_at_a_time_under_double(workload, seed):
    w = resolve_workload(workload)
    points = [replace(p, weight_buffering="double") for p in query_points(200, seed)]
    batches, errors = run_query_batch(points, w)
    on_arrays = {int(i): (b.query, j) for b in batches for j, i in enumerate(b.index)}
    decoded = 0
    for i, p in enumerate(points):
        try:
            one = run_query(p, w)
        except UserError as exc:
            assert errors[i] == str(exc)
            continue
        q, j = on_arrays[i]
        for name, ph in one.phases.items():
            for k in ("cycles", "compute_cycles", "memory_stall_cycles", "time_s", "energy_j", "dram_bytes"):
                assert float(np.broadcast_to(getattr(q.phases[name], k), q.prefill.total_cycles.shape)[j]) \
                    == getattr(ph, k), (name, k, p)
        decoded += "decode" in one.phases
    assert decoded > 50


@pytest.mark.parametrize("dataflow,rows,cols", [("ws", 32, 32), ("is", 64, 8), ("os", 16, 48)])
@pytest.mark.parametrize("bandwidth", [0.05, 0.5, 4.0, 64.0])
def test_decode_crossing_from_below_the_array_side_equals_token_by_token(monkeypatch, dataflow, rows, cols,
                                                                       bandwidth):
    """Caches shorter than the array's side: under double the stall's growth per period only settles from
    L = max(rows, cols) on; the closed form (its first part summed term by term) = one token at a time."""
    import dse.phases.decode as decode
    from dse.llm_run import accelerator_for
    from dse.phases.common import DecodeInput, DenseArray
    from dse.sim.backends import get_backend

    starts = []
    real = decode._crossing_stall

    def recorded(*args):
        starts.append(args[4])
        return real(*args)

    monkeypatch.setattr(decode, "_crossing_stall", recorded)
    d = DesignPoint(accelerator="dense", rows=rows, cols=cols, dataflow=dataflow, dram_bandwidth_gbps=bandwidth,
                    weight_buffering="double")
    dense = DenseArray(d, accelerator_for(d), get_backend("analytic"))
    spec = resolve_workload("llava_vid/mvbench").spec.llm
    cache, G = (3, 20, 70, 300), 150
    whole = decode.run_decode(spec, DecodeInput(cache, G, 1), dense)
    steps = [decode.run_decode(spec, DecodeInput(tuple(c + j for c in cache), 1, 1), dense) for j in range(G)]
    for key in ("compute_cycles", "memory_stall_cycles", "dram_bytes", "macs"):
        assert getattr(whole, key) == pytest.approx(sum(getattr(p, key) for p in steps), rel=1e-9, abs=1e-6), key
    if bandwidth == 4.0:
        assert any(first < max(rows, cols) for first in starts)  # a series that crosses starts below the side


def test_register_priced_from_the_rtl_pe():
    """One 16-bit register per PE <= (PE - fp16 multiplier - fp32-sized adder) / 4 registers, from the
    Focus RTL table (Systolic Array 1.41112515 mm2 and 324.3681 mW for 1024 PEs; FP16 Mul 462.41 um2;
    FP16 Add 79.0766 um2 x Horowitz's fp32/fp16 add area 4184/1360); power: the same share of a PE's."""
    from dse.cost.pe_register import register_cost

    pe = 1.41112515e6 / 1024
    area = (pe - 462.41 - 79.0766 * 4184 / 1360) / 4
    reg = register_cost()
    assert reg.area_um2 == pytest.approx(area, rel=1e-5) and reg.area_um2 == pytest.approx(168.09, abs=0.01)
    assert reg.pe_share == pytest.approx(0.1220, abs=1e-4)
    assert reg.power_uw == pytest.approx(area / pe * 324.3681e3 / 1024, rel=1e-5)
    w = resolve_workload("llava_vid/videomme")
    for kw in (dict(), dict(rows=64, cols=16, cores=2), dict(precision="int8", rows=48), dict(frequency_mhz=1000.0)):
        single = evaluate(DesignPoint(**kw), w)
        double = evaluate(DesignPoint(**kw, weight_buffering="double"), w)
        p = DesignPoint(**kw)
        bits = 8 if p.precision == "int8" else 16
        added = p.rows * p.cols * p.cores * area * 1e-6 * bits / 16
        assert double.area_mm2 - single.area_mm2 == pytest.approx(added, rel=1e-5), kw
        assert double.breakdown["area_mm2"][REGISTER] == pytest.approx(added, rel=1e-5)
        assert REGISTER not in single.breakdown["area_mm2"] and REGISTER not in single.breakdown["energy_j"]
        # faithful: charged while the array is busy, at the clock's share of the RTL's 500 MHz
        power_w = p.rows * p.cols * reg.power_uw * 1e-6 * p.frequency_mhz / 500 * bits / 16
        busy_s = double.breakdown["busy_cycles"]["array"] / (p.frequency_mhz * 1e6)
        assert double.breakdown["energy_j"][REGISTER] == pytest.approx(power_w * busy_s, rel=1e-6), kw


@pytest.mark.parametrize("dataflow,buffer", [("ws", "wgt"), ("is", "input"), ("os", "output")])
def test_breakdown_names_the_stationary_port(dataflow, buffer):
    w = resolve_workload("llava_vid/videomme")
    ev = evaluate(DesignPoint(dataflow=dataflow, cols=48, weight_buffering="double", precision="fp8"), w)
    port = ev.breakdown["stationary_port"]
    assert port["buffer"] == buffer and port["words_per_cycle"] == 48 and port["bytes_per_cycle"] == 48
    assert port["weight_buffering"] == "double"


def test_knob_is_structural_checked_and_in_the_built_in_studies():
    from dse.search.studyfile import load_study

    assert DesignPoint().weight_buffering == "single"
    assert structure_key(DesignPoint()) != structure_key(DesignPoint(weight_buffering="double"))
    with pytest.raises(UserError, match="weight_buffering must be one of single, double"):
        DesignPoint(weight_buffering="triple")
    for name in ("full_space", "video-qa", "captioning"):
        knob = load_study(name).space.knobs["weight_buffering"]
        assert knob.kind == "cat" and set(knob.choices) == {"single", "double"}, name


def simulate(*args):
    return subprocess.run([sys.executable, "-m", "dse", "simulate", *args], capture_output=True, text=True)


def test_flag_and_design_file(tmp_path):
    base = ["--workload", "llava_vid/videomme", "--accelerator", "dense", "--json"]
    r = simulate(*base, "--weight-buffering", "double")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["design"]["weight_buffering"] == "double" and REGISTER in out["breakdown"]["area_mm2"]
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"design": out["design"], "workload": "llava_vid/videomme"}))
    again = json.loads(simulate("--design", str(path), "--json").stdout)
    assert again["total_cycles"] == out["total_cycles"] and again["area_mm2"] == out["area_mm2"]
    text = simulate("--workload", "llava_vid/videomme", "--weight-buffering", "double").stdout
    assert "double-buffered" in text.splitlines()[0]
    bad = simulate(*base, "--weight-buffering", "triple")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def test_topology_flag(tmp_path):
    from dse.sim.buffering import double_cycles

    topo = tmp_path / "t.csv"
    topo.write_text("Layer, M, N, K,\ng, 1, 256, 512,\n")
    r = simulate("--topology", str(topo), "--weight-buffering", "double", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["total_cycles"] == double_cycles(1, 512, 256, 32, 32, "ws")


@pytest.mark.slow
@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_scalesim_backend_equals_the_closed_forms_under_double(tmp_path, dataflow):
    """A tiny VLM's whole query on the scalesim backend (its simulated folds composed double-buffered) gives
    the analytic backend's cycles, both conventions."""
    from dse.workloads.catalog import custom_workload

    from test_whole_query import TINY_VLM

    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps(TINY_VLM))
    w = custom_workload(str(spec), 2, 12, None)
    for convention in ("faithful", "focus-paper"):
        d = DesignPoint(accelerator="dense", rows=8, cols=8, dataflow=dataflow, m_tile=16, convention=convention,
                        phases=("encoder", "prefill", "decode"), prompt_tokens=3, output_tokens=5, batch=2,
                        dram_bandwidth_gbps=64.0, weight_buffering="double")
        a, s = run_query(d, w, backend="analytic"), run_query(d, w, backend="scalesim")
        for name in ("encoder", "prefill", "decode"):
            assert a.phases[name].compute_cycles == s.phases[name].compute_cycles, (convention, name)
        single = run_query(replace(d, weight_buffering="single"), w, backend="analytic")
        assert a.phases["decode"].compute_cycles < single.phases["decode"].compute_cycles
