"""The systolic array a GEMM runs on, as scalesim sees it."""

from __future__ import annotations

from dataclasses import dataclass

from dse.errors import UserError

DATAFLOWS = ("os", "ws", "is")
# how many register sets hold the stationary operand: one (SCALE-Sim's serial fold) or two, the next
# fold's loading while the current one streams (dse/sim/buffering.py)
BUFFERINGS = ("single", "double")


def check_buffering(name: object) -> str:
    if name not in BUFFERINGS:
        raise UserError(f"design: weight_buffering must be one of {', '.join(BUFFERINGS)}, got {name!r}")
    return name  # type: ignore[return-value]


@dataclass(frozen=True)
class ArrayConfig:
    rows: int = 32
    cols: int = 32
    dataflow: str = "ws"
    # SRAM sizes in kB as in scalesim's config (ifmap = A, filter = B, ofmap = C)
    ifmap_sram_kb: int = 256
    filter_sram_kb: int = 256
    ofmap_sram_kb: int = 128
    buffering: str = "single"  # of BUFFERINGS: every cycle count of dse/sim/backends.py follows it

    def __post_init__(self) -> None:
        if self.dataflow not in DATAFLOWS:
            raise UserError(f"unknown dataflow '{self.dataflow}': use one of os, ws, is")
        check_buffering(self.buffering)
        for name in ("rows", "cols", "ifmap_sram_kb", "filter_sram_kb", "ofmap_sram_kb"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise UserError(f"{name.replace('_', '-')} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class GemmCounts:
    """What scalesim reports for one GEMM in its default (no-stall) mode."""

    compute_cycles: int  # scalesim's "Total Cycles" (not "incl. prefetch")
    ifmap_sram_reads: int
    filter_sram_reads: int
    ofmap_sram_writes: int


def check_gemm_shape(M: int, K: int, N: int) -> None:
    for value, name in ((M, "M"), (K, "K"), (N, "N")):
        if not isinstance(value, int) or value <= 0:
            raise UserError(f"GEMM {name} must be a positive integer, got {value!r}")
