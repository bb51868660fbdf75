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
