"""The whole query (encoder, prefill, decode): the CLI contract, independent MAC counts, phases
adding up, decode bounds, and the default (prefill alone) equal to main's output."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dse.design import DesignPoint
from dse.phases.common import DecodeInput
from dse.phases.decode import positive_progressions, run_decode
from dse.query import run_query
from dse.workloads import resolve_workload

FIXTURE = Path(__file__).parent / "fixtures" / "simulate_prefill_main.json"
CONTRACT = ["--workload", "llava_vid/videomme", "--accelerator", "dense", "--convention", "focus-paper",
            "--phases", "encoder,prefill,decode", "--prompt-tokens", "64", "--output-tokens", "32", "--batch", "1",
            "--dram-bandwidth-gbps", "64", "--json"]


def simulate(args, check=True):
    r = subprocess.run([sys.executable, "-m", "dse", "simulate", *args], capture_output=True, text=True)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def _missing_or_changed(before, now, where="") -> list[str]:
    """Keys of `before` (recursively) that `now` lacks or prints with another value; new keys are fine."""
    if isinstance(before, dict) and isinstance(now, dict):
        return [p for k, v in before.items()
                for p in (_missing_or_changed(v, now[k], f"{where}.{k}") if k in now else [f"{where}.{k} missing"])]
    return [] if before == now else [f"{where}: {before!r} -> {now!r}"]


def test_default_phases_print_exactly_mains_output():
    """Captured from main (7e487d7) before the whole query existed: every key and number it printed is
    printed again, equal (the design dict now also names the knobs added since, at their defaults).
    The one top-level key added since: `redundancy`, where Focus's redundancy curves came from (issue 24)."""
    for case in json.loads(FIXTURE.read_text()):
        now = json.loads(simulate([*case["args"], "--json"]).stdout)
        assert _missing_or_changed(case["json"], now) == [], case["args"]
        assert set(now) - {"redundancy"} == set(case["json"]), case["args"]  # no other key added


def test_missing_or_changed_finds_changes():
    assert _missing_or_changed({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}}) == []
    assert _missing_or_changed({"a": {"b": 1}}, {"a": {"b": 2}}) == [".a.b: 1 -> 2"]
    assert _missing_or_changed({"a": 1}, {}) == [".a missing"]


def test_cli_contract_keys_and_sums():
    r = json.loads(simulate(CONTRACT).stdout)
    assert set(r["phases"]) == {"encoder", "prefill", "decode"}
    for ph in r["phases"].values():
        assert {"macs", "cycles", "time_s", "energy_j", "dram_bytes"} <= set(ph)
    ttft = r["phases"]["encoder"]["time_s"] + r["phases"]["prefill"]["time_s"]
    assert r["ttft_s"] == pytest.approx(ttft, rel=1e-3)
    assert r["tpot_s"] == pytest.approx(r["phases"]["decode"]["time_s"] / 32, rel=1e-3)
    assert r["query_time_s"] == pytest.approx(r["ttft_s"] + 32 * r["tpot_s"], rel=1e-3)
    assert r["query_energy_j"] == pytest.approx(sum(p["energy_j"] for p in r["phases"].values()), rel=1e-3)
    # Qwen2-7B KV cache: 28 layers x 2 x 4 KV heads x 128 x 2 B per token, dense keeps S + P + G tokens
    assert r["kv_cache_bytes"] == 28 * 2 * 4 * 128 * 2 * (11648 + 64 + 32)
    for key in ("total_cycles", "energy_j", "area_mm2", "dram_bytes"):  # the usual keys are still there
        assert key in r


def test_decode_without_bandwidth_refuses_in_one_line():
    i = CONTRACT.index("--dram-bandwidth-gbps")
    r = simulate(CONTRACT[:i] + CONTRACT[i + 2:], check=False)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "DRAM bandwidth" in r.stderr
    r = simulate(["--workload", "llava_vid/videomme", "--phases", "prefill,decode", "--dram-bandwidth-gbps", "64"],
                 check=False)
    assert r.returncode == 2 and "output_tokens" in r.stderr
    r = simulate(["--workload", "llava_vid/videomme", "--phases", "encoder,banana"], check=False)
    assert r.returncode == 2 and "encoder, prefill, decode" in r.stderr


