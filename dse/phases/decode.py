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
Attention over the G tokens is a tile series growing by one key per token (L is Q K^T's N and
S V's K), summed in closed form by dse/sim/backends.py series_cycles (as the prefill's causal
attention). The DRAM stall, max(0, bytes / bandwidth - cycles), is zero or the plain difference
whenever the bounds at the two ends of the series say so (the usual case); a series that crosses
over is summed per residue class of L modulo lcm(rows, cols), each an arithmetic progression
(O(rows x cols) at most, independent of G).
Every formula takes one design's numbers or arrays of design points (dse/xp.py).
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np

from dse import xp
from dse.phases.common import DecodeInput, DenseArray, PhaseCost, QueryContext, phase_cost
from dse.sim.backends import gemm_cycles, series_cycles
from dse.sim.cores import head_shares
from dse.sim.hardware import ArrayConfig
from dse.sim.traffic import WORD_BYTES
from dse.sim.units.base import Tally, array_element
from dse.workloads.gemms import linear_gemms
from dse.workloads.models import TransformerSpec


def kv_bytes_per_token(spec: TransformerSpec, word_bytes: int = WORD_BYTES) -> int:
    return 2 * spec.kv_dim * word_bytes  # K and V of one layer


def peak_kv_cache_bytes(spec: TransformerSpec, inp: DecodeInput) -> float:
    """All layers' KV caches after the last output token, for the whole batch."""
    return inp.batch * kv_bytes_per_token(spec, inp.word_bytes) * sum(c + inp.tokens for c in inp.cache)


def positive_progressions(a, d, m):
    """sum_{k=0}^{m-1} max(0, a + k d), elementwise (a, d, m numbers or arrays, m >= 1): the terms
    are positive on one run of k, found in closed form."""
    a, d, m = (np.asarray(v, dtype=float) for v in (a, d, m))
    with np.errstate(divide="ignore", invalid="ignore"):
        # rising: k from the first positive term to m - 1; falling: k from 0 to the last positive one
        lo = np.where(d > 0, np.clip(np.floor(-a / d) + 1, 0, m), 0)
        hi = np.where(d < 0, np.clip(np.ceil(a / -d) - 1, -1, m - 1), m - 1)
    hi = np.where((d == 0) & (a <= 0), -1, hi)
    count = np.maximum(hi - lo + 1, 0)
    return count * a + d * (lo + hi) * count / 2


def run(q: QueryContext) -> PhaseCost:
    return run_decode(q.workload.spec.llm, q.decode, q.dense)


def run_decode(spec: TransformerSpec, inp: DecodeInput, dense: DenseArray) -> PhaseCost:
    """The decode of one design point, or of many (`dense` and the caches as arrays of them)."""
    B, G = inp.batch, inp.tokens
    tally, step = Tally(), Tally()
    resident = _weights_fit(spec, dense)
    for g in linear_gemms(spec, B):
        dense.linear(step, g.name, B, g.K, g.N, repeat=spec.layers, weights_resident=resident)
    if spec.vocab:
        dense.linear(step, "lm_head", B, spec.hidden, spec.vocab, weights_resident=resident)
    tally.merge(step, G)
    for cache, layers in _equal_caches(inp.cache):
        _attention(tally, dense, spec, cache + 1, cache + G, B * layers)
    return phase_cost("decode", tally, dense, {"output_tokens": G, "batch": B, "weights_resident": resident,
                                               "kv_cache_bytes": peak_kv_cache_bytes(spec, inp)})


def _equal_caches(cache: tuple) -> list[tuple]:
    """(cache, layers with it): layers whose caches are equal (for every point, on arrays) run once."""
    out: dict = {}
    for c in cache:
        key = c.tobytes() if xp.is_array(c) else c
        out[key] = (c, out[key][1] + 1 if key in out else 1)
    return list(out.values())


def _weights_fit(spec: TransformerSpec, dense: DenseArray):
    weights = (sum(g.K * g.N for g in linear_gemms(spec, 1)) * spec.layers + spec.hidden * spec.vocab) * dense.wb
    # every core holds the weights of its columns (dse/sim/cores.py)
    wgt = dense.shape.wgt_bytes * dense.d.cores
    return weights <= wgt / 2  # double-buffered: half holds data


