"""Many design points of one workload at once: dse/evaluate.py's cost model on numpy arrays.

evaluate_batch(points, workload) gives, for every point, the numbers evaluate() puts in its
Evaluation (BATCH_KEYS), computed by the same functions: the accelerators' rules
(dse/sim/units/), the cycle and traffic formulas (dse/sim/) and the energy (dse/cost/energy.py)
are written once in dse/sim/xp.py arithmetic, which runs on one design's Python numbers
(evaluate) or on arrays with one element per design point (here); so both ways agree bit for bit.

Points are grouped by the knobs that change the model's structure: accelerator, convention,
dataflow, cores (and with several, the array's columns: how a GEMM's columns split over them),
concentration level and precision (which components and buffers exist). Inside a group every
other knob (rows, columns, tiles, vector size, block, threshold, SEC scale, n_scatter, clock,
bandwidth, buffer sizes, DRAM energy) is an array. Each point's sparsity profile and chip (area, power, SRAM macros) are still built
one point at a time (cached on the knobs they depend on); a layer is evaluated once per distinct
set of token counts in the group. Points with an empty layer run through evaluate() itself.
Only the published profiles and the analytic backend (the study's) are batched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from types import SimpleNamespace

import numpy as np

from dse.cost.accelerator import Accelerator, Component
from dse.cost.precision import get_precision
from dse.errors import UserError
from dse.phases.prefill import run_prefill, with_prompt, with_text
from dse.evaluate import (OVERFLOW, DesignPoint, accelerator_for, dense_macs, evaluate, layer_tally, profile_for,
                          run_totals, unit_for)
from dse.sim.backends import AnalyticBackend
from dse.sim.units.base import Tally, UnitContext, buffer_tiles
from dse.workloads.catalog import Workload
from dse.workloads.gemms import linear_gemms

BATCH_KEYS = ("total_cycles", "compute_cycles", "stall_cycles", "memory_stall_cycles", "execution_time_s",
              "energy_j", "area_mm2", "onchip_power_mw", "buffer_kb", "dram_bytes", "compute_fraction")
_CACHE = 65536


@dataclass(frozen=True)
class BatchResult:
    values: dict[str, np.ndarray]  # each of BATCH_KEYS, one element per point (NaN where it failed)
    errors: list[str]  # "" where the point evaluated, else what evaluate() raises for it
    profile_source: list[str]
    vectorised: np.ndarray  # True where the point went through the array path


@dataclass(frozen=True)
class _Chip:
    """A design's accelerator and the per-point numbers the energy model reads from it."""

    accel: Accelerator
    counts: tuple[float, ...]
    powers: tuple[float, ...]
    buffers: tuple[tuple[float, float, float, float], ...]  # read, write pJ/B, leakage, peak mW

    @property
    def shape(self) -> tuple:
        return (tuple((c.module, c.busy) for c in self.accel.components), tuple(b.name for b in self.accel.buffers))


_CHIPS: dict[tuple, _Chip] = {}


def _chip(design: DesignPoint) -> _Chip:
    """accelerator_for(design), cached on what it reads."""
    key = (design.accelerator, tuple(design.knobs.values()), tuple(sorted(design.buffer_kb.items())),
           design.convention, design.frequency_mhz, design.concentration, design.precision, design.cores)
    chip = _CHIPS.get(key)
    if chip is None:
        if len(_CHIPS) >= _CACHE:
            _CHIPS.clear()
        accel = accelerator_for(design)
        chip = _CHIPS[key] = _Chip(
            accel, tuple(c.count for c in accel.components), tuple(c.power_mw for c in accel.components),
            tuple((b.read_pj_per_byte, b.write_pj_per_byte, b.leakage_mw, b.peak_mw) for b in accel.buffers))
    return chip


@lru_cache(maxsize=_CACHE)
def _profile(workload: Workload, prompt_tokens: int, accelerator: str, concentration: str, threshold, block,
             vector_size, sec_scale):
    """The profile run_prefill runs a design with these knobs on (the visual one with the P text
    tokens appended, dse/phases/prefill.py), and its numbers per layer."""
    design = DesignPoint(accelerator=accelerator, concentration=concentration, threshold=threshold, block=block,
                         vector_size=vector_size, sec_scale=sec_scale)
    prof = profile_for(design, workload, "published")
    if prof is not None and prompt_tokens:
        prof = with_text(prof, with_prompt(workload, prompt_tokens), prompt_tokens)
    return prof, None if prof is None else _layer_numbers(prof, _row_names(workload))


def _row_names(workload: Workload) -> list[str]:
    """The GEMMs whose rows a profile gives: each linear GEMM's, and the queries of Q K^T."""
    return [g.name for g in linear_gemms(workload.spec.llm, 1)] + ["qk"]


