"""CLI contracts: JSON keys, exit code 2 and one line for bad input."""

import json
import os
import subprocess
import sys

import pytest

from dse.cli import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_simulate_gemm_json_contract(capsys):
    code, out, _ = run_cli(capsys, "simulate-gemm", "--M", "300", "--K", "200", "--N", "100", "--rows", "32",
                           "--cols", "32", "--dataflow", "ws", "--backend", "analytic", "--json")
    assert code == 0
    r = json.loads(out)
    assert r["compute_cycles"] == 7 * 4 * 394 - 1
    assert {"ifmap_sram_reads", "filter_sram_reads", "ofmap_sram_writes"} <= set(r)


@pytest.mark.slow
def test_simulate_gemm_scalesim_backend_same_keys(capsys):
    args = ["simulate-gemm", "--M", "30", "--K", "20", "--N", "10", "--rows", "8", "--cols", "4", "--json"]
    _, analytic, _ = run_cli(capsys, *args, "--backend", "analytic")
    _, real, _ = run_cli(capsys, *args, "--backend", "scalesim")
    a, s = json.loads(analytic), json.loads(real)
    keys = ("compute_cycles", "ifmap_sram_reads", "filter_sram_reads", "ofmap_sram_writes")
    assert [a[k] for k in keys] == [s[k] for k in keys]


def test_simulate_json_contract(capsys):
    code, out, _ = run_cli(capsys, "simulate", "--workload", "llava_vid/videomme", "--accelerator", "dense",
                           "--convention", "focus-paper", "--json", "--per-layer")
    r = json.loads(out)
    assert code == 0
    assert r["total_cycles"] == 95_936_913_408
    assert r["execution_time_s"] == pytest.approx(191.87, abs=0.01)
    assert len(r["per_layer"]) == 28


