"""Issue 13: inputs that meant nothing, hangs on huge workloads, the missing `workloads` command,
the doubled error prefix. Each test runs a command that misbehaved before the fix."""

import json

import pytest

from dse.cli import main
from dse.workloads.catalog import list_workloads
from dse.workloads.models import list_models


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, *argv) -> str:
    """The command fails with one line on stderr and exit code 2; returns that line."""
    code, _, err = run_cli(capsys, *argv)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    return err.strip()


# -- item 5: argparse errors carried the program name twice ------------------------------------
@pytest.mark.parametrize("argv", [["simulate", "--rows", "x"], ["bogus"], ["topology", "--m-tile", "1.5"]])
def test_argument_errors_have_one_prefix(capsys, argv):
    line = refused(capsys, *argv)
    assert line.startswith("focus-dse: error: ")
    assert line.count("focus-dse") == 2  # the prefix and the help hint, never "error: focus-dse ..."
    assert "error: focus-dse" not in line
    assert "--help" in line


# -- item 4: the help pointed at `focus-dse workloads`, which did not exist --------------------
def test_workloads_lists_published_workloads_and_every_model_spec(capsys):
    code, out, _ = run_cli(capsys, "workloads", "--json")
    assert code == 0
    r = json.loads(out)
    rows = {w["workload"]: w for w in r["workloads"]}
    assert sorted(rows) == list_workloads()
    assert rows["llava_vid/videomme"] == {"workload": "llava_vid/videomme", "model": "qwen2-7b", "frames": 64,
                                          "patches": 182, "tokens": 11648}
    assert [m["name"] for m in r["models"]] == list_models()
    assert next(m for m in r["models"] if m["name"] == "qwen2-7b")["llm"]["hidden"] == 3584
    code, text, _ = run_cli(capsys, "workloads")
    assert code == 0
    assert "llava_vid/videomme" in text and all(name in text for name in list_models())


def test_help_names_an_existing_command(capsys):
    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    assert "focus-dse workloads" in capsys.readouterr().out
    code, _, _ = run_cli(capsys, "workloads")
    assert code == 0


# -- item 3: huge workloads took hours (attention was summed tile by tile) ---------------------
HUGE = [["--model", "qwen2-7b", "--tokens", "1000000000000"],
        ["--model", "qwen2-7b", "--frames", "1000000000", "--patches", "1000000000"]]


@pytest.mark.parametrize("workload", HUGE)
@pytest.mark.parametrize("accelerator", ["dense", "focus"])
@pytest.mark.parametrize("convention", ["focus-paper", "faithful"])
def test_huge_workloads_simulate_at_once(capsys, workload, accelerator, convention):
    code, out, err = run_cli(capsys, "simulate", *workload, "--accelerator", accelerator, "--convention", convention,
                             "--json", "--per-layer")
    assert code == 0, err
    r = json.loads(out)
    assert r["total_cycles"] > 10**24 and len(r["per_layer"]) == 28


@pytest.mark.parametrize("workload", HUGE)
def test_huge_workloads_tiled_topology_is_refused_dense_one_written(capsys, workload):
    line = refused(capsys, "topology", *workload, "--profile", "published")
    assert "limit 1,000,000" in line
    code, out, _ = run_cli(capsys, "topology", *workload)
    assert code == 0 and len(out.splitlines()) == 10  # header + the nine distinct GEMMs


def test_huge_workload_sweep_completes(capsys, tmp_path, monkeypatch):
    from dse.commands import sweep

    monkeypatch.setattr(sweep, "plot", lambda *args: None)  # matplotlib's second is not what hung
    code, out, err = run_cli(capsys, "sweep", *HUGE[0], "--array", "16,32", "--bandwidth", "64",
                             "--results-dir", str(tmp_path))
    assert code == 0, err
    assert "array   32x32" in out


