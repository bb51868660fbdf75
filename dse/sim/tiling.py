"""How the token dimension M is split into on-chip tiles."""

from __future__ import annotations

from math import ceil

from dse import xp


def paper_tiles(tokens: int, m_tile: int) -> tuple[int, int]:
    """The Focus simulator's split: P = ceil(T/m_tile) tiles of ceil(T/P) rows each (it over-counts
    up to P-1 rows). Returns (P, rows per tile); numbers or arrays (dse/xp.py)."""
    if xp.is_array(tokens, m_tile):
        count = xp.where(tokens > 0, xp.ceil(tokens / m_tile), 0)
        return count, xp.where(tokens > 0, xp.ceil(tokens / xp.maximum(count, 1)), 0)
    if tokens <= 0:
        return 0, 0
    count = ceil(tokens / m_tile)
    return count, ceil(tokens / count)
