"""One run of the LLM over a design's concentrated visual tokens and its P text tokens, on one design
point (Python numbers) or on a group of structurally equal ones (dse/design.py DesignColumns: arrays
with one element per point). The stages, in order:

    design_profiles  what concentration leaves of the workload (published or given; level; text)
    accelerator_for  the chip the design builds (its concentration level's hardware)
    unit_for         the accelerator's cycle rules (dse/sim/units/)
    run_layers       every layer's GEMMs on the chip, layers with equal token counts once (on
                     arrays, the layers pruned per point as one layers x points array)
    totals           cycles, time, energy, area, DRAM of the run

evaluate() (dse/evaluate.py) runs it on one design, evaluate_batch() (dse/batch.py) on arrays: every
formula exists once (dse/xp.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from dse import xp
from dse.cost.accelerator import Accelerator, build_accelerator, load_spec
from dse.cost.buffer_pricing import sram_rule
from dse.cost.energy import energy_breakdown
from dse.levels import built_hardware, profile_at_level
from dse.profile import MLP_GEMMS, LayerProfile, SparsityProfile
from dse.published import published_profile, scaled_profile
from dse.redundancy import block_fraction, similarity_scale
from dse.sim.backends import Backend
from dse.sim.cores import column_shares, combine, head_shares
from dse.sim.units import UnitModel, units
from dse.sim.units.base import Tally, UnitContext
from dse.workloads.catalog import Workload
from dse.workloads.gemms import linear_gemms

RESULT_KEYS = ("total_cycles", "compute_cycles", "stall_cycles", "memory_stall_cycles", "execution_time_s",
               "energy_j", "area_mm2", "onchip_power_mw", "buffer_kb", "dram_bytes", "compute_fraction")
# a number no run may leave infinite (or NaN): a design so large it overflows floating point
MUST_BE_FINITE = ("total_cycles", "execution_time_s", "dram_bytes", "area_mm2", "onchip_power_mw")


@dataclass
class LlmRun:
    values: dict[str, Any]  # each of RESULT_KEYS
    energy: dict[str, Any]  # J per component
    tally: Tally
    accel: Accelerator
    visual: SparsityProfile | None  # what concentration leaves of the visual tokens (None: none runs)
    profile: SparsityProfile | None  # what the LLM ran: the visual profile and the P text tokens
    per_layer: list[dict[str, Any]] = field(default_factory=list)
    empty: Any = False  # (arrays) points with a layer that keeps no token: the scalar model runs them

    @property
    def overflowed(self) -> Any:
        """Whether a number overflowed floating point (on arrays: per point)."""
        out = False
        for k in MUST_BE_FINITE:
            out = out | ~np.isfinite(self.values[k])
        return out


def with_prompt(workload: Workload, prompt_tokens: int) -> Workload:
    """The workload the LLM runs: S visual tokens and P text tokens."""
    return replace(workload, tokens=workload.tokens + prompt_tokens) if prompt_tokens else workload


def with_text(profile: SparsityProfile, workload: Workload, text: int) -> SparsityProfile:
    """Text tokens follow the visual ones and are never pruned or merged: every layer's kept tokens and
    unique rows grow by P."""
    layers = tuple(LayerProfile(lp.layer, lp.tokens_kept + text, {k: v + text for k, v in lp.unique_rows.items()},
                                None if lp.mlp_tokens_kept is None else lp.mlp_tokens_kept + text)
                   for lp in profile.layers)
    return SparsityProfile(layers, profile.tokens + text, profile.settings, profile.source, workload.name,
                           dict(profile.extra))


def concentrates(design: Any) -> bool:
    """Whether the design's accelerator runs a sparsity profile (Focus with a level on)."""
    return load_spec(design.accelerator)["model"] == "focus" and design.concentration != "none"


def _block_unique(blocks: Any, clips: str) -> Any:
    """The measured unique fraction of a block (one design), or of each design's (a list), on the
    design's clip set."""
    if not isinstance(blocks, list):
        return block_fraction(tuple(blocks), clips)
    fractions = {b: block_fraction(b, clips) for b in set(blocks)}
    return np.array([fractions[b] for b in blocks])


def design_profiles(design: Any, workload: Workload, profile: SparsityProfile | str = "published",
                    prompt_tokens: int = 0) -> tuple[SparsityProfile | None, SparsityProfile | None]:
    """(visual, run): what concentration leaves of the workload's visual tokens, and what the LLM runs
    with the P text tokens appended. A given profile (one design), or the published one moved by the
    design's threshold, block, vector size and SEC scale (dse/redundancy.py), at its level."""
    if not concentrates(design):
        return None, None
    if isinstance(profile, SparsityProfile):
        visual = profile.for_workload(workload.name, workload.tokens, workload.spec.llm.layers)
    else:
        clips = design.redundancy_clips
        removed = similarity_scale(workload, design.threshold, design.vector_size,
                                   _block_unique(design.block, clips), clips)
        make = scaled_profile if xp.is_array(design.sec_scale) else published_profile  # one design: cached
        visual = make(workload, design.sec_scale, removed)
    visual = profile_at_level(visual, design.concentration)
    if not prompt_tokens:
        return visual, visual
    # the level taken again on the profile with the text (at `sic`, rows scaled to S + P tokens and back)
    text = with_text(visual, with_prompt(workload, prompt_tokens), prompt_tokens)
    return visual, profile_at_level(text, design.concentration)


