"""What the array runs for one layer: the GEMM tiles (the faithful convention's tiling).

Tokens are cut into tiles of m_tile rows plus a remainder; a tile computes only its share of
the unique rows; attention is causal at tile granularity: the tile of rows [a, b) runs
Q K^T on its (unique) query rows against the b keys before its end, and S V on all its rows.
dse/evaluate.py counts exactly these GEMMs (tested in tests/test_focus_model.py), and
dse/topology.py writes them as a SCALE-Sim topology.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

from dse.errors import UserError
from dse.sim.tiling import exact_tiles
from dse.workloads.gemms import attention_gemms, linear_gemms
from dse.workloads.models import TransformerSpec

CONVENTIONS = ("focus-paper", "faithful")


@dataclass(frozen=True)
class TileGemm:
    """One GEMM the array runs, `repeat` times (tiles x heads)."""

    name: str
    kind: str
    M: int
    K: int
    N: int
    repeat: int = 1


def check_convention(convention: str) -> str:
    if convention not in CONVENTIONS:
        raise UserError(f"unknown convention '{convention}': use focus-paper or faithful")
    return convention


def tile_rows(rows: int, share: float) -> int:
    """Unique rows a tile of `rows` tokens computes when a `share` of all rows is unique."""
    return min(rows, ceil(rows * share))


def plan_layer(spec: TransformerSpec, tokens: int, m_tile: int, rows_for=None, tokens_for=None) -> list[TileGemm]:
    """The tiles of one layer on `tokens` visual tokens. `rows_for(gemm_name)` gives the rows the
    array really computes for a GEMM (unique rows after similarity; "qk" for the queries of
    Q K^T), `tokens_for(gemm_name)` the tokens it sees (SEC prunes before a layer's MLP);
    defaults: every token."""
    if tokens <= 0:
        return []
    if m_tile <= 0:
        raise UserError(f"m_tile must be a positive integer, got {m_tile}")
    rows_for = rows_for or (lambda name: tokens)
    tokens_for = tokens_for or (lambda name: tokens)
    out: list[TileGemm] = []
    for g in linear_gemms(spec, tokens):
        t = int(tokens_for(g.name))
        if t <= 0:
            continue
        share = rows_for(g.name) / t
        for rows, n in exact_tiles(t, m_tile).items():
            m = tile_rows(rows, share)
            if m > 0:
                out.append(TileGemm(g.name, g.kind, m, g.K, g.N, repeat=n))
    share = rows_for("qk") / tokens
    for start in range(0, tokens, m_tile):
        end = min(tokens, start + m_tile)
        qk, sv = attention_gemms(spec, tile_rows(end - start, share), end)
        if qk.M > 0:
            out.append(TileGemm(qk.name, qk.kind, qk.M, qk.K, qk.N, repeat=qk.count))
        out.append(TileGemm(sv.name, sv.kind, end - start, sv.K, sv.N, repeat=sv.count))
    return out
