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
from dse.workloads.gemms import Gemm, attention_gemms, linear_gemms
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


def linear_tiles(tokens: int, unique: float, m_tile: int) -> list[tuple[int, int]]:
    """(rows computed, number of tiles) of a linear GEMM on `tokens` tokens with `unique` unique rows."""
    share = unique / tokens if tokens else 0.0
    out = [(tile_rows(rows, share), n) for rows, n in exact_tiles(tokens, m_tile).items()]
    return [(m, n) for m, n in out if m > 0]


def attention_tiles(spec: TransformerSpec, tokens: int, unique_q: float, m_tile: int) -> list[Gemm]:
    """Causal attention per tile of rows [a, b): Q K^T on the tile's unique query rows against the
    b keys before its end, S V on all its rows; `count` = heads."""
    share = unique_q / tokens if tokens else 0.0
    out: list[Gemm] = []
    for start in range(0, tokens, m_tile):
        end = min(tokens, start + m_tile)
        qk, _ = attention_gemms(spec, tile_rows(end - start, share), end)
        _, sv = attention_gemms(spec, end - start, end)
        out += [qk, sv] if qk.M > 0 else [sv]
    return out


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
        if t > 0:
            out += [TileGemm(g.name, g.kind, m, g.K, g.N, repeat=n) for m, n in linear_tiles(t, rows_for(g.name), m_tile)]
    out += [TileGemm(g.name, g.kind, g.M, g.K, g.N, repeat=g.count)
            for g in attention_tiles(spec, tokens, rows_for("qk"), m_tile)]
    return out
