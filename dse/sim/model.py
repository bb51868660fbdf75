"""Whole-model cycles on a systolic array: every layer's tiles, under a convention."""

from __future__ import annotations

from dataclasses import dataclass, field

from dse.profile import SparsityProfile
from dse.sim.backends import Backend, gemm_cycles, paper_tile_cycles
from dse.sim.hardware import ArrayConfig
from dse.sim.plan import TileGemm, check_convention, plan_layer
from dse.workloads.catalog import Workload


@dataclass(frozen=True)
class LayerCycles:
    layer: int
    tokens: int
    gemm_cycles: dict[str, float]  # per GEMM name, all tiles and heads
    tiles: tuple[TileGemm, ...] = field(repr=False, default=())

    @property
    def total(self) -> float:
        return sum(self.gemm_cycles.values())


def tile_cycles(tile: TileGemm, array: ArrayConfig, convention: str, backend: Backend) -> float:
    count = paper_tile_cycles if convention == "focus-paper" else gemm_cycles
    return tile.weight * tile.repeat * count(tile.M, tile.K, tile.N, array, backend)


def layer_signature(profile: SparsityProfile | None, layer: int, tokens: int) -> tuple:
    if profile is None:
        return (tokens,)
    lp = profile.layers[layer]
    return (lp.tokens_kept, tuple(sorted(lp.unique_rows.items())))


def layer_tokens(workload: Workload, profile: SparsityProfile | None, layer: int) -> int:
    return workload.tokens if profile is None else int(profile.layers[layer].tokens_kept)


def model_layers(
    workload: Workload,
    array: ArrayConfig,
    convention: str,
    backend: Backend,
    m_tile: int = 1024,
    profile: SparsityProfile | None = None,
) -> list[LayerCycles]:
    """Cycles of every LLM layer. Layers with the same tokens and unique rows are planned once."""
    check_convention(convention)
    spec = workload.spec.llm
    if profile is not None:
        profile = profile.for_workload(workload.name, workload.tokens, spec.layers)
    cache: dict[tuple, LayerCycles] = {}
    out = []
    for layer in range(spec.layers):
        tokens = layer_tokens(workload, profile, layer)
        key = layer_signature(profile, layer, tokens)
        done = cache.get(key)
        if done is None:
            rows_for = profile.layers[layer].rows if profile is not None else None
            tiles = tuple(plan_layer(spec, tokens, m_tile, convention, rows_for))
            per_gemm: dict[str, float] = {}
            for t in tiles:
                per_gemm[t.name] = per_gemm.get(t.name, 0.0) + tile_cycles(t, array, convention, backend)
            done = cache[key] = LayerCycles(layer, tokens, per_gemm, tiles)
        out.append(LayerCycles(layer, tokens, done.gemm_cycles, done.tiles))
    return out
