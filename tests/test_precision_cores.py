"""Issue 12: the datapath precision and the scale-out (cores) knobs."""

from __future__ import annotations

import json

import pytest

from dse.cli import main
from dse.design import DesignPoint
from dse.evaluate import evaluate
from dse.workloads import resolve_workload

W = "llava_vid/videomme"
# Horowitz, ISSCC 2014 (45 nm): FP16 MAC = fp16 multiply + fp16 add, INT8 MAC = int8 multiply + int32 add
FP16_MAC_PJ, FP16_MAC_UM2 = 1.1 + 0.4, 1640 + 1360
INT8_MAC_PJ, INT8_MAC_UM2 = 0.2 + 0.1, 282 + 137


@pytest.fixture(scope="module")
def workload():
    return resolve_workload(W)


def test_mac_ratios_are_the_tables():
    from dse.cost.precision import accumulate_ratio, get_precision, mac_ratio

    r = mac_ratio("int8")
    assert r.energy_pj == pytest.approx(INT8_MAC_PJ / FP16_MAC_PJ, rel=1e-12)
    assert r.area_um2 == pytest.approx(INT8_MAC_UM2 / FP16_MAC_UM2, rel=1e-12)
    assert mac_ratio("fp16").energy_pj == 1.0
    assert mac_ratio("fp8").energy_pj == pytest.approx((0.2 + 0.4) / FP16_MAC_PJ)  # int8 multiply, fp16 add
    assert mac_ratio("bf16").energy_pj == pytest.approx((1.1 + 0.9) / FP16_MAC_PJ)  # fp32 accumulator
    assert accumulate_ratio("int8").energy_pj == pytest.approx(0.1 / 0.4)
    assert [get_precision(p).word_bytes for p in ("fp16", "bf16", "fp8", "int8")] == [2, 2, 1, 1]


@pytest.mark.parametrize("convention", ["focus-paper", "faithful"])
def test_int8_dense_keeps_cycles_halves_dram_and_scales_the_array(workload, convention):
    fp16 = evaluate(DesignPoint(accelerator="dense", convention=convention), workload)
    int8 = evaluate(DesignPoint(accelerator="dense", convention=convention, precision="int8"), workload)
    assert int8.compute_cycles == fp16.compute_cycles
    assert int8.dram_bytes / fp16.dram_bytes == pytest.approx(0.5, rel=0.01)
    e16, e8 = fp16.breakdown["energy_j"], int8.breakdown["energy_j"]
    assert e8["Systolic Array"] / e16["Systolic Array"] == pytest.approx(INT8_MAC_PJ / FP16_MAC_PJ, rel=1e-9)
    a16, a8 = fp16.breakdown["area_mm2"], int8.breakdown["area_mm2"]
    assert a8["Systolic Array"] / a16["Systolic Array"] == pytest.approx(INT8_MAC_UM2 / FP16_MAC_UM2, rel=1e-9)
    assert a8["FP16 Exp (SFU)"] == a16["FP16 Exp (SFU)"]  # softmax stays FP16
    assert int8.buffer_kb == fp16.buffer_kb  # buffers keep their bytes
    assert int8.energy_j < fp16.energy_j and int8.area_mm2 < fp16.area_mm2


def test_int8_scales_focus_similarity_datapath(workload):
    fp16 = evaluate(DesignPoint(), workload)
    int8 = evaluate(DesignPoint(precision="int8"), workload)
    a16, a8 = fp16.breakdown["area_mm2"], int8.breakdown["area_mm2"]
    ratio = INT8_MAC_UM2 / FP16_MAC_UM2
    assert a8["Cosine Similarity (SIC)"] / a16["Cosine Similarity (SIC)"] == pytest.approx(ratio)
    assert a8["Accumulator (SIC)"] / a16["Accumulator (SIC)"] == pytest.approx(137 / 1360)  # int32 vs fp16 add
    assert a8["Max Unit (SEC)"] == a16["Max Unit (SEC)"]


