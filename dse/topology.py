"""Workload (+ optional SparsityProfile) -> SCALE-Sim GEMM topology rows.

Dense: one row per distinct GEMM of the model with its repeat count (layers x heads).
With a profile: the tiles the array really runs, per layer and M tile (M = unique rows),
identical tiles of one layer merged into one row with their count. With several cores: the
share of the slowest core (dse/sim/cores.py: its columns of each weight GEMM, its heads).
"""

from __future__ import annotations

from collections import Counter
from math import ceil

from dse.errors import UserError
from dse.profile import SparsityProfile
from dse.sim.scalesim_io import TopologyRow
from dse.sim.cores import core_share
from dse.sim.plan import plan_layer
from dse.workloads.catalog import Workload
from dse.workloads.gemms import layer_gemms


# scalesim simulates a topology row by row (~0.1 s for one 1024-row fold): a million rows is
# already days of scalesim and a ~35 MB file
MAX_TILED_ROWS = 1_000_000


def dense_topology(workload: Workload) -> list[TopologyRow]:
    spec = workload.spec.llm
    rows = []
    for g in layer_gemms(spec, workload.tokens):
        rows.append(TopologyRow(g.name, g.M, g.N, g.K, repeat=g.count * spec.layers))
    return rows


def tiled_topology(workload: Workload, profile: SparsityProfile | None, m_tile: int = 1024, cores: int = 1,
                   cols: int = 32) -> list[TopologyRow]:
    """Per layer and M tile, the GEMMs the array runs (attention: causal tile shapes); with
    `cores` arrays of `cols` columns, what the slowest core runs."""
    spec = workload.spec.llm
    if profile is not None:
        profile = profile.for_workload(workload.name, workload.tokens, spec.layers)
    layer_tokens = [workload.tokens] * spec.layers if profile is None else [int(lp.tokens_kept) for lp in profile.layers]
    attention_rows = sum(2 * ceil(t / m_tile) for t in layer_tokens) if m_tile > 0 else 0
    if attention_rows > MAX_TILED_ROWS:
        raise UserError(f"a tiled topology of {workload.name} with {m_tile}-token M tiles has {attention_rows:,} "
                        f"attention rows (two per tile and layer; limit {MAX_TILED_ROWS:,}, scalesim runs a "
                        "topology row by row): use a larger --m-tile, fewer tokens, or `focus-dse simulate`")
    rows = []
    for layer in range(spec.layers):
        if profile is None:
            tokens, rows_for, tokens_for = workload.tokens, None, None
        else:
            lp = profile.layers[layer]
            tokens, rows_for, tokens_for = int(lp.tokens_kept), lp.rows, lp.tokens
        merged: Counter[tuple[str, int, int, int]] = Counter()
        for t in plan_layer(spec, tokens, m_tile, rows_for, tokens_for):
            N, repeat = core_share(t.kind, t.N, t.repeat, spec.heads, cols, cores)
            merged[(t.name, t.M, N, t.K)] += repeat
        shared = Counter((name, M) for name, M, _, _ in merged)
        for (name, M, N, K), repeat in merged.items():
            # causal attention tiles of one size differ in their keys: N and K keep the names unique
            label = f"L{layer}_{name}_m{M}" + (f"_n{N}_k{K}" if shared[(name, M)] > 1 else "")
            rows.append(TopologyRow(label, M, N, K, repeat))
    return rows
