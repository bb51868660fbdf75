"""One design point on one workload: cycles, energy, area. The function the search optimises.

Data flow: DesignPoint -> accelerator (data) + SparsityProfile -> per-GEMM cycles and traffic
(dse/sim) -> energy (dse/cost) -> Evaluation. Layers with identical token counts are
evaluated once. Conventions: "focus-paper" reproduces the Focus paper's simulator;
"faithful" fixes its weaknesses (see README: dense SA without Focus's buffers, detection
cycles, attention scatter on kept keys, exact tiles, causal attention per tile, per-unit busy
time and per-access SRAM energy, codec cycles for CMC, no K padding for AdapTiV).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from types import ModuleType
from typing import Any

import numpy as np

from dse.cost.accelerator import Accelerator, build_accelerator, load_spec
from dse.cost.energy import DRAM_PJ_PER_BYTE, energy_breakdown
from dse.cost.precision import check_precision
from dse.errors import UserError
from dse.fits import check_fits
from dse.levels import built_hardware, check_level, profile_at_level
from dse.profile import MLP_GEMMS, SparsityProfile, parse_block
from dse.published import published_profile
from dse.sim.backends import Backend, get_backend
from dse.sim.cores import check_cores, column_shares, combine, head_shares
from dse.sim.hardware import ArrayConfig
from dse.sim.plan import check_convention
from dse.sim import xp
from dse.sim.units import units
from dse.sim.units.base import Tally, UnitContext, buffer_tiles
from dse.workloads.catalog import Workload
from dse.workloads.gemms import linear_gemms

__all__ = ["DesignPoint", "Evaluation", "evaluate", "profile_for", "buffer_tiles", "QUERY_DEFAULTS"]


def _positive_number(name: str, value: Any, allow_zero: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        bound = "non-negative" if allow_zero else "positive"
        raise UserError(f"design: {name} must be a finite {bound} number, got {value!r}")


@dataclass(frozen=True)
class DesignPoint:
    """Every knob of a design; the defaults are the Focus paper's design."""

    accelerator: str = "focus"  # dense | focus | adaptiv | cmc | path to a JSON spec
    rows: int = 32
    cols: int = 32
    dataflow: str = "ws"
    frequency_mhz: float = 500.0
    m_tile: int = 1024
    n_tile: int = 96
    vector_size: int = 32
    block: tuple[int, int, int] = (2, 2, 2)
    threshold: float | None = None  # None: the workload's published threshold (0.9; 0.95 for MiniCPM-V)
    sec_scale: float = 1.0
    n_scatter: int = 2
    concentration: str = "sec+sic"  # which concentration levels run: sec+sic | sec | sic | none (dse/levels.py)
    buffer_kb: dict[str, float] = field(default_factory=dict)  # per buffer; {} = what the tiles need
    dram_bandwidth_gbps: float | None = None  # None = unlimited
    dram_pj_per_byte: float = DRAM_PJ_PER_BYTE
    convention: str = "faithful"
    # the whole query (dse/query.py); the defaults are the Focus paper's scope, the prefill alone
    phases: tuple[str, ...] = ("prefill",)  # of encoder, prefill, decode
    prompt_tokens: int = 0  # P text tokens after the visual ones (never pruned or merged)
    output_tokens: int = 0  # G decoded tokens
    batch: int = 1  # sequences decoded together (decode GEMMs have M = batch)
    encoder_threshold: float | None = None  # None: dense encoder; else Focus similarity inside the ViT
    # the datapath and scale-out; the defaults are the Focus RTL: one FP16 array
    precision: str = "fp16"  # fp16 | bf16 | fp8 | int8, weights and activations (dse/cost/precision.py)
    cores: int = 1  # arrays of rows x cols, each with its own Focus unit and buffers, sharing DRAM (dse/sim/cores.py)

    def __post_init__(self) -> None:
        from dse.query import check_query_knobs, parse_phases

        object.__setattr__(self, "phases", parse_phases(self.phases, "design: phases"))
        check_query_knobs(self)
        check_convention(self.convention)
        check_precision(self.precision)
        check_cores(self.cores)
        for name in ("rows", "cols", "m_tile", "n_tile", "vector_size", "n_scatter"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise UserError(f"design: {name} must be a positive integer, got {value!r}")
        _positive_number("frequency_mhz", self.frequency_mhz)
        _positive_number("sec_scale", self.sec_scale)
        if self.dram_bandwidth_gbps is not None:
            _positive_number("dram_bandwidth_gbps", self.dram_bandwidth_gbps)
        _positive_number("dram_pj_per_byte", self.dram_pj_per_byte, allow_zero=True)
        if self.threshold is not None:
            _positive_number("threshold", self.threshold, allow_zero=True)
            if self.threshold > 1:
                raise UserError(f"design: threshold must be in [0, 1], got {self.threshold}")
        if not isinstance(self.block, tuple) or len(self.block) != 3 or any(
                isinstance(b, bool) or not isinstance(b, int) or b <= 0 for b in self.block):
            raise UserError(f"design: block must be three positive integers TxHxW, got {self.block!r}")
        if not isinstance(self.buffer_kb, dict):
            raise UserError(f"design: buffer_kb must map buffer names to kB, got {self.buffer_kb!r}")
        for name, kb in self.buffer_kb.items():
            _positive_number(f"buffer_kb[{name}]", kb)
        model = load_spec(self.accelerator)["model"]
        check_level(self.concentration)
        if self.concentration != "sec+sic" and model != "focus":
            raise UserError(f"design: concentration '{self.concentration}' applies to the Focus accelerator only; "
                            f"{self.accelerator} uses its published sparsity")
        ArrayConfig(self.rows, self.cols, self.dataflow)

    @property
    def knobs(self) -> dict[str, int]:
        return {"rows": self.rows, "cols": self.cols, "m_tile": self.m_tile, "n_tile": self.n_tile,
                "n_scatter": self.n_scatter}

    @property
    def block_volume(self) -> int:
        t, h, w = self.block
        return t * h * w

    @staticmethod
    def buffer_names(accelerator: str) -> list[str]:
        return [b["name"] for b in load_spec(accelerator)["buffers"]]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["block"] = "x".join(str(b) for b in self.block)
        d["phases"] = ",".join(self.phases)
        return d

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "design") -> DesignPoint:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise UserError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(known)}")
        d = dict(raw)
        if isinstance(d.get("block"), str):
            d["block"] = parse_block(d["block"])
        elif isinstance(d.get("block"), list):
            d["block"] = tuple(d["block"])
        try:
            return cls(**d)
        except TypeError as exc:
            raise UserError(f"{where}: {exc}") from None


