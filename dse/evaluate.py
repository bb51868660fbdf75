"""One design point on one workload: cycles, energy, area. The function the search optimises.

Data flow: DesignPoint -> SparsityProfile -> accelerator (data) -> per-GEMM cycles and traffic
(dse/sim) -> energy (dse/cost) -> Evaluation, by dse/llm_run.py (which dse/batch.py runs on arrays).
Conventions: "focus-paper" reproduces the Focus paper's simulator; "faithful" fixes its weaknesses
(see README: dense SA without Focus's buffers, detection cycles, attention scatter on kept keys,
exact tiles, causal attention per tile, per-unit busy time and per-access SRAM energy, codec cycles
for CMC, no K padding for AdapTiV).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from dse import xp
from dse.cost.buffer_pricing import LABELS as SRAM_LABELS
from dse.cost.precision import get_precision
from dse.design import DesignPoint
from dse.errors import UserError
from dse.fits import similarity_window_error
from dse.llm_run import LlmRun, design_profiles, run_llm
from dse.profile import SparsityProfile
from dse.sim.backends import Backend, get_backend
from dse.sim.buffering import stationary_port
from dse.workloads.catalog import Workload

__all__ = ["Evaluation", "evaluate", "evaluate_run", "visual_profile", "OVERFLOW"]

OVERFLOW = ("{workload}: cycles, time, area or power overflow floating point for this design: "
            "use realistic sizes, clocks and bandwidths")


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
        # not asdict (a deep copy, a third of `simulate --designs`' time per row): the callers print the result
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["total_cycles"] = round(self.total_cycles)
        # bytes per compute cycle: what the array needs to stay compute-bound (the paper's figure)
        d["dram_bandwidth_bytes_per_cycle"] = self.dram_bytes / self.compute_cycles if self.compute_cycles else 0.0
        d["achieved_dram_bytes_per_cycle"] = self.dram_bytes / self.total_cycles if self.total_cycles else 0.0
        d["achieved_dram_gbps"] = self.dram_bytes / self.execution_time_s / 1e9 if self.execution_time_s else 0.0
        if not self.per_layer:
            d.pop("per_layer")
        return d


def evaluate_run(design: DesignPoint, workload: Workload, profile: SparsityProfile | str = "published",
                 backend: Backend | str = "analytic", per_layer: bool = False,
                 prompt_tokens: int = 0) -> tuple[Evaluation, LlmRun]:
    """The design on the workload's visual tokens and `prompt_tokens` text tokens: its Evaluation, and
    the run behind it (its profiles: the KV cache of the whole query)."""
    refused = similarity_window_error(design, workload)  # before any curve is read for the window
    if refused:
        raise UserError(refused)
    backend = get_backend(backend) if isinstance(backend, str) else backend
    run = run_llm(design, workload, profile, backend, prompt_tokens, per_layer)
    if xp.somewhere(run.overflowed):
        raise UserError(OVERFLOW.format(workload=workload.name))
    accel = run.accel
    breakdown = {
        "energy_j": run.energy,
        "cycles": {k: round(v) for k, v in run.tally.gemms.items()},
        "busy_cycles": {k: round(v) for k, v in run.tally.busy.items()},
        # all cores' area (sums to area_mm2); buffer sizes are each core's
        "area_mm2": {c.module: c.area_mm2 * c.count * accel.cores for c in accel.components}
        | {f"buffer:{b.name}": b.area_mm2 * accel.cores for b in accel.buffers},
        "buffers_kb": {b.name: b.bytes / 1024 for b in accel.buffers},
        "sram_model": {b.name: SRAM_LABELS[b.priced_by] for b in accel.buffers},  # what priced each buffer
        # the stationary operand's buffer port (dse/sim/buffering.py): the weight buffer's read bandwidth under WS
        "stationary_port": stationary_port(design.dataflow, design.cols, design.weight_buffering,
                                           get_precision(design.precision).word_bytes),
    }
    ev = Evaluation(workload=workload.name, accelerator=accel.name, convention=design.convention,
                    profile_source="none" if run.profile is None else run.profile.source, breakdown=breakdown,
                    per_layer=run.per_layer, **run.values)
    return ev, run


def evaluate(design: DesignPoint, workload: Workload, profile: SparsityProfile | str = "published",
             backend: Backend | str = "analytic", per_layer: bool = False, prompt_tokens: int = 0) -> Evaluation:
    return evaluate_run(design, workload, profile, backend, per_layer, prompt_tokens)[0]


def visual_profile(design: DesignPoint, workload: Workload,
                   profile: SparsityProfile | str = "published") -> SparsityProfile | None:
    """What concentration leaves of the workload's visual tokens for this design (None: none runs)."""
    refused = similarity_window_error(design, workload)
    if refused:
        raise UserError(refused)
    return design_profiles(design, workload, profile)[0]
