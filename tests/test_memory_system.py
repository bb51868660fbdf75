import csv

from dse.cli import main
from dse.design import DesignPoint
from dse.evaluate import evaluate
from dse.workloads import resolve_workload


def test_ample_bandwidth_changes_nothing():
    w = resolve_workload("llava_vid/videomme")
    free = evaluate(DesignPoint(accelerator="focus"), w)
    ample = evaluate(DesignPoint(accelerator="focus", dram_bandwidth_gbps=1e6), w)
    assert ample.total_cycles == free.total_cycles and ample.memory_stall_cycles == 0


def test_focus_default_needs_about_22_bytes_per_cycle():
    """The paper's simulator reports ~22 B/cycle (DRAM bytes / compute cycles) for Focus."""
    ev = evaluate(DesignPoint(accelerator="focus", convention="focus-paper"), resolve_workload("llava_vid/videomme"))
    assert 20 < ev.to_dict()["dram_bandwidth_bytes_per_cycle"] < 24


def test_sweep_shows_big_arrays_become_memory_bound(tmp_path, capsys):
    code = main(["sweep", "--workload", "llava_vid/videomme", "--array", "16..256", "--bandwidth", "8,16,32,64",
                 "--results-dir", str(tmp_path)])
    assert code == 0
    rows = list(csv.DictReader(open(tmp_path / "sweep" / "llava_vid__videomme_focus.csv")))
    bound = {(int(r["array"]), r["bandwidth_gbps"]): r["memory_bound"] == "True" for r in rows}
    assert bound[(32, "16.0")] is False and bound[(256, "64.0")] is True
    assert not any(v for (a, b), v in bound.items() if b == "unlimited")
    assert (tmp_path / "sweep" / "llava_vid__videomme_focus.png").stat().st_size > 0


def test_bad_bandwidth_and_sram_are_one_line_errors(capsys):
    for argv in (["simulate-gemm", "--M", "8", "--K", "8", "--N", "8", "--bandwidth", "0"],
                 ["simulate-gemm", "--M", "8", "--K", "8", "--N", "8", "--bandwidth", "4", "--sram-kb", "1,2"],
                 ["sweep", "--workload", "llava_vid/videomme", "--bandwidth", "fast"]):
        assert main(argv) == 2
        assert capsys.readouterr().err.count("\n") == 1
