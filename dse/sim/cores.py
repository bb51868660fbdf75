"""Scale-out: `cores` copies of the array (each with its own Focus unit and buffers) sharing DRAM.

How a GEMM is split (one rule for every GEMM, so that one 64x64 vs four 32x32 is a fair question):
- weight GEMMs by output columns: the ceil(N / C) column folds are dealt out as evenly as
  they go (the last fold, if partial, to a core with the fewer folds); every core runs all M
  tiles on its columns. Why columns: similarity concentration is a property of the input rows,
  so each core's Focus unit keeps exactly the rows one unit would (an M split would cut the
  M tiles the similarity blocks live in); each weight is read by one core only; decode's GEMMs
  (M = batch, often 1) split evenly only this way. What it costs: every core reads the inputs
  for its columns (kernel_bytes on its share: duplicated where its N tiles round up) and its
  Focus unit detects similarity on the whole input (detection is repeated on every core).
- attention by heads: heads are independent GEMM pairs; ceil or floor of heads / cores each.
Each core's share is counted with the same exact GEMM model; the GEMM ends when its slowest
core does (cores = 1: one share, today's numbers). DRAM bytes add up over the cores and go
through the one shared DRAM interface; busy cycles add up (core-cycles, for energy). SEC's top-k
over a layer's importance vector runs once (on one core's unit), as with one core.
"""

from __future__ import annotations

from math import ceil
from typing import Any

from dse.errors import UserError
from dse import xp
from dse.sim.focus_unit import UnitCycles


def check_cores(cores: object) -> int:
    if isinstance(cores, bool) or not isinstance(cores, int) or cores < 1:
        raise UserError(f"design: cores must be a positive integer (1, 2, 4, ...), got {cores!r}")
    return cores


def column_shares(N: int, cols: int, cores: int) -> list[tuple[int, int]]:
    """(columns, cores with that many), cores with no column left out; one entry when cores = 1."""
    if cores == 1:
        return [(N, 1)]
    folds = ceil(N / cols)
    base, extra = divmod(folds, cores)
    widths = [(base + 1) * cols] * extra + [base * cols] * (cores - extra)
    pad = folds * cols - N
    last = max(i for i, w in enumerate(widths) if w)  # a core with the fewer folds when any has them
    widths[last] -= pad
    return _grouped(widths)


def head_shares(heads: int, cores: int) -> list[tuple[int, int]]:
    """(heads, cores with that many), idle cores left out."""
    base, extra = divmod(heads, cores)
    return _grouped([base + 1] * extra + [base] * (cores - extra))


def _grouped(sizes: list[int]) -> list[tuple[int, int]]:
    out: dict[int, int] = {}
    for s in sizes:
        if s > 0:
            out[s] = out.get(s, 0) + 1
    return sorted(out.items(), reverse=True)


def core_share(kind: str, N: int, repeat: int, heads: int, cols: int, cores: int) -> tuple[int, int]:
    """(N, repeat) of what the slowest core runs of a GEMM run `repeat` times (attention: once per
    head per tile, so `repeat` is a multiple of `heads`): its columns of a weight GEMM, its heads."""
    if cores == 1:
        return N, repeat
    if kind == "linear":
        return column_shares(N, cols, cores)[0][0], repeat
    return N, repeat // heads * head_shares(heads, cores)[0][0]


def combine(shares: list[tuple[tuple, int]]) -> tuple:
    """One GEMM run as `count` cores per share (each share's cost is what Tally.add takes: cycles,
    DRAM bytes, MACs, bytes per cycle, busy, SRAM): the slowest share's cycles; bytes, MACs, busy and
    SRAM summed over all cores. Costs may hold arrays of design points (the slowest per point)."""
    if len(shares) == 1 and shares[0][1] == 1:
        return shares[0][0]
    slowest = shares[0][0][0]
    for cost, _ in shares[1:]:  # the first of the slowest, as max() picks it
        slowest = _pick(cost[0].total > slowest.total, cost[0], slowest)
    dram = sum(cost[1] * n for cost, n in shares)
    macs = sum(cost[2] * n for cost, n in shares)
    busy: dict[str, Any] = {}
    sram: dict[str, Any] = {}
    for cost, n in shares:
        for mine, theirs in ((busy, cost[4]), (sram, cost[5])):
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0.0) + v * n
    return slowest, dram, macs, shares[0][0][3], busy, sram


def _pick(cond, a: UnitCycles, b: UnitCycles) -> UnitCycles:
    """a where cond holds, else b (per design point on arrays)."""
    if not xp.is_array(cond):
        return a if cond else b
    return UnitCycles(*(xp.where(cond, getattr(a, f), getattr(b, f))
                        for f in ("compute", "scatter", "gather", "detect", "stall")))