def test_int8_words_double_what_a_buffer_holds(workload):
    """A buffer too small for the tiles at FP16 holds them at 8 bits: fewer DRAM re-reads."""
    from dse.cost.accelerator import build_accelerator
    from dse.sim.units.base import buffer_tiles

    d16 = DesignPoint(accelerator="dense", buffer_kb={"wgt": 6})  # 6 kB: 48 of 96 columns at 2 B
    d8 = DesignPoint(accelerator="dense", buffer_kb={"wgt": 6}, precision="int8")
    accel = build_accelerator("dense", d16.knobs, {"wgt": 6 * 1024}, paper_buffers=False)
    assert buffer_tiles(d16, accel) == (1024, 48)
    assert buffer_tiles(d8, accel) == (1024, 96)
    fp16, int8 = evaluate(d16, workload), evaluate(d8, workload)
    assert int8.dram_bytes < 0.5 * fp16.dram_bytes  # half the bytes per word, and fewer re-reads


def test_int8_decode_halves_the_kv_cache(workload):
    from dse.query import run_query

    base = dict(accelerator="dense", phases=("prefill", "decode"), output_tokens=4, dram_bandwidth_gbps=64.0)
    fp16 = run_query(DesignPoint(**base), workload)
    int8 = run_query(DesignPoint(**base, precision="int8"), workload)
    assert int8.kv_cache_bytes == fp16.kv_cache_bytes / 2
    assert int8.phases["decode"].dram_bytes == pytest.approx(fp16.phases["decode"].dram_bytes / 2, rel=1e-9)


@pytest.mark.parametrize("accelerator", ["dense", "focus"])
@pytest.mark.parametrize("convention", ["focus-paper", "faithful"])
def test_four_cores_quarter_the_compute(workload, accelerator, convention):
    one = evaluate(DesignPoint(accelerator=accelerator, convention=convention), workload)
    four = evaluate(DesignPoint(accelerator=accelerator, convention=convention, cores=4), workload)
    # Qwen2-7B: every N (3584, 512, 18944) and the 28 heads split evenly over 4 cores of 32 columns
    assert four.compute_cycles == pytest.approx(one.compute_cycles / 4, rel=0.02)
    assert four.area_mm2 == pytest.approx(4 * one.area_mm2, rel=1e-12)
    assert four.breakdown["area_mm2"]["Systolic Array"] == 4 * one.breakdown["area_mm2"]["Systolic Array"]
    assert sum(four.breakdown["area_mm2"].values()) == pytest.approx(four.area_mm2)
    assert four.breakdown["buffers_kb"] == one.breakdown["buffers_kb"]  # each core's buffers
    assert four.dram_bytes >= one.dram_bytes  # inputs re-read for each core's columns
    assert four.onchip_power_mw == pytest.approx(4 * one.onchip_power_mw)


def test_cores_one_is_todays_number(workload):
    assert evaluate(DesignPoint(cores=1), workload) == evaluate(DesignPoint(), workload)


def test_shared_bandwidth_binds_more_cores(workload):
    """At a low DRAM bandwidth the four arrays wait on the one shared interface."""
    slow = dict(accelerator="dense", dram_bandwidth_gbps=4.0)
    one = evaluate(DesignPoint(**slow), workload)
    four = evaluate(DesignPoint(**slow, cores=4), workload)
    assert four.memory_stall_cycles > one.memory_stall_cycles > 0
    assert four.total_cycles > one.total_cycles / 4 * 1.1  # far from the 4x speed-up
    fast = dict(accelerator="dense", dram_bandwidth_gbps=1000.0)
    assert evaluate(DesignPoint(**fast, cores=4), workload).memory_stall_cycles == 0


def test_column_and_head_shares():
    from dse.sim.cores import column_shares, core_share, head_shares

    assert column_shares(200, 16, 1) == [(200, 1)]
    assert column_shares(200, 16, 4) == [(64, 1), (48, 2), (40, 1)]  # 13 folds: 4, 3, 3, 3 - 8 padding
    assert column_shares(3584, 32, 4) == [(896, 4)]
    assert column_shares(40, 32, 4) == [(32, 1), (8, 1)]  # two cores idle
    assert head_shares(28, 8) == [(4, 4), (3, 4)]
    assert core_share("qk", 1024, 28 * 3, 28, 32, 8) == (1024, 4 * 3)
    assert core_share("linear", 200, 5, 28, 16, 4) == (64, 5)


