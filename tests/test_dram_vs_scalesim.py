"""DRAM traffic and bandwidth stalls: the analytic model against scalesim's USER bandwidth mode.

33 small cases (M, K, N, rows, cols, dataflow, SRAM kB I/F/O, words/cycle) spanning the three
dataflows, 1-16 words/cycle and SRAMs small enough to force re-fetches; 14 have no stalls.
Tolerance: the issue allows 5 % on total cycles; the model is exact on every case.
"""

import pytest

from dse.sim.dram import dram_gemm
from dse.sim.hardware import ArrayConfig
from dse.sim.scalesim_backend import ScaleSimBackend

CASES = [
    (100, 16, 256, 8, 8, 'ws', (1, 1, 8), 8),
    (24, 48, 24, 16, 8, 'is', (8, 1, 64), 16),
    (24, 48, 16, 16, 8, 'os', (16, 8, 1), 2),
    (16, 256, 32, 8, 4, 'ws', (8, 2, 16), 1),
    (48, 32, 48, 4, 4, 'ws', (16, 4, 16), 8),
    (32, 100, 32, 16, 16, 'os', (8, 1, 32), 1),
    (24, 24, 64, 16, 16, 'is', (32, 32, 1), 1),
    (64, 192, 64, 16, 16, 'os', (32, 4, 1), 8),
    (32, 48, 128, 16, 16, 'is', (64, 8, 1), 2),
    (48, 32, 24, 8, 8, 'ws', (2, 2, 32), 2),
    (16, 192, 32, 8, 4, 'is', (4, 1, 2), 8),
    (24, 100, 16, 4, 4, 'os', (1, 16, 2), 16),
    (24, 100, 16, 4, 4, 'ws', (64, 2, 16), 8),
    (32, 64, 100, 16, 8, 'is', (4, 8, 1), 1),
    (48, 128, 48, 8, 8, 'is', (16, 8, 4), 1),
    (16, 64, 192, 8, 4, 'os', (2, 32, 16), 4),
    (48, 24, 48, 16, 16, 'ws', (2, 4, 2), 8),
    (48, 192, 32, 16, 16, 'os', (64, 32, 4), 1),
    (192, 100, 32, 16, 8, 'is', (16, 2, 1), 1),
    (24, 256, 32, 16, 16, 'os', (64, 2, 64), 2),
    (16, 64, 48, 8, 4, 'ws', (16, 2, 64), 16),
    (100, 64, 256, 16, 16, 'is', (64, 2, 1), 4),
    (256, 16, 48, 8, 8, 'ws', (4, 1, 64), 1),
    (24, 192, 100, 16, 8, 'is', (16, 16, 16), 2),
    (32, 64, 32, 16, 16, 'ws', (2, 32, 1), 8),
    (192, 32, 48, 8, 8, 'is', (32, 8, 16), 8),
    (16, 100, 256, 16, 16, 'ws', (8, 32, 1), 8),
    (24, 24, 64, 8, 4, 'os', (1, 64, 2), 4),
    (128, 24, 64, 4, 4, 'os', (32, 1, 64), 4),
    (24, 48, 24, 8, 4, 'ws', (64, 1, 8), 1),
    (64, 64, 64, 8, 8, 'os', (64, 64, 64), 16),
    (100, 48, 128, 16, 16, 'ws', (64, 64, 64), 16),
    (128, 100, 32, 8, 8, 'is', (64, 64, 64), 16),
]


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(str(x) for x in c))
def test_bandwidth_model_matches_scalesim_user_mode(case):
    M, K, N, rows, cols, dataflow, sram, bandwidth = case
    array = ArrayConfig(rows, cols, dataflow, *sram)
    real = ScaleSimBackend().report(M, K, N, array, bandwidth)
    model = dram_gemm(M, K, N, rows, cols, dataflow, sram, bandwidth, word_bytes=1)
    assert model["total_cycles"] == pytest.approx(float(real["Total Cycles"]), rel=0.05)
    if float(real["Stall Cycles"]) == 0:
        assert model["total_cycles"] == int(float(real["Total Cycles"]))
    assert model["stall_cycles"] == int(float(real["Stall Cycles"]))
    assert model["ifmap_dram_reads"] == int(float(real["DRAM IFMAP Reads"]))
    assert model["filter_dram_reads"] == int(float(real["DRAM Filter Reads"]))
    assert model["ofmap_dram_writes"] == int(float(real["DRAM OFMAP Writes"]))


def test_unlimited_bandwidth_is_the_evaluation_core():
    """No regression: ample bandwidth and SRAM leave the no-stall compute cycles."""
    from dse.sim.analytic import compute_cycles

    for dataflow in ("os", "ws", "is"):
        d = dram_gemm(64, 48, 80, 8, 8, dataflow, (64, 64, 64), 1000, word_bytes=1)
        assert d["stall_cycles"] == 0 and d["total_cycles"] == compute_cycles(64, 48, 80, 8, 8, dataflow)
