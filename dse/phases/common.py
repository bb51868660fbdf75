"""What every phase returns, and the dense-GEMM accounting the encoder and decode share.

Cycles come from dse/sim/backends.py (gemm_cycles: exactly what scalesim counts), DRAM bytes
from dse/sim/traffic.py (kernel_bytes), the compute/DRAM overlap per GEMM and the energy
from the same code the prefill uses (dse/sim/units/base.py Tally, dse/cost/energy.py). With
several cores a weight GEMM splits by columns and attention instances (heads x windows x frames) go out in rounds
of one per core, as dse/sim/cores.py says. Every formula takes one design's numbers or arrays with
one element per design point (dse/xp.py; dse/query.py run_query_batch).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from dse import xp
from dse.cost.accelerator import Accelerator
from dse.cost.precision import get_precision
from dse.evaluate import Evaluation
from dse.llm_run import run_totals
from dse.sim import focus_unit as fu
from dse.sim.backends import Backend, gemm_cycles
from dse.sim.cores import column_shares, combine
from dse.sim.traffic import WORD_BYTES, kernel_bytes
from dse.sim.units.base import Tally, array_of, dram_bytes_per_cycle, exact_tiles, sram_of, traffic_tiles
from dse.workloads.catalog import Workload


@dataclass(frozen=True)
class PhaseCost:
    name: str
    macs: float
    cycles: float  # compute + unit stalls + memory stalls
    compute_cycles: float
    memory_stall_cycles: float
    time_s: float
    energy_j: float
    dram_bytes: float
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"macs": self.macs, "cycles": round(self.cycles), "compute_cycles": round(self.compute_cycles),
                "memory_stall_cycles": round(self.memory_stall_cycles), "time_s": self.time_s,
                "energy_j": self.energy_j, "dram_bytes": self.dram_bytes, **self.details}


    def repeated(self, n: int) -> PhaseCost:
        """The phase run n times over (once per sequence of a batch)."""
        if n == 1:
            return self
        return replace(self, macs=self.macs * n, cycles=self.cycles * n, compute_cycles=self.compute_cycles * n,
                       memory_stall_cycles=self.memory_stall_cycles * n, time_s=self.time_s * n,
                       energy_j=self.energy_j * n, dram_bytes=self.dram_bytes * n)


@dataclass(frozen=True)
class DecodeInput:
    cache: tuple  # per layer: tokens in its KV cache when decoding starts (ints, or arrays of design points)
    tokens: int  # G
    batch: int
    word_bytes: int = WORD_BYTES  # the design's precision (dse/cost/precision.py)


@dataclass(frozen=True)
class QueryContext:
    """What every phase reads: the design (a DesignPoint, or a list of points of one query: the same
    phases, P, G and B, whose numbers `prefill` and `dense` hold as arrays), the workload, the prefill's
    Evaluation, the KV cache each LLM layer enters decode with, and the design's array for dense GEMMs
    (None in the paper's scope, where no phase needs it)."""

    design: Any
    workload: Workload
    prefill: Evaluation
    decode: DecodeInput
    dense: DenseArray | None

    @property
    def first(self) -> Any:
        return self.design[0] if isinstance(self.design, list) else self.design


@dataclass(frozen=True)
class DenseShape:
    """What a dense GEMM's cost reads of the design beyond its knobs: the array, the buffer tiles
    (DRAM traffic), DRAM bytes per cycle (None: unlimited; on arrays inf), the word size, the weight
    buffer per core and the cycle model's name. Numbers, or arrays of design points."""

    model: str
    array: Any  # ArrayConfig, or a namespace with rows (and cols) as arrays
    m_buf: Any
    n_buf: Any
    bpc: Any
    wb: int
    wgt_bytes: Any

    @classmethod
    def of(cls, design: Any, accel: Accelerator) -> DenseShape:
        """One design point, or a group of them whose numbers are arrays (dse/design.py DesignColumns)."""
        m_buf, n_buf = traffic_tiles(design, accel)
        return cls(accel.model, array_of(design), m_buf, n_buf, dram_bytes_per_cycle(design),
                   get_precision(design.precision).word_bytes, weight_buffer(accel))


def weight_buffer(accel: Accelerator) -> int:
    """Bytes of the weight buffer of one core."""
    return sum(b.bytes for b in accel.buffers if b.name == "wgt")


class DenseArray:
    """Runs dense GEMMs on the design's array and tallies cycles, DRAM, overlap, busy time, SRAM.

    One design point (a DesignPoint and its Accelerator), or many at once: a group's
    dse/design.py DesignColumns and the chip accelerator_for builds of them (numbers as arrays).
    Every formula runs on both (dse/xp.py)."""

    def __init__(self, design: Any, accel: Accelerator, backend: Backend):
        self.d = design
        self.accel = accel
        self.backend = backend
        self.shape = DenseShape.of(design, accel)
        self.array, self.m_buf, self.n_buf = self.shape.array, self.shape.m_buf, self.shape.n_buf
        self.bpc, self.wb = self.shape.bpc, self.shape.wb

    def cycles(self, M: int, K: int, N: int, unique: Any = None) -> Any:
        """M rows cut in exact m_tile tiles (each computing its share of `unique` rows)."""
        return exact_tiles(M, M if unique is None else unique, K, N, self.d.m_tile, self.array, self.backend)

    def linear(self, tally: Tally, name: str, M: int, K: int, N: int, repeat: float = 1.0,
               unique: Any = None, weights_resident: Any = False, detect: bool = True) -> None:
        """A weight GEMM (inputs re-read per N tile, weights per M tile unless they stay on chip); with
        `unique` rows the Focus unit concentrates it (scatter, gather, detection as in the prefill; `detect`
        False when another GEMM already detected on the same input); split over the cores by columns."""
        shares = [(self._linear_share(M, K, n, unique, weights_resident, detect), k)
                  for n, k in column_shares(N, self.d.cols, self.d.cores)]
        add_scaled(tally, name, *combine(shares), repeat)

    def _linear_share(self, M: int, K: int, N: int, unique: Any, weights_resident: Any, detect: bool):
        U = M if unique is None else unique
        c = self.cycles(M, K, N, unique)
        mt, nt, b = self.m_buf, self.n_buf, self.wb
        streamed = b * K * N * xp.ceil(M / mt)
        weights = xp.where(weights_resident, 0, streamed)
        dram = kernel_bytes(U, K, N, mt, nt, b) - streamed + weights
        sram = sram_of(U, K, N, b * U * K * xp.ceil(N / nt), weights, b * U * N, b)
        if unique is None:
            cycles, busy = fu.UnitCycles(c), {"array": c}
        else:
            d = self.d
            scatter = fu.scatter_cycles(M, K, N, d.rows, d.cols, d.n_scatter)
            gather = fu.gather_cycles(M, N, d.block_volume, d.m_tile, d.n_tile, d.cols)
            detect = fu.detect_cycles(M, K, d.vector_size, d.block_volume - 1) if detect else 0.0
            cycles = fu.linear_unit(c, scatter, gather, detect, fu.gather_tile(d.block_volume, d.m_tile,
                                                                                 d.n_tile, d.cols))
            busy = {"array": c, "scatter": scatter, "detect": detect}
        return cycles, dram, U * K * N, self.bpc, busy, sram

    def attention(self, tally: Tally, queries: int, keys: int, head_dim: int, count: float) -> None:
        """Full (non-causal) attention of `queries` over `keys`, `count` times (heads x windows x frames)."""
        c = gemm_cycles(queries, head_dim, keys, self.array, self.backend) \
            + gemm_cycles(queries, keys, head_dim, self.array, self.backend)
        mt, nt, b = self.m_buf, self.n_buf, self.wb
        dram = kernel_bytes(queries, head_dim, keys, mt, nt, b) + kernel_bytes(queries, keys, head_dim, mt, nt, b)
        macs = 2 * queries * keys * head_dim
        one = (fu.UnitCycles(c), dram, macs, self.bpc, {"array": c, "softmax": queries * keys / 192},
               {"input": b * macs / 32, "output": b * queries * keys})
        # rounds of one instance per core: `full` rounds on every core, then one round on `rest` cores
        full, rest = divmod(count, self.d.cores)
        if full:
            add_scaled(tally, "attention", *combine([(one, self.d.cores)]), full)
        if rest:
            add_scaled(tally, "attention", *combine([(one, rest)]), 1)


def add_scaled(tally: Tally, name: str, cycles: fu.UnitCycles, dram: float, macs: float, bpc: float | None,
               busy: dict[str, float], sram: dict[str, float], repeat: float) -> None:
    """`repeat` identical GEMMs: one tallied, then scaled (the overlap is per GEMM)."""
    one = Tally()
    one.add(name, cycles, dram, macs, bpc, busy, sram)
    tally.merge(one, repeat)


def phase_cost(name: str, tally: Tally, dense: DenseArray, details: dict[str, Any] | None = None) -> PhaseCost:
    d = dense.d
    seconds, energy = run_totals(tally, dense.accel, d.frequency_mhz, d.dram_pj_per_byte, d.convention)
    return PhaseCost(name=name, macs=tally.macs, cycles=tally.total, compute_cycles=tally.compute,
                     memory_stall_cycles=tally.mem_stall, time_s=seconds, energy_j=sum(energy.values()),
                     dram_bytes=tally.dram, details=details or {})