def accelerator_for(design: Any) -> Accelerator:
    """The chip a design builds (its concentration level's hardware, dse/levels.py); a design whose
    numeric knobs are arrays builds one chip per element."""
    return build_accelerator(**chip_arguments(design))


def chip_arguments(design: Any) -> dict[str, Any]:
    """build_accelerator's arguments for the chip a design builds."""
    return dict(
        name_or_path=design.accelerator, knobs=design.knobs,
        buffer_bytes={k: xp.rint(v * 1024) for k, v in design.buffer_kb.items()},
        paper_buffers=design.convention == "focus-paper",
        frequency_mhz=design.frequency_mhz,
        levels=built_hardware(design.concentration, design.convention),
        precision=design.precision,
        cores=design.cores,
        sram_rule=sram_rule(design.sram_model, design.convention),
        weight_buffering=design.weight_buffering,
    )


def unit_for(design: Any, accel: Accelerator) -> UnitModel:
    """Which cycle model runs: the spec's (dse/sim/units/); Focus with concentration off runs the dense one."""
    return units()["dense" if design.concentration == "none" else accel.model]


def layer_tally(ctx: UnitContext, unit: UnitModel, T_attn: Any, T_mlp: Any, rows_for) -> Tally:
    """One layer: each GEMM split over the cores (dse/sim/cores.py). Token counts are numbers, or
    arrays of design points that are positive everywhere."""
    tally = Tally()
    cores = ctx.d.cores
    for g in linear_gemms(ctx.spec, 1):
        T = T_mlp if g.name in MLP_GEMMS else T_attn
        if not np.any(T > 0):
            continue
        U = rows_for(g.name) if rows_for else T
        tally.add(g.name, *combine([(unit.linear(ctx, g.name, T, U, g.K, n), k)
                                    for n, k in column_shares(g.N, ctx.d.cols, cores)]))
    T = T_attn
    if np.any(T > 0):
        U_q = rows_for("qk") if rows_for else T
        tally.add("attention", *combine([(unit.attention(ctx, T, U_q, h), k)
                                         for h, k in head_shares(ctx.spec.heads, cores)]))
    for k, v in unit.layer_busy(T_attn, T_mlp).items():
        tally.busy[k] = tally.busy.get(k, 0.0) + v
    return tally


def _layer_key(lp: LayerProfile) -> tuple:
    """What a layer's counts are made of (layers between SEC layers share them): hashable numbers, or
    arrays' bytes."""
    raw = (lp.tokens_kept, lp.mlp_tokens_kept, tuple(lp.unique_rows.items()))
    try:
        hash(raw)
        return raw
    except TypeError:  # arrays of design points
        def key(v: Any) -> Any:
            return v.tobytes() if isinstance(v, np.ndarray) else v

        return key(lp.tokens_kept), key(lp.mlp_tokens_kept), tuple((g, key(v)) for g, v in lp.unique_rows.items())


def run_layers(ctx: UnitContext, unit: UnitModel, profile: SparsityProfile | None,
               per_layer: bool = False) -> tuple[Tally, list[dict[str, Any]], Any]:
    """The whole model, layers with identical token counts evaluated once: (tally, per-layer rows when
    asked, and on arrays which points have a layer without tokens)."""
    rows: list[dict[str, Any]] = []
    spec = ctx.spec
    uses_profile = profile is not None and unit.uses_profile
    keys = [_layer_key(profile.layers[i]) for i in range(spec.layers)] if uses_profile else [()] * spec.layers
    if uses_profile:
        distinct: dict[tuple, LayerProfile] = {}
        for key, lp in zip(keys, profile.layers):
            distinct.setdefault(key, lp)
        tallies, empty = _profile_tallies(ctx, unit, distinct)
    else:
        tallies = {(): (layer_tally(ctx, unit, ctx.w.tokens, ctx.w.tokens, None), ctx.w.tokens, ctx.w.tokens)}
        empty = False
    # summed layer by layer, in order: the same sums on numbers and arrays
    total = Tally.summed([tallies[key][0] for key in keys])
    if per_layer:
        for layer, key in enumerate(keys):
            t, T_attn, T_mlp = tallies[key]
            rows.append({"layer": layer, "tokens": T_attn, "mlp_tokens": T_mlp, "cycles": round(t.total),
                         "gemms": {k: round(v) for k, v in t.gemms.items()}})
    return total, rows, empty