def siglip_layer_macs(T, h=1152, inter=4304):
    return 4 * T * h * h + 2 * T * h * inter + 2 * T * T * h  # q k v o, fc1 fc2, QK^T and SV over 16 x 72


def test_encoder_macs_llava_video():
    """64 frames x 729 patches, 26 SigLIP layers, patch embedding 588 -> 1152, projector 1152 -> 3584 -> 3584."""
    T, F = 729, 64
    expected = F * (T * 3 * 14 * 14 * 1152 + 26 * siglip_layer_macs(T) + T * 1152 * 3584 + T * 3584 * 3584)
    q = run_query(DesignPoint(accelerator="dense", phases=("encoder", "prefill")), resolve_workload("llava_vid/videomme"))
    assert q.phases["encoder"].macs == expected
    assert 20e12 < expected < 22e12  # DESIGN.md's ~21 T


def test_encoder_macs_minicpm_and_qwen_windows():
    # MiniCPM-V 2.6 on minicpm_v/mvbench: 6 frames x 1 slice (67 tokens // 64) of 32 x 32 patches, 27 layers;
    # resampler: kv 1152 -> 3584, k and v in-proj on patches, q / out / proj on 64 queries, 28 heads x 128
    T, S, Q, E = 1024, 6, 64, 3584
    expected = S * (T * 588 * 1152 + 27 * siglip_layer_macs(T) + T * 1152 * E + 2 * T * E * E + 3 * Q * E * E
                    + 2 * Q * T * E)
    q = run_query(DesignPoint(accelerator="dense", phases=("encoder", "prefill")), resolve_workload("minicpm_v/mvbench"))
    assert q.phases["encoder"].macs == expected
    # Qwen2.5-VL-7B on qwen2_5_vl/mme: 273 LLM tokens -> 1092 patches, 1 frame pair (Conv3d 3x2x14x14);
    # 28 window layers over 8x8 = 64 patches (17 full windows + 4 patches), 4 full-attention layers
    T, h, inter = 273 * 4, 1280, 3420
    linear = T * (4 * h * h + 3 * h * inter)
    win = 17 * 2 * 64 * 64 * h + 2 * 4 * 4 * h
    expected = T * 1176 * h + 32 * linear + 28 * win + 4 * 2 * T * T * h + 273 * (5120 * 5120 + 5120 * 3584)
    q = run_query(DesignPoint(accelerator="dense", phases=("encoder", "prefill")), resolve_workload("qwen2_5_vl/mme"))
    assert q.phases["encoder"].macs == expected


def test_decode_and_prefill_macs_dense():
    """Qwen2-7B: per token 28 x (2 x 3584^2 + 2 x 3584 x 512 + 3 x 3584 x 18944) + LM head 3584 x 152064,
    attention 2 x 128 x 28 heads x L per layer, L = S + P + j + 1."""
    S, P, G = 11648, 64, 32
    layer = 2 * 3584 ** 2 + 2 * 3584 * 512 + 3 * 3584 * 18944
    keys = sum(S + P + j + 1 for j in range(G))
    expected = G * (28 * layer + 3584 * 152064) + 28 * 2 * 128 * 28 * keys
    design = DesignPoint(accelerator="dense", phases=("prefill", "decode"), prompt_tokens=P, output_tokens=G,
                         dram_bandwidth_gbps=64.0)
    q = run_query(design, resolve_workload("llava_vid/videomme"))
    assert q.phases["decode"].macs == expected
    T = S + P
    assert q.phases["prefill"].macs == pytest.approx(28 * (T * layer + T * T * 128 * 28), rel=1e-12)


