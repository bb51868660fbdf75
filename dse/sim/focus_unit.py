"""Cycles of the Focus concentration unit around the systolic array, per GEMM (pure functions).

Per linear GEMM with T kept tokens, U unique rows, K x N weights:
  compute  the array on unique rows only (tiles of the M dimension, see plan.py);
  scatter  every kept token receives each fold's 32-wide partial sum from its representative:
           ceil(T * ceil(K/R) * ceil(N/C) / n_scatter) cycles on n_scatter accumulators;
  gather   block * m_tile * (n_tile / C) cycles per (M tile, N tile) to re-assemble rows;
  detect   similarity detection (faithful only; the paper's simulator leaves it out): each
           kept token compares ceil(K/V) sub-vectors with (block volume - 1) neighbours on one
           cosine-similarity unit, one sub-vector pair per cycle;
  stall    the unit runs in parallel with the array; whatever outpaces compute stalls it:
           max(0, max(scatter, gather, detect) - compute) + one exposed gather tile.
Every function takes numbers or arrays of design points (dse/xp.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from dse.xp import ceil, maximum


@dataclass(frozen=True)
class UnitCycles:
    compute: float
    scatter: float = 0.0
    gather: float = 0.0
    detect: float = 0.0
    stall: float = 0.0

    @property
    def total(self) -> float:
        return self.compute + self.stall


def scatter_cycles(tokens: float, K: int, N: int, rows: int, cols: int, n_scatter: int) -> float:
    return ceil(tokens * ceil(K / rows) * ceil(N / cols) / n_scatter)


def gather_tile(block: int, m_tile: int, n_tile: int, cols: int) -> float:
    return block * m_tile * (n_tile / cols)


def gather_cycles(tokens: float, N: int, block: int, m_tile: int, n_tile: int, cols: int) -> float:
    return gather_tile(block, m_tile, n_tile, cols) * ceil(tokens / m_tile) * ceil(N / n_tile)


def detect_cycles(tokens: float, K: int, vector: int, neighbours: int, units: int = 1) -> float:
    return ceil(tokens * ceil(K / vector) * neighbours / units)


def linear_unit(compute: float, scatter: float, gather: float, detect: float, tile: float) -> UnitCycles:
    stall = maximum(0.0, maximum(maximum(scatter, gather), detect) - compute) + tile
    return UnitCycles(compute, scatter, gather, detect, stall)
