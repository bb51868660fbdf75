"""`focus-dse simulate --designs FILE -o OUT`: one row per design, equal to `simulate --json` of that
design alone (every scalar, as text, to the last digit), refused rows with their reason, malformed
files refused in one line naming the line, Parquet in and out."""

from __future__ import annotations

import csv
import json
import random

import pytest

from dse.cli import main
from dse.commands import simulate as simulate_command
from dse.simulation import scalar_columns

WORKLOAD = ["--workload", "llava_vid/videomme"]
# every row's defaults (flags); a row's cells override them
DEFAULTS = ["--accelerator", "focus", "--dram-bandwidth-gbps", "64"]
QUICKSTART = {"rows": range(16, 257, 16), "cols": range(16, 257, 16), "dataflow": ["ws", "os", "is"],
              "frequency_mhz": [500, 750, 1000], "m_tile": [512, 1024, 2048], "n_tile": [128, 256],
              "vector_size": [32, 64, 128], "block": ["1x1x1", "2x1x1", "2x2x2"], "threshold": [0.75, 0.87, 0.99],
              "sec_scale": [0.5, 2.0, 3.5], "n_scatter": [2, 6]}


def write_csv(path, columns: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows([["" if v is None else v for v in row] for row in rows])


def read_csv(path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def flags_of(columns: list[str], row: list) -> list[str]:
    """The command-line flags that set a row's non-empty cells."""
    argv = []
    for name, value in zip(columns, row):
        if value in (None, ""):
            continue
        if name.startswith("buffer_kb."):
            argv += ["--buffer-kb", f"{name.removeprefix('buffer_kb.')}={value}"]
        else:
            argv += [f"--{name.replace('_', '-')}", str(value)]
    return argv


def alone(argv: list[str], capsys) -> tuple[int, dict | str]:
    """simulate of one design: (exit code, its scalars as a row, or the error line)."""
    capsys.readouterr()
    code = main(["simulate", *argv, "--json"])
    out, err = capsys.readouterr()
    return code, scalar_columns(json.loads(out)) if code == 0 else err.strip().removeprefix("focus-dse: error: ")


def text(value) -> str:
    """A value as the CSV holds it (csv writes str(); floats round-trip to the last bit)."""
    return "" if value is None else str(value)


def check_rows_equal_alone(columns, rows, out, argv, capsys, sample) -> None:
    got = read_csv(out)
    assert len(got) == len(rows)
    for i in sample:
        code, expected = alone([*argv, *flags_of(columns, rows[i])], capsys)
        if code != 0:
            assert got[i]["error"] == expected, (i, rows[i])
            assert all(got[i][k] == "" for k in got[i] if k not in columns and k != "error")
            continue
        assert got[i]["error"] == "", (i, got[i]["error"])
        for key, value in expected.items():  # a key that is an input column echoes it
            assert got[i][key] == (text(value) if key not in columns else text(rows[i][columns.index(key)])
                                   if rows[i][columns.index(key)] is not None else got[i][key]), (i, key, value)
        # nothing beyond what --json prints (and the input columns, and error)
        extra = {k for k, v in got[i].items() if v != "" and k not in columns and k != "error"} - set(expected)
        assert not extra, (i, extra)


def test_random_quickstart_designs_equal_simulate_alone(tmp_path, capsys):
    rng = random.Random(23)
    columns = list(QUICKSTART)
    rows = [[rng.choice(list(v)) for v in QUICKSTART.values()] for _ in range(300)]
    designs, out = tmp_path / "designs.csv", tmp_path / "out.csv"
    write_csv(designs, columns, rows)
    assert main(["simulate", *WORKLOAD, *DEFAULTS, "--designs", str(designs), "-o", str(out)]) == 0
    got = read_csv(out)
    assert [[r[c] for c in columns] for r in got] == [[str(v) for v in row] for row in rows]  # inputs repeated
    assert sum(r["error"] == "" for r in got) > 250
    check_rows_equal_alone(columns, rows, out, [*WORKLOAD, *DEFAULTS], capsys, rng.sample(range(len(rows)), 25))


def test_mixed_designs_whole_query_and_refusals_equal_simulate_alone(tmp_path, capsys):
    """Every accelerator and convention, the whole query on arrays (encoder, prompt, decode, batch),
    several cores and precisions, hand-sized buffers, flags as defaults; rows the model refuses."""
    columns = ["accelerator", "convention", "rows", "cols", "dataflow", "phases", "prompt_tokens", "output_tokens",
               "batch", "encoder_threshold", "precision", "cores", "weight_buffering", "threshold", "block",
               "dram_bandwidth_gbps", "buffer_kb.output", "sram_model"]
    rows = [
        ["focus", "faithful", 64, 32, "os", "encoder,prefill,decode", 64, 4, 1, 0.9, None, None, None, None, None, 64,
         None, None],
        ["focus", "faithful", 64, 32, "os", "encoder,prefill,decode", 64, 4, 1, 0.5, None, None, "double", None, None,
         128, None, None],
        ["dense", "focus-paper", 32, 32, "ws", "prefill,decode", 0, 8, 2, None, None, None, None, None, None, 16,
         None, None],
        ["adaptiv", "faithful", None, None, None, "prefill", 16, None, None, None, None, None, None, None, None, None,
         None, None],
        ["cmc", "focus-paper", 32, 32, "ws", None, None, None, None, None, "int8", None, None, None, None, None, None,
         None],
        ["focus", "focus-paper", 32, 32, "ws", "prefill,decode", 32, 16, 1, None, "fp8", 2, None, 0.8, "1x2x2", 32,
         None, None],
        ["focus", "faithful", 48, 64, "is", None, None, None, None, None, None, 4, None, None, None, None, 300,
         "cacti"],
        ["focus", "faithful", 32, 32, "ws", None, None, None, None, None, None, None, None, 0.99, "2x1x1", None, None,
         "compiler"],
        ["dense", "faithful", 16, 256, "ws", "encoder,prefill", None, None, 3, None, "bf16", None, None, None, None,
         None, None, None],
        # refused: no such row count, a Focus knob on dense, decode without bandwidth, a block beyond the frames
        ["focus", "faithful", 0, 32, "ws", None, None, None, None, None, None, None, None, None, None, None, None, None],
        ["dense", "faithful", 32, 32, "ws", None, None, None, None, None, None, None, None, 0.8, None, None, None, None],
        ["focus", "faithful", 32, 32, "ws", "prefill,decode", None, 4, None, None, None, None, None, None, None, None,
         None, None],
        ["focus", "faithful", 32, 32, "ws", None, None, None, None, None, None, None, None, None, "99x2x2", None, None,
         None],
        ["focus", "faithful", 32, 32, "ws", None, None, None, None, None, None, None, None, None, None, None, None,
         None],
    ]
    designs, out = tmp_path / "designs.csv", tmp_path / "out.csv"
    write_csv(designs, columns, rows)
    argv = [*WORKLOAD, "--frequency-mhz", "750", "--n-tile", "128"]
    assert main(["simulate", *argv, "--designs", str(designs), "-o", str(out)]) == 0
    got = read_csv(out)
    assert [bool(r["error"]) for r in got] == [False] * 9 + [True] * 4 + [False]
    assert "decode" in got[11]["error"] and "bandwidth" in got[11]["error"]
    assert got[0]["phases.encoder.unique_fraction"] != "" and got[0]["phases.encoder.modelled"] != ""
    assert got[2]["phases.decode.batch"] == "2" and got[2]["ttft_s"] and got[4]["ttft_s"] == ""
    check_rows_equal_alone(columns, rows, out, argv, capsys, range(len(rows)))


def test_parquet_in_and_out_hold_the_csv_numbers(tmp_path, capsys):
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow

    columns = ["rows", "cols", "dataflow", "threshold", "phases", "output_tokens"]
    rows = [[64, 32, "os", 0.75, "prefill", None], [128, 16, "is", None, "prefill,decode", 8],
            [16, 16, "ws", 0.99, None, None]]
    csv_in, csv_out = tmp_path / "d.csv", tmp_path / "o.csv"
    write_csv(csv_in, columns, rows)
    assert main(["simulate", *WORKLOAD, *DEFAULTS, "--designs", str(csv_in), "-o", str(csv_out)]) == 0
    pq_in, pq_out = tmp_path / "d.parquet", tmp_path / "o.parquet"
    pq.write_table(pyarrow.table({c: [r[i] for r in rows] for i, c in enumerate(columns)}), pq_in)
    assert main(["simulate", *WORKLOAD, *DEFAULTS, "--designs", str(pq_in), "-o", str(pq_out)]) == 0
    from_csv = read_csv(csv_out)
    table = pq.read_table(pq_out).to_pylist()
    assert [c for c in table[0]] == list(from_csv[0])
    for a, b in zip(from_csv, table):
        assert a == {k: text(v) for k, v in b.items()}
    assert isinstance(table[0]["total_cycles"], int) and isinstance(table[0]["rows"], int)
    # a CSV table written as Parquet keeps its knobs typed
    mixed = tmp_path / "o2.parquet"
    assert main(["simulate", *WORKLOAD, *DEFAULTS, "--designs", str(csv_in), "-o", str(mixed)]) == 0
    assert pq.read_table(mixed).to_pylist()[0]["threshold"] == 0.75


def test_chunks_and_progress_do_not_change_a_row(tmp_path, monkeypatch, capsys):
    columns = ["rows", "cols", "sec_scale", "phases", "output_tokens"]
    rows = [[16 * (1 + i % 8), 16 * (1 + i % 5), [0.5, 2.0, 3.5][i % 3], ["prefill", "prefill,decode"][i % 2],
             [None, 4][i % 2]] for i in range(20)]
    designs = tmp_path / "d.csv"
    write_csv(designs, columns, rows)
    assert main(["simulate", *WORKLOAD, *DEFAULTS, "--designs", str(designs), "-o", str(tmp_path / "whole.csv")]) == 0
    monkeypatch.setattr(simulate_command, "DESIGNS_CHUNK", 3)
    assert main(["simulate", *WORKLOAD, *DEFAULTS, "--designs", str(designs), "-o", str(tmp_path / "chunks.csv")]) == 0
    assert read_csv(tmp_path / "whole.csv") == read_csv(tmp_path / "chunks.csv")


@pytest.mark.parametrize("content, line", [
    ("rows,cols,colour\n32,32,red\n", "line 1: unknown column 'colour'"),
    ("rows,cols,buffer_kb\n32,32,100\n", "line 1: unknown column 'buffer_kb' (a buffer's size is a column buffer_kb.<buffer>)"),
    ("rows,rows\n32,32\n", "line 1: column 'rows' appears twice"),
    ("rows,cols\n32,32\n64,64,os\n", "line 3: 3 cells where the header names 2 columns"),
    ("rows,cols\n32,32\n\n64\n", "line 4: 1 cells where the header names 2 columns"),
    ("rows,cols\n32,32\nsixteen,32\n", "line 3: column rows wants a number, got 'sixteen'"),
    ("rows,buffer_kb.output\n32,lots\n", "line 2: column buffer_kb.output wants a number, got 'lots'"),
    ("", "empty file"),
    ("rows,cols\n", "no designs under the header"),
])
def test_malformed_file_is_one_line_naming_the_line(tmp_path, capsys, content, line):
    designs = tmp_path / "designs.csv"
    designs.write_text(content)
    assert main(["simulate", *WORKLOAD, "--designs", str(designs), "-o", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{designs}" in err and line in err, err
    assert not (tmp_path / "o.csv").exists()


def test_unreadable_tables_and_refused_flags(tmp_path, capsys):
    latin = tmp_path / "latin.csv"
    latin.write_bytes("rows,cols\n32,32\n16,16\xe9\n".encode("latin-1"))
    not_parquet = tmp_path / "t.parquet"
    not_parquet.write_text("rows\n32\n")
    good = tmp_path / "good.csv"
    good.write_text("rows\n32\n")
    cases = [
        (["--designs", str(latin), "-o", "o.csv"], "not UTF-8 text"),
        (["--designs", str(not_parquet), "-o", "o.csv"], "not a Parquet table"),
        (["--designs", str(tmp_path / "absent.csv"), "-o", "o.csv"], "no such file"),
        (["--designs", str(good)], "give -o FILE.csv"),
        (["--designs", str(good), "-o", "o.csv", "--json"], "--json"),
        (["--designs", str(good), "-o", "o.csv", "--per-layer"], "--per-layer"),
        (["--designs", str(good), "-o", "o.csv", "--backend", "scalesim"], "--backend scalesim"),
        (["--designs", str(good), "-o", "o.csv", "--profile", str(good)], "--profile"),
        (["-o", "o.csv"], "-o writes the results of --designs"),
    ]
    for argv, said in cases:
        assert main(["simulate", *WORKLOAD, *argv]) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and said in err, (argv, err)