def test_focus_decode_cache_shrinks_with_sec():
    w = resolve_workload("llava_vid/videomme")
    kw = dict(phases=("prefill", "decode"), prompt_tokens=64, output_tokens=8, dram_bandwidth_gbps=64.0)
    focus = run_query(DesignPoint(accelerator="focus", **kw), w)
    dense = run_query(DesignPoint(accelerator="dense", **kw), w)
    assert focus.kv_cache_bytes < 0.5 * dense.kv_cache_bytes
    assert focus.phases["decode"].macs < dense.phases["decode"].macs
    assert focus.phases["decode"].dram_bytes < dense.phases["decode"].dram_bytes


@pytest.mark.parametrize("accelerator", ["dense", "focus"])
@pytest.mark.parametrize("bandwidth", [8.0, 64.0, 1024.0])
@pytest.mark.parametrize("dataflow,rows,cols", [("ws", 32, 32), ("os", 16, 64), ("is", 64, 8)])
def test_decode_step_lower_bounds(accelerator, bandwidth, dataflow, rows, cols):
    d = DesignPoint(accelerator=accelerator, phases=("prefill", "decode"), output_tokens=1, batch=2, rows=rows,
                    cols=cols, dataflow=dataflow, dram_bandwidth_gbps=bandwidth)
    dec = run_query(d, resolve_workload("llava_vid/mvbench")).phases["decode"]
    assert dec.time_s >= dec.dram_bytes / (bandwidth * 1e9) * (1 - 1e-9)
    assert dec.cycles >= dec.macs / (rows * cols) * (1 - 1e-9)


def test_positive_progressions_equal_the_loop():
    cases = [(-50.0, 2.5, 40), (50.0, -2.5, 40), (3.0, 0.0, 7), (-3.0, 0.0, 7), (1e6, 3.0, 5), (-1e6, -3.0, 5),
             (-7.5, 2.5, 1), (0.0, -1.0, 9), (-10.0, 2.5, 4)]
    for a, d, m in cases:
        loop = sum(max(0.0, a + k * d) for k in range(m))
        assert positive_progressions(a, d, m) == pytest.approx(loop, rel=1e-12, abs=1e-9), (a, d, m)
    a, d, m = zip(*cases)
    assert positive_progressions(np.array(a), np.array(d), np.array(m)) == pytest.approx(
        [sum(max(0.0, x + k * y) for k in range(n)) for x, y, n in cases], rel=1e-12, abs=1e-9)


def test_design_file_round_trip_keeps_query_knobs():
    d = DesignPoint(phases=("encoder", "prefill", "decode"), prompt_tokens=64, output_tokens=2, batch=4,
                    encoder_threshold=0.9, dram_bandwidth_gbps=64.0)
    assert DesignPoint.from_dict(d.to_dict()) == d
    assert DesignPoint().to_dict()["phases"] == "prefill"  # a design file names every knob


TINY_VLM = {
    "name": "tiny-vlm", "description": "a tiny VLM for scalesim runs", "source": "test",
    "llm": {"layers": 2, "hidden": 32, "heads": 2, "kv_heads": 1, "head_dim": 16, "intermediate": 48, "vocab": 40},
    "vision": {"layers": 2, "hidden": 24, "heads": 2, "head_dim": 12, "intermediate": 40, "mlp": "plain",
               "patch": 14, "image": 98},
    "encoder": {"layers_run": 1, "connector": "mlp", "dims": [32, 32]},
}


