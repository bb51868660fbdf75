"""The command line imports what a command uses, where it uses it: `focus-dse --help` and every
`<command> --help` load no heavy package, and `simulate` (one design, and a designs file) only the
cost model. Each check runs the CLI in a fresh interpreter and lists the heavy packages it loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# what a --help may not load: numpy too (a fifth of a second to import)
HEAVY = ("numpy", "pandas", "pyarrow", "optuna", "sqlalchemy", "alembic", "matplotlib", "plotly", "scipy", "torch",
         "transformers", "moocore", "yaml", "tqdm", "distributed", "scalesim")
# what simulate may not load: everything above but the cost model's numpy
NOT_FOR_SIMULATE = tuple(m for m in HEAVY if m != "numpy")

PROBE = r"""
import contextlib, io, json, sys
from dse.cli import main

loaded = []
for argv in json.loads(sys.argv[1]):
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's --help
            code = exc.code
    loaded.append({"argv": argv, "code": code, "modules": sorted({m.split(".")[0] for m in sys.modules})})
print(json.dumps(loaded))
"""


def loaded_after(*argvs: list[str], cwd: Path = ROOT) -> list[dict]:
    """Top-level packages in sys.modules after each command, run in turn in one fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argvs)], cwd=cwd, capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    return json.loads(out.stdout)


def help_commands() -> list[list[str]]:
    """--help of the program and of every sub-command, nested ones (study run, ...) included."""
    import argparse

    from dse.cli import build_parser

    def walk(parser: argparse.ArgumentParser, words: list[str]) -> list[list[str]]:
        found = [[*words, "--help"]]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    found += walk(child, [*words, name])
        return found

    return walk(build_parser(), [])


def test_help_loads_nothing_heavy():
    commands = help_commands()
    assert ["simulate", "--help"] in commands and ["study", "exhaustive", "--help"] in commands
    assert len(commands) >= 15
    for step in loaded_after(*commands):
        assert step["code"] == 0, step["argv"]
        assert not set(step["modules"]) & set(HEAVY), (step["argv"], sorted(set(step["modules"]) & set(HEAVY)))


def test_simulate_loads_only_the_cost_model(tmp_path):
    designs = tmp_path / "designs.csv"
    designs.write_text("rows,cols,dataflow\n64,32,os\n16,16,ws\n")
    steps = loaded_after(
        ["simulate", "--workload", "llava_vid/videomme", "--accelerator", "focus", "--json"],
        ["simulate", "--workload", "llava_vid/videomme", "--accelerator", "focus", "--phases",
         "encoder,prefill,decode", "--output-tokens", "4", "--dram-bandwidth-gbps", "64", "--json"],
        ["simulate", "--workload", "llava_vid/videomme", "--accelerator", "focus", "--designs", str(designs),
         "-o", str(tmp_path / "out.csv")],
        cwd=tmp_path)
    for step in steps:
        assert step["code"] == 0, step["argv"]
        assert "numpy" in step["modules"]  # the probe sees what the run loaded
        assert not set(step["modules"]) & set(NOT_FOR_SIMULATE), (step["argv"],
                                                                  sorted(set(step["modules"]) & set(HEAVY)))


def test_a_study_run_imports_the_tables_and_figures_after_its_trials(tmp_path):
    """The trials and their summary need neither pandas nor matplotlib: the main job's plot processes
    import both while the trials run, and the command itself only once its trials are stored
    (`--no-reports`: never)."""
    step, = loaded_after(["study", "run", "quickstart", "--trials", "40", "--no-reports", "--no-progress",
                          "--results-dir", str(tmp_path / "results")], cwd=tmp_path)
    assert step["code"] == 0
    assert {"optuna", "numpy"} <= set(step["modules"])  # the probe sees what the run loaded
    assert not set(step["modules"]) & {"pandas", "pyarrow", "matplotlib", "plotly"}, step["modules"]
