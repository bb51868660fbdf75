"""One SRAM priced by CACTI 7 (dse/cost/cacti_program.py): energy per read and per write access,
leakage, area, access and cycle time, with the Focus paper simulator's CACTI configuration
(dse/data/reference/focus/hardware/sram_config.json: itrs-hp cells, a "ram", UCA, ECC, 360 K, its
optimisation weights), of which a spec sets the size, block, ports, banks, node and cell type.

Each distinct configuration runs CACTI once per machine: results are kept in this process and on
disk, one JSON file per configuration named by a hash of all CACTI reads and of the CACTI release,
written by atomic rename (processes in parallel never see half a file; two that run the same
configuration write the same result).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import cache, partial
from pathlib import Path

from dse.cost.cacti_program import DIST, VERSION, CactiProgram, cacti_cache_dir, cacti_program
from dse.data_files import REFERENCE_DIR
from dse.errors import UserError

# CACTI runs are single-threaded programs: one per core this process may use, 2 at least, 8 at most
_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 2
PARALLEL_RUNS = max(2, min(8, _CORES))
MAX_BYTES = 2**30  # CACTI holds sizes in 32-bit ints: at 2 GiB they wrap (it then reports nonsense)
CELL_TYPES = ("itrs-hp", "itrs-lstp", "itrs-lop")  # CACTI's SRAM devices (its DRAM ones print other figures)
TECHNOLOGY_UM = (0.022, 0.090)  # CACTI's nodes: 22 nm (interpolated up to 32, 45, 65) to 90 nm
_CELL_KEYS = ("Data array cell type -", "Data array peripheral type -",
              "Tag array cell type -", "Tag array peripheral type -")


@dataclass(frozen=True)
class SramSpec:
    size_bytes: int
    block_bytes: int  # bytes per access: CACTI's block and its I/O bus width
    rw_ports: int = 1
    read_ports: int = 0  # exclusive read ports (the Focus simulator's "extra read ports")
    write_ports: int = 0  # exclusive write ports
    banks: int = 1  # UCA banks
    technology_um: float = 0.028
    cell_type: str = "itrs-hp"  # cells and periphery, one of CELL_TYPES

    def describe(self) -> str:
        ports = f"{self.rw_ports} rw + {self.read_ports} r + {self.write_ports} w ports"
        return (f"SRAM of {self.size_bytes} bytes ({self.block_bytes}-byte blocks, {ports}, {self.banks} bank(s), "
                f"{self.technology_um * 1000:g} nm {self.cell_type})")


@dataclass(frozen=True)
class SramCost:
    block_bytes: int
    read_pj_per_access: float
    write_pj_per_access: float
    leakage_mw: float  # subthreshold leakage of all banks (CACTI's per-bank figure x banks)
    gate_leakage_mw: float  # CACTI's gate leakage, all banks (the Focus simulator leaves it out)
    area_mm2: float  # CACTI's height x width
    access_ns: float
    cycle_ns: float
    source: str

    @property
    def read_pj_per_byte(self) -> float:
        return self.read_pj_per_access / self.block_bytes

    @property
    def write_pj_per_byte(self) -> float:
        return self.write_pj_per_access / self.block_bytes


def cacti_sram(spec: SramSpec) -> SramCost:
    return cacti_srams([spec])[0]


def cacti_srams(specs: Iterable[SramSpec]) -> list[SramCost]:
    """Costs in the order of `specs`; the distinct ones not cached yet run CACTI, PARALLEL_RUNS
    at a time. A configuration CACTI cannot organise raises its one-line complaint."""
    specs = list(specs)
    if all(s in _MEMORY for s in specs):  # the usual case: every configuration priced before
        return [_MEMORY[s] for s in specs]
    distinct = list(dict.fromkeys(specs))
    for spec in distinct:
        check_spec(spec)
    run_new(distinct)
    refused = next((s for s in distinct if s in _REFUSED), None)
    if refused is not None:
        raise UserError(_REFUSED[refused])
    return [_MEMORY[s] for s in specs]


def run_new(specs: Iterable[SramSpec]) -> None:
    """CACTI, PARALLEL_RUNS at a time, on the specs (checked: check_spec) neither in this process nor on
    disk; each figure or refusal is kept (cacti_srams reports a refusal). A CACTI that cannot run raises."""
    missing = [s for s in dict.fromkeys(specs) if s not in _MEMORY and s not in _REFUSED and not _load(s)]
    if not missing:
        return
    program = cacti_program()
    if not _TOLD and sys.stderr.isatty():  # once per process, on a terminal: the first use on a machine
        _TOLD.append(True)                  # runs a few, later ones are cached
        print("focus-dse: CACTI: pricing the SRAM configurations new to this machine (0.1-1 s each, "
              f"{PARALLEL_RUNS} at a time; cached in {_runs_dir()}): the first designs wait for them", file=sys.stderr)
    with ThreadPoolExecutor(max_workers=min(PARALLEL_RUNS, len(missing))) as pool:
        list(pool.map(partial(_run, program), missing))  # each stores its result; re-raises the first error


_MEMORY: dict[SramSpec, SramCost] = {}
_REFUSED: dict[SramSpec, str] = {}  # configurations CACTI cannot organise: its one-line complaint
_TOLD: list[bool] = []  # whether this process said that CACTI runs


def forget_memory_cache() -> None:
    """Forget this process's results (tests: as in a fresh process; the disk cache stays)."""
    _MEMORY.clear()
    _REFUSED.clear()
    _TOLD.clear()


