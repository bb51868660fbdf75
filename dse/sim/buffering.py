"""Double-buffered stationary operands: closed forms for `weight_buffering` = "double".

`single` is SCALE-Sim's serial fold (dse/sim/analytic.py): the stationary operand shifts in (R
cycles), the fold streams, drains, and only then does the next fold begin. `double` gives every
PE a second register for the stationary operand, as TPU v1's weight FIFO does (Jouppi et al.,
ISCA 2017), so the stationary operand's R-cycle move overlaps the neighbouring fold's stream:
- WS: the next fold's R x C weights shift down into the second registers while the current
  fold streams its M rows;
- IS: the same with the K x M input piece stationary and the N weight columns streaming;
- OS: the outputs are stationary; the second register is a second accumulator. The next fold
  streams its K operand pairs into it while the current fold's R results per column shift out
  at the bottom (R cycles), so the drain overlaps instead of a load.
The stationary operand's path (shift-in chain, or drain chain for OS) is busy R cycles per fold
and the streaming edge S cycles (S = M, N or K), so in a run of folds a fold starts every
max(S, R) cycles; the first fold still pays its load and the last its skew and drain. A fold
whose piece is smaller than the array is priced as a full one, as SCALE-Sim does.

A run is all folds of one GEMM as the cost model calls it: one tile of dse/sim/units/base.py
exact_tiles (each m_tile tile is a separate GEMM that re-reads the weights), one core's column
share, one head's attention tile. The model composes GEMMs by adding them and does not know
their order, so a run cannot span two; what that leaves out, one fill and drain per GEMM
(S + fill - 1 - max(S, R) cycles: 62 for a 32 x 32 WS GEMV), is small beside a weight GEMM's
thousands of periods (0.006 % of Qwen2-7B's decode weight GEMMs on 32 x 32 WS).

Cycles of a run: one fold as SCALE-Sim counts it (S + fill - 1, its one-fewer included), then
each further fold one period: S + fill - 1 + (folds - 1) max(S, R). A one-fold GEMM costs what
SCALE-Sim counts, a longer one less. Checked against a fold-by-fold timeline in
tests/test_weight_buffering.py. Numbers or arrays of design points (dse/xp.py); modelled,
not simulated (SCALE-Sim has no double buffering).
"""

from __future__ import annotations

from typing import Any

from dse import xp
from dse.sim.analytic import fold_grid, fold_layout, per_dataflow
from dse.sim.hardware import BUFFERINGS, check_buffering

__all__ = ["BUFFERINGS", "check_buffering", "double_cycles", "double_series_cycles", "fold_period", "overlapped",
           "stationary_port"]

# per dataflow: the stationary operand, the buffer it moves through, and which way
_STATIONARY = {"ws": ("weights", "wgt", "read"), "is": ("inputs", "input", "read"), "os": ("outputs", "output", "written")}


def fold_period(M: Any, K: Any, N: Any, rows: Any, cols: Any, dataflow: Any) -> Any:
    """Cycles between two folds' starts in a double-buffered run: the streamed length or the R
    cycles the stationary operand's path needs, whichever is longer."""
    dims = {"M": M, "K": K, "N": N}
    return per_dataflow(dataflow, lambda df: xp.maximum(dims[fold_layout(rows, cols, df)[2]], rows))


def overlapped(folds: Any, first_fold: Any, period: Any) -> Any:
    """A double-buffered run: its first fold's cycles (as single buffering counts one fold), then
    `period` per further fold. Also composes a fold the scalesim backend simulated."""
    return first_fold + (folds - 1) * period


def double_cycles(M: Any, K: Any, N: Any, rows: Any, cols: Any, dataflow: Any) -> Any:
    """Compute cycles of one GEMM with double-buffered stationary operands (numbers or arrays)."""
    folds, per_fold = fold_grid(M, K, N, rows, cols, dataflow)
    return overlapped(folds, per_fold - 1, fold_period(M, K, N, rows, cols, dataflow))


def double_series_cycles(M: Any, K: Any, N: Any, grows: str, step: Any, count: Any, rows: Any, cols: Any,
                         dataflow: Any) -> Any:
    """double_cycles summed over `count` GEMMs, the i-th (from 0) with dimension `grows` enlarged by
    i*step (analytic.series_cycles' tile series: causal attention, decode steps), in time independent
    of count. Numbers or arrays (on arrays a count of 0 gives 0 through the formula)."""
    if not xp.is_array(count) and count <= 0:
        return 0
    dims = {"M": M, "K": K, "N": N}

    def cycles(dataflow: str) -> Any:
        (a, side_a), (b, side_b), streamed, fill = fold_layout(rows, cols, dataflow)
        S = dims[streamed]
        if grows == streamed:  # the same folds every tile, each tile streaming `step` more
            folds = xp.ceil(dims[a] / side_a) * xp.ceil(dims[b] / side_b)
            firsts = count * (S + fill - 1) + step * (count * (count - 1) // 2)
            # the first `short` tiles stream fewer than R cycles: their period is R, the others' S + i*step
            rising = xp.minimum(count, xp.maximum(0, xp.ceil((rows - S) / xp.maximum(step, 1))))
            short = xp.where(step > 0, rising, xp.where(S < rows, count, 0))
            periods = short * rows + (count - short) * S + step * (count * (count - 1) // 2 - short * (short - 1) // 2)
            return firsts + (folds - 1) * periods
        side, other, other_side = (side_a, b, side_b) if grows == a else (side_b, a, side_a)
        # ceil(v / side) = floor((v + side - 1) / side) for v >= 1
        folds = xp.ceil(dims[other] / other_side) * xp.floor_sum(count, side, step, dims[grows] + side - 1)
        return count * (S + fill - 1) + (folds - count) * xp.maximum(S, rows)

    return per_dataflow(dataflow, cycles)


def stationary_port(dataflow: str, cols: Any, buffering: str, word_bytes: int) -> dict[str, Any]:
    """The buffer port the stationary operand moves through: C words per cycle (a fold's R x C piece in
    R cycles, one word per column per cycle), one core's. Single buffering moves them between folds,
    double while the current fold streams, so the port runs alongside the streaming operand's."""
    operand, buffer, way = _STATIONARY[dataflow]
    when = "while the current fold streams" if buffering == "double" else "between folds, the array idle"
    return {"weight_buffering": buffering, "operand": operand, "buffer": buffer, "direction": way,
            "words_per_cycle": cols, "bytes_per_cycle": cols * word_bytes, "when": when}
