"""The two simulation backends behind one interface: cycles and SRAM counts of one GEMM.

`analytic` evaluates closed forms for any shape. `scalesim` runs the real package, which
costs ~0.08 ms per simulated cycle, so whole-model runs use it per fold: a fold is the piece
of a GEMM that one mapping of the stationary operand onto the array computes, and a GEMM's
cycles are folds x (fold cycles + 1) - 1 (the identity the analytic forms rest on, checked
against whole-GEMM scalesim runs in the tests).

The array's `buffering` (dse/sim/hardware.py ArrayConfig) picks the count every function here gives:
"single" is SCALE-Sim's serial fold; "double" (a second register set for the stationary operand) is
the closed forms of dse/sim/buffering.py, and on the scalesim backend its simulated fold followed by
one fold period per further fold (buffering.overlapped). SCALE-Sim itself has no double buffering.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Protocol

from dse.errors import UserError
from dse import xp
from dse.sim import analytic, buffering
from dse.sim.hardware import ArrayConfig, GemmCounts

# the scalesim backend sums a tile series tile by tile (one fold run per distinct shape)
MAX_SCALESIM_TILES = 4096


class Backend(Protocol):
    name: str

    def gemm(self, M: int, K: int, N: int, array: ArrayConfig) -> GemmCounts: ...


class AnalyticBackend:
    name = "analytic"

    def gemm(self, M: int, K: int, N: int, array: ArrayConfig) -> GemmCounts:
        return analytic.gemm_counts(M, K, N, array)


def fold_shape(M: int, K: int, N: int, array: ArrayConfig) -> tuple[int, int, int]:
    """The GEMM one fold computes (the stationary operand clipped to the array)."""
    R, C = array.rows, array.cols

    def shape(dataflow: str) -> tuple[int, int, int]:
        if dataflow == "os":
            return xp.minimum(M, R), K, xp.minimum(N, C)
        if dataflow == "ws":
            return M, xp.minimum(K, R), xp.minimum(N, C)
        return xp.minimum(M, C), xp.minimum(K, R), N

    return analytic.per_dataflow(array.dataflow, shape)


def fold_count(M: int, K: int, N: int, array: ArrayConfig) -> int:
    return analytic.fold_grid(M, K, N, array.rows, array.cols, array.dataflow)[0]


def _closed_form(M: int, K: int, N: int, array: ArrayConfig) -> int:
    """A whole GEMM's cycles in closed form under the array's buffering (numbers or arrays)."""
    form = buffering.double_cycles if array.buffering == "double" else analytic.compute_cycles
    return form(M, K, N, array.rows, array.cols, array.dataflow)


@lru_cache(maxsize=65536)
def _analytic_cycles(M: int, K: int, N: int, array: ArrayConfig) -> int:
    return _closed_form(M, K, N, array)


def fold_cycles(M: int, K: int, N: int, array: ArrayConfig, backend: Backend) -> int:
    """Cycles of one fold of this GEMM as SCALE-Sim counts it (the scalesim backend simulates it): a
    fold alone is the same under either buffering."""
    shape = fold_shape(M, K, N, array)
    if backend.name == "analytic":
        if xp.is_array(*shape, array.rows):
            return analytic.compute_cycles(*shape, array.rows, array.cols, array.dataflow)
        return _analytic_cycles(*shape, array)  # one fold: either buffering's form gives this
    return backend.gemm(*shape, replace(array, buffering="single")).compute_cycles


def _overlapped(M: int, K: int, N: int, array: ArrayConfig, folds: int, fold: int) -> int:
    """Double-buffered folds: the first fold's cycles, then one fold period per further fold."""
    return buffering.overlapped(folds, fold, buffering.fold_period(M, K, N, array.rows, array.cols, array.dataflow))


def gemm_cycles(M: int, K: int, N: int, array: ArrayConfig, backend: Backend) -> int:
    """Compute cycles of a whole GEMM of any size (single buffering: as scalesim counts it). The analytic
    backend also takes arrays of design points (shapes and array rows; dse/xp.py)."""
    if backend.name == "analytic":
        if xp.is_array(M, K, N, array.rows):
            return _closed_form(M, K, N, array)
        return _analytic_cycles(M, K, N, array)
    folds, fold = fold_count(M, K, N, array), fold_cycles(M, K, N, array, backend)
    if array.buffering == "double":
        return _overlapped(M, K, N, array, folds, fold)
    return folds * (fold + 1) - 1


def series_cycles(M: int, K: int, N: int, grows: str, step: int, tiles: int, array: ArrayConfig,
                  backend: Backend) -> int:
    """Compute cycles of a tile series (dse/sim/plan.py TileSeries: dimension `grows` larger by
    `step` per tile), whole GEMMs as gemm_cycles counts them; analytic: in closed form."""
    if backend.name == "analytic":
        form = buffering.double_series_cycles if array.buffering == "double" else analytic.series_cycles
        return form(M, K, N, grows, step, tiles, array.rows, array.cols, array.dataflow)
    if tiles > MAX_SCALESIM_TILES:
        raise UserError(f"the scalesim backend runs attention tile by tile: {tiles:,} tiles of one series "
                        f"(limit {MAX_SCALESIM_TILES:,}); use --backend analytic (exact closed forms)")
    total = 0
    for i in range(tiles):
        dims = {"M": M, "K": K, "N": N}
        dims[grows] += i * step
        total += gemm_cycles(dims["M"], dims["K"], dims["N"], array, backend)
    return total


def paper_tile_cycles(M: int, K: int, N: int, array: ArrayConfig, backend: Backend) -> int:
    """The Focus simulator's count: one simulated fold times the number of folds (no +1/-1); double
    buffered, the first fold then one fold period per further fold."""
    folds, fold = fold_count(M, K, N, array), fold_cycles(M, K, N, array, backend)
    if array.buffering == "double":
        return _overlapped(M, K, N, array, folds, fold)
    return folds * fold


def get_backend(name: str) -> Backend:
    if name == "analytic":
        return AnalyticBackend()
    if name == "scalesim":
        from dse.sim.scalesim_backend import ScaleSimBackend

        return ScaleSimBackend()
    raise UserError(f"unknown backend '{name}': use analytic or scalesim")