@pytest.mark.parametrize("argv", [
    ["simulate", *HUGE[0], "--m-tile", "64", "--backend", "scalesim"],  # 15.6 G attention tiles in scalesim
    ["simulate-gemm", "--M", "3000", "--K", "3000", "--N", "3000", "--rows", "256", "--cols", "256",
     "--backend", "scalesim"],  # 542 k cycles on a 256x256 array: minutes of scalesim
    ["simulate", "--model", "qwen2-7b", "--tokens", "1" + "0" * 30],
    ["simulate", "--model", "qwen2-7b", "--frames", "1" + "0" * 10, "--patches", "1" + "0" * 10],
    ["simulate", "--workload", "llava_vid/videomme", "--frequency-mhz", "1e308"],  # power overflows to inf
    ["simulate", "--workload", "llava_vid/videomme", "--dram-bandwidth-gbps", "1e-300"],
])
def test_absurd_sizes_are_refused_in_one_line(capsys, argv):
    refused(capsys, *argv)


def test_attention_series_in_closed_form_equals_tile_by_tile():
    """analytic.series_cycles is exactly the sum of compute_cycles over the tiles it stands for."""
    import random

    from dse.sim.analytic import compute_cycles, series_cycles

    rng = random.Random(13)
    for _ in range(2000):
        dims = {d: rng.randint(1, 400) for d in "MKN"}
        grows, step, count = rng.choice("MKN"), rng.randint(0, 300), rng.randint(0, 25)
        rows, cols, dataflow = rng.randint(1, 48), rng.randint(1, 48), rng.choice(["os", "ws", "is"])
        expected = 0
        for i in range(count):
            tile = dict(dims, **{grows: dims[grows] + i * step})
            expected += compute_cycles(tile["M"], tile["K"], tile["N"], rows, cols, dataflow)
        assert series_cycles(dims["M"], dims["K"], dims["N"], grows, step, count, rows, cols, dataflow) == expected


@pytest.mark.parametrize("tokens", [1, 700, 1024, 1025, 4097, 11648])
@pytest.mark.parametrize("dataflow", ["ws", "os", "is"])
@pytest.mark.parametrize("accelerator", ["dense", "focus"])
def test_simulate_counts_the_tiles_topology_writes(tokens, dataflow, accelerator):
    """Whole-model compute cycles (closed forms) equal the tiled topology's GEMMs summed one by one,
    for token counts with and without a remainder tile."""
    from dse.design import DesignPoint
    from dse.evaluate import evaluate, visual_profile
    from dse.sim.backends import AnalyticBackend, gemm_cycles
    from dse.sim.hardware import ArrayConfig
    from dse.topology import tiled_topology
    from dse.workloads.catalog import resolve_workload

    w = resolve_workload(model="qwen2-0.5b", tokens=tokens)
    design = DesignPoint(accelerator=accelerator, dataflow=dataflow, rows=16, cols=24, convention="faithful")
    rows = tiled_topology(w, visual_profile(design, w, "published"), design.m_tile)
    array = ArrayConfig(16, 24, dataflow)
    assert evaluate(design, w).compute_cycles == sum(r.repeat * gemm_cycles(r.M, r.K, r.N, array, AnalyticBackend())
                                                     for r in rows)


# -- item 2: inputs that meant nothing ----------------------------------------------------------
def write_profile(tmp_path, **change):
    from dse.published import published_profile
    from dse.workloads.catalog import resolve_workload

    raw = published_profile(resolve_workload("llava_vid/videomme")).to_dict()
    for key, value in change.items():
        if key == "unique_rows":
            raw["layers"][0]["unique_rows"].update(value)
        else:
            raw[key] = value
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(raw))
    return str(path)


def test_profile_as_saved_is_accepted(capsys, tmp_path):
    code, _, err = run_cli(capsys, "simulate", "--workload", "llava_vid/videomme", "--accelerator", "focus",
                           "--profile", write_profile(tmp_path))
    assert code == 0, err


@pytest.mark.parametrize("change,words", [
    ({"kept_fraction": 1.5}, "kept_fraction must be a number in [0, 1]"),
    ({"kept_fraction": 0.9}, "disagrees with the layers"),
    ({"unique_rows": {"q_proj": 20000.0}}, "unique_rows[q_proj] = 20000 exceeds the 11648 tokens"),
    ({"unique_rows": {"q_prj": 100.0}}, "'q_prj' is no GEMM"),
    ({"unique_rows": {"sv": 100.0}}, "'sv' is no GEMM"),
])
def test_profile_that_contradicts_itself_is_refused(capsys, tmp_path, change, words):
    line = refused(capsys, "simulate", "--workload", "llava_vid/videomme", "--accelerator", "focus",
                   "--profile", write_profile(tmp_path, **change))
    assert words in line


