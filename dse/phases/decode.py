"""The decode phase: G output tokens, each running every LLM layer and the LM head at M = batch.

Per token and layer: the weight GEMMs (q, k, v, o, MLP) with M = batch, then attention over that
layer's KV cache per KV head: the g = heads / kv_heads query heads that share a KV head (grouped-
query attention) are stacked as the rows of one GEMM, as decode kernels do (Q K^T: g x head_dim x
L, S V: g x L x head_dim, per sequence), L = the visual tokens the layer kept (SEC-pruned tokens leave the caches of the
layers after the pruning point; SIC keeps every token) + P text tokens + the tokens generated
so far + itself. Weights stream from DRAM every token (unless the weight buffer holds the whole
model), the K and V of the layer's KV heads are read once per token (the query heads of a
group share them). Compute and DRAM overlap per GEMM, as in the prefill.

Never one evaluation per token: weight GEMMs are the same every token (counted once, times G).
Attention's Q K^T and S V are, for every dataflow, ceil-affine in L: a ceil(L/q) * a + L * b + c
with q = C for Q K^T (L is its N) and q = R for S V (L is its K), because L enters either the
fold count or the streamed length. Within a stretch of q values of L such a function is affine,
and the stretch sums are affine in the stretch index, so the series over the G tokens is summed
in O(1) (ceil_affine_sum). The DRAM stall, max(0, bytes / bandwidth - cycles), is zero or the
plain difference whenever the bounds at the two ends of the series say so (the usual case); only
a series that crosses over is summed stretch by stretch (O(G / 32)).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil, floor

from dse.evaluate import DesignPoint
from dse.sim.units.base import Tally
from dse.phases.common import DenseArray, PhaseCost, phase_cost
from dse.sim.backends import gemm_cycles
from dse.sim.cores import head_shares
from dse.sim.traffic import WORD_BYTES
from dse.workloads.gemms import linear_gemms
from dse.workloads.models import TransformerSpec


@dataclass(frozen=True)
class DecodeInput:
    cache: tuple[int, ...]  # per layer: tokens in its KV cache when decoding starts
    tokens: int  # G
    batch: int
    word_bytes: int = WORD_BYTES  # the design's precision (dse/cost/precision.py)


def kv_bytes_per_token(spec: TransformerSpec, word_bytes: int = WORD_BYTES) -> int:
    return 2 * spec.kv_dim * word_bytes  # K and V of one layer


def peak_kv_cache_bytes(spec: TransformerSpec, inp: DecodeInput) -> float:
    """All layers' KV caches after the last output token, for the whole batch."""
    return inp.batch * kv_bytes_per_token(spec, inp.word_bytes) * sum(c + inp.tokens for c in inp.cache)


def segments(first: int, last: int, quanta: tuple[int, ...]) -> list[tuple[int, int]]:
    """[first, last] cut after every multiple of each quantum: within a piece ceil(L/q) is constant."""
    cuts = sorted({m for q in quanta for m in range(ceil(first / q) * q, last, q) if m >= first})
    out, lo = [], first
    for m in cuts:
        out.append((lo, m))
        lo = m + 1
    out.append((lo, last))
    return out


def ceil_affine_sum(f, first: int, last: int, q: int) -> float:
    """sum_{L=first}^{last} f(L) for f(L) = a ceil(L/q) + b L + c, from five values of f."""
    k0, k1 = ceil(first / q), ceil(last / q)
    if k0 == k1:
        return affine_sum(f, first, last)
    total = affine_sum(f, first, k0 * q) + affine_sum(f, (k1 - 1) * q + 1, last)
    full = k1 - k0 - 1  # whole stretches k0 + 1 .. k1 - 1, their sums affine in k

    def stretch(k: int) -> float:
        return affine_sum(f, (k - 1) * q + 1, k * q)

    return total + (full * (stretch(k0 + 1) + stretch(k1 - 1)) / 2 if full > 0 else 0.0)


def affine_sum(f, lo: int, hi: int) -> float:
    """sum_{L=lo}^{hi} f(L) for f affine on [lo, hi]."""
    return (hi - lo + 1) * (f(lo) + f(hi)) / 2