def check_spec(spec: SramSpec) -> None:
    """What CACTI would misreport or fail on without saying why."""
    def whole(name: str, low: int) -> int:
        value = getattr(spec, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise UserError(f"SRAM {name} must be an integer >= {low}, got {value!r}")
        return value

    size, block = whole("size_bytes", 64), whole("block_bytes", 1)
    if size > MAX_BYTES:
        raise UserError(f"SRAM of {size} bytes: CACTI models up to {MAX_BYTES} bytes (1 GiB) per SRAM; "
                        "split the buffer into banks or smaller SRAMs")
    if block * 2 > size:
        raise UserError(f"SRAM of {size} bytes with {block}-byte blocks: CACTI needs at least 2 blocks; "
                        "use a larger size or a narrower block")
    if whole("rw_ports", 0) + whole("read_ports", 0) + whole("write_ports", 0) < 1:
        raise UserError("SRAM needs at least one port (rw_ports, read_ports or write_ports)")
    banks = whole("banks", 1)
    if banks & (banks - 1):
        raise UserError(f"SRAM banks must be a power of 2 (CACTI's UCA), got {banks}")
    low, high = TECHNOLOGY_UM
    tech = spec.technology_um
    if isinstance(tech, bool) or not isinstance(tech, (int, float)) or not low <= tech <= high:
        raise UserError(f"SRAM technology_um must be within CACTI's nodes, {low}..{high} um, got {tech!r}")
    if spec.cell_type not in CELL_TYPES:
        raise UserError(f"SRAM cell_type must be one of {', '.join(CELL_TYPES)}, got {spec.cell_type!r}")


def cacti_config(spec: SramSpec) -> str:
    """CACTI's input: the Focus simulator's configuration with this SRAM's parameters, written as
    that simulator writes it (one "-key value" line per entry, the bus as wide as a block)."""
    config = dict(_base_config())
    config.update({
        "size (bytes)": spec.size_bytes,
        "block size (bytes)": spec.block_bytes,
        "output/input bus width": spec.block_bytes * 8,
        "read-write port": spec.rw_ports,
        "exclusive read port": spec.read_ports,
        "exclusive write port": spec.write_ports,
        "UCA bank count": spec.banks,
        "technology (u)": spec.technology_um,
    })
    config.update({key: f'"{spec.cell_type}"' for key in _CELL_KEYS})
    return "".join(f"-{key} {value}\n" for key, value in config.items() if value is not None)


@cache
def _base_config() -> dict[str, str | None]:
    return json.loads((REFERENCE_DIR / "hardware" / "sram_config.json").read_text())


_NUMBER = r"([-+0-9.eE]+|inf|nan)"
_OUTPUTS = {
    "size": rf"Total cache size \(bytes\):\s*{_NUMBER}",
    "access_ns": rf"Access time \(ns\):\s*{_NUMBER}",
    "cycle_ns": rf"Cycle time \(ns\):\s*{_NUMBER}",
    "read_nj": rf"Total dynamic read energy per access \(nJ\):\s*{_NUMBER}",
    "write_nj": rf"Total dynamic write energy per access \(nJ\):\s*{_NUMBER}",
    "leakage_mw": rf"Total leakage power of a bank \(mW\):\s*{_NUMBER}",
    "gate_leakage_mw": rf"Total gate leakage power of a bank \(mW\):\s*{_NUMBER}",
    "height_mm": rf"Cache height x width \(mm\):\s*{_NUMBER}",
    "width_mm": rf"Cache height x width \(mm\):\s*\S+\s*x\s*{_NUMBER}",
}


NO_FIGURES = "no figures in its report"  # CACTI said nothing: stopped midway (an interrupt), or broken


def parse_output(spec: SramSpec, stdout: str, stderr: str) -> SramCost:
    """CACTI's report -> SramCost, or a one-line UserError with CACTI's own complaint."""
    found = {key: re.search(pattern, stdout) for key, pattern in _OUTPUTS.items()}
    if not all(found.values()):
        said = ([line.strip() for line in stderr.splitlines() if line.strip()]
                + [line.strip() for line in stdout.splitlines() if "ERROR" in line or "Invalid" in line])
        complaint = " ".join(said[:3]) or NO_FIGURES
        raise UserError(f"CACTI cannot build an {spec.describe()}: {complaint}. "
                        "Too small or too narrow for CACTI's array organisations: use a larger size "
                        "(e.g. >= 2 KiB at 64-byte blocks)")
    v = {key: float(match.group(1)) for key, match in found.items()}
    if v["size"] != spec.size_bytes or any(x != x or x in (float("inf"), float("-inf")) for x in v.values()):
        raise UserError(f"CACTI misreported an {spec.describe()} (size {v['size']:g}, figures {v}); "
                        "use a size it models")
    return SramCost(
        block_bytes=spec.block_bytes,
        read_pj_per_access=v["read_nj"] * 1000,
        write_pj_per_access=v["write_nj"] * 1000,
        leakage_mw=v["leakage_mw"] * spec.banks,
        gate_leakage_mw=v["gate_leakage_mw"] * spec.banks,
        area_mm2=v["height_mm"] * v["width_mm"],
        access_ns=v["access_ns"],
        cycle_ns=v["cycle_ns"],
        source=f"CACTI 7 ({DIST} {VERSION}), {spec.technology_um * 1000:g} nm {spec.cell_type}, "
               "the Focus simulator's sram_config.json",
    )


def _runs_dir() -> Path:
    return cacti_cache_dir() / "runs"


def _entry_path(config: str) -> Path:
    key = hashlib.sha256(f"{DIST} {VERSION}\n{config}".encode()).hexdigest()[:32]
    return _runs_dir() / f"{key}.json"


def _load(spec: SramSpec) -> bool:
    """Into the process's cache from the disk cache, if there; a damaged entry is run again."""
    config = cacti_config(spec)
    try:
        entry = json.loads(_entry_path(config).read_text())
        if entry["config"] != config:
            return False
        if "refused" in entry:
            if NO_FIGURES in str(entry["refused"]):  # kept by an older version from a run stopped midway
                return False
            _REFUSED[spec] = str(entry["refused"])
        else:
            _MEMORY[spec] = SramCost(**entry["cost"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return True


def _run(program: CactiProgram, spec: SramSpec) -> None:
    """One CACTI run: its figures, or its refusal (kept too: a configuration CACTI cannot organise is asked
    for again by every design that has it), stored on disk and in this process. A run stopped by a signal
    (a Ctrl-C reaches CACTI too) or that says nothing is not a refusal: it raises, and nothing is kept (a
    kept one once refused a design CACTI prices, on that machine for good)."""
    config = cacti_config(spec)
    done = program.run(config)
    entry: dict = {"cacti": f"{DIST} {VERSION} ({program.how})", "config": config}
    try:
        cost = parse_output(spec, done.stdout, done.stderr)
        entry["cost"] = asdict(cost)
    except UserError as exc:
        if done.returncode < 0 or NO_FIGURES in str(exc):
            raise UserError(f"CACTI stopped without figures for an {spec.describe()} (exit status "
                            f"{done.returncode}); nothing was kept: run again") from None
        entry["refused"] = str(exc)
    path = _entry_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(entry, f, indent=1)
    os.replace(tmp, path)
    if "refused" in entry:
        _REFUSED[spec] = entry["refused"]
    else:
        _MEMORY[spec] = cost
