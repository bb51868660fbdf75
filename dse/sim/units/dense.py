"""The dense systolic array: every token computed, weights and inputs tiled by the buffers."""

from __future__ import annotations

from dse.sim import focus_unit as fu
from dse.xp import ceil
from dse.sim.tiling import paper_tiles
from dse.sim.traffic import kernel_bytes
from dse.sim.units.base import GemmCost, UnitContext, sram_of
from dse.sim.units.model import UnitModel


class Dense(UnitModel):
    name = "dense"

    def linear(self, ctx: UnitContext, name: str, T: int, U: float, K: int, N: int) -> GemmCost:
        mt, nt, b = ctx.m_buf, ctx.n_buf, ctx.wb
        c = ctx.dense_linear(T, K, N)
        dram = kernel_bytes(T, K, N, mt, nt, b)
        return fu.UnitCycles(c), dram, T * K * N, ctx.bpc, {"array": c}, \
            sram_of(T, K, N, b * T * K * ceil(N / nt), b * K * N * ceil(T / mt), b * T * N, b)

    def attention(self, ctx: UnitContext, T: int, U_q: float, heads: int) -> GemmCost:
        hd, mt, nt, b = ctx.spec.head_dim, ctx.m_buf, ctx.n_buf, ctx.wb
        if ctx.paper:
            P, rows = paper_tiles(T, ctx.d.m_tile)
            c = ctx.tiles_paper(rows, P, hd, T) * heads  # (QK + SV) / 2, SV charged as QK
        else:
            c = ctx.attention_exact(T, T, heads)
        dram = 0.5 * heads * (kernel_bytes(T, hd, T, mt, nt, b) + kernel_bytes(T, T, hd, mt, nt, b))
        macs = T * T * hd * heads  # causal halves of QK and SV
        return fu.UnitCycles(c), dram, macs, ctx.bpc, {"array": c, "softmax": T * T * heads / 2 / 192}, \
            {"input": b * macs / 32, "output": b * T * T * heads}