@pytest.mark.slow
@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
def test_decode_and_encoder_shapes_equal_real_scalesim(tmp_path, dataflow):
    """Whole GEMMs through the real scalesim: decode's weight and attention GEMMs at M = 1, 2, 8 and one
    layer of a small tower (7 x 7 patches); then both phases of a tiny VLM, run on the scalesim backend,
    give the analytic backend's cycles."""
    from dataclasses import asdict

    from dse.sim.analytic import gemm_counts
    from dse.sim.hardware import ArrayConfig
    from dse.sim.scalesim_backend import ScaleSimBackend
    from dse.workloads.catalog import custom_workload

    array = ArrayConfig(8, 8, dataflow)
    real = ScaleSimBackend()
    shapes = [(M, 32, 48) for M in (1, 2, 8)] + [(M, 48, 32) for M in (1, 2, 8)] + [(1, 16, 37), (1, 37, 16)]
    shapes += [(49, 24, 24), (49, 24, 40), (49, 40, 24), (49, 12, 49), (49, 49, 12), (49, 588, 24)]
    for M, K, N in shapes:
        assert asdict(gemm_counts(M, K, N, array)) == asdict(real.gemm(M, K, N, array)), (M, K, N)
    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps(TINY_VLM))
    w = custom_workload(str(spec), 2, 12, None)
    d = DesignPoint(accelerator="dense", rows=8, cols=8, dataflow=dataflow, m_tile=64,
                    phases=("encoder", "prefill", "decode"), prompt_tokens=3, output_tokens=5, batch=2,
                    dram_bandwidth_gbps=64.0)
    a, s = run_query(d, w, backend="analytic"), run_query(d, w, backend="scalesim")
    for name in ("encoder", "decode"):
        assert a.phases[name].compute_cycles == s.phases[name].compute_cycles


def test_encoder_threshold_is_a_focus_prediction():
    w = resolve_workload("llava_vid/videomme")
    base = dict(accelerator="focus", phases=("encoder", "prefill"))
    dense_enc = run_query(DesignPoint(**base), w).phases["encoder"]
    loose = run_query(DesignPoint(**base, encoder_threshold=0.9), w).phases["encoder"]
    strict = run_query(DesignPoint(**base, encoder_threshold=0.99), w).phases["encoder"]
    assert loose.time_s < strict.time_s < dense_enc.time_s
    assert loose.macs < strict.macs < dense_enc.macs
    assert "DINOv2" in loose.details["modelled"]
    r = simulate(["--workload", "llava_vid/videomme", "--accelerator", "dense", "--phases", "encoder,prefill",
                  "--encoder-threshold", "0.9"], check=False)
    assert r.returncode == 2 and "Focus" in r.stderr


def test_whole_query_studies_parse_and_reference_designs_run_the_query():
    from dse.search.evaluation import DesignEvaluator
    from dse.search.studyfile import load_study

    for name, G in (("video-qa", 2), ("captioning", 256)):
        spec = load_study(name)
        assert spec.objectives == ("accuracy", "query_energy", "query_time")
        ev = DesignEvaluator(spec)
        default = ev.default_design()
        assert default["output_tokens"] == G and default["phases"] == "encoder,prefill,decode"
        m = ev.run(default).metrics
        assert m["query_time_s"] == pytest.approx(m["ttft_s"] + G * m["tpot_s"], rel=1e-9)
        assert m["ttft_s"] > m["latency_s"]  # the encoder comes on top of the prefill


@pytest.mark.parametrize("dataflow,rows,cols", [("ws", 32, 32), ("os", 16, 64), ("is", 64, 8)])
@pytest.mark.parametrize("bandwidth", [0.5, 1.2, 1.525, 64.0])
def test_decode_series_equals_one_token_at_a_time(dataflow, rows, cols, bandwidth):
    """G tokens in closed form = G single-token decodes, each on its own cache length (DRAM-bound,
    crossing over and compute-bound bandwidths)."""
    from dse.llm_run import accelerator_for
    from dse.phases.common import DenseArray
    from dse.sim.backends import get_backend

    d = DesignPoint(accelerator="dense", rows=rows, cols=cols, dataflow=dataflow, dram_bandwidth_gbps=bandwidth)
    dense = DenseArray(d, accelerator_for(d), get_backend("analytic"))
    spec = resolve_workload("llava_vid/mvbench").spec.llm
    cache, G = (2366, 2366, 900, 450), 77
    whole = run_decode(spec, DecodeInput(cache, G, 1), dense)
    steps = [run_decode(spec, DecodeInput(tuple(c + j for c in cache), 1, 1), dense) for j in range(G)]
    for key in ("compute_cycles", "memory_stall_cycles", "dram_bytes", "macs"):
        assert getattr(whole, key) == pytest.approx(sum(getattr(p, key) for p in steps), rel=1e-9, abs=1e-6), key


