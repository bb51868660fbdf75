"""DRAM bytes of a tiled GEMM, as the Focus paper's simulator counts them (FP16, 2 B/word).

A weight-stationary kernel keeps an m_buf x K slice of inputs and a K x n_buf slice of
weights on chip: inputs are re-read once per N tile, weights once per M tile, outputs
written once. Words are FP16 (2 B) unless the design's precision says otherwise
(dse/cost/precision.py).
"""

from __future__ import annotations

from dse.xp import ceil

WORD_BYTES = 2


def kernel_bytes(M: float, K: int, N: float, m_buf: int, n_buf: int, word_bytes: int = WORD_BYTES) -> float:
    return word_bytes * (M * K * ceil(N / n_buf) + K * N * ceil(M / m_buf) + M * N)
