"""Accelerators described as data (dse/data/accelerators/*.json, or a user's file).

A spec lists RTL components (module name in its RTL table, count, and which activity keeps
it busy) and SRAM buffers (size as an expression of the design knobs, and the macros that
build it at that size). Area, on-chip power and buffer capacity follow; a user adds an
accelerator by adding a file.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from types import CodeType
from typing import Any

import numpy as np

from dse.cost.buffer_pricing import cacti_entry, prefetch_buffers, price_buffers
from dse.cost.pe_register import register_cost
from dse.cost.precision import RTL_PRECISION, component_ratio, get_precision
from dse.cost.rtl import RTL_MHZ, rtl_table
from dse.cost.sram import Buffer
from dse.data_files import DATA_DIR
from dse.errors import UserError
from dse.jsonfile import read_named_spec
from dse import xp

ACCELERATOR_DIR = DATA_DIR / "accelerators"
SPEC_KEYS = {"name", "description", "model", "rtl", "components", "buffers"}
COMPONENT_KEYS = {"module", "count", "busy", "level"}
BUFFER_KEYS = {"name", "bytes", "macros", "paper_only", "level", "cacti"}
ALL_LEVELS = frozenset({"sec", "sic"})  # "level": the concentration level a component or buffer serves
BUSY_KINDS = {"array", "detect", "scatter", "sec", "softmax", "merge", "codec", "always"}
_OPS = (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv)


def size_expression(expr: str, knobs: dict[str, int], where: str) -> int:
    """Evaluate 'm_tile * rows * 2 * 2' with the design's knobs (integers, + - * // only; or arrays of
    design points, dse/batch.py)."""
    try:
        compiled = _compiled(str(expr))
    except SyntaxError:
        raise UserError(f"{where}: bad size expression '{expr}'") from None
    if compiled is None or not compiled[1] <= knobs.keys():
        raise UserError(f"{where}: cannot evaluate '{expr}' (knobs: {', '.join(sorted(knobs))}; ops + - * //)")
    code, names = compiled
    try:
        values = {name: knobs[name] if xp.is_array(knobs[name]) else int(knobs[name]) for name in names}
        if xp.is_array(*values.values()):
            with np.errstate(divide="ignore", invalid="ignore"):  # arrays divide by zero quietly: inf or NaN
                value = eval(code, {"__builtins__": {}}, values)
        else:
            value = eval(code, {"__builtins__": {}}, values)
    except ZeroDivisionError:
        raise UserError(f"{where}: '{expr}' divides by zero") from None
    if not xp.holds((value > 0) & (value < math.inf)):
        raise UserError(f"{where}: '{expr}' gives {value}, not a positive size")
    return value


@lru_cache(maxsize=1024)
def _compiled(expr: str) -> tuple[CodeType, frozenset[str]] | None:
    """A size expression checked once (integer constants, names, + - * // only) and compiled, with
    the names it reads; None if it uses anything else. A spec has a few: each is checked once."""
    tree = ast.parse(expr, mode="eval")
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Constant):
            if not isinstance(node.value, int):
                return None
        elif not isinstance(node, (ast.Expression, ast.BinOp, ast.Load)) and type(node) not in _OPS:
            return None
    return compile(tree, "<size expression>", "eval"), frozenset(names)


@dataclass(frozen=True)
class Component:
    """One RTL component; its count, area and power are numbers, or arrays of design points (dse/batch.py)."""

    module: str
    count: int
    busy: str
    area_mm2: float  # one instance
    power_mw: float  # one instance


@dataclass(frozen=True)
class Accelerator:
    name: str
    model: str  # which cycle model (dse/sim/units/): dense, focus, adaptiv, cmc
    components: tuple[Component, ...]
    buffers: tuple[Buffer, ...]
    description: str = ""
    cores: int = 1  # copies of components and buffers (dse/sim/cores.py); the lists above are one core's

    @property
    def core_area_mm2(self) -> float:
        """Logic area of one core."""
        return sum(c.area_mm2 * c.count for c in self.components)

    @property
    def core_power_mw(self) -> float:
        return sum(c.power_mw * c.count for c in self.components)

    @property
    def area_mm2(self) -> float:
        return self.cores * (self.core_area_mm2 + sum(b.area_mm2 for b in self.buffers))

    @property
    def onchip_power_mw(self) -> float:
        return self.cores * (self.core_power_mw + sum(b.peak_mw for b in self.buffers))

    @property
    def buffer_bytes(self) -> int:
        """On-chip bytes of all cores."""
        return self.cores * sum(b.bytes for b in self.buffers)

    @property
    def buffer_kb(self) -> float:
        return self.buffer_bytes / 1024


@cache
def load_spec(name_or_path: str) -> dict:
    spec, path = read_named_spec(name_or_path, ACCELERATOR_DIR, "accelerator")
    if not isinstance(spec, dict):
        raise UserError(f"{path}: an accelerator spec is a JSON object")
    unknown = sorted(set(spec) - SPEC_KEYS)
    if unknown:
        raise UserError(f"{path}: unknown key(s) {unknown}; allowed: {sorted(SPEC_KEYS)}")
    missing = sorted({"name", "model", "rtl", "components", "buffers"} - set(spec))
    if missing:
        raise UserError(f"{path}: missing key(s) {missing}")
    if not isinstance(spec["model"], str):  # which cycle model runs it: checked by the design (dse/design.py)
        raise UserError(f"{path}: 'model' must name a cycle model (dse/sim/units/), got {spec['model']!r}")
    _check_entries(spec["components"], COMPONENT_KEYS, {"module", "count"}, f"{path} components")
    _check_entries(spec["buffers"], BUFFER_KEYS, {"name", "bytes", "macros"}, f"{path} buffers")
    for entry in spec["components"] + spec["buffers"]:
        if entry.get("level", "sec") not in ALL_LEVELS:
            raise UserError(f"{path}: '{entry.get('module', entry.get('name'))}' level must be one of "
                            f"{sorted(ALL_LEVELS)}, got {entry['level']!r}")
    for c in spec["components"]:
        count = c["count"]
        if isinstance(count, bool) or not isinstance(count, (int, str)) or (isinstance(count, int) and count <= 0):
            raise UserError(f"{path}: component '{c['module']}' count must be a positive integer or a knob "
                            f"expression, got {count!r}")
    for b in spec["buffers"]:
        groups = b["macros"]
        if not isinstance(groups, list) or not groups or any(
                not isinstance(g, list) or len(g) != 3 or not isinstance(g[0], str) or
                any(isinstance(x, bool) or not isinstance(x, int) or x <= 0 for x in g[1:]) for g in groups):
            raise UserError(f"{path}: buffer '{b['name']}' macros must be a list of [macro, number, copies], "
                            f"e.g. [[\"1024x128\", 4, 2]]")
    return spec


def _check_entries(entries, allowed: set[str], required: set[str], where: str) -> None:
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise UserError(f"{where}: must be a list of objects")
    for i, entry in enumerate(entries):
        unknown = sorted(set(entry) - allowed)
        missing = sorted(required - set(entry))
        if unknown or missing:
            raise UserError(f"{where}[{i}]: " + (f"unknown key(s) {unknown}; " if unknown else "")
                            + (f"missing key(s) {missing}; " if missing else "") + f"allowed: {sorted(allowed)}")


def is_built(entry: dict, levels: frozenset[str]) -> bool:
    """Whether a chip with these concentration levels has this component or buffer (its `level` tag)."""
    return entry.get("level") is None or entry["level"] in levels


def default_buffer_bytes(name_or_path: str, knobs: dict[str, int], paper_buffers: bool = True,
                         levels: frozenset[str] = ALL_LEVELS) -> dict[str, int]:
    """Each buffer's size the tiles need, for these knobs (rows, cols, m_tile, n_tile, n_scatter);
    only buffers built for these concentration levels (see dse/levels.py)."""
    spec = load_spec(name_or_path)
    return {
        b["name"]: size_expression(b["bytes"], knobs, f"{spec['name']} buffer {b['name']}")
        for b in spec["buffers"]
        if (paper_buffers or not b.get("paper_only")) and is_built(b, levels)
    }


def build_accelerator(
    name_or_path: str,
    knobs: dict[str, int],
    buffer_bytes: dict[str, int] | None = None,
    paper_buffers: bool = True,
    frequency_mhz: float = RTL_MHZ,
    levels: frozenset[str] = ALL_LEVELS,
    precision: str = RTL_PRECISION,
    cores: int = 1,
    sram_rule: str = "compiler",
    weight_buffering: str = "single",
) -> Accelerator:
    """The accelerator for these knobs (`cores` copies of it; its MAC datapaths at `precision`,
    dse/cost/precision.py). buffer_bytes overrides sizes per buffer name.
    paper_buffers=False drops buffers marked paper_only (the dense SA's borrowed Focus buffers);
    components and buffers tagged with a concentration level not in `levels` are not built (a
    size given for such a buffer has nothing to size).
    Power is quoted at frequency_mhz: the RTL tables are synthesised at 500 MHz and their power
    is taken as dynamic (energy per cycle constant), so it scales with the clock; so does the
    active part of each SRAM's peak power. sram_rule: what prices the buffers (dse/cost/buffer_pricing.py
    RULES). weight_buffering "double" adds one operand register per PE (dse/cost/pe_register.py), busy
    with the array, at the precision's word size."""
    if not xp.is_array(*knobs.values(), *(buffer_bytes or {}).values(), frequency_mhz):
        # one design: chips repeat across a search's trials (and its area screen), built once each
        return _built(name_or_path, tuple(sorted(knobs.items())), tuple(sorted((buffer_bytes or {}).items())),
                      paper_buffers, frequency_mhz, levels, precision, cores, sram_rule, weight_buffering)
    return _build(name_or_path, knobs, buffer_bytes, paper_buffers, frequency_mhz, levels, precision, cores,
                  sram_rule, weight_buffering)


@lru_cache(maxsize=4096)
def _built(name_or_path: str, knobs: tuple, buffer_bytes: tuple, *args) -> Accelerator:
    return _build(name_or_path, dict(knobs), dict(buffer_bytes), *args)


def _build(name_or_path: str, knobs: dict, buffer_bytes: dict | None, paper_buffers: bool, frequency_mhz: float,
           levels: frozenset[str], precision: str, cores: int, sram_rule: str, weight_buffering: str) -> Accelerator:
    spec = load_spec(name_or_path)
    components = _components(name_or_path, knobs, frequency_mhz, levels, precision, weight_buffering)
    requests, on_cacti = _buffer_requests(name_or_path, knobs, buffer_bytes, paper_buffers, levels, sram_rule)
    buffers = price_buffers(requests, sram_rule, frequency_mhz, on_cacti)
    return Accelerator(spec["name"], spec["model"], tuple(components), tuple(buffers), spec.get("description", ""),
                       cores)


def logic_area_mm2(name_or_path: str, knobs: dict, frequency_mhz: Any = RTL_MHZ, levels: frozenset[str] = ALL_LEVELS,
                   precision: str = RTL_PRECISION, cores: int = 1, weight_buffering: str = "single") -> Any:
    """The area of build_accelerator's chip without its buffers (all cores): a lower bound of its area
    that prices no SRAM, so a chip whose logic alone breaks an area limit is known to without CACTI."""
    return cores * sum(c.area_mm2 * c.count
                       for c in _components(name_or_path, knobs, frequency_mhz, levels, precision, weight_buffering))


def _components(name_or_path: str, knobs: dict, frequency_mhz: Any, levels: frozenset[str], precision: str,
                weight_buffering: str) -> tuple[Component, ...]:
    """One core's RTL components: the spec's built at these levels, the array scaled to its PE count, at
    this clock and precision, with the operand registers of double-buffered weights."""
    read = _component_knobs(name_or_path)
    if read is not None and read <= knobs.keys() and not xp.is_array(*knobs.values(), frequency_mhz):
        # one design: a search's area screen asks for ~1,000 chips, which share far fewer arrays
        return _components_at(name_or_path, tuple((k, knobs[k]) for k in sorted(read)), frequency_mhz, levels,
                              precision, weight_buffering)
    return _build_components(name_or_path, knobs, frequency_mhz, levels, precision, weight_buffering)


@cache
def _component_knobs(name_or_path: str) -> frozenset[str] | None:
    """The knobs a spec's components depend on: the array's shape and what their counts read; None when
    a count is not a size expression (its build says so, with every knob the design has)."""
    read = {"rows", "cols"}
    for c in load_spec(name_or_path)["components"]:
        if not isinstance(c["count"], int):
            try:
                compiled = _compiled(str(c["count"]))
            except SyntaxError:
                return None
            if compiled is None:
                return None
            read |= compiled[1]
    return frozenset(read)


@lru_cache(maxsize=4096)
def _components_at(name_or_path: str, knobs: tuple, frequency_mhz: Any, levels: frozenset[str], precision: str,
                   weight_buffering: str) -> tuple[Component, ...]:
    return _build_components(name_or_path, dict(knobs), frequency_mhz, levels, precision, weight_buffering)


def _build_components(name_or_path: str, knobs: dict, frequency_mhz: Any, levels: frozenset[str], precision: str,
                      weight_buffering: str) -> tuple[Component, ...]:
    spec = load_spec(name_or_path)
    table = rtl_table(spec["rtl"])
    components = []
    for c in spec["components"]:
        if not is_built(c, levels):
            continue
        if c["module"] not in table:
            raise UserError(f"accelerator {spec['name']}: module '{c['module']}' not in {spec['rtl']}")
        count = c["count"] if isinstance(c["count"], int) else size_expression(c["count"], knobs, c["module"])
        if c.get("busy", "always") not in BUSY_KINDS:
            raise UserError(f"accelerator {spec['name']}: busy '{c['busy']}' not one of {sorted(BUSY_KINDS)}")
        area, power = table[c["module"]]
        components.append(Component(c["module"], count, c.get("busy", "always"), area, power))
    # The RTL array is 32x32; other sizes scale its area and power by the PE count.
    pe_scale = knobs["rows"] * knobs["cols"] / 1024
    clock = frequency_mhz / RTL_MHZ
    components = [
        Component(c.module, c.count, c.busy, c.area_mm2 * (pe_scale if c.busy == "array" else 1),
                  c.power_mw * clock * (pe_scale if c.busy == "array" else 1))
        for c in components
    ]
    if precision != RTL_PRECISION:
        components = [scaled_component(c, precision) for c in components]
    if weight_buffering == "double":
        components.append(register_component(knobs["rows"] * knobs["cols"], clock, precision))
    return tuple(components)


def _buffer_requests(name_or_path: str, knobs: dict, buffer_bytes: dict | None, paper_buffers: bool,
                     levels: frozenset[str], sram_rule: str) -> tuple[list[tuple], Any]:
    """What prices the chip's buffers (dse/cost/buffer_pricing.py price_buffers): per buffer built,
    (its spec entry, size, size at the paper's design, CACTI access at these knobs and at the paper's),
    and for which design points CACTI prices them under the paper's rule."""
    spec = load_spec(name_or_path)
    overrides = dict(buffer_bytes or {})
    defaults_at_paper = _paper_buffer_bytes(name_or_path)
    needed = default_buffer_bytes(name_or_path, knobs, paper_buffers, levels)
    on_spec = [b["name"] for b in spec["buffers"] if paper_buffers or not b.get("paper_only")]
    unknown = sorted(set(overrides) - set(on_spec))
    if unknown:
        raise UserError(f"accelerator {spec['name']} has no buffer(s) {unknown}; its buffers: {', '.join(on_spec)}")
    unbuilt = sorted(set(overrides) - set(needed))
    if unbuilt:
        raise UserError(f"accelerator {spec['name']}: buffer(s) {unbuilt} are not built at this concentration "
                        f"level; drop their sizes (built: {', '.join(needed)})")
    sizes = {name: overrides.get(name, size) for name, size in needed.items()}
    # the paper's simulator prices Focus's buffers by CACTI away from its default M tile and accumulators
    on_cacti = sram_rule == "paper" and spec["model"] == "focus" and _away_from_paper(knobs)
    cacti = sram_rule != "compiler"  # CACTI's configuration of a buffer: only where CACTI prices it
    return [(b, sizes[b["name"]], defaults_at_paper[b["name"]],
             cacti_access(b, knobs) if cacti else None,
             _paper_access(name_or_path, b["name"]) if cacti else None)
            for b in spec["buffers"] if b["name"] in sizes], on_cacti


def prefetch_sram_costs(chips: Iterable[dict]) -> None:
    """CACTI, PARALLEL_RUNS at a time, on every SRAM configuration of these chips (build_accelerator's
    keyword arguments) not priced yet: a fresh machine's area screen waits for CACTI on its new chips,
    chip by chip it would wait about twice as long. A chip the model refuses is left to its build to report."""
    requests = []
    for chip in chips:
        try:
            buffers, on_cacti = _buffer_requests(chip["name_or_path"], chip["knobs"], chip["buffer_bytes"],
                                                 chip["paper_buffers"], chip["levels"], chip["sram_rule"])
        except UserError:
            continue
        requests.append((buffers, chip["sram_rule"], on_cacti))
    prefetch_buffers(requests)


def _away_from_paper(knobs: dict):
    """The paper's simulator's rule (accelerator.py evaluate_buffer): compiler macros for Focus only at
    m_tile 1024 with 2 scatter accumulators (a number, or a boolean array of design points)."""
    away = (np.asarray(knobs["m_tile"]) != PAPER_KNOBS["m_tile"]) | (np.asarray(knobs["n_scatter"]) !=
                                                                     PAPER_KNOBS["n_scatter"])
    return away if away.ndim else bool(away)


def cacti_access(buffer: dict, knobs: dict) -> tuple:
    """(access width in bytes, readers, copies) CACTI builds the buffer with, at these knobs."""
    entry = cacti_entry(buffer)
    where = f"buffer {buffer['name']} (cacti)"
    if xp.is_array(*knobs.values()):
        return (size_expression(entry["block_bytes"], knobs, where),
                size_expression(entry["readers"], knobs, where), entry["copies"])
    return _access_at(entry["block_bytes"], entry["readers"], entry["copies"], tuple(sorted(knobs.items())), where)


@lru_cache(maxsize=4096)  # one design: a search asks for few distinct arrays and tiles
def _access_at(block: str, readers: str, copies: int, knobs: tuple, where: str) -> tuple:
    values = dict(knobs)
    return size_expression(block, values, where), size_expression(readers, values, where), copies


@cache
def _paper_access(name_or_path: str, buffer: str) -> tuple:
    return cacti_access(next(b for b in load_spec(name_or_path)["buffers"] if b["name"] == buffer), PAPER_KNOBS)


@cache
def _paper_buffer_bytes(name_or_path: str) -> dict[str, int]:
    return default_buffer_bytes(name_or_path, PAPER_KNOBS)


def scaled_component(c: Component, precision: str) -> Component:
    """The component built at `precision`: power and area times its datapath's ratio to FP16."""
    r = component_ratio(c.busy, precision)
    return Component(c.module, c.count, c.busy, c.area_mm2 * r.area_um2, c.power_mw * r.energy_pj)


def register_component(pes: int, clock: float, precision: str) -> Component:
    """Double buffering's register in each of `pes` PEs, holding a word of `precision` (the register's
    bits scale its area and power) at `clock` times the RTL's."""
    reg = register_cost()
    bits = get_precision(precision).word_bits / reg.word_bits
    return Component(reg.module, pes, "array", reg.area_um2 * 1e-6 * bits, reg.power_uw * 1e-3 * clock * bits)


PAPER_KNOBS = {"rows": 32, "cols": 32, "m_tile": 1024, "n_tile": 96, "n_scatter": 2}
