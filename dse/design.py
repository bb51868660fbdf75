"""A design point: every knob of an accelerator design and of the query it answers, checked once.

DesignPoint is one design (Python numbers); DesignColumns is a group of structurally equal designs as
columns (numbers as numpy arrays with one element per design point, dse/batch.py): the cost model takes
either (dse/xp.py). PHASES names the phases of a whole query in pipeline order (dse/query.py runs them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from types import SimpleNamespace
from typing import Any

import numpy as np

from dse.cost.accelerator import load_spec
from dse.cost.buffer_pricing import check_sram_model
from dse.cost.energy import DRAM_PJ_PER_BYTE
from dse.cost.precision import check_precision
from dse.errors import UserError
from dse.levels import check_level
from dse.profile import parse_block
from dse.redundancy_curves import canonical_clips
from dse.sim.cores import check_cores
from dse.sim.hardware import ArrayConfig, check_buffering
from dse.sim.plan import check_convention
from dse.sim.units import check_model

BUFFER_PREFIX = "buffer_kb."  # a buffer's size as a table column or a searched knob: buffer_kb.<buffer>
PHASES = ("encoder", "prefill", "decode")  # a whole query, in pipeline order (dse/query.py)


def parse_phases(value: Any, where: str = "phases") -> tuple[str, ...]:
    """'encoder,prefill,decode' or a list -> the phases in pipeline order."""
    items = [p.strip() for p in value.split(",")] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not items or not all(isinstance(p, str) for p in items):
        raise UserError(f"{where}: a comma-separated list of {', '.join(PHASES)}, got {value!r}")
    unknown = [p for p in items if p not in PHASES]
    if unknown or len(set(items)) != len(items):
        raise UserError(f"{where}: each of {', '.join(PHASES)} at most once, got {value!r}")
    if "prefill" not in items:
        raise UserError(f"{where}: must include prefill (encoder,prefill,decode or a part of it), got {value!r}")
    return tuple(p for p in PHASES if p in items)


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
    redundancy_clips: str = "all"  # whose measured redundancy curves scale similarity (dse/redundancy_curves.py)
    buffer_kb: dict[str, float] = field(default_factory=dict)  # per buffer; {} = what the tiles need
    dram_bandwidth_gbps: float | None = None  # None = unlimited
    dram_pj_per_byte: float = DRAM_PJ_PER_BYTE
    convention: str = "faithful"
    # the whole query (dse/query.py); the defaults are the Focus paper's scope, the prefill alone
    phases: tuple[str, ...] = ("prefill",)  # of PHASES
    prompt_tokens: int = 0  # P text tokens after the visual ones (never pruned or merged)
    output_tokens: int = 0  # G decoded tokens
    batch: int = 1  # sequences decoded together (decode GEMMs have M = batch)
    encoder_threshold: float | None = None  # None: dense encoder; else Focus similarity inside the ViT
    # the datapath and scale-out; the defaults are the Focus RTL: one FP16 array
    precision: str = "fp16"  # fp16 | bf16 | fp8 | int8, weights and activations (dse/cost/precision.py)
    cores: int = 1  # arrays of rows x cols, each with its own Focus unit and buffers, sharing DRAM (dse/sim/cores.py)
    # what prices the buffers: compiler | cacti | None, the convention's rule (dse/cost/buffer_pricing.py)
    sram_model: str | None = None
    # single: SCALE-Sim's serial fold; double: a second register per PE loads the next fold's stationary
    # operand while the current fold streams (dse/sim/buffering.py), priced in area and power
    weight_buffering: str = "single"

    def __post_init__(self) -> None:
        object.__setattr__(self, "phases", parse_phases(self.phases, "design: phases"))
        self._check_query()
        check_convention(self.convention)
        check_precision(self.precision)
        check_cores(self.cores)
        check_sram_model(self.sram_model)
        check_buffering(self.weight_buffering)
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
        model = check_model(load_spec(self.accelerator)["model"], self.accelerator)
        check_level(self.concentration)
        object.__setattr__(self, "redundancy_clips", canonical_clips(self.redundancy_clips))
        if self.concentration != "sec+sic" and model != "focus":
            raise UserError(f"design: concentration '{self.concentration}' applies to the Focus accelerator only; "
                            f"{self.accelerator} uses its published sparsity")
        ArrayConfig(self.rows, self.cols, self.dataflow, buffering=self.weight_buffering)

    def _check_query(self) -> None:
        for name, low in (("prompt_tokens", 0), ("output_tokens", 0), ("batch", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise UserError(f"design: {name} must be an integer >= {low}, got {value!r}")
        t = self.encoder_threshold
        if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 <= t <= 1):
            raise UserError(f"design: encoder_threshold must be in [0, 1] or null (off), got {t!r}")
        if "decode" in self.phases and self.output_tokens < 1:
            raise UserError("the decode phase needs output_tokens >= 1 (--output-tokens G)")
        if self.encoder_threshold is not None and "encoder" not in self.phases:
            raise UserError("encoder_threshold acts in the encoder phase: add encoder to the phases or drop it")

    @property
    def knobs(self) -> dict[str, int]:
        return {"rows": self.rows, "cols": self.cols, "m_tile": self.m_tile, "n_tile": self.n_tile,
                "n_scatter": self.n_scatter}

    @property
    def block_volume(self) -> int:
        t, h, w = self.block
        return t * h * w

    @property
    def paper_scope(self) -> bool:
        """The Focus paper's scope: the prefill alone, one sequence (no dense phase to build)."""
        return self.phases == ("prefill",) and self.batch == 1

    @staticmethod
    def buffer_names(accelerator: str) -> list[str]:
        return [b["name"] for b in load_spec(accelerator)["buffers"]]

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}  # not asdict, which deep-copies every field
        d["buffer_kb"] = dict(self.buffer_kb)
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

