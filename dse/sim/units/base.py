"""What every accelerator's cycle model shares: the design's array and buffers (UnitContext), the
cost of one GEMM (GemmCost), and the sum of many (Tally).

An accelerator's rules live in their own module beside this one (dense.py, focus.py, ...), keyed
by the "model" of its spec (dse/data/accelerators/*.json); dse/llm_run.py runs them layer by layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

from dse.cost.accelerator import Accelerator
from dse.cost.precision import get_precision
from dse.levels import runs_sic
from dse import xp
from dse.sim import focus_unit as fu
from dse.sim.backends import Backend, gemm_cycles, paper_tile_cycles, series_cycles
from dse.sim.hardware import ArrayConfig
from dse.sim.plan import causal_terms, linear_tile_terms
from dse.sim.tiling import paper_tiles
from dse.sim.traffic import WORD_BYTES

# one GEMM (or one core's share of it): cycles, DRAM bytes, MACs, DRAM bytes per cycle (None:
# unlimited), busy cycles per activity, SRAM bytes per buffer
GemmCost = tuple[fu.UnitCycles, float, float, "float | None", dict[str, float], dict[str, float]]


@dataclass
class Tally:
    compute: float = 0.0
    stall: float = 0.0
    mem_stall: float = 0.0
    dram: float = 0.0
    macs: float = 0.0
    busy: dict[str, float] = field(default_factory=dict)
    sram: dict[str, float] = field(default_factory=dict)  # bytes accessed per buffer
    gemms: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, cycles: fu.UnitCycles, dram: float, macs: float, bytes_per_cycle: float | None,
            busy: dict[str, float], sram: dict[str, float]) -> None:
        time = cycles.total
        mem = xp.maximum(0.0, dram / bytes_per_cycle - time) if bytes_per_cycle is not None else 0.0
        self.compute += cycles.compute
        self.stall += cycles.stall
        self.mem_stall += mem
        self.dram += dram
        self.macs += macs
        self.gemms[name] = self.gemms.get(name, 0.0) + time + mem
        for k, v in busy.items():
            self.busy[k] = self.busy.get(k, 0.0) + v
        for k, v in sram.items():
            self.sram[k] = self.sram.get(k, 0.0) + v

    def merge(self, other: Tally, times: float = 1) -> None:
        """Add `other`, `times` over (e.g. one decode step for every output token)."""
        self.compute += other.compute * times
        self.stall += other.stall * times
        self.mem_stall += other.mem_stall * times
        self.dram += other.dram * times
        self.macs += other.macs * times
        for mine, theirs in ((self.busy, other.busy), (self.sram, other.sram), (self.gemms, other.gemms)):
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0.0) + v * times

    @property
    def total(self) -> float:
        return self.compute + self.stall + self.mem_stall

    @classmethod
    def summed(cls, parts: list[Tally]) -> Tally:
        """A Tally merged with each of `parts` in turn (a part may recur: a model's layers). On arrays of
        design points each distinct part is one (fields x points) matrix and the sum one matrix addition
        per part: the same additions, in the same order, element by element (a field a part lacks adds
        0.0, which changes no sum), instead of one numpy call per field and part."""
        total = cls()
        distinct = list({id(p): p for p in parts}.values())
        names = cls._names_of(parts)
        fields = [p._fields(names) for p in distinct]
        if not any(isinstance(v, np.ndarray) for f in fields for v in f):
            for p in parts:
                total.merge(p)
            return total
        shape = np.broadcast_shapes(*(np.shape(v) for f in fields for v in f))
        matrices = np.empty((len(distinct), len(fields[0]), *shape))
        for i, f in enumerate(fields):
            for j, v in enumerate(f):
                matrices[i, j] = v  # broadcast: a number fills its row
        row = {id(p): i for i, p in enumerate(distinct)}
        acc = np.zeros(matrices.shape[1:])
        for p in parts:
            acc = acc + matrices[row[id(p)]]
        it = iter(acc)
        for name in _SCALARS:
            setattr(total, name, next(it))
        for kind, keys in names.items():
            getattr(total, kind).update(zip(keys, it))
        return total

    @staticmethod
    def _names_of(parts: list[Tally]) -> dict[str, list[str]]:
        """Each dict field's keys over `parts`, in the order merging them in turn inserts them."""
        return {kind: list(dict.fromkeys(k for p in parts for k in getattr(p, kind))) for kind in _DICTS}

    def _fields(self, names: dict[str, list[str]]) -> list[Any]:
        """This tally's numbers: the scalar fields, then each dict's `names` (0.0 where it has none)."""
        return [*(getattr(self, name) for name in _SCALARS),
                *(getattr(self, kind).get(k, 0.0) for kind, keys in names.items() for k in keys)]


_SCALARS = ("compute", "stall", "mem_stall", "dram", "macs")  # Tally's number fields
_DICTS = ("busy", "sram", "gemms")  # and its dicts of numbers, in the order merge() adds them


def sram_of(M: float, K: int, N: int, dram_in: float, dram_w: float, dram_out: float,
            word_bytes: int = WORD_BYTES) -> dict[str, float]:
    """SRAM traffic as the array's demand (words -> bytes) plus what DRAM moves through each buffer."""
    b = word_bytes
    return {"input": b * M * K + dram_in, "wgt": b * K * N + dram_w, "output": b * M * N + dram_out}


def buffer_tiles(design: Any, accel: Accelerator) -> tuple[int, int]:
    """(M rows, N columns) of the tile the on-chip buffers really hold, for DRAM traffic.

    Buffers are double-buffered (half active, as scalesim models them): input holds
    m x R words, weights R x n, outputs m x n. A buffer smaller than the chosen tiles need
    shrinks the tile (more DRAM re-reads) instead of being silently ignored. Words are the
    design's precision's: at 8 bits a buffer holds twice the words of FP16. Numbers, or arrays of
    design points (dse/batch.py)."""
    word = get_precision(design.precision).word_bytes
    half_words = {b.name: b.bytes // (2 * word) for b in accel.buffers}
    m, n = design.m_tile, design.n_tile
    if "input" in half_words:
        m = xp.maximum(1, xp.minimum(m, half_words["input"] // design.rows))
    if "wgt" in half_words:
        n = xp.maximum(1, xp.minimum(n, half_words["wgt"] // design.rows))
    if "output" in half_words:
        n = xp.maximum(1, xp.minimum(n, half_words["output"] // m))
    return m, n


def array_of(design: Any) -> Any:
    """The design's systolic array and how its stationary operand is buffered (every cycle count
    follows it, dse/sim/backends.py): an ArrayConfig, or for many design points a namespace whose
    rows and columns are arrays, and its dataflow one, or an array of each point's (analytic.py
    per_dataflow)."""
    if xp.is_array(design.rows):
        return SimpleNamespace(rows=design.rows, cols=design.cols, dataflow=design.dataflow,
                               buffering=design.weight_buffering)
    return ArrayConfig(design.rows, design.cols, design.dataflow, buffering=design.weight_buffering)


def array_element(array: Any, j: int) -> ArrayConfig:
    """Design point j's ArrayConfig of an array_of many points (the columns may be one shared value)."""
    cols = array.cols[j] if xp.is_array(array.cols) else array.cols
    dataflow = array.dataflow if isinstance(array.dataflow, str) else str(array.dataflow[j])
    return ArrayConfig(int(array.rows[j]), int(cols), dataflow, buffering=array.buffering)


def traffic_tiles(design: Any, accel: Accelerator) -> tuple[Any, Any]:
    """The (M, N) tiles DRAM traffic is counted on; the paper's simulator ties them to m_tile/n_tile
    whatever the buffers hold."""
    return (design.m_tile, design.n_tile) if design.convention == "focus-paper" else buffer_tiles(design, accel)


def dram_bytes_per_cycle(design: Any) -> Any:
    """DRAM bytes per clock cycle; None: unlimited (on arrays, inf for the points without a limit)."""
    bandwidth = design.dram_bandwidth_gbps
    if xp.is_array(bandwidth):
        return None if np.isinf(bandwidth).all() else bandwidth * 1e9 / (design.frequency_mhz * 1e6)
    return bandwidth * 1e9 / (design.frequency_mhz * 1e6) if bandwidth else None


def masked(on: Any, cost) -> Any:
    """cost() where `on` holds, else 0 (on one design, cost() only runs where it holds)."""
    if xp.is_array(on):
        return xp.where(on, cost(), 0)
    return cost() if on else 0


def exact_tiles(tokens: Any, unique: Any, K: int, N: int, m_tile: Any, array: Any, backend: Backend) -> Any:
    """Cycles of a GEMM of `tokens` rows cut in exact m_tile tiles (dse/sim/plan.py
    linear_tile_terms), each computing its share of the `unique` rows."""
    out = 0
    for m, n, on in linear_tile_terms(xp.floor(tokens), unique, m_tile):
        out = out + masked(on, lambda: n * gemm_cycles(m, K, N, array, backend))
    return out


class UnitContext:
    """The design on one workload: its array, buffer tiles, bandwidth and word size, and the array
    cycle counts every accelerator's rules are written in. One design (Python numbers) or many
    (dse/batch.py: numpy arrays with one element per design point, same structural knobs)."""

    def __init__(self, design: Any, workload: Any, backend: Backend, array: Any, m_buf: Any, n_buf: Any,
                 bpc: Any, word_bytes: int):
        self.d = design
        self.w = workload
        self.spec = workload.spec.llm
        self.backend = backend
        self.array = array
        self.paper = design.convention == "focus-paper"
        self.m_buf, self.n_buf = m_buf, n_buf
        self.bpc = bpc  # DRAM bytes per cycle; None: unlimited (arrays: inf)
        # a faithful chip built without SIC has no scatter, gather or detection in its datapath; the
        # paper's simulator still runs scatter and gather in its SEC-only run
        self.no_sic = not self.paper and not runs_sic(design.concentration)
        self.wb = word_bytes  # bytes per word, in DRAM and SRAM

    @classmethod
    def of(cls, design: Any, workload: Any, backend: Backend, accel: Accelerator) -> UnitContext:
        """One design point, or a group of them whose numbers are arrays (dse/design.py DesignColumns)."""
        m_buf, n_buf = traffic_tiles(design, accel)
        return cls(design, workload, backend, array_of(design), m_buf, n_buf, dram_bytes_per_cycle(design),
                   get_precision(design.precision).word_bytes)

    def tiles_paper(self, rows_per_tile: Any, tiles: Any, K: int, N: Any) -> Any:
        if not xp.is_array(rows_per_tile, tiles, self.array.rows):
            if rows_per_tile <= 0 or tiles <= 0:
                return 0.0
            return paper_tile_cycles(rows_per_tile, K, N, self.array, self.backend) * tiles
        return xp.where((rows_per_tile > 0) & (tiles > 0), paper_tile_cycles(
            xp.maximum(rows_per_tile, 1), K, N, self.array, self.backend) * tiles, 0.0)

    def tiles_exact(self, tokens: Any, unique: Any, K: int, N: int) -> Any:
        return exact_tiles(tokens, unique, K, N, self.d.m_tile, self.array, self.backend)

    def dense_linear(self, T: Any, K: int, N: int) -> Any:
        if self.paper:
            P, rows = paper_tiles(T, self.d.m_tile)
            return self.tiles_paper(rows, P, K, N)
        return self.tiles_exact(T, T, K, N)

    def attention_exact(self, T: Any, unique_q: Any, heads: int) -> Any:
        """Causal attention of `heads` heads on exact tiles (dse/sim/plan.py causal_terms)."""
        out = 0
        for _, M, K, N, grows, tiles, on in causal_terms(T, unique_q, self.d.m_tile, self.spec.head_dim):
            out = out + masked(on, lambda: heads * series_cycles(M, K, N, grows, self.d.m_tile, tiles,
                                                                      self.array, self.backend))
        return out
