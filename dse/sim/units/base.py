"""What every accelerator's cycle model shares: the design's array and buffers (UnitContext), the
cost of one GEMM (GemmCost), and the sum of many (Tally).

An accelerator's rules live in their own module beside this one (dense.py, focus.py, ...), keyed
by the "model" of its spec (dse/data/accelerators/*.json); dse/evaluate.py runs them layer by layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from dse.cost.accelerator import Accelerator
from dse.cost.precision import get_precision
from dse.levels import runs_sic
from dse.sim import focus_unit as fu
from dse.sim.backends import Backend, gemm_cycles, paper_tile_cycles, series_cycles
from dse.sim.hardware import ArrayConfig
from dse.sim.plan import attention_series, linear_tiles
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
        mem = max(0.0, dram / bytes_per_cycle - time) if bytes_per_cycle else 0.0
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

    def merge(self, other: Tally) -> None:
        self.compute += other.compute
        self.stall += other.stall
        self.mem_stall += other.mem_stall
        self.dram += other.dram
        self.macs += other.macs
        for mine, theirs in ((self.busy, other.busy), (self.sram, other.sram), (self.gemms, other.gemms)):
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0.0) + v

    @property
    def total(self) -> float:
        return self.compute + self.stall + self.mem_stall


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
    design's precision's: at 8 bits a buffer holds twice the words of FP16."""
    word = get_precision(design.precision).word_bytes
    half_words = {b.name: b.bytes // (2 * word) for b in accel.buffers}
    m, n = design.m_tile, design.n_tile
    if "input" in half_words:
        m = max(1, min(m, half_words["input"] // design.rows))
    if "wgt" in half_words:
        n = max(1, min(n, half_words["wgt"] // design.rows))
    if "output" in half_words:
        n = max(1, min(n, half_words["output"] // m))
    return m, n


class UnitContext:
    """One design on one workload: its array, buffer tiles, bandwidth and word size, and the array
    cycle counts every accelerator's rules are written in."""

    def __init__(self, design: Any, workload: Any, backend: Backend, accel: Accelerator):
        self.d = design
        self.w = workload
        self.spec = workload.spec.llm
        self.backend = backend
        self.paper = design.convention == "focus-paper"
        self.array = ArrayConfig(design.rows, design.cols, design.dataflow)
        # the paper's simulator ties traffic to m_tile/n_tile whatever the buffers hold
        self.m_buf, self.n_buf = (design.m_tile, design.n_tile) if self.paper else buffer_tiles(design, accel)
        self.bpc = (design.dram_bandwidth_gbps * 1e9 / (design.frequency_mhz * 1e6)
                    if design.dram_bandwidth_gbps else None)
        # a faithful chip built without SIC has no scatter, gather or detection in its datapath; the
        # paper's simulator still runs scatter and gather in its SEC-only run
        self.no_sic = not self.paper and not runs_sic(design.concentration)
        self.wb = get_precision(design.precision).word_bytes  # bytes per word, in DRAM and SRAM

    def tiles_paper(self, rows_per_tile: int, tiles: int, K: int, N: int) -> float:
        if rows_per_tile <= 0 or tiles <= 0:
            return 0.0
        return paper_tile_cycles(rows_per_tile, K, N, self.array, self.backend) * tiles

    def tiles_exact(self, tokens: float, unique: float, K: int, N: int) -> float:
        return sum(n * gemm_cycles(m, K, N, self.array, self.backend)
                   for m, n in linear_tiles(int(tokens), unique, self.d.m_tile))

    def dense_linear(self, T: int, K: int, N: int) -> float:
        if self.paper:
            P, rows = paper_tiles(T, self.d.m_tile)
            return self.tiles_paper(rows, P, K, N)
        return self.tiles_exact(T, T, K, N)

    def attention_exact(self, T: int, unique_q: float, heads: int) -> float:
        """Causal attention of `heads` heads on exact tiles (the tiles dse/sim/plan.py plans)."""
        spec = self.spec if heads == self.spec.heads else replace(self.spec, heads=heads)
        return sum(s.count * series_cycles(s.M, s.K, s.N, s.grows, s.step, s.tiles, self.array, self.backend)
                   for s in attention_series(spec, T, unique_q, self.d.m_tile))