QUERY_DEFAULTS = {f.name: f.default for f in fields(DesignPoint)
                  if f.name in ("phases", "prompt_tokens", "output_tokens", "batch", "encoder_threshold")}


@dataclass(frozen=True)
class Evaluation:
    workload: str
    accelerator: str
    convention: str
    profile_source: str
    total_cycles: float
    compute_cycles: float
    stall_cycles: float  # concentration-unit stalls + memory stalls
    memory_stall_cycles: float
    execution_time_s: float
    energy_j: float
    area_mm2: float
    onchip_power_mw: float
    buffer_kb: float
    dram_bytes: float
    compute_fraction: float  # MACs computed / dense MACs
    breakdown: dict[str, Any]
    per_layer: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["total_cycles"] = round(self.total_cycles)
        # bytes per compute cycle: what the array needs to stay compute-bound (the paper's figure)
        d["dram_bandwidth_bytes_per_cycle"] = self.dram_bytes / self.compute_cycles if self.compute_cycles else 0.0
        d["achieved_dram_bytes_per_cycle"] = self.dram_bytes / self.total_cycles if self.total_cycles else 0.0
        d["achieved_dram_gbps"] = self.dram_bytes / self.execution_time_s / 1e9 if self.execution_time_s else 0.0
        if not self.per_layer:
            d.pop("per_layer")
        return d


def layer_tally(ctx: UnitContext, unit: ModuleType, T_attn, T_mlp, rows_for) -> Tally:
    """One layer: each GEMM split over the cores (dse/sim/cores.py). Token counts are numbers, or
    arrays of design points (dse/batch.py) that are positive everywhere."""
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
    for k, v in getattr(unit, "layer_busy", _no_busy)(T_attn, T_mlp).items():
        tally.busy[k] = tally.busy.get(k, 0.0) + v
    return tally


def _no_busy(T_attn: int, T_mlp: int) -> dict[str, float]:
    return {}


def _run(ctx: UnitContext, unit: ModuleType, profile: SparsityProfile | None,
         per_layer: bool) -> tuple[Tally, list[dict]]:
    """The whole model; layers with identical token counts are evaluated once."""
    total, rows, cache = Tally(), [], {}
    for layer in range(ctx.spec.layers):
        if profile is not None and getattr(unit, "USES_PROFILE", False):
            lp = profile.layers[layer]
            key = (lp.tokens_kept, lp.mlp_tokens_kept, tuple(sorted(lp.unique_rows.items())))
            T_attn, T_mlp, rows_for = int(lp.tokens_kept), int(lp.tokens("down_proj")), lp.rows
        else:
            key, T_attn, T_mlp, rows_for = (), ctx.w.tokens, ctx.w.tokens, None
        if key not in cache:
            cache[key] = layer_tally(ctx, unit, T_attn, T_mlp, rows_for)
        t = cache[key]
        total.merge(t)
        if per_layer:
            rows.append({"layer": layer, "tokens": T_attn, "mlp_tokens": T_mlp, "cycles": round(t.total),
                         "gemms": {k: round(v) for k, v in t.gemms.items()}})
    return total, rows