def _profile_of(design: DesignPoint, workload: Workload, prompt_tokens: int):
    return _profile(workload, prompt_tokens, design.accelerator, design.concentration, design.threshold, design.block,
                    design.vector_size, design.sec_scale)


def evaluate_batch(points: list[DesignPoint], workload: Workload, prompt_tokens: int = 0) -> BatchResult:
    """What evaluate(point, workload) gives for each point (published profiles, analytic backend);
    with prompt_tokens P, the prefill of the visual tokens and P text tokens (run_prefill's)."""
    whole = with_prompt(workload, prompt_tokens)
    n = len(points)
    values = {k: np.full(n, np.nan) for k in BATCH_KEYS}
    errors = [""] * n
    sources = [""] * n
    vectorised = np.zeros(n, dtype=bool)
    groups: dict[tuple, list[int]] = {}
    prepared: dict[int, tuple] = {}
    for i, p in enumerate(points):
        try:
            prof = _profile_of(p, workload, prompt_tokens)  # first, as evaluate() (which error a point reports)
            chip = _chip(p)
        except UserError as exc:
            errors[i] = str(exc)
            continue
        prepared[i] = (chip, prof)
        sources[i] = "none" if prof[0] is None else prof[0].source
        # columns shape the model only through the split over cores (dse/sim/cores.py)
        key = (p.accelerator, p.convention, p.dataflow, p.cols if p.cores > 1 else 0, p.cores, p.concentration,
               p.precision, chip.shape)
        groups.setdefault(key, []).append(i)
    for idx in groups.values():
        try:
            done = _evaluate_group([points[i] for i in idx], [prepared[i] for i in idx], whole)
        except UserError as exc:  # the group's model refuses the workload (e.g. no published sparsity)
            for i in idx:
                errors[i] = str(exc)
            continue
        for j, i in enumerate(idx):
            if done.errors[j]:
                errors[i] = done.errors[j]
            elif done.vectorised[j]:
                vectorised[i] = True
                for k in BATCH_KEYS:
                    values[k][i] = done.values[k][j]
            else:  # the batch of one
                try:
                    ev = run_prefill(points[i], workload, prompt_tokens, "published", "analytic")[0]
                except UserError as exc:
                    errors[i] = str(exc)
                    continue
                for k in BATCH_KEYS:
                    values[k][i] = getattr(ev, k)
    return BatchResult(values, errors, sources, vectorised)


def _column(points: list[DesignPoint], name: str) -> np.ndarray:
    return np.array([getattr(p, name) for p in points], dtype=float)


def _layers(points, profiles, unit, workload: Workload):
    """Per layer: (T_attn, T_mlp, rows per GEMM) arrays over the points, or the workload's tokens;
    and which points have an empty layer (they go through evaluate())."""
    layers = workload.spec.llm.layers
    if not getattr(unit, "USES_PROFILE", False) or profiles[0][0] is None:
        return [(workload.tokens, workload.tokens, None)] * layers, np.zeros(len(points), dtype=bool)
    names = _row_names(workload)
    table = np.array([numbers for _, numbers in profiles], dtype=float)  # point x layer x number
    attn, mlp = table[:, :, 0], table[:, :, 1]
    rows = {g: table[:, :, 2 + j] for j, g in enumerate(names)}
    empty = (attn <= 0).any(axis=1) | (mlp <= 0).any(axis=1)
    keep = ~empty
    out = []
    for layer in range(layers):
        cols = {g: r[keep, layer] for g, r in rows.items()}
        out.append((attn[keep, layer], mlp[keep, layer], cols))
    return out, empty


def _layer_numbers(profile, names: list[str]) -> list[tuple]:
    """Per layer: tokens in attention, in the MLP, and the rows each GEMM computes (a layer like the
    one before it is read once)."""
    out: list[tuple] = []
    last = None
    for lp in profile.layers:
        if last is None or (lp.tokens_kept, lp.mlp_tokens_kept, lp.unique_rows) != \
                (last.tokens_kept, last.mlp_tokens_kept, last.unique_rows):
            numbers = (int(lp.tokens_kept), int(lp.tokens("down_proj")), *(lp.rows(g) for g in names))
        out.append(numbers)
        last = lp
    return out


