"""Closed forms for what scalesim 3.0.0 reports for one GEMM in its no-stall mode.

A is M x K (scalesim's ifmap), B is K x N (its filter), on an R x C array. A dataflow keeps
one operand in place and streams the other; each "fold" maps an R x C piece of the
stationary operand onto the array and costs the streamed length plus the pipeline
fill/drain. scalesim then reports one cycle fewer than the folds add up to. Verified
exactly against the real scalesim in tests/test_analytic_vs_scalesim.py.
"""

from __future__ import annotations

from math import ceil
from typing import Any, Callable

import numpy as np

from dse import xp
from dse.sim.hardware import ArrayConfig, GemmCounts


def per_dataflow(dataflow: Any, compute: Callable[[str], Any]) -> Any:
    """compute(dataflow) for one dataflow. For an array of them (design points of several dataflows
    evaluated as one group, dse/batch.py), each point's value under its own: compute runs once per
    dataflow present, on every point, and each point keeps its own dataflow's result. The formulas are
    elementwise, so a point gets the numbers a group of its dataflow alone gives. A result is a number,
    an array (points on its last axis) or a tuple of them."""
    if isinstance(dataflow, str):
        return compute(dataflow)
    present = list(dict.fromkeys(dataflow.tolist()))
    results = [compute(d) for d in present]
    if len(present) == 1:
        return results[0]
    masks = [dataflow == d for d in present]

    def pick(values: list[Any]) -> Any:
        out = values[-1]
        for mask, value in zip(masks[-2::-1], values[-2::-1]):
            out = np.where(mask, value, out)
        return out

    if isinstance(results[0], tuple):
        return tuple(pick([r[i] for r in results]) for i in range(len(results[0])))
    return pick(results)


def fold_layout(rows: int, cols: int, dataflow: str) -> tuple[tuple[str, int], tuple[str, int], str, int]:
    """How a dataflow maps a GEMM: the two dimensions folded onto the array (each with the array
    side it is cut by), the dimension that streams through, and the fill/drain cycles of a fold."""
    if dataflow == "os":  # outputs stationary: M over rows, N over cols, K streams
        return ("M", rows), ("N", cols), "K", rows + cols - 2
    if dataflow == "ws":  # weights stationary: K over rows, N over cols, M streams
        return ("K", rows), ("N", cols), "M", 2 * rows + cols - 2
    # input stationary: K over rows, M over cols, N streams
    return ("K", rows), ("M", cols), "N", 2 * rows + cols - 2


def fold_grid(M: int, K: int, N: int, rows: int, cols: int, dataflow: Any) -> tuple[int, int]:
    """(number of folds, cycles of one fold) for the dataflow (numbers or arrays, dse/xp.py; per_dataflow)."""
    dims = {"M": M, "K": K, "N": N}

    def grid(dataflow: str) -> tuple[Any, Any]:
        (a, side_a), (b, side_b), streamed, fill = fold_layout(rows, cols, dataflow)
        return xp.ceil(dims[a] / side_a) * xp.ceil(dims[b] / side_b), dims[streamed] + fill

    return per_dataflow(dataflow, grid)


def compute_cycles(M: int, K: int, N: int, rows: int, cols: int, dataflow: Any) -> int:
    folds, per_fold = fold_grid(M, K, N, rows, cols, dataflow)
    return folds * per_fold - 1


def series_cycles(M: int, K: int, N: int, grows: str, step: int, count: int, rows: int, cols: int,
                  dataflow: Any) -> int:
    """Compute cycles of `count` GEMMs, the i-th (from 0) with dimension `grows` ("M", "K" or "N")
    enlarged by i*step: what causal attention tiles are (each sees `step` more keys than the one
    before). Equals summing compute_cycles tile by tile, in time independent of count.
    Numbers or arrays (dse/xp.py; on arrays a count of 0 gives 0 through the formula)."""
    if not xp.is_array(count) and count <= 0:
        return 0
    dims = {"M": M, "K": K, "N": N}

    def cycles(dataflow: str) -> Any:
        (a, side_a), (b, side_b), streamed, fill = fold_layout(rows, cols, dataflow)
        if grows == streamed:  # fixed folds, each longer by `step` cycles per tile
            folds = xp.ceil(dims[a] / side_a) * xp.ceil(dims[b] / side_b)
            lengths = count * (dims[streamed] + fill) + step * (count * (count - 1) // 2)
            return folds * lengths - count
        side, other, other_side = (side_a, b, side_b) if grows == a else (side_b, a, side_a)
        # ceil(v / side) = floor((v + side - 1) / side) for v >= 1
        grown_folds = xp.floor_sum(count, side, step, dims[grows] + side - 1)
        return xp.ceil(dims[other] / other_side) * grown_folds * (dims[streamed] + fill) - count

    return per_dataflow(dataflow, cycles)


def gemm_counts(M: int, K: int, N: int, array: ArrayConfig) -> GemmCounts:
    R, C, df = array.rows, array.cols, array.dataflow
    if df == "os":
        ifmap_reads = M * K * ceil(N / C)
        filter_reads = K * N * ceil(M / R)
        # scalesim adds the demand matrix's skew (R + C entries) per fold to the writes it
        # reports for OS; we reproduce the report, not the M*N an ideal OS array writes.
        ofmap_writes = M * N + ceil(M / R) * ceil(N / C) * (R + C)
    elif df == "ws":
        ifmap_reads = M * K * ceil(N / C)
        filter_reads = K * N
        ofmap_writes = M * N * ceil(K / R)
    else:
        ifmap_reads = M * K
        filter_reads = K * N * ceil(M / C)
        ofmap_writes = M * N * ceil(K / R)
    return GemmCounts(
        compute_cycles=compute_cycles(M, K, N, R, C, df),
        ifmap_sram_reads=ifmap_reads,
        filter_sram_reads=filter_reads,
        ofmap_sram_writes=ofmap_writes,
    )