def test_one_64x64_vs_four_32x32_is_answered(workload):
    big = evaluate(DesignPoint(accelerator="dense", rows=64, cols=64), workload)
    four = evaluate(DesignPoint(accelerator="dense", cores=4), workload)
    assert big.breakdown["area_mm2"]["Systolic Array"] == pytest.approx(
        four.breakdown["area_mm2"]["Systolic Array"])  # the same PEs
    assert four.total_cycles != big.total_cycles and four.area_mm2 != big.area_mm2


@pytest.mark.slow
def test_one_cores_share_equals_real_scalesim():
    """The column share of the slowest core, counted by the analytic model in the multi-core
    path, is the cycle count the real scalesim gives for that core's GEMM."""
    from dse.sim.units.base import Tally
    from dse.llm_run import accelerator_for
    from dse.phases.common import DenseArray
    from dse.sim.backends import get_backend
    from dse.sim.hardware import ArrayConfig
    from dse.sim.scalesim_backend import ScaleSimBackend

    design = DesignPoint(accelerator="dense", rows=16, cols=16, m_tile=100, cores=4)
    tally = Tally()
    DenseArray(design, accelerator_for(design), get_backend("analytic")).linear(tally, "x", 100, 40, 200)
    real = ScaleSimBackend().gemm(100, 40, 64, ArrayConfig(16, 16, "ws")).compute_cycles  # 64 = 4 of 13 folds
    assert tally.compute == real
    assert tally.busy["array"] == sum(n * ScaleSimBackend().gemm(100, 40, w, ArrayConfig(16, 16, "ws")).compute_cycles
                                      for w, n in ((64, 1), (48, 2), (40, 1)))


def test_calibrated_int8_focus_is_the_published_int8(workload):
    from dse.accuracy.base import published_accuracy
    from dse.accuracy.calibrated import CalibratedProvider

    provider = CalibratedProvider()
    checked = 0
    for name, scores in published_accuracy().items():
        if "int8_focus" not in scores:
            continue
        w = resolve_workload(name)
        r = provider.predict(DesignPoint(precision="int8"), w)
        assert r.accuracy == pytest.approx(scores["int8_focus"], abs=1e-9), name
        assert r.dense == scores["int8_dense"]
        assert provider.predict(DesignPoint(accelerator="dense", precision="int8"), w).accuracy == scores["int8_dense"]
        checked += 1
    assert checked == 9
    fp8 = provider.predict(DesignPoint(precision="fp8"), workload)
    assert fp8.accuracy == provider.predict(DesignPoint(precision="int8"), workload).accuracy  # prior: int8's
    assert "prior" in fp8.details["precision_data"]
    bf16 = provider.predict(DesignPoint(precision="bf16"), workload)
    assert bf16.accuracy == provider.predict(DesignPoint(), workload).accuracy  # prior: fp16's


def test_user_provider_sees_the_precision():
    from dse.accuracy.user import CONCENTRATION_KNOBS

    assert "precision" in CONCENTRATION_KNOBS
    assert DesignPoint(precision="int8").to_dict()["precision"] == "int8"


