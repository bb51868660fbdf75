"""CMC: a 32x32 weight-stationary array plus a video codec; rows are skipped per partition of
8 frames at the published sparsity for the workload (linear, query and attention-score)."""

from __future__ import annotations

from dse.sim import focus_unit as fu
from dse import xp
from dse.xp import ceil
from dse.sim.units.base import GemmCost, UnitContext, sram_of
from dse.sim.units.model import UnitModel
from dse.sim.units.published import baseline_sparsity


def gemm(ctx: UnitContext, S: int, K: int, N: int, name: str, sparsity: float) -> GemmCost:
    F = ctx.w.frames
    P = ceil(F / 8)
    rows = int(int(S * (1 - sparsity) + P - 1) // P)
    M = S * (1 - sparsity)
    array = ctx.tiles_paper(rows, P, K, N) if rows > 0 else 0.0
    codec = 0.0 if ctx.paper else ceil((F - P) * (ctx.w.patches or S // max(F, 1)) * K / (256 * 4))
    b = ctx.wb
    reference = 0 if name in ("k_proj", "v_proj") else b * S * K
    dram = reference + b * M * K * ceil(N / 64) + b * K * N * ceil(M / 768) + b * M * N
    sram = sram_of(M, K, N, reference + b * M * K * ceil(N / 64), b * K * N * ceil(M / 768), b * M * N, b)
    return fu.UnitCycles(array + codec), dram, M * K * N, ctx.bpc, {"array": array, "codec": codec}, sram


class CMC(UnitModel):
    name = "cmc"

    def linear(self, ctx: UnitContext, name: str, T: int, U: float, K: int, N: int) -> GemmCost:
        return gemm(ctx, T, K, N, name, baseline_sparsity("cmc", ctx.w.name)["linear_sparsity"])

    def attention(self, ctx: UnitContext, S: int, U_q: float, heads: int) -> GemmCost:
        hd = ctx.spec.head_dim
        published = baseline_sparsity("cmc", ctx.w.name)
        qk = gemm(ctx, S, hd, S, "qk", published["query_sparsity"])
        sv = gemm(ctx, S, S, hd, "sv", published["attn_score_sparsity"])
        c = xp.floor((qk[0].total + sv[0].total) * heads // 2)
        busy = {k: (qk[4][k] + sv[4][k]) * heads / 2 for k in qk[4]}
        busy["softmax"] = S * S * heads / 2 / 192
        sram = {k: (qk[5][k] + sv[5][k]) * heads / 2 for k in qk[5]}
        return (fu.UnitCycles(c), 0.5 * heads * (qk[1] + sv[1]), (qk[2] + sv[2]) * heads / 2, ctx.bpc, busy, sram)