def positive_sum(g, lo: int, hi: int) -> float:
    """sum_{L=lo}^{hi} max(0, g(L)) for g affine on [lo, hi]."""
    a, b = g(lo), g(hi)
    if a >= 0 and b >= 0:
        return affine_sum(g, lo, hi)
    if a <= 0 and b <= 0 or lo == hi:
        return 0.0
    root = lo - a * (hi - lo) / (b - a)  # g(root) = 0; g >= 0 on one side of it
    if a > 0:
        return affine_sum(g, lo, min(hi, floor(root)))
    return affine_sum(g, max(lo, ceil(root)), hi)


def run_decode(design: DesignPoint, spec: TransformerSpec, inp: DecodeInput, dense: DenseArray) -> PhaseCost:
    B, G = inp.batch, inp.tokens
    tally, step = Tally(), Tally()
    resident = _weights_fit(spec, dense)
    for g in linear_gemms(spec, B):
        dense.linear(step, g.name, B, g.K, g.N, repeat=spec.layers, stream_weights=not resident)
    if spec.vocab:
        dense.linear(step, "lm_head", B, spec.hidden, spec.vocab, stream_weights=not resident)
    tally.merge(step, G)
    counts: dict[int, int] = {}
    for c in inp.cache:
        counts[c] = counts.get(c, 0) + 1
    for cache, layers in counts.items():
        _attention(tally, dense, spec, cache + 1, cache + G, B * layers)
    return phase_cost("decode", tally, design, dense.accel,
                      {"output_tokens": G, "batch": B, "weights_resident": resident,
                       "kv_cache_bytes": peak_kv_cache_bytes(spec, inp)})


def _weights_fit(spec: TransformerSpec, dense: DenseArray) -> bool:
    weights = (sum(g.K * g.N for g in linear_gemms(spec, 1)) * spec.layers + spec.hidden * spec.vocab) * dense.wb
    # every core holds the weights of its columns (dse/sim/cores.py)
    wgt = sum(b.bytes for b in dense.accel.buffers if b.name == "wgt") * dense.accel.cores
    return weights <= wgt / 2  # double-buffered: half holds data


def _attention(tally: Tally, dense: DenseArray, spec: TransformerSpec, first: int, last: int, count: int) -> None:
    """Attention of one decode token per sequence over L = first..last cached keys, summed exactly;
    `count` = sequences x layers with this cache. One GEMM pair per KV head, its query heads as the
    rows; the KV heads split over the cores: a step takes as long as the core with the most."""
    array, backend, hd, heads, wb = dense.array, dense.backend, spec.head_dim, spec.heads, dense.wb
    kv_heads = spec.kv_heads or heads
    group = heads // kv_heads  # query heads per KV head
    most = head_shares(kv_heads, dense.d.cores)[0][0]

    def qk(L: int) -> float:
        return most * gemm_cycles(group, hd, L, array, backend)

    def sv(L: int) -> float:
        return most * gemm_cycles(group, L, hd, array, backend)

    def dram(L: float) -> float:
        return kv_bytes_per_token(spec, wb) * L + wb * heads * hd  # K, V read; attention output written

    c = ceil_affine_sum(qk, first, last, array.cols) + ceil_affine_sum(sv, first, last, array.rows)
    m = 0.0
    if dense.bpc and dram(last) / dense.bpc > qk(first) + sv(first):  # a stall is possible somewhere
        if dram(first) / dense.bpc >= qk(last) + sv(last):  # DRAM-bound at every step
            m = sum(dram(L) for L in (first, last)) * (last - first + 1) / 2 / dense.bpc - c
        else:
            def stall(L: int) -> float:
                return dram(L) / dense.bpc - qk(L) - sv(L)

            m = sum(positive_sum(stall, lo, hi) for lo, hi in segments(first, last, (array.rows, array.cols)))
    keys = (first + last) * (last - first + 1) / 2  # sum of L
    n = last - first + 1
    macs = 2 * hd * heads * keys
    busy = c if most == kv_heads else c / most * kv_heads  # core-cycles: every KV head's
    tally.compute += c * count
    tally.mem_stall += m * count
    tally.dram += (kv_bytes_per_token(spec, wb) * keys + wb * heads * hd * n) * count
    tally.macs += macs * count
    tally.gemms["attention"] = tally.gemms.get("attention", 0.0) + (c + m) * count
    for k, v in {"array": busy, "softmax": heads * keys / 192}.items():
        tally.busy[k] = tally.busy.get(k, 0.0) + v * count
    for k, v in {"input": wb * 2 * hd * heads * keys, "output": wb * heads * keys}.items():
        tally.sram[k] = tally.sram.get(k, 0.0) + v * count