# knobs a group of design points shares (its structure, dse/batch.py), kept as one value; every other
# number becomes an array
SHARED = ("accelerator", "convention", "concentration", "precision", "cores", "sram_model", "weight_buffering",
          "redundancy_clips")
_NONE_MEANS = {"dram_bandwidth_gbps": math.inf}  # None: unlimited; any other None knob is NaN


def structure_key(p: DesignPoint) -> tuple:
    """What a group of points shares: the knobs that shape the model, not just its numbers
    (columns only through the split over cores, dse/sim/cores.py)."""
    return (p.accelerator, p.convention, p.cols if p.cores > 1 else 0, p.cores, p.concentration,
            p.precision, tuple(sorted(p.buffer_kb)), p.sram_model, p.weight_buffering, p.redundancy_clips)


class DesignColumns(SimpleNamespace):
    """Structurally equal design points as one design: every DesignPoint field, numbers as arrays with
    one element per point (shared knobs and, with several cores, the columns as one value; block and
    phases as lists; the dataflow one value, or an array of each point's when they differ), plus
    block_volume and knobs as a DesignPoint has them."""

    @classmethod
    def of(cls, points: list[DesignPoint]) -> DesignColumns:
        d0 = points[0]
        out: dict[str, Any] = {}
        for f in fields(DesignPoint):
            name = f.name
            if name in SHARED or (name == "cols" and d0.cores > 1):  # columns split over cores: one value
                out[name] = getattr(d0, name)
            elif name == "dataflow":  # one, or each point's (dse/sim/analytic.py per_dataflow)
                flows = [p.dataflow for p in points]
                out[name] = flows[0] if len(set(flows)) == 1 else np.array(flows)
            elif name == "buffer_kb":  # the group sizes the same buffers by hand
                out[name] = {b: np.array([p.buffer_kb[b] for p in points], dtype=float) for b in d0.buffer_kb}
            elif isinstance(getattr(d0, name), (tuple, str)):  # block, phases
                out[name] = [getattr(p, name) for p in points]
            else:
                none = _NONE_MEANS.get(name, math.nan)
                out[name] = np.array([none if (v := getattr(p, name)) is None else v for p in points], dtype=float)
        d = cls(**out, block_volume=np.array([p.block_volume for p in points], dtype=float))
        d.knobs = {k: out[k] for k in d0.knobs}
        return d

    def __len__(self) -> int:
        return len(self.block)