def test_decode_attention_stacks_the_query_heads_of_each_kv_head():
    """Grouped-query attention: the 7 query heads that share one of Qwen2-7B's 4 KV heads run as one
    GEMM of M = 7 per KV head (as decode kernels do), not as 28 GEMMs of M = 1. Independent count:
    scalesim's WS closed form, Qwen2-7B's config, one output token after 1,000 visual tokens."""
    r = json.loads(simulate(["--model", "qwen2-7b", "--tokens", "1000", "--accelerator", "dense", "--phases",
                             "prefill,decode", "--output-tokens", "1", "--dram-bandwidth-gbps", "100000",
                             "--json"]).stdout)

    def ws(M, K, N, R=32, C=32):
        return math.ceil(K / R) * math.ceil(N / C) * (M + 2 * R + C - 2) - 1

    hidden, kv, head_dim, inter, vocab, layers, keys = 3584, 512, 128, 18944, 152064, 28, 1001
    linear = 2 * ws(1, hidden, hidden) + 2 * ws(1, hidden, kv) + 2 * ws(1, hidden, inter) + ws(1, inter, hidden)
    attention = 4 * (ws(7, head_dim, keys) + ws(7, keys, head_dim))
    assert r["phases"]["decode"]["compute_cycles"] == layers * (linear + attention) + ws(1, hidden, vocab)


def test_encoder_threshold_needs_similarity_and_phases_price_the_levels_chip():
    """The encoder and decode phases price the chip the concentration level builds (as the prefill
    does), and encoder_threshold is refused where no similarity hardware runs."""
    args = ["--workload", "llava_vid/videomme", "--accelerator", "focus", "--phases", "encoder,prefill,decode",
            "--output-tokens", "2", "--dram-bandwidth-gbps", "64", "--json"]
    full = json.loads(simulate(args).stdout)
    sec = json.loads(simulate([*args, "--concentration", "sec"]).stdout)
    assert sec["area_mm2"] < full["area_mm2"]  # faithful: the SIC units are not built
    # the encoder is dense in both: same cycles, less energy on the smaller chip
    assert sec["phases"]["encoder"]["cycles"] == full["phases"]["encoder"]["cycles"]
    assert sec["phases"]["encoder"]["energy_j"] < full["phases"]["encoder"]["energy_j"]
    r = simulate([*args, "--concentration", "sec", "--encoder-threshold", "0.9"], check=False)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "sec+sic or sic" in r.stderr


def test_whole_query_plot_draws_the_prefill_alone_at_the_tables_bandwidth():
    """The dashed 'prefill alone' line is the table's value at the table's bandwidth and names it
    (issue 19: it drew 16 GB/s's 5.19x beside a 64 GB/s table's 5.15x); what bounds decode is read
    from the stalls, not asserted."""
    import matplotlib.pyplot as plt

    from dse.whole_query import compare, grid_figure, plot_bandwidths, speedup_grid

    assert plot_bandwidths(8) == (8.0, 16.0, 32.0, 64.0, 128.0, 256.0) and 64.0 in plot_bandwidths(64)
    rows = speedup_grid("focus-paper", 64, (8.0, 64.0))
    fig = grid_figure(rows, 64.0)
    table = compare("llava_vid/videomme", "focus-paper", 64, 2, 64.0, ("focus", "dense")).prefill_speedup("dense")
    line = next(line for line in fig.axes[0].lines if line.get_label().startswith("prefill alone"))
    assert line.get_ydata()[0] == table
    assert f"prefill alone at 64 GB/s ({table:.2f}x)" in line.get_label()
    low = {r["dram_bandwidth_gbps"]: r["prefill_speedup"] for r in rows}[8.0]
    assert low != table and f"{min(low, table):.2f}-{max(low, table):.2f}x from 8 to 64 GB/s" in line.get_label()
    note = fig.axes[1].texts[0].get_text()
    assert "not by DRAM, from 64 GB/s up" in note and "at 8 GB/s DRAM stalls" in note  # 14 GB per token at 8 GB/s
    plt.close(fig)
