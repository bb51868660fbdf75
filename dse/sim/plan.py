"""What the array runs for one layer: the GEMM tiles, under a counting convention.

Two conventions describe the same hardware:
- "focus-paper": what the Focus paper's simulator counts. T tokens are cut into
  P = ceil(T/m_tile) equal tiles of ceil(T/P) rows; a tile's cycles are one scalesim fold
  (rows x R x C) times ceil(K/R) ceil(N/C); attention charges S x V the cycles of Q x K^T
  (on all S keys) and halves both for causality.
- "faithful": our best model of the same hardware. Tiles of m_tile rows plus a remainder;
  each tile is a GEMM of its own, counted exactly as scalesim counts a whole GEMM (the
  paper's fold product drops one cycle per fold and pads tiles to equal size); S x V has
  its true shape; causality at tile granularity: the tile
  of rows [a, b) attends to the b keys before its end, no more.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

from dse.errors import UserError
from dse.sim.tiling import exact_tiles, paper_tiles
from dse.workloads.gemms import attention_gemms, linear_gemms
from dse.workloads.models import TransformerSpec

CONVENTIONS = ("focus-paper", "faithful")


@dataclass(frozen=True)
class TileGemm:
    """One GEMM the array runs, `repeat` times (tiles x heads), charged `weight` x its cycles."""

    name: str
    kind: str
    M: int
    K: int
    N: int
    repeat: int = 1
    weight: float = 1.0


def check_convention(convention: str) -> str:
    if convention not in CONVENTIONS:
        raise UserError(f"unknown convention '{convention}': use focus-paper or faithful")
    return convention


def _paper_rows(tokens: int, rows: float, tiles: int) -> int:
    """Rows per tile in the paper's split: ceil(T/P) when dense, floor(U/P) on unique rows."""
    if rows >= tokens:
        return ceil(tokens / tiles)
    return int(rows // tiles)


def plan_layer(
    spec: TransformerSpec,
    tokens: int,
    m_tile: int,
    convention: str,
    rows_for=None,
    tokens_for=None,
) -> list[TileGemm]:
    """The tiles of one layer on `tokens` visual tokens. `rows_for(gemm_name)` gives the rows the
    array really computes for a GEMM (unique rows after similarity), `tokens_for(gemm_name)` the
    tokens it sees (SEC prunes before a layer's MLP); defaults: every token."""
    if tokens <= 0:
        return []
    if m_tile <= 0:
        raise UserError(f"m_tile must be a positive integer, got {m_tile}")
    rows_for = rows_for or (lambda name: tokens)
    tokens_for = tokens_for or (lambda name: tokens)
    out: list[TileGemm] = []
    if convention == "focus-paper":
        count, _ = paper_tiles(tokens, m_tile)
        for g in linear_gemms(spec, tokens):
            t = tokens_for(g.name)
            n, _ = paper_tiles(t, m_tile)
            m = _paper_rows(t, rows_for(g.name), n)
            if m > 0:
                out.append(TileGemm(g.name, g.kind, m, g.K, g.N, repeat=n))
        m = _paper_rows(tokens, rows_for("qk"), count)
        if m > 0:
            qk = attention_gemms(spec, tokens, tokens)[0]
            # S x V is charged Q x K^T's cycles; both halved for causality.
            out.append(TileGemm("qk", "qk", m, qk.K, qk.N, repeat=count * qk.count, weight=0.5))
            out.append(TileGemm("sv", "sv", m, qk.K, qk.N, repeat=count * qk.count, weight=0.5))
        return out

    check_convention(convention)
    for g in linear_gemms(spec, tokens):
        t = int(tokens_for(g.name))
        if t <= 0:
            continue
        share = rows_for(g.name) / t
        for rows, n in exact_tiles(t, m_tile).items():
            m = min(rows, ceil(rows * share))
            if m > 0:
                out.append(TileGemm(g.name, g.kind, m, g.K, g.N, repeat=n))
    share = rows_for("qk") / tokens
    for start in range(0, tokens, m_tile):
        end = min(tokens, start + m_tile)
        m = min(end - start, ceil((end - start) * share))
        if m > 0:
            for g in attention_gemms(spec, m, end):
                out.append(TileGemm(g.name, g.kind, g.M, g.K, g.N, repeat=g.count))
    return out
