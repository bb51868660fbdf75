"""Many design points of one workload at once: dse/evaluate.py's cost model on numpy arrays.

evaluate_batch(points, workload) gives, for every point, the numbers evaluate() puts in its
Evaluation (BATCH_KEYS), computed by the same functions: the concentration profile
(dse/published.py, dse/redundancy.py, dse/levels.py), the chip (dse/cost/accelerator.py,
sram.py), the accelerators' rules (dse/sim/units/), the cycle and traffic formulas (dse/sim/) and
the energy (dse/cost/energy.py) are written once in dse/sim/xp.py arithmetic, which runs on one
design's Python numbers (evaluate) or on arrays with one element per design point (here); so both
ways agree bit for bit.

Points are grouped by the knobs that change the model's structure: accelerator, convention,
dataflow, cores (and with several, the array's columns: how a GEMM's columns split over them),
concentration level, precision (which components and buffers exist) and which buffers are sized by
hand. Inside a group every other knob is an array, and the group's profile and chip are built once
as arrays; a layer is evaluated once per distinct set of token counts in the group. A group the
array path refuses (a size expression or buffer the model rejects for some point) and points whose
numbers overflow run through the scalar model one by one, which says which point is wrong and why.
Only the published profiles and the analytic backend (the study's) are batched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from types import SimpleNamespace

import numpy as np

from dse.cost.accelerator import Accelerator, load_spec
from dse.errors import UserError
from dse.evaluate import DesignPoint, accelerator_for, dense_macs, layer_tally, run_totals, unit_for
from dse.fits import check_fits
from dse.levels import profile_at_level
from dse.phases.prefill import run_prefill, with_prompt, with_text
from dse.profile import SparsityProfile
from dse.published import scaled_profile
from dse.redundancy import block_fraction, similarity_scale
from dse.sim.backends import AnalyticBackend
from dse.sim.units.base import Tally, UnitContext
from dse.workloads.catalog import Workload
from dse.workloads.gemms import linear_gemms

BATCH_KEYS = ("total_cycles", "compute_cycles", "stall_cycles", "memory_stall_cycles", "execution_time_s",
              "energy_j", "area_mm2", "onchip_power_mw", "buffer_kb", "dram_bytes", "compute_fraction")
# knobs a group shares (its key), kept as one value; every other number becomes an array
_SHARED = ("accelerator", "dataflow", "convention", "concentration", "precision", "cores")
_NONE_MEANS = {"dram_bandwidth_gbps": math.inf}  # None: unlimited; any other None knob is NaN


@dataclass(frozen=True)
class BatchResult:
    values: dict[str, np.ndarray]  # each of BATCH_KEYS, one element per point (NaN where it failed)
    errors: list[str]  # "" where the point evaluated, else what evaluate() raises for it
    profile_source: list[str]
    vectorised: np.ndarray  # True where the point went through the array path


def evaluate_batch(points: list[DesignPoint], workload: Workload, prompt_tokens: int = 0) -> BatchResult:
    """What evaluate(point, workload) gives for each point (published profiles, analytic backend);
    with prompt_tokens P, the prefill of the visual tokens and P text tokens (run_prefill's)."""
    n = len(points)
    values = {k: np.full(n, np.nan) for k in BATCH_KEYS}
    errors = [""] * n
    sources = [""] * n
    vectorised = np.zeros(n, dtype=bool)
    groups: dict[tuple, list[int]] = {}
    refused: dict[tuple, str] = {}
    for i, p in enumerate(points):
        errors[i] = _window_refused(p, workload, refused)  # first, as evaluate() (which error a point reports)
        if not errors[i]:
            groups.setdefault(structure_key(p), []).append(i)
    for idx in groups.values():
        try:
            got, source, one_by_one = _evaluate_group([points[i] for i in idx], workload, prompt_tokens)
        except UserError:  # some point's chip is refused: each point says for itself
            got, source, one_by_one = {}, "", np.ones(len(idx), dtype=bool)
        for j, i in enumerate(idx):
            if not one_by_one[j]:
                vectorised[i] = True
                sources[i] = source
                for k in BATCH_KEYS:
                    values[k][i] = got[k][j]
                continue
            try:  # the batch of one
                ev = run_prefill(points[i], workload, prompt_tokens, "published", "analytic")[0]
            except UserError as exc:
                errors[i] = str(exc)
                continue
            sources[i] = ev.profile_source
            for k in BATCH_KEYS:
                values[k][i] = getattr(ev, k)
    return BatchResult(values, errors, sources, vectorised)


def structure_key(p: DesignPoint) -> tuple:
    """What a group of points shares: the knobs that shape the model, not just its numbers
    (columns only through the split over cores, dse/sim/cores.py)."""
    return (p.accelerator, p.convention, p.dataflow, p.cols if p.cores > 1 else 0, p.cores, p.concentration,
            p.precision, tuple(sorted(p.buffer_kb)))


def _window_refused(p: DesignPoint, workload: Workload, seen: dict[tuple, str]) -> str:
    """profile_for's check that the similarity window fits the workload ("" if it does)."""
    if p.concentration == "none" or load_spec(p.accelerator)["model"] != "focus":
        return ""
    key = (p.block, p.vector_size)
    if key not in seen:
        try:
            check_fits(p.block, p.vector_size, workload)
            seen[key] = ""
        except UserError as exc:
            seen[key] = str(exc)
    return seen[key]


def design_columns(points: list[DesignPoint]) -> SimpleNamespace:
    """The group as one design: every DesignPoint field, numbers as arrays with one element per point."""
    d0 = points[0]
    out = {}
    for f in fields(DesignPoint):
        name = f.name
        if name in _SHARED or (name == "cols" and d0.cores > 1):  # columns split over cores: one value
            out[name] = getattr(d0, name)
        elif name == "buffer_kb":  # the group sizes the same buffers by hand
            out[name] = {b: np.array([p.buffer_kb[b] for p in points], dtype=float) for b in d0.buffer_kb}
        elif isinstance(getattr(d0, name), (tuple, str)):  # block, phases
            out[name] = [getattr(p, name) for p in points]
        else:
            none = _NONE_MEANS.get(name, math.nan)
            out[name] = np.array([none if (v := getattr(p, name)) is None else v for p in points], dtype=float)
    d = SimpleNamespace(**out, block_volume=np.array([p.block_volume for p in points], dtype=float))
    d.knobs = {k: out[k] for k in d0.knobs}
    return d


def prefill_profile(d: SimpleNamespace, workload: Workload, prompt_tokens: int) -> SparsityProfile | None:
    """profile_for(design, workload, "published") for the group (counts are arrays), with the P
    text tokens appended as run_prefill does (the profile evaluate() then runs)."""
    if load_spec(d.accelerator)["model"] != "focus" or d.concentration == "none":
        return None
    fractions = {b: block_fraction(b) for b in set(d.block)}
    block_unique = None if None in fractions.values() else np.array([fractions[b] for b in d.block])
    removed = similarity_scale(workload, d.threshold, d.vector_size, block_unique)
    prof = profile_at_level(scaled_profile(workload, d.sec_scale, removed), d.concentration)
    if not prompt_tokens:
        return prof
    # run_prefill's: evaluate() takes the level of the profile with the text again (at `sic`, rows
    # scaled to S + P tokens and back: not always the same double)
    return profile_at_level(with_text(prof, with_prompt(workload, prompt_tokens), prompt_tokens), d.concentration)


def _layers(prof: SparsityProfile | None, unit, workload: Workload, n: int) -> tuple[list[tuple], np.ndarray]:
    """Per layer: (T_attn, T_mlp, rows per GEMM) as arrays over the points (rows None: every
    token), as dse/evaluate.py _run reads them; and which points have an empty layer."""
    if prof is None or not getattr(unit, "USES_PROFILE", False):
        return [(workload.tokens, workload.tokens, None)] * workload.spec.llm.layers, np.zeros(n, dtype=bool)
    names = [g.name for g in linear_gemms(workload.spec.llm, 1)] + ["qk"]  # Q K^T's rows are its queries'

    def column(x) -> np.ndarray:
        return np.broadcast_to(np.asarray(x, dtype=float), (n,))

    out, empty = [], np.zeros(n, dtype=bool)
    for lp in prof.layers:
        T_attn, T_mlp = np.floor(column(lp.tokens_kept)), np.floor(column(lp.tokens("down_proj")))  # int() in _run
        empty |= (T_attn <= 0) | (T_mlp <= 0)
        out.append((T_attn, T_mlp, {g: column(lp.rows(g)) for g in names}))
    return out, empty


def _evaluate_group(points: list[DesignPoint], workload: Workload, prompt_tokens: int):
    """One group of structurally equal points: (numbers per BATCH_KEYS, profile source, which points
    must go through the scalar model: an empty layer, or numbers that overflow)."""
    n = len(points)
    whole = with_prompt(workload, prompt_tokens)
    d = design_columns(points)
    accel = accelerator_for(d)
    unit = unit_for(points[0], accel)
    prof = prefill_profile(d, workload, prompt_tokens)
    layers, empty = _layers(prof, unit, whole, n)
    with np.errstate(all="ignore"):  # empty layers and overflows are redone one by one
        got = _arrays(d, accel, unit, layers, whole)
    bad = empty.copy()
    for k in ("total_cycles", "execution_time_s", "dram_bytes", "area_mm2", "onchip_power_mw"):
        bad |= ~np.isfinite(got[k])
    return got, "none" if prof is None else prof.source, bad


def _arrays(d: SimpleNamespace, accel: Accelerator, unit, layers: list[tuple], workload: Workload) -> dict:
    ctx = UnitContext.of(d, workload, AnalyticBackend(), accel)
    total, cache = Tally(), {}
    for T_attn, T_mlp, rows in layers:
        key = (np.asarray(T_attn).tobytes(), np.asarray(T_mlp).tobytes(),
               tuple(r.tobytes() for r in rows.values()) if rows else None)
        if key not in cache:
            rows_for = (lambda g, rows=rows: rows[g]) if rows else None
            cache[key] = layer_tally(ctx, unit, T_attn, T_mlp, rows_for)
        total.merge(cache[key])
    seconds, energy = run_totals(total, accel, d.frequency_mhz, d.dram_pj_per_byte, d.convention)
    got = {
        "total_cycles": total.total, "compute_cycles": total.compute, "stall_cycles": total.stall + total.mem_stall,
        "memory_stall_cycles": total.mem_stall, "execution_time_s": seconds, "energy_j": sum(energy.values()),
        "area_mm2": accel.area_mm2, "onchip_power_mw": accel.onchip_power_mw, "buffer_kb": accel.buffer_kb,
        "dram_bytes": total.dram, "compute_fraction": total.macs / dense_macs(workload),
    }
    n = len(d.rows)
    return {k: np.broadcast_to(np.asarray(v, dtype=float), (n,)) for k, v in got.items()}
