"""Double-buffered stationary operands (dse/sim/buffering.py) against a fold-by-fold timeline."""

import random
from math import ceil

import numpy as np
import pytest

from dse.errors import UserError
from dse.sim.analytic import compute_cycles
from dse.sim.buffering import check_buffering, double_cycles, double_series_cycles, fold_period, overlapped

DATAFLOWS = ("ws", "is", "os")
ARRAYS = [(8, 8), (4, 12), (12, 4), (32, 32)]


def timeline_cycles(M: int, K: int, N: int, R: int, C: int, dataflow: str, buffering: str) -> int:
    """One GEMM fold by fold, each fold's load, stream and drain placed on a timeline by what it
    waits for. Times are those of PE (0, 0): operands, loads (column c's starts c cycles after column
    0's) and results all move one PE per cycle, so PE (r, c) sees every event r + c cycles later
    and PE (0, 0)'s constraints are everyone's.
    - the streaming edge takes S cycles per fold (S = M for WS, N for IS, K for OS);
    - the stationary operand's path takes R cycles per fold: WS and IS shift the next piece down
      into a register set, OS shifts a fold's R results per column out at the bottom, starting
      once the fold's last operands entered;
    - a fold's last streamed row reaches the far corner and its results leave R + C - 2 cycles
      after it entered;
    - single: one register set, and as SCALE-Sim a fold begins only once the previous one is done;
      double: two sets taken in turn, a set free again once its fold no longer needs it (WS, IS:
      its last row passed; OS: its results drained).
    SCALE-Sim reports one cycle fewer than the folds add up to; so does this count."""
    if dataflow == "ws":
        folds, S = ceil(K / R) * ceil(N / C), M
    elif dataflow == "is":
        folds, S = ceil(K / R) * ceil(M / C), N
    else:
        folds, S = ceil(M / R) * ceil(N / C), K
    sets = 2 if buffering == "double" else 1
    free = [0] * sets  # when each register set may take the next fold's operand
    edge = path = end = 0  # when the streaming edge and the stationary path are free; the last result out
    for i in range(folds):
        s = i % sets
        if dataflow == "os":
            start = max(edge, free[s])  # stream into an empty accumulator set
            drain = max(start + S - 1, path)
            path = drain + R
            done, released = drain + R + C - 1, path
        else:
            load = max(path, free[s])  # shift the piece into set s
            path = load + R
            start = max(path, edge)  # stream once it is in
            done, released = start + S + R + C - 2, start + S
        edge = start + S
        free[s] = done if sets == 1 else released
        end = max(end, done)
    return end - 1


def shapes(R: int):
    sizes = (1, 7, R, 3 * R, 3 * R + 5)
    for M in (1, 7, R, 3 * R):
        for K in sizes:
            for N in sizes:
                yield M, K, N


@pytest.mark.parametrize("rows,cols", ARRAYS)
@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_single_timeline_is_scalesims_count(rows, cols, dataflow):
    for M, K, N in shapes(rows):
        assert timeline_cycles(M, K, N, rows, cols, dataflow, "single") == compute_cycles(M, K, N, rows, cols,
                                                                                          dataflow), (M, K, N)


@pytest.mark.parametrize("rows,cols", ARRAYS)
@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_double_closed_form_equals_the_timeline(rows, cols, dataflow):
    for M, K, N in shapes(rows):
        assert double_cycles(M, K, N, rows, cols, dataflow) == timeline_cycles(M, K, N, rows, cols, dataflow,
                                                                               "double"), (M, K, N)


def folds_of(M, K, N, R, C, dataflow):
    return {"ws": ceil(K / R) * ceil(N / C), "is": ceil(K / R) * ceil(M / C), "os": ceil(M / R) * ceil(N / C)}[dataflow]


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_double_between_the_floors_and_single(dataflow):
    """Never faster than MACs / PEs nor than R cycles of the stationary path per fold; never slower
    than single; one fold: exactly single."""
    rng = random.Random(22)
    for _ in range(3000):
        M, K, N = (rng.randint(1, 300) for _ in range(3))
        R, C = rng.randint(1, 40), rng.randint(1, 40)
        double = double_cycles(M, K, N, R, C, dataflow)
        single = compute_cycles(M, K, N, R, C, dataflow)
        folds = folds_of(M, K, N, R, C, dataflow)
        assert double >= ceil(M * K * N / (R * C)) and double >= folds * R
        assert double <= single
        if folds == 1:
            assert double == single


def test_steady_state_is_the_longer_of_stream_and_shift():
    """32 x 32 WS: a GEMV fold every R = 32 cycles, a 1024-row fold every 1024 (issue 22's numbers)."""
    assert fold_period(1, 4096, 4096, 32, 32, "ws") == 32
    assert fold_period(1024, 4096, 4096, 32, 32, "ws") == 1024
    folds = 128 * 128
    assert double_cycles(1, 4096, 4096, 32, 32, "ws") == 94 + (folds - 1) * 32
    assert compute_cycles(1, 4096, 4096, 32, 32, "ws") == folds * 95 - 1


