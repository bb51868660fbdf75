"""The analytic backend equals the real scalesim exactly, on random small GEMMs."""

import random
from dataclasses import asdict

import pytest

from dse.sim.analytic import gemm_counts
from dse.sim.backends import fold_count, fold_shape, gemm_cycles, AnalyticBackend
from dse.sim.hardware import ArrayConfig
from dse.sim.scalesim_backend import ScaleSimBackend

ARRAYS = [(8, 8), (4, 12), (12, 4), (16, 16)]  # square and non-square
DATAFLOWS = ["os", "ws", "is"]
rng = random.Random(2026)
SHAPES = [tuple(rng.randint(1, 72) for _ in range(3)) for _ in range(32)]


@pytest.mark.slow
@pytest.mark.parametrize("rows,cols", ARRAYS)
@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_analytic_equals_scalesim(rows, cols, dataflow):
    array = ArrayConfig(rows, cols, dataflow)
    real = ScaleSimBackend()
    mismatches = []
    for M, K, N in SHAPES:
        expected = asdict(real.gemm(M, K, N, array))
        got = asdict(gemm_counts(M, K, N, array))
        if got != expected:
            mismatches.append(((M, K, N), got, expected))
    assert not mismatches, mismatches[:3]


@pytest.mark.slow
@pytest.mark.parametrize("dataflow", DATAFLOWS)
def test_fold_composition_equals_whole_gemm(dataflow):
    """The scalesim backend runs big GEMMs one fold at a time; composing folds must give the
    whole-GEMM count scalesim reports."""
    array = ArrayConfig(8, 4, dataflow)
    real = ScaleSimBackend()
    for M, K, N in [(40, 30, 20), (9, 17, 33), (64, 8, 4)]:
        whole = real.gemm(M, K, N, array).compute_cycles
        assert gemm_cycles(M, K, N, array, real) == whole
        assert fold_count(M, K, N, array) * (real.gemm(*fold_shape(M, K, N, array), array).compute_cycles + 1) - 1 == whole


def test_closed_forms_on_known_values():
    # DESIGN.md: WS ceil(K/R) ceil(N/C) (M+2R+C-2) - 1, checked by hand for 300x200x100 on 32x32
    counts = gemm_counts(300, 200, 100, ArrayConfig(32, 32, "ws"))
    assert counts.compute_cycles == 7 * 4 * (300 + 64 + 32 - 2) - 1
    assert gemm_cycles(300, 200, 100, ArrayConfig(32, 32, "ws"), AnalyticBackend()) == counts.compute_cycles


def test_scalesim_failures_are_clear_errors(tmp_path):
    from dse.sim.scalesim_backend import ScaleSimError, run_scalesim_files

    missing = tmp_path / "nope.cfg"
    with pytest.raises(ScaleSimError, match="scalesim exited"):
        run_scalesim_files(missing, missing, missing, tmp_path / "out")
    with pytest.raises(ScaleSimError, match="ZeroDivisionError"):
        ScaleSimBackend().gemm(1, 1, 1, ArrayConfig(1, 1, "os"))