def profile_for(design: DesignPoint, workload: Workload, profile: SparsityProfile | str | None) -> SparsityProfile | None:
    """The profile a design runs with: a given one, or the published one adjusted to the design's
    threshold, block, vector size and SEC scale (see dse/redundancy.py), at its concentration level."""
    if load_spec(design.accelerator)["model"] != "focus" or design.concentration == "none":
        return None
    check_fits(design.block, design.vector_size, workload)  # before any curve is read for them
    if isinstance(profile, SparsityProfile):
        prof = profile.for_workload(workload.name, workload.tokens, workload.spec.llm.layers)
    else:
        from dse.redundancy import removed_scale

        prof = published_profile(workload, design.sec_scale, removed_scale(design, workload))
    return profile_at_level(prof, design.concentration)


OVERFLOW = ("{workload}: cycles, time, area or power overflow floating point for this design: "
            "use realistic sizes, clocks and bandwidths")


def run_totals(tally: Tally, accel: Accelerator, frequency_mhz, dram_pj_per_byte, convention: str):
    """(seconds, energy per component) of a run; numbers or arrays of design points."""
    seconds = tally.total / (frequency_mhz * 1e6)
    energy = energy_breakdown(accel, tally.busy, tally.sram, tally.dram, tally.total, frequency_mhz,
                              dram_pj_per_byte, per_access=convention == "faithful")
    return seconds, energy


def dense_macs(workload: Workload) -> float:
    """MACs of the dense prefill (the denominator of compute_fraction)."""
    spec = workload.spec.llm
    return sum(g.macs for g in linear_gemms(spec, workload.tokens)) * spec.layers \
        + workload.tokens ** 2 * spec.head_dim * spec.heads * spec.layers


def accelerator_for(design: DesignPoint) -> Accelerator:
    """The chip a design builds (its concentration level's hardware, dse/levels.py); a design whose
    numeric knobs are arrays (dse/batch.py) builds one chip per element."""
    return build_accelerator(
        design.accelerator, design.knobs,
        {k: xp.rint(v * 1024) for k, v in design.buffer_kb.items()},
        paper_buffers=design.convention == "focus-paper",
        frequency_mhz=design.frequency_mhz,
        levels=built_hardware(design.concentration, design.convention),
        precision=design.precision,
        cores=design.cores,
    )


def unit_for(design: DesignPoint, accel: Accelerator) -> ModuleType:
    """Which cycle model runs: the spec's (dse/sim/units/); Focus with concentration off runs the dense one."""
    return units()["dense" if design.concentration == "none" else accel.model]


def evaluate(
    design: DesignPoint,
    workload: Workload,
    profile: SparsityProfile | str | None = "published",
    backend: Backend | str = "analytic",
    per_layer: bool = False,
) -> Evaluation:
    backend = get_backend(backend) if isinstance(backend, str) else backend
    prof = profile_for(design, workload, profile)
    accel = accelerator_for(design)
    unit = unit_for(design, accel)
    tally, rows = _run(UnitContext.of(design, workload, backend, accel), unit, prof, per_layer)
    seconds, energy = run_totals(tally, accel, design.frequency_mhz, design.dram_pj_per_byte, design.convention)
    if not all(map(math.isfinite, (tally.total, seconds, tally.dram, accel.area_mm2, accel.onchip_power_mw))):
        raise UserError(OVERFLOW.format(workload=workload.name))
    return Evaluation(
        workload=workload.name,
        accelerator=accel.name,
        convention=design.convention,
        profile_source="none" if prof is None else prof.source,
        total_cycles=tally.total,
        compute_cycles=tally.compute,
        stall_cycles=tally.stall + tally.mem_stall,
        memory_stall_cycles=tally.mem_stall,
        execution_time_s=seconds,
        energy_j=sum(energy.values()),
        area_mm2=accel.area_mm2,
        onchip_power_mw=accel.onchip_power_mw,
        buffer_kb=accel.buffer_kb,
        dram_bytes=tally.dram,
        compute_fraction=tally.macs / dense_macs(workload),
        breakdown={
            "energy_j": energy,
            "cycles": {k: round(v) for k, v in tally.gemms.items()},
            "busy_cycles": {k: round(v) for k, v in tally.busy.items()},
            # all cores' area (sums to area_mm2); buffer sizes are each core's
            "area_mm2": {c.module: c.area_mm2 * c.count * accel.cores for c in accel.components}
            | {f"buffer:{b.name}": b.area_mm2 * accel.cores for b in accel.buffers},
            "buffers_kb": {b.name: b.bytes / 1024 for b in accel.buffers},
        },
        per_layer=rows,
    )