def test_series_in_closed_form_equals_tile_by_tile():
    rng = random.Random(2217)
    for _ in range(2000):
        dims = {d: rng.randint(1, 400) for d in "MKN"}
        grows, step, count = rng.choice("MKN"), rng.randint(0, 300), rng.randint(0, 25)
        rows, cols, dataflow = rng.randint(1, 48), rng.randint(1, 48), rng.choice(DATAFLOWS)
        expected = sum(double_cycles(*(dims[d] + (i * step if d == grows else 0) for d in "MKN"), rows, cols,
                                     dataflow) for i in range(count))
        got = double_series_cycles(dims["M"], dims["K"], dims["N"], grows, step, count, rows, cols, dataflow)
        assert got == expected, (dims, grows, step, count, rows, cols, dataflow)


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_arrays_equal_numbers(dataflow):
    """On arrays of design points (dse/xp.py) each element is the scalar answer, counts of 0 too;
    shapes as floats, as tile rows come out of xp.ceil."""
    rng = np.random.default_rng(5)
    n = 400
    M, K, N = (rng.integers(1, 500, n).astype(float) for _ in range(3))
    rows, cols = rng.integers(1, 64, n), rng.integers(1, 64, n)
    step, count = rng.integers(0, 200, n), rng.integers(0, 30, n)
    gemm = double_cycles(M, K, N, rows, cols, dataflow)
    assert [int(v) for v in gemm] == [double_cycles(*map(int, v), dataflow) for v in zip(M, K, N, rows, cols)]
    for grows in "MKN":
        series = double_series_cycles(M, K, N, grows, step, count, rows, cols, dataflow)
        assert [int(v) for v in series] == [
            double_series_cycles(int(m), int(k), int(nn), grows, int(s), int(c), int(r), int(cc), dataflow)
            for m, k, nn, s, c, r, cc in zip(M, K, N, step, count, rows, cols)]


def test_decode_weight_gemms_sit_on_the_shift_floor():
    """Qwen2-7B's weight GEMMs at M = 1 on 32 x 32 WS: double is the weights' shift time (folds x R)
    plus one fill and drain per GEMM; single pays M + 2R + C - 2 per fold."""
    from dse.workloads.gemms import linear_gemms
    from dse.workloads.models import load_model

    spec = load_model("qwen2-7b").llm
    gemms = [(g.K, g.N, spec.layers) for g in linear_gemms(spec, 1)] + [(spec.hidden, spec.vocab, 1)]
    floor = sum(n * folds_of(1, K, N, 32, 32, "ws") * 32 for K, N, n in gemms)
    double = sum(n * double_cycles(1, K, N, 32, 32, "ws") for K, N, n in gemms)
    single = sum(n * compute_cycles(1, K, N, 32, 32, "ws") for K, N, n in gemms)
    assert floor < double < floor * 1.001
    assert single > 2.9 * double


@pytest.mark.slow
@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_overlapped_composes_a_scalesim_fold(dataflow):
    """The scalesim backend can price double as its simulated first fold plus a period per further fold."""
    from dse.sim.backends import fold_count, fold_shape
    from dse.sim.hardware import ArrayConfig
    from dse.sim.scalesim_backend import ScaleSimBackend

    array = ArrayConfig(8, 4, dataflow)
    for M, K, N in [(40, 30, 20), (1, 17, 33), (9, 64, 4)]:
        fold = ScaleSimBackend().gemm(*fold_shape(M, K, N, array), array).compute_cycles
        period = fold_period(M, K, N, 8, 4, dataflow)
        assert overlapped(fold_count(M, K, N, array), fold, period) == double_cycles(M, K, N, 8, 4, dataflow)


def test_unknown_buffering_is_a_user_error():
    assert check_buffering("double") == "double"
    with pytest.raises(UserError, match="single, double"):
        check_buffering("triple")


@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_decode_attention_grows_alike_over_every_period_from_the_array_side(dataflow):
    """dse/phases/decode.py sums a DRAM stall that crosses over per residue class of the keys L modulo
    P = lcm(rows, cols), assuming the attention cycles grow by the same amount over every period;
    double keeps that from L = max(rows, cols) on (its max(L, R) bends at L = R)."""
    import math

    for rows, cols, group in [(32, 32, 7), (8, 12, 1), (12, 8, 4)]:
        period = math.lcm(rows, cols)
        for f in (lambda L: double_cycles(group, 128, L, rows, cols, dataflow),
                  lambda L: double_cycles(group, L, 128, rows, cols, dataflow)):
            growth = {f(L + period) - f(L) for L in range(max(rows, cols), 200)}
            assert len(growth) == 1, (rows, cols, growth)