def _evaluate_group(points: list[DesignPoint], prepared: list[tuple], workload: Workload) -> BatchResult:
    """One group of structurally equal points: the array path for all but those with an empty layer."""
    n = len(points)
    chips = [c for c, _ in prepared]
    d0, unit = points[0], unit_for(points[0], chips[0].accel)
    layers, empty = _layers(points, [p for _, p in prepared], unit, workload)
    keep = np.flatnonzero(~empty)
    pts = [points[i] for i in keep]
    chips = [chips[i] for i in keep]
    values = {k: np.full(n, np.nan) for k in BATCH_KEYS}
    errors = [""] * n
    if len(pts):
        got, bad = _arrays(pts, chips, d0, unit, layers, workload)
        for k in BATCH_KEYS:
            values[k][keep] = got[k]
        for j in np.flatnonzero(bad):
            errors[keep[j]] = OVERFLOW.format(workload=workload.name)
    return BatchResult(values, errors, [""] * n, ~empty)


def _arrays(pts, chips, d0: DesignPoint, unit, layers, workload: Workload):
    m_tile, n_tile = _column(pts, "m_tile"), _column(pts, "n_tile")
    cols = d0.cols if d0.cores > 1 else _column(pts, "cols")
    d = SimpleNamespace(rows=_column(pts, "rows"), cols=cols, m_tile=m_tile, n_tile=n_tile,
                        vector_size=_column(pts, "vector_size"), n_scatter=_column(pts, "n_scatter"),
                        block_volume=_column(pts, "block_volume"), cores=d0.cores, convention=d0.convention,
                        concentration=d0.concentration)
    if d0.convention == "focus-paper":
        m_buf, n_buf = m_tile, n_tile
    else:
        tiles = np.array([buffer_tiles(p, c.accel) for p, c in zip(pts, chips)], dtype=float)
        m_buf, n_buf = tiles[:, 0], tiles[:, 1]
    freq = _column(pts, "frequency_mhz")
    bandwidth = np.array([p.dram_bandwidth_gbps or math.inf for p in pts], dtype=float)
    bpc = None if np.isinf(bandwidth).all() else bandwidth * 1e9 / (freq * 1e6)
    array = SimpleNamespace(rows=d.rows, cols=cols, dataflow=d0.dataflow)
    ctx = UnitContext(d, workload, AnalyticBackend(), array, m_buf, n_buf, bpc,
                      get_precision(d0.precision).word_bytes)
    total, cache = Tally(), {}
    for T_attn, T_mlp, rows in layers:
        key = (np.asarray(T_attn).tobytes(), np.asarray(T_mlp).tobytes(),
               tuple(r.tobytes() for r in rows.values()) if rows else None)
        if key not in cache:
            rows_for = (lambda g, rows=rows: rows[g]) if rows else None
            cache[key] = layer_tally(ctx, unit, T_attn, T_mlp, rows_for)
        total.merge(cache[key])
    stack = _stacked(chips, d0.cores)
    seconds, energy = run_totals(total, stack, freq, _column(pts, "dram_pj_per_byte"), d0.convention)
    n = len(pts)
    got = {
        "total_cycles": total.total, "compute_cycles": total.compute, "stall_cycles": total.stall + total.mem_stall,
        "memory_stall_cycles": total.mem_stall, "execution_time_s": seconds, "energy_j": sum(energy.values()),
        "area_mm2": np.array([c.accel.area_mm2 for c in chips]),
        "onchip_power_mw": np.array([c.accel.onchip_power_mw for c in chips]),
        "buffer_kb": np.array([c.accel.buffer_kb for c in chips]), "dram_bytes": total.dram,
        "compute_fraction": total.macs / dense_macs(workload),
    }
    got = {k: np.broadcast_to(np.asarray(v, dtype=float), (n,)) for k, v in got.items()}
    bad = ~np.isfinite(got["total_cycles"]) | ~np.isfinite(got["execution_time_s"]) | ~np.isfinite(got["dram_bytes"]) \
        | ~np.isfinite(got["area_mm2"]) | ~np.isfinite(got["onchip_power_mw"])
    return got, bad


def _stacked(chips: list[_Chip], cores: int) -> SimpleNamespace:
    """The group's chips as one accelerator whose per-component and per-buffer numbers are arrays
    (what dse/cost/energy.py reads)."""
    first = chips[0].accel
    counts = np.array([c.counts for c in chips], dtype=float)
    powers = np.array([c.powers for c in chips], dtype=float)
    components = tuple(Component(c.module, counts[:, j], c.busy, 0.0, powers[:, j])
                       for j, c in enumerate(first.components))
    numbers = np.array([c.buffers for c in chips], dtype=float).reshape(len(chips), len(first.buffers), 4)
    buffers = tuple(SimpleNamespace(name=b.name, read_pj_per_byte=numbers[:, j, 0], write_pj_per_byte=numbers[:, j, 1],
                                    leakage_mw=numbers[:, j, 2], peak_mw=numbers[:, j, 3])
                    for j, b in enumerate(first.buffers))
    return SimpleNamespace(cores=cores, components=components, buffers=buffers)