@pytest.mark.parametrize(
    "argv",
    [
        ["simulate", "--workload", "nope/nope"],
        ["simulate", "--model", "gpt-17", "--frames", "2", "--patches", "3"],
        ["simulate", "--model", "qwen2-7b", "--frames", "-1", "--patches", "3"],
        ["simulate-gemm", "--M", "0", "--K", "1", "--N", "1"],
        ["simulate-gemm", "--M", "1", "--K", "1", "--N", "1", "--dataflow", "xs"],
        ["simulate-gemm", "--M", "1", "--K", "1", "--N", "1", "--rows", "0"],
        ["simulate", "--workload", "llava_vid/videomme", "--convention", "nope"],
        ["simulate-gemm", "--M", "many"],
        ["simulate", "--topology", "/no/such/file.csv"],
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("focus-dse: error:")


def test_console_script_exit_code():
    proc = subprocess.run([sys.executable, "-m", "dse", "simulate", "--workload", "x"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1


def test_simulate_topology_counts_every_row(capsys, tmp_path):
    """Every row of a topology counts, and written topologies name each row once (issue 19: rows
    sharing a name were summed once): the CLI's total is the faithful model's compute cycles."""
    from dse.design import DesignPoint
    from dse.evaluate import evaluate
    from dse.sim.scalesim_io import read_topology
    from dse.workloads import resolve_workload

    path = tmp_path / "t.csv"
    run_cli(capsys, "topology", "--workload", "llava_vid/videomme", "--profile", "published", "-o", str(path))
    names = [r.layer for r in read_topology(path)]
    assert len(names) == len(set(names)) == 632
    code, out, _ = run_cli(capsys, "simulate", "--topology", str(path), "--json")
    ev = evaluate(DesignPoint(accelerator="focus"), resolve_workload("llava_vid/videomme"))
    assert json.loads(out)["total_cycles"] == ev.compute_cycles == 18_028_141_014
    twice = tmp_path / "twice.csv"  # a hand-written file may repeat a name: both rows count
    twice.write_text("Layer, M, N, K,\nq, 64, 32, 32,\nq, 64, 32, 32,\n")
    _, out, _ = run_cli(capsys, "simulate", "--topology", str(twice), "--json")
    assert json.loads(out)["total_cycles"] == 2 * ((64 + 2 * 32 + 32 - 2) - 1)  # WS: one fold each


def test_simulate_topology_file(capsys, tmp_path):
    path = tmp_path / "t.csv"
    run_cli(capsys, "topology", "--workload", "llava_vid/mvbench", "-o", str(path))
    code, out, _ = run_cli(capsys, "simulate", "--topology", str(path), "--json")
    assert code == 0 and json.loads(out)["total_cycles"] > 0
    code, _, err = run_cli(capsys, "simulate", "--topology", str(path), "--accelerator", "focus", "--cores", "4")
    assert code == 2 and err.count("\n") == 1 and "--accelerator, --cores mean nothing" in err
    (tmp_path / "bad.csv").write_text("Layer, M, N, K,\nq, x, 1, 2,\n")
    code, _, err = run_cli(capsys, "simulate", "--topology", str(tmp_path / "bad.csv"))
    assert code == 2 and "bad.csv:2" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["sweep", "--workload", "llava_vid/videomme", "--array", "0..16"],
        ["sweep", "--workload", "llava_vid/videomme", "--array", "64..16"],
        ["sweep", "--workload", "llava_vid/videomme", "--accelerator", "adaptiv"],
        ["simulate", "--workload", "llava_vid/videomme", "--frequency-mhz", "nan"],
        ["simulate", "--workload", "llava_vid/videomme", "--sec-scale", "inf"],
        ["simulate", "--workload", "llava_vid/videomme", "--block", "2x2xa"],
        ["simulate-gemm", "--M", "8", "--K", "8", "--N", "8", "--sram-kb", "1,1,1"],
        ["topology", "--workload", "llava_vid/mvbench", "-o", "/"],
        ["reproduce-paper", "--results-dir", "/proc/no/such"],
    ],
)
def test_more_bad_input_is_one_line_and_exit_2(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert out == ""  # nothing half-printed before the error


@pytest.mark.parametrize("design", [
    {"block": ["a", 2, 2]}, {"block": 5}, {"buffer_kb": [1, 2]}, {"rows": True}, {"dram_pj_per_byte": -5},
])
def test_bad_design_files(tmp_path, capsys, design):
    path = tmp_path / "design.json"
    path.write_text(json.dumps({"accelerator": "focus", **design}))
    assert main(["simulate", "--workload", "llava_vid/videomme", "--design", str(path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize("change", [
    lambda s: s["components"][0].pop("count"),
    lambda s: s["buffers"][0].pop("macros"),
    lambda s: s.__setitem__("components", "all of them"),
    lambda s: s["components"][0].__setitem__("colour", "red"),
    lambda s: s["components"][0].__setitem__("count", -3),
    lambda s: s["buffers"][0].__setitem__("bytes", "rows // 0"),
])
def test_bad_accelerator_specs(tmp_path, capsys, change):
    from dse.cost.accelerator import ACCELERATOR_DIR

    spec = json.loads((ACCELERATOR_DIR / "focus.json").read_text())
    change(spec)
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(spec))
    assert main(["simulate", "--workload", "llava_vid/videomme", "--accelerator", str(path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_unusable_output_paths_name_the_path_and_what_is_wrong(capsys, tmp_path):
    """Issue 19: `-o /dev/full` said "No space" with no path, `-o afile/out.csv` said "File exists"."""
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    cases = [(str(afile / "out.csv"), f"cannot use {afile} as a folder: it is a file"),
             (str(afile / "sub" / "out.csv"), f"cannot use {afile / 'sub'}: {afile} is a file, not a folder"),
             (str(tmp_path), f"cannot use {tmp_path}: it is a folder, not a file")]
    if os.path.exists("/dev/full"):  # a full disk: the write fails at close, with no file name
        cases.append(("/dev/full", "cannot write the output (-o /dev/full): no space left on the device"))
    for output, message in cases:
        code, out, err = run_cli(capsys, "topology", "--workload", "llava_vid/mvbench", "-o", output)
        assert (code, out, err) == (2, "", f"focus-dse: error: {message}\n")
    code, _, err = run_cli(capsys, "reproduce-paper", "--results-dir", str(afile))
    assert code == 2 and err == f"focus-dse: error: cannot use {afile / 'paper'}: {afile} is a file, not a folder\n"


def _fast_exit(code):
    """os._exit's stand-in: says it was called, and with which code."""
    raise SystemExit(("os._exit", code))


def test_the_entry_point_exits_with_mains_code_after_the_atexit_handlers(monkeypatch):
    """dse.cli.run skips the interpreter's teardown (os._exit) but not the atexit handlers."""
    import dse.cli as cli

    ran = []
    monkeypatch.setattr(cli, "main", lambda: 3)
    monkeypatch.setattr(cli.atexit, "_run_exitfuncs", lambda: ran.append("atexit"))
    monkeypatch.setattr(cli.threading, "enumerate", lambda: [cli.threading.main_thread()])  # another test's
    monkeypatch.setattr(cli.os, "_exit", _fast_exit)
    with pytest.raises(SystemExit) as exc:
        cli.run()
    assert exc.value.code == ("os._exit", 3) and ran == ["atexit"]


def test_the_entry_point_waits_for_a_thread_still_running(monkeypatch):
    import threading

    import dse.cli as cli

    release = threading.Event()
    thread = threading.Thread(target=release.wait)
    thread.start()
    try:
        monkeypatch.setattr(cli, "main", lambda: 4)
        monkeypatch.setattr(cli.os, "_exit", lambda code: pytest.fail("exited without waiting for the thread"))
        with pytest.raises(SystemExit) as exc:
            cli.run()
        assert exc.value.code == 4
    finally:
        release.set()
        thread.join()


def test_the_entry_point_says_in_one_line_when_the_end_of_the_output_cannot_be_written(monkeypatch, capsys):
    import errno

    import dse.cli as cli

    class FullDisk:
        def write(self, text):
            return len(text)

        def flush(self):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cli, "main", lambda: 0)
    monkeypatch.setattr(cli.atexit, "_run_exitfuncs", lambda: None)
    monkeypatch.setattr(cli.threading, "enumerate", lambda: [cli.threading.main_thread()])
    monkeypatch.setattr(cli.sys, "stdout", FullDisk())
    monkeypatch.setattr(cli.os, "_exit", _fast_exit)
    with pytest.raises(SystemExit) as exc:
        cli.run()
    assert exc.value.code == ("os._exit", 2)
    assert capsys.readouterr().err == "focus-dse: error: cannot write the output: no space left on the device\n"


def test_a_sqlite_study_file_holds_its_trials_once_the_command_ends(tmp_path):
    """The entry point ends without the interpreter's teardown: the storage's connections are closed at
    exit all the same, so SQLite folds its write-ahead log into the file (a copy of study.db alone is
    the whole study, as before)."""
    import sqlite3

    from study_helpers import study_command, write_study

    path = write_study(tmp_path, name="wal", trials=6)
    db = tmp_path / "wal.db"
    proc = subprocess.run([*study_command(), "run", str(path), "--storage", f"sqlite:///{db}", "--no-reports",
                           "--no-progress"], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "wal.db-wal").exists()
    copy = tmp_path / "copy.db"
    copy.write_bytes(db.read_bytes())
    with sqlite3.connect(copy) as conn:
        assert conn.execute("select count(*) from trials where state = 'COMPLETE'").fetchone()[0] == 6
