"""AdapTiV: output-stationary MAC lines, 64 wide x 16 lines, K in steps of 256, on the rows its
published sparsity keeps for the workload; a merge unit reads every input."""

from __future__ import annotations

from dse.sim import focus_unit as fu
from dse.xp import ceil
from dse.sim.units.base import GemmCost, UnitContext, sram_of
from dse.sim.units.model import UnitModel
from dse.sim.units.published import baseline_sparsity


def gemm(ctx: UnitContext, S: int, K: int, N: int) -> GemmCost:
    s = baseline_sparsity("adaptiv", ctx.w.name)["Sparsity"]
    M = S * (1 - s)
    k_steps = ceil(K / 256) if ctx.paper else K / 256  # the paper pads K=128 to 256
    array = 256 * ceil(N / 16) * ceil(M / 64) * k_steps
    merge = ceil(S * K / 64)
    b = ctx.wb
    dram = b * S * K + b * M * K * ceil(N / 256) + b * K * N * ceil(M / 256) + b * M * N
    sram = sram_of(M, K, N, b * S * K + b * M * K * ceil(N / 256), b * K * N * ceil(M / 256), b * M * N, b)
    return fu.UnitCycles(array + merge), dram, M * K * N, ctx.bpc, {"array": array, "merge": merge}, sram


class AdapTiV(UnitModel):
    name = "adaptiv"

    def linear(self, ctx: UnitContext, name: str, T: int, U: float, K: int, N: int) -> GemmCost:
        return gemm(ctx, T, K, N)

    def attention(self, ctx: UnitContext, S: int, U_q: float, heads: int) -> GemmCost:
        hd = ctx.spec.head_dim
        qk, dram_qk, macs, _, busy, sram = gemm(ctx, S, hd, S)
        _, dram_sv, _, _, _, _ = gemm(ctx, S, S, hd)
        c = qk.compute * heads  # QK + SV (charged as QK) halved for causality
        busy = {k: v * heads for k, v in busy.items()}
        busy["softmax"] = S * S * heads / 2 / 192
        return (fu.UnitCycles(c), 0.5 * heads * (dram_qk + dram_sv), macs * heads, ctx.bpc, busy,
                {k: v * heads for k, v in sram.items()})
