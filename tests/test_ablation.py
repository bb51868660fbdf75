"""The concentration knob (dse/levels.py) against the Focus paper simulator's SEC-only ablation
(dse/data/paper_sec_only.csv, published), and the hardware each level keeps."""

import json
from math import ceil

import pytest

from dse.cli import main
from dse.cost.accelerator import ACCELERATOR_DIR
from dse.design import DesignPoint
from dse.evaluate import evaluate
from dse.paper import PAPER_SEC_ONLY_M_TILE, paper_sec_only, sram_energy_j
from dse.published import focus_config, token_schedule
from dse.workloads import resolve_workload
from dse.workloads.catalog import VIDEO_WORKLOADS


def sec_only(name: str):
    design = DesignPoint(accelerator="focus", convention="focus-paper", concentration="sec",
                         m_tile=PAPER_SEC_ONLY_M_TILE)
    return evaluate(design, resolve_workload(name))


def paper_qk_miscount(name: str) -> float:
    """DRAM bytes the paper simulator's SEC-only run leaves out of Q K^T (README, ablation): per head
    it takes the token count from the sub-vector axis of an (S, hidden/32) mask, 112 - pruned tokens,
    and SEC_only uses that as the rows for Q K^T's input and weight reads (halved, causal) and for
    the detector's output writes. What we count instead: all T kept rows, inputs re-read per N tile
    and outputs written (weights not counted, as in the main Focus run)."""
    w = resolve_workload(name)
    spec, S, cfg = w.spec.llm, w.tokens, focus_config(name)
    hd, m, vectors = spec.head_dim, PAPER_SEC_ONLY_M_TILE, spec.hidden // 32
    extra = 0.0
    for T, _ in token_schedule(S, spec.layers, cfg["layers"], cfg["alpha"]):
        rows = vectors - (S - T)
        ours = 2 * T * hd * ceil(T / 96) + 2 * T * S
        paper = 0.5 * 2 * rows * hd * ceil(T / 96) + 0.5 * 2 * hd * T * ((rows + m - 1) // m) + 2 * rows * S
        extra += ours - paper
    return extra


@pytest.mark.parametrize("name", VIDEO_WORKLOADS)
def test_sec_only_reproduces_the_paper_simulators_run(name):
    """Cycles and core energy: exact (1e-9, 1e-6). DRAM: within 2 %, and the difference is exactly the
    paper's Q K^T miscount. Energy without SRAM: within 2 %. SRAM, priced by CACTI as the paper prices this
    run (m_tile 512), with its traffic: within 4 % (measured +0.1 ... +3.4 %); total energy within 2 %
    (measured +0.03 ... +1.7 %)."""
    ev, paper = sec_only(name), paper_sec_only()[name]
    assert ev.total_cycles == pytest.approx(paper["total_cycles"], rel=1e-9)
    assert ev.compute_cycles == pytest.approx(paper["compute_cycles"], rel=1e-9)
    sram, dram_j = sram_energy_j(ev), ev.breakdown["energy_j"]["dram"]
    assert (ev.energy_j - sram - dram_j) * 1e3 == pytest.approx(paper["core_energy_mj"], rel=1e-6)
    assert ev.dram_bytes == pytest.approx(paper["dram_bytes"], rel=0.02)
    assert ev.dram_bytes - paper["dram_bytes"] == pytest.approx(paper_qk_miscount(name), abs=1.0)
    assert (ev.energy_j - sram) * 1e3 == pytest.approx(paper["energy_mj"] - paper["sram_energy_mj"], rel=0.02)
    assert sram * 1e3 == pytest.approx(paper["sram_energy_mj"], rel=0.04)
    assert ev.energy_j * 1e3 == pytest.approx(paper["energy_mj"], rel=0.02)


def test_sec_only_at_the_papers_design_is_block_1x1x1_plus_gather():
    """At M tile 1024, SEC only differs from today's --block 1x1x1 by the gather, which still re-assembles
    blocks of 8 (the paper's SEC-only run keeps block 2x2x2 for it): the 7 % of the issue is the M tile."""
    w = resolve_workload("llava_vid/videomme")
    sec = evaluate(DesignPoint(accelerator="focus", convention="focus-paper", concentration="sec"), w)
    block1 = evaluate(DesignPoint(accelerator="focus", convention="focus-paper", block=(1, 1, 1)), w)
    assert sec.compute_cycles == block1.compute_cycles
    gathers = 7 * 28  # one exposed gather tile per linear GEMM per layer
    assert sec.total_cycles - block1.total_cycles == gathers * (8 - 1) * 1024 * 3
    assert sec_only("llava_vid/videomme").total_cycles / sec.total_cycles == pytest.approx(1.0768, abs=1e-4)


def tagged(level_names=("sec", "sic")) -> tuple[set[str], set[str]]:
    spec = json.loads((ACCELERATOR_DIR / "focus.json").read_text())
    return ({c["module"] for c in spec["components"] if c.get("level") in level_names},
            {b["name"] for b in spec["buffers"] if b.get("level") in level_names})


@pytest.mark.parametrize("convention", ["focus-paper", "faithful"])
def test_none_is_dense_plus_the_idle_concentration_hardware(convention):
    w = resolve_workload("llava_vid/videomme")
    none = evaluate(DesignPoint(accelerator="focus", convention=convention, concentration="none"), w)
    dense = evaluate(DesignPoint(accelerator="dense", convention=convention), w)
    assert none.total_cycles == dense.total_cycles and none.dram_bytes == dense.dram_bytes
    assert none.compute_fraction == pytest.approx(1.0)
    modules, buffers = tagged()
    area, energy = none.breakdown["area_mm2"], none.breakdown["energy_j"]
    logic_area = sum(area[m] for m in modules)
    buffer_area = sum(area[f"buffer:{b}"] for b in buffers)
    if convention == "focus-paper":  # the paper charges the dense array Focus's buffers and every unit always
        assert none.area_mm2 - dense.area_mm2 == pytest.approx(logic_area, rel=1e-9)
        idle_j = sum(energy[m] for m in modules)
        assert idle_j == pytest.approx(none.onchip_power_mw * 1e-3 * none.execution_time_s
                                       - dense.onchip_power_mw * 1e-3 * dense.execution_time_s, rel=1e-9)
    else:  # idle logic draws nothing in the busy-time model; idle buffers leak
        assert none.area_mm2 - dense.area_mm2 == pytest.approx(logic_area + buffer_area, rel=1e-9)
        assert all(energy[m] == 0 for m in modules)
        idle_j = sum(energy[f"sram:{b}"] for b in buffers)
        assert 0 < idle_j < 0.01 * none.energy_j
    assert none.energy_j - dense.energy_j == pytest.approx(idle_j, rel=1e-6)


def test_faithful_sec_and_sic_leave_the_other_levels_hardware_off():
    w = resolve_workload("llava_vid/videomme")
    full = evaluate(DesignPoint(accelerator="focus", concentration="sec+sic"), w)
    sec = evaluate(DesignPoint(accelerator="focus", concentration="sec"), w)
    sic = evaluate(DesignPoint(accelerator="focus", concentration="sic"), w)
    area = full.breakdown["area_mm2"]
    sic_modules, sic_buffers = tagged(("sic",))
    sec_modules, _ = tagged(("sec",))
    sic_area = sum(area[m] for m in sic_modules) + sum(area[f"buffer:{b}"] for b in sic_buffers)
    assert full.area_mm2 - sec.area_mm2 == pytest.approx(sic_area, rel=1e-9)
    assert full.area_mm2 - sic.area_mm2 == pytest.approx(sum(area[m] for m in sec_modules), rel=1e-9)
    # without SIC nothing is scattered, gathered or detected: the array alone on the SEC-pruned tokens
    assert sec.stall_cycles == 0 and not {"scatter", "detect"} & {k for k, v in sec.breakdown["busy_cycles"].items() if v}
    assert sec.compute_fraction > full.compute_fraction and sic.compute_fraction > full.compute_fraction
    assert "sec" not in sic.breakdown["busy_cycles"]  # nothing pruned


def test_levels_transform_the_profile():
    from dse.evaluate import visual_profile

    w = resolve_workload("llava_vid/videomme")
    full, sec, sic = (visual_profile(DesignPoint(concentration=c), w, "published") for c in ("sec+sic", "sec", "sic"))
    assert [lp.tokens_kept for lp in sec.layers] == [lp.tokens_kept for lp in full.layers]
    assert all(lp.rows(g) == lp.tokens(g) for lp in sec.layers for g in ("q_proj", "down_proj", "qk"))
    assert all(lp.tokens_kept == w.tokens and lp.tokens("down_proj") == w.tokens for lp in sic.layers)
    x = full.extra["unique_fraction"]
    assert sic.layers[20].rows("down_proj") == pytest.approx(x * w.tokens, rel=1e-3)
    assert visual_profile(DesignPoint(concentration="none"), w, "published") is None


def test_accuracy_drop_follows_the_levels():
    from dse.accuracy import get_provider

    provider, w = get_provider("calibrated", {}), resolve_workload("llava_vid/videomme")
    drop = {c: provider.predict(DesignPoint(concentration=c), w).drop for c in ("sec+sic", "sec", "sic", "none")}
    assert drop["none"] == 0 and drop["sec+sic"] == pytest.approx(drop["sec"] + drop["sic"])
    assert 0 < drop["sec"] < drop["sec+sic"] and 0 < drop["sic"] < drop["sec+sic"]


def test_simulate_flag_and_bad_input(capsys):
    argv = ["simulate", "--workload", "llava_vid/mvbench", "--accelerator", "focus", "--json"]
    assert main(argv + ["--concentration", "sec"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["design"]["concentration"] == "sec" and "buffer:layouter" not in r["breakdown"]["area_mm2"]
    for bad, says in ((["--concentration", "sic", "--accelerator", "dense"], "Focus accelerator only"),
                      (["--concentration", "sec", "--buffer-kb", "layouter=8"], "not built at this concentration"),
                      (["--concentration", "SEC"], "invalid choice")):
        assert main(argv + bad) == 2
        err = capsys.readouterr().err
        assert says in err and err.count("\n") == 1, err
    # the paper's accounting keeps every buffer at every level, so a size for it is fine there
    assert main(argv + ["--concentration", "sec", "--convention", "focus-paper", "--buffer-kb", "layouter=8"]) == 0


def test_design_file_key_is_validated(tmp_path, capsys):
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"accelerator": "focus", "concentration": "sic+sec"}))
    assert main(["simulate", "--workload", "llava_vid/mvbench", "--design", str(path)]) == 2
    assert "concentration must be one of sec+sic, sec, sic, none" in capsys.readouterr().err


def test_search_drops_sizes_of_buffers_a_level_does_not_build(tmp_path):
    from dse.search import load_study
    from dse.search.evaluation import DesignEvaluator
    from study_helpers import write_study

    path = write_study(tmp_path, space={"concentration": ["sec+sic", "sec"],
                                        "buffer_kb": {"layouter": {"low": 4, "high": 64, "log": True}}})
    evaluator = DesignEvaluator(load_study(str(path)))
    design = evaluator.default_design()
    sec = evaluator.run({**design, "concentration": "sec"})
    assert "layouter" not in sec.design["buffer_kb"] and "input" in sec.design["buffer_kb"]
    full = evaluator.run({**design, "concentration": "sec+sic"})
    assert full.design["buffer_kb"]["layouter"] == design["buffer_kb"]["layouter"]
    assert full.metrics["area_mm2"] > sec.metrics["area_mm2"]
