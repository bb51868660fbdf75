"""What the array runs for one layer: the GEMM tiles (the faithful convention's tiling).

Tokens are cut into tiles of m_tile rows plus a remainder; a tile computes only its share of
the unique rows; attention is causal at tile granularity: the tile of rows [a, b) runs
Q K^T on its (unique) query rows against the b keys before its end, and S V on all its rows.
dse/evaluate.py counts exactly these GEMMs (tested in tests/test_focus_model.py), and
dse/topology.py writes them as a SCALE-Sim topology.
"""

from __future__ import annotations

from dataclasses import dataclass

from dse.choices import CONVENTIONS
from dse.errors import UserError
from dse import xp
from dse.workloads.gemms import Gemm, linear_gemms
from dse.workloads.models import TransformerSpec


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
    return xp.minimum(rows, xp.ceil(rows * share))


def linear_tile_terms(tokens, unique, m_tile) -> list[tuple]:
    """(rows computed, number of tiles, whether the term exists) of a linear GEMM on `tokens` > 0
    tokens with `unique` unique rows: full tiles of m_tile rows, then the remainder. Numbers or
    arrays of design points (dse/xp.py): a term that does not exist has 0 tiles or 0 rows."""
    full, rest = divmod(tokens, m_tile)
    share = unique / tokens
    return [(m, n, (m > 0) & (n > 0)) for m, n in ((tile_rows(m_tile, share), full),
                                                     (tile_rows(rest, share), xp.where(rest > 0, 1, 0)))]


def linear_tiles(tokens: int, unique: float, m_tile: int) -> list[tuple[int, int]]:
    """(rows computed, number of tiles) of a linear GEMM on `tokens` tokens with `unique` unique rows."""
    if tokens <= 0:
        return []
    return [(m, n) for m, n, on in linear_tile_terms(tokens, unique, m_tile) if on]


@dataclass(frozen=True)
class TileSeries:
    """`tiles` GEMMs whose dimension `grows` ("K" or "N") is larger by `step` in each tile than in
    the one before (M, K, N: the first tile), each run `count` times (heads). Causal attention's
    full tiles form one series, so a layer is a few series whatever its token count."""

    name: str
    kind: str
    M: int
    K: int
    N: int
    grows: str
    step: int
    tiles: int
    count: int

    def gemms(self) -> list[Gemm]:
        """The series tile by tile."""
        grown = [{"M": self.M, "K": self.K, "N": self.N, self.grows: getattr(self, self.grows) + i * self.step}
                 for i in range(self.tiles)]
        return [Gemm(self.name, d["M"], d["K"], d["N"], count=self.count, kind=self.kind) for d in grown]


def causal_terms(tokens, unique_q, m_tile, head_dim: int) -> list[tuple]:
    """Causal attention per tile of rows [a, b) of `tokens` > 0 tokens: Q K^T on the tile's unique
    query rows against the b keys before its end, S V on all its rows; full tiles of m_tile rows,
    then the remainder. (name, M, K, N, grows, tiles, whether the series exists) per series of one
    head; numbers or arrays of design points (dse/xp.py)."""
    share = unique_q / tokens
    full, rest = divmod(tokens, m_tile)
    out = []
    for rows, first_end, tiles in ((m_tile, m_tile, full), (rest, tokens, 1)):
        here = (tiles > 0) & (rows > 0)
        q_rows = tile_rows(rows, share)
        out.append(("qk", q_rows, head_dim, first_end, "N", tiles, here & (q_rows > 0)))
        out.append(("sv", rows, first_end, head_dim, "K", tiles, here & (rows > 0)))
    return out


def attention_series(spec: TransformerSpec, tokens: int, unique_q: float, m_tile: int) -> list[TileSeries]:
    """The causal attention tiles (causal_terms) as series of GEMMs, each run once per head."""
    if tokens <= 0:
        return []
    return [TileSeries(name, name, M, K, N, grows, m_tile, tiles, spec.heads)
            for name, M, K, N, grows, tiles, on in causal_terms(tokens, unique_q, m_tile, spec.head_dim) if on]


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
            for s in attention_series(spec, tokens, rows_for("qk"), m_tile) for g in s.gemms()]
    return out
