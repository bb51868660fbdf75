"""Focus: the array on each GEMM's unique rows, with the concentration unit around it
(dse/sim/focus_unit.py: scatter, gather, similarity detection) and SEC's top-k per layer."""

from __future__ import annotations

from dse.sim import focus_unit as fu
from dse import xp
from dse.xp import ceil
from dse.sim.traffic import kernel_bytes
from dse.sim.units.base import GemmCost, UnitContext, sram_of
from dse.sim.units.model import UnitModel


class Focus(UnitModel):
    name = "focus"
    uses_profile = True  # kept tokens and unique rows per layer come from the design's sparsity profile

    def linear(self, ctx: UnitContext, name: str, T: int, U: float, K: int, N: int) -> GemmCost:
        d = ctx.d
        R, C = d.rows, d.cols
        P = ceil(T / d.m_tile)
        block = d.block_volume
        if ctx.paper:
            compute = ctx.tiles_paper(xp.floor(U // P), P, K, N)
            detect = 0.0
        else:
            compute = ctx.tiles_exact(T, U, K, N)
            # detection runs once per distinct GEMM input: q/k/v share one, gate/up another
            detect = 0.0 if name in ("k_proj", "v_proj", "up_proj") or ctx.no_sic else \
                fu.detect_cycles(T, K, d.vector_size, d.block_volume - 1)
        if ctx.no_sic:  # rows go from the array straight to the output buffer
            scatter = tile = gather = 0.0
        else:
            scatter = fu.scatter_cycles(T, K, N, R, C, d.n_scatter)
            tile = fu.gather_tile(block, d.m_tile, d.n_tile, C)
            gather = fu.gather_cycles(T, N, block, d.m_tile, d.n_tile, C)
        cycles = fu.linear_unit(compute, scatter, gather, detect, tile)
        U_c, b = ceil(U), ctx.wb
        dram_in = b * U_c * K * ceil(N / ctx.n_buf)
        dram_w = b * K * N * ceil(T / ctx.m_buf)
        dram_out = b * U_c * N
        if ctx.paper:
            sram = _merged(paper_sram(ctx, T, U, K, N), paper_detect_sram(ctx, T, U, N))
        else:
            sram = sram_of(U, K, N, dram_in, dram_w, dram_out, b)
        # concentrated rows in, scattered partial sums out; detection reads 7 neighbours
        if not ctx.paper and not ctx.no_sic:
            sram["concentrate_out"] = 2 * b * T * ceil(K / R) * N
        if not ctx.paper and (xp.is_array(detect) or detect):  # (0 where a design's block has no neighbours)
            a = b * (T * N + T * ceil(N / 32))
            on = detect != 0
            sram["layouter"] = xp.where(on, 8 * a, 0.0)
            sram["similarity_map"] = xp.where(on, b * T * ceil(N / 32), 0.0)
            sram["similarity_table"] = xp.where(on, b * (3 * T * N), 0.0)
        busy = {"array": compute, "scatter": scatter, "detect": detect}
        return cycles, dram_in + dram_w + dram_out, U * K * N, ctx.bpc, busy, sram

    def attention(self, ctx: UnitContext, T: int, U_q: float, heads: int) -> GemmCost:
        d, b = ctx.d, ctx.wb
        hd, R, C = ctx.spec.head_dim, d.rows, d.cols
        if ctx.paper:
            Pq = ceil(U_q / d.m_tile)
            Pk = ceil(T / d.m_tile)
            qk = ctx.tiles_paper(xp.floor(U_q // xp.maximum(Pq, 1)), Pq, hd, T)  # 0 without queries
            sv = ctx.tiles_paper(T // Pk, Pk, hd, T)
            compute = (qk + sv) / 2 * heads
            keys = ctx.w.tokens  # the paper's simulator scatters over all S keys
            scatter = fu.scatter_cycles(T, hd * heads, keys, R, C, d.n_scatter)
            detect = 0.0
            share = heads / ctx.spec.heads  # the simulator's per-layer terms, shared out with the heads
            dram = (b * U_q * hd * ceil(T / d.n_tile) * share
                    + 0.5 * heads * kernel_bytes(T, T, hd, ctx.m_buf, ctx.n_buf, b)
                    + b * ceil(U_q) * ctx.w.tokens * share)
        else:
            compute = ctx.attention_exact(T, U_q, heads)
            if ctx.no_sic:
                scatter = detect = 0.0
            else:
                scatter = fu.scatter_cycles(T, hd * heads, T, R, C, d.n_scatter) / 2  # causal: kept keys
                detect = fu.detect_cycles(T, hd * heads, d.vector_size, d.block_volume - 1)
            dram = 0.5 * heads * (kernel_bytes(U_q, hd, T, ctx.m_buf, ctx.n_buf, b)
                                  + kernel_bytes(T, T, hd, ctx.m_buf, ctx.n_buf, b))
        stall = xp.maximum(0.0, xp.maximum(scatter, detect) - compute)
        macs = (U_q * T * hd + T * T * hd) * heads / 2
        busy = {"array": compute, "scatter": scatter, "detect": detect, "softmax": T * T * heads / 2 / 192}
        if ctx.paper:  # Q K^T on the unique queries, S V on every token, each half of the heads (causal)
            sram = _merged(paper_sram(ctx, T, U_q, hd, T, heads / 2), paper_sram(ctx, T, T, T, hd, heads / 2, False),
                           paper_detect_sram(ctx, T, U_q, ctx.w.tokens, heads))
        else:
            sram = {"input": b * macs / 32, "output": b * T * T * heads}
            if not ctx.no_sic:
                sram["concentrate_out"] = b * T * T * heads
        return fu.UnitCycles(compute, scatter, 0.0, detect, stall), dram, macs, ctx.bpc, busy, sram

    def layer_busy(self, T_attn, T_mlp) -> dict[str, float]:
        """SEC top-k on 32 max units over the layer's importance vector, where the layer prunes."""
        if xp.is_array(T_attn, T_mlp):
            return {"sec": xp.where(T_mlp < T_attn, ceil(T_attn / 32), 0)}
        return {"sec": ceil(T_attn / 32)} if T_mlp < T_attn else {}


# The paper simulator's SRAM traffic (dubcyfor3/Focus simulator/core/simulator_mem.py, run_linear_focus,
# run_attn_focus and their detection), which its CACTI energy rule charges read by read and write by
# write (dse/cost/energy.py): "write:<buffer>" holds the bytes written, "<buffer>" all bytes.
def paper_sram(ctx: UnitContext, tokens, rows, K, N, times=1.0, concentrated: bool = True) -> dict[str, float]:
    """A GEMM of `tokens` tokens, `rows` of them computed: the array reads its inputs and writes its
    outputs every cycle, to concentrate_out for the scatter to spread back over the tokens (or straight
    to the output buffer); weights are written and read once per M tile, inputs written once per N tile."""
    d, b = ctx.d, ctx.wb
    cycles = ceil(rows * K * N / (d.rows * d.cols))
    reads, writes = {"input": cycles * d.rows * b}, {"input": rows * K * ceil(N / d.n_tile) * b}
    reads["wgt"] = writes["wgt"] = K * N * ceil(tokens / d.m_tile) * b
    if concentrated:
        writes["concentrate_out"] = cycles * d.cols * b
        reads["concentrate_out"] = writes["output"] = tokens * ceil(K / d.rows) * N * b
    else:
        writes["output"] = cycles * d.cols * b
        reads["output"] = tokens * N * b
    return _traffic(reads, writes, times)


def paper_detect_sram(ctx: UnitContext, tokens, rows, N, times=1.0) -> dict[str, float]:
    """Similarity detection on a GEMM's output: its N columns of every token go through the layouter to
    the similarity table, each compared with its block's neighbours."""
    b = ctx.wb
    out = (tokens * N + tokens * ceil(N / 32)) * b
    reads = {"output": out, "layouter": (ctx.d.block_volume - 1) * out, "similarity_table": (tokens + rows) * N * b}
    writes = {"layouter": out, "similarity_map": tokens * ceil(N / 32) * b, "similarity_table": tokens * N * b}
    return _traffic(reads, writes, times)


def _traffic(reads: dict, writes: dict, times) -> dict[str, float]:
    out = {k: (reads.get(k, 0.0) + writes.get(k, 0.0)) * times for k in reads.keys() | writes.keys()}
    return out | {f"write:{k}": v * times for k, v in writes.items()}


def _merged(*parts: dict) -> dict[str, float]:
    out: dict[str, float] = {}
    for part in parts:
        for k, v in part.items():
            out[k] = out.get(k, 0.0) + v
    return out