"""dse imports downward only, in the layers pyproject.toml declares ([tool.importlinter]), and has no
import circle at any depth: import-linter's contracts, which count imports inside functions too. The
same check on a copy of the package with one deliberately added upward import, or circle, fails."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess:
    if not LINT.exists():
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    return subprocess.run([str(LINT), "--no-cache", "--no-logo", str(root / "pyproject.toml")], cwd=root,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                          timeout=300)


def copy_with(tmp_path: Path, module: str, line: str) -> Path:
    """The package's Python files and the contract, with `line` added to `module`."""
    shutil.copytree(ROOT / "dse", tmp_path / "dse", ignore=shutil.ignore_patterns("data", "__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    path = tmp_path / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text() + f"\n\ndef _added():\n    {line}\n")
    return tmp_path


def test_the_package_keeps_its_layers_and_has_no_import_circle():
    proc = lint(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "dse imports downward only KEPT" in proc.stdout
    assert "no import circles in dse, at any depth KEPT" in proc.stdout


def test_an_upward_import_inside_a_function_breaks_the_layers(tmp_path):
    proc = lint(copy_with(tmp_path, "dse.sim.analytic", "from dse.search import runner"))
    assert proc.returncode != 0
    assert "dse imports downward only BROKEN" in proc.stdout and "dse.sim.analytic -> dse.search" in proc.stdout


def test_a_circle_inside_one_layer_is_found(tmp_path):
    """dse.search.claims is imported by dse.search.worker; importing it back closes a circle."""
    proc = lint(copy_with(tmp_path, "dse.search.claims", "from dse.search import worker"))
    assert proc.returncode != 0
    assert "no import circles in dse, at any depth BROKEN" in proc.stdout


def test_no_module_of_the_package_over_400_lines():
    """Issue 20: a module longer than this holds more than one job; split it by job."""
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / "dse").rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long