def test_simulate_flags_and_design_file_agree(tmp_path, capsys):
    assert main(["simulate", "--workload", W, "--accelerator", "focus", "--precision", "int8", "--cores", "2",
                 "--json"]) == 0
    flags = json.loads(capsys.readouterr().out)
    assert flags["design"]["precision"] == "int8" and flags["design"]["cores"] == 2
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"design": flags["design"], "workload": W}))
    assert main(["simulate", "--design", str(path), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again == flags


@pytest.mark.parametrize("argv, words", [
    (["--cores", "0"], ["cores must be a positive integer"]),
    (["--precision", "int4"], ["invalid choice: 'int4'"]),
])
def test_bad_precision_or_cores_is_one_line(capsys, argv, words):
    assert main(["simulate", "--workload", W, *argv]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and all(w in err for w in words)


def test_design_file_precision_checked():
    from dse.errors import UserError

    with pytest.raises(UserError, match="precision must be one of fp16, bf16, fp8, int8"):
        DesignPoint.from_dict({"precision": "int4"})
    with pytest.raises(UserError, match="cores must be a positive integer"):
        DesignPoint.from_dict({"cores": 1.5})


def test_full_space_searches_precision_and_cores():
    from dse.search import load_study

    searched = {k.name: k for k in load_study("full_space").space.searched}
    assert set(searched["precision"].choices) == {"fp16", "bf16", "fp8", "int8"}
    assert set(searched["cores"].choices) == {1, 2, 4, 8}


def test_multicore_topology_and_bandwidth_for_scalesim(workload):
    from dse.report.export import bandwidth_words
    from dse.topology import tiled_topology

    one = {r.layer: r for r in tiled_topology(workload, None, 1024)}  # causal tiles: names carry N and K
    four = {r.layer: r for r in tiled_topology(workload, None, 1024, cores=4, cols=32)}
    assert four["L0_q_proj_m1024"].N == one["L0_q_proj_m1024"].N // 4
    assert four["L0_qk_m1024_n1024_k128"].repeat * 4 == one["L0_qk_m1024_n1024_k128"].repeat  # 28 heads: 7 per core
    d = DesignPoint(dram_bandwidth_gbps=64.0)
    assert bandwidth_words(d) == 64  # 128 B/cycle at 500 MHz, 2-byte words
    assert bandwidth_words(DesignPoint(dram_bandwidth_gbps=64.0, precision="int8", cores=4)) == 32


def test_multicore_export_resimulates_and_says_one_core(tmp_path, monkeypatch, capsys):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from study_helpers import SMALL_SPACE, study_main, write_study

    from dse.sim.scalesim_io import read_topology
    from dse.sim.cores import column_shares

    monkeypatch.chdir(tmp_path)
    space = {**SMALL_SPACE, "precision": ["fp16", "int8"], "cores": [2, 4]}
    path = write_study(tmp_path, name="mc", trials=12, space=space)
    assert study_main(["run", str(path), "--results-dir", "R", "--no-progress", "--export-best", "2"]) == 0
    capsys.readouterr()
    for folder in sorted(p for p in (tmp_path / "accel_configs" / "mc").iterdir() if p.is_dir()):
        record = json.loads((folder / "design.json").read_text())
        d = record["design"]
        assert d["cores"] in (2, 4) and d["precision"] in ("fp16", "int8")
        assert f"ONE core of {d['cores']}" in record["scalesim"]["note"]
        rows = {r.layer: r for r in read_topology(folder / "topology.csv")}
        q = next(r for name, r in rows.items() if "_q_proj_" in name)
        assert q.N == column_shares(3584, d["cols"], d["cores"])[0][0] < 3584  # the slowest core's columns
        assert main(["simulate", "--design", str(folder / "design.json"), "--json"]) == 0
        again = json.loads(capsys.readouterr().out)
        for key in ("energy_j", "execution_time_s", "area_mm2"):
            assert again[key] == record["metrics"][key if key != "execution_time_s" else "latency_s"]


def test_whole_query_phases_split_over_cores(workload):
    """Encoder and decode GEMMs split like the prefill's: decode at M = 1 only by columns and heads."""
    from dse.query import run_query

    base = dict(accelerator="focus", phases=("encoder", "prefill", "decode"), prompt_tokens=64, output_tokens=8,
                dram_bandwidth_gbps=64.0)
    one = run_query(DesignPoint(**base), workload).phases
    two = run_query(DesignPoint(**base, cores=2), workload).phases
    for name in ("encoder", "prefill", "decode"):
        assert two[name].compute_cycles == pytest.approx(one[name].compute_cycles / 2, rel=0.02), name
        assert two[name].dram_bytes >= one[name].dram_bytes