@pytest.mark.parametrize("flag,value,words", [
    ("--block", "99x99x99", "use T <= 64, H <= 13, W <= 13"),
    ("--block", "2x14x2", "use T <= 64, H <= 13, W <= 13"),
    ("--vector-size", "100000", "the longest, down_proj's, has 18944): use 1..18944"),
])
def test_knobs_beyond_the_workload_are_refused(capsys, flag, value, words):
    line = refused(capsys, "simulate", "--workload", "llava_vid/videomme", "--accelerator", "focus", flag, value)
    assert words in line


def test_largest_fitting_block_and_vector_run(capsys):
    code, _, err = run_cli(capsys, "simulate", "--workload", "llava_vid/videomme", "--accelerator", "focus",
                           "--block", "64x13x13", "--vector-size", "18944")
    assert code == 0, err


def test_focus_knobs_on_an_accelerator_without_the_unit_are_refused(capsys):
    line = refused(capsys, "simulate", "--workload", "llava_vid/videomme", "--accelerator", "dense",
                   "--block", "4x4x4", "--threshold", "0.5")
    assert "--threshold, --block" in line and "dense" in line


@pytest.mark.parametrize("flag,value,words", [
    ("--threshold", "0.2", "threshold 0.2 is outside its measured redundancy curve (0.5..1"),
    ("--vector-size", "6000", "vector_size 6000 is outside its measured redundancy curve (8..4096, the Focus paper's "
                              "vector sweep"),
    ("--block", "4x4x4", "block 4x4x4 has no measured redundancy (dse/data/redundancy/): using the nearest"),
])
def test_knobs_beyond_the_measured_curves_run_with_a_warning(capsys, flag, value, words):
    """These were silently clamped to the curve's end (or the nearest block): now one line says so."""
    from dse.errors import reset_warnings

    reset_warnings()
    code, _, err = run_cli(capsys, "simulate", "--workload", "llava_vid/videomme", "--accelerator", "focus", flag, value)
    assert code == 0 and len(err.splitlines()) == 1
    assert err.startswith("focus-dse: warning: ") and words in err


@pytest.mark.parametrize("space,words", [
    ({"block": ["2x2x2", "3x2x2"]}, "block 3x2x2 does not fit qwen2_5_vl/mme (1 frames of a 16x16 patch grid)"),
    ({"vector_size": {"low": 8, "high": 40000}}, "vector size 40000 is longer than every row"),
])
def test_study_space_beyond_its_workload_is_refused_before_any_trial(space, words):
    from dse.errors import UserError
    from dse.search.studyfile import parse_study

    with pytest.raises(UserError, match="space: " + words.replace("(", r"\(").replace(")", r"\)")):
        parse_study({"name": "tiny", "workloads": ["qwen2_5_vl/mme"], "space": space})


def test_sec_scale_that_caps_an_alpha_warns(capsys):
    from dse.errors import reset_warnings

    reset_warnings()
    code, _, err = run_cli(capsys, "simulate", "--workload", "llava_vid/videomme", "--accelerator", "focus",
                           "--sec-scale", "3")  # alpha 0.4 x 3 > 1
    assert code == 0 and err == ("focus-dse: warning: sec_scale above 1/alpha of an SEC layer caps that alpha at 1: "
                                 "the layer keeps every token\n")
    code, _, err = run_cli(capsys, "simulate", "--workload", "llava_vid/videomme", "--accelerator", "focus",
                           "--sec-scale", "2")
    assert code == 0 and err == ""  # 0.4 x 2 <= 1: nothing capped


def test_values_beyond_a_curve_warn_once_per_knob_and_side(capsys):
    """A study samples many values beyond a curve: one line says what is done, not one per value."""
    from dse.errors import reset_warnings
    from dse.redundancy import knob_scale

    reset_warnings()
    for value in (0.2, 0.3, 0.45):
        knob_scale("threshold", value, 0.9)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "threshold 0.2 is outside its measured redundancy curve" in err
