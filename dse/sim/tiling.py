"""How the token dimension M is split into on-chip tiles."""

from __future__ import annotations

from collections import Counter
from math import ceil


def paper_tiles(tokens: int, m_tile: int) -> tuple[int, int]:
    """The Focus simulator's split: P = ceil(T/m_tile) tiles of ceil(T/P) rows each (it over-counts
    up to P-1 rows). Returns (P, rows per tile)."""
    if tokens <= 0:
        return 0, 0
    count = ceil(tokens / m_tile)
    return count, ceil(tokens / count)


def exact_tiles(tokens: int, m_tile: int) -> Counter[int]:
    """Full tiles of m_tile rows plus one remainder tile: {rows: how many tiles}."""
    full, rest = divmod(tokens, m_tile)
    tiles: Counter[int] = Counter()
    if full:
        tiles[m_tile] = full
    if rest:
        tiles[rest] += 1
    return tiles