def _profile_tallies(ctx: UnitContext, unit: UnitModel, distinct: dict[tuple, LayerProfile]
                     ) -> tuple[dict[tuple, tuple[Tally, Any, Any]], Any]:
    """Each distinct layer's (tally, attention tokens, MLP tokens), and on arrays which points have a
    layer without tokens. On arrays of design points, the layers whose token counts are arrays run as
    one (layers x points) array: the formulas are elementwise, so each element is what that layer alone
    gives, and a layer costs a few numpy calls instead of a few hundred. A layer whose counts are
    numbers (one for every point: nothing pruned yet) runs alone, on numbers, as it did."""
    counts = {key: (xp.floor(lp.tokens_kept), xp.floor(lp.tokens("down_proj"))) for key, lp in distinct.items()}
    empty: Any = False
    stacked = []  # the layers whose counts are arrays (xp.floor makes them float64)
    for key, (T_attn, T_mlp) in counts.items():
        if xp.is_array(T_attn, T_mlp):
            empty = empty | (T_attn <= 0) | (T_mlp <= 0)
            stacked.append(key)
    if len(stacked) < 2:
        stacked = []
    out = {key: (layer_tally(ctx, unit, *counts[key], distinct[key].rows), *counts[key])
           for key in counts if key not in stacked}
    if stacked:
        tally = _stacked_tally(ctx, unit, [distinct[key] for key in stacked], [counts[key] for key in stacked])
        out.update({key: (_layer_of(tally, i), *counts[key]) for i, key in enumerate(stacked)})
    return out, empty


def _stacked_tally(ctx: UnitContext, unit: UnitModel, layers: list[LayerProfile], counts: list[tuple]) -> Tally:
    """layer_tally of several layers at once: token and row counts as (layers x points) arrays."""
    shape = np.broadcast_shapes(*(np.shape(v) for pair in counts for v in pair))

    def stack(values: list[Any]) -> np.ndarray:
        return np.stack([np.broadcast_to(v, shape) for v in values])

    return layer_tally(ctx, unit, stack([a for a, _ in counts]), stack([m for _, m in counts]),
                       lambda gemm: stack([lp.rows(gemm) for lp in layers]))


def _layer_of(tally: Tally, i: int) -> Tally:
    """Layer i of a tally of (layers x points) arrays (a term that does not depend on the layer is kept
    as it is)."""
    def pick(v: Any) -> Any:
        return v[i] if np.ndim(v) == 2 else v

    return Tally(compute=pick(tally.compute), stall=pick(tally.stall), mem_stall=pick(tally.mem_stall),
                 dram=pick(tally.dram), macs=pick(tally.macs), busy={k: pick(v) for k, v in tally.busy.items()},
                 sram={k: pick(v) for k, v in tally.sram.items()}, gemms={k: pick(v) for k, v in tally.gemms.items()})


def dense_macs(workload: Workload) -> float:
    """MACs of the dense prefill (the denominator of compute_fraction)."""
    spec = workload.spec.llm
    return sum(g.macs for g in linear_gemms(spec, workload.tokens)) * spec.layers \
        + workload.tokens ** 2 * spec.head_dim * spec.heads * spec.layers


def run_totals(tally: Tally, accel: Accelerator, frequency_mhz, dram_pj_per_byte, convention: str):
    """(seconds, energy per component) of a run; numbers or arrays of design points."""
    seconds = tally.total / (frequency_mhz * 1e6)
    energy = energy_breakdown(accel, tally.busy, tally.sram, tally.dram, tally.total, frequency_mhz,
                              dram_pj_per_byte, per_access=convention == "faithful")
    return seconds, energy


def totals(tally: Tally, accel: Accelerator, design: Any, workload: Workload) -> tuple[dict[str, Any], dict]:
    """Each of RESULT_KEYS, and the energy per component."""
    seconds, energy = run_totals(tally, accel, design.frequency_mhz, design.dram_pj_per_byte, design.convention)
    values = {
        "total_cycles": tally.total, "compute_cycles": tally.compute, "stall_cycles": tally.stall + tally.mem_stall,
        "memory_stall_cycles": tally.mem_stall, "execution_time_s": seconds, "energy_j": sum(energy.values()),
        "area_mm2": accel.area_mm2, "onchip_power_mw": accel.onchip_power_mw, "buffer_kb": accel.buffer_kb,
        "dram_bytes": tally.dram, "compute_fraction": tally.macs / dense_macs(workload),
    }
    return values, energy


def run_llm(design: Any, workload: Workload, profile: SparsityProfile | str, backend: Backend,
            prompt_tokens: int = 0, per_layer: bool = False) -> LlmRun:
    """The LLM over the design's concentrated visual tokens and `prompt_tokens` text tokens."""
    visual, run = design_profiles(design, workload, profile, prompt_tokens)
    whole = with_prompt(workload, prompt_tokens)
    accel = accelerator_for(design)
    unit = unit_for(design, accel)
    tally, rows, empty = run_layers(UnitContext.of(design, whole, backend, accel), unit, run, per_layer)
    values, energy = totals(tally, accel, design, whole)
    return LlmRun(values, energy, tally, accel, visual, run, rows, empty)