def _attention(tally: Tally, dense: DenseArray, spec: TransformerSpec, first, last, count: int) -> None:
    """Attention of one decode token per sequence over L = first..last cached keys, summed exactly;
    `count` = sequences x layers with this cache. One GEMM pair per KV head, its query heads as the
    rows; the KV heads split over the cores: a step takes as long as the core with the most.
    first, last: numbers, or arrays of design points."""
    backend, hd, heads, wb = dense.backend, spec.head_dim, spec.heads, dense.wb
    kv_heads = spec.kv_heads or heads
    group = heads // kv_heads  # query heads per KV head
    most = head_shares(kv_heads, dense.d.cores)[0][0]
    n = last - first + 1

    def qk(L, array=dense.array):
        return most * gemm_cycles(group, hd, L, array, backend)

    def sv(L, array=dense.array):
        return most * gemm_cycles(group, L, hd, array, backend)

    def dram(L):
        return kv_bytes_per_token(spec, wb) * L + wb * heads * hd  # K, V read; attention output written

    # L is Q K^T's N and S V's K: tile series growing by one key per token
    c = most * series_cycles(group, hd, first, "N", 1, n, dense.array, backend) \
        + most * series_cycles(group, first, hd, "K", 1, n, dense.array, backend)
    m = 0.0
    bpc = dense.bpc
    if bpc is not None:
        possible = dram(last) / bpc > qk(first) + sv(first)  # a stall somewhere
        bound = possible & (dram(first) / bpc >= qk(last) + sv(last))  # DRAM-bound at every step
        crossing = possible & (dram(first) / bpc < qk(last) + sv(last))
        m = xp.where(bound, (dram(first) + dram(last)) * n / 2 / bpc - c, 0.0)
        if not xp.is_array(crossing):
            if crossing:
                m = _crossing_stall(qk, sv, dram, bpc, first, last, dense.array, backend)
        else:
            for j in np.flatnonzero(crossing):  # the points whose series crosses over: one by one
                one = array_element(dense.array, j)
                m[j] = _crossing_stall(partial(qk, array=one), partial(sv, array=one), dram, float(bpc[j]),
                                       int(first[j]), int(last[j]), one, backend)
    keys = (first + last) * n / 2  # sum of L
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


def _crossing_stall(qk, sv, dram, bpc: float, first: int, last: int, array: ArrayConfig, backend) -> float:
    """sum over L = first..last of max(0, DRAM time - compute) of one design point whose series
    crosses from compute- to DRAM-bound, in time independent of the answer length. The stall is
    affine in L but for ceil(L / rows) and ceil(L / cols) steps, so it grows by the same amount
    over every period P = lcm(rows, cols): the L of one residue class mod P form an arithmetic
    progression, each summed in closed form (at most P terms, whatever G). Double buffering bends
    the cycles once more, where a streamed length L reaches the rows (a fold period is max(L, rows)):
    the same growth holds from L = max(rows, cols) on, so the L below it are summed one by one."""
    def stall(L):
        return dram(L) / bpc - qk(L) - sv(L)

    def values(lengths):
        if backend.name == "analytic":  # the closed forms take the lengths at once
            return np.asarray(stall(lengths), dtype=float)
        return np.array([stall(int(L)) for L in lengths], dtype=float)

    head = 0.0
    if array.buffering == "double" and first < max(array.rows, array.cols):
        below = np.arange(first, min(last, max(array.rows, array.cols) - 1) + 1)
        head = float(np.maximum(values(below), 0.0).sum())
        first = int(below[-1]) + 1
        if first > last:
            return head
    period = math.lcm(array.rows, array.cols)
    starts = np.arange(first, first + min(period, last - first + 1))
    stalls = values(starts)
    if last - first + 1 <= period:
        return head + float(np.maximum(stalls, 0.0).sum())
    growth = stall(first + period) - stall(first)
    return head + float(positive_progressions(stalls, growth, (last - starts) // period + 1).sum())
