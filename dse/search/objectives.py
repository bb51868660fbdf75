"""Objectives: which metric of a trial, and which way is better.

Metrics of a design over the study's workloads (dse/search/evaluation.py): energy and latency
are summed over the workloads (the cost of running the whole set once), accuracy and its drop
are averaged, area and power are properties of the design.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from dse.errors import UserError


@dataclass(frozen=True)
class Objective:
    name: str
    metric: str  # key in a trial's metrics
    direction: str  # "maximize" | "minimize"
    label: str  # axis label (unit included)
    unit: str  # printed after values

    @property
    def maximize(self) -> bool:
        return self.direction == "maximize"

    @property
    def sign(self) -> float:
        """-1 for a maximised objective, 1 for a minimised one: sign * value is lower-is-better."""
        return -1.0 if self.maximize else 1.0

    @property
    def arrow(self) -> str:
        return "↑" if self.maximize else "↓"


OBJECTIVES: dict[str, Objective] = {o.name: o for o in (
    Objective("accuracy", "accuracy", "maximize", "accuracy (benchmark score)", "points"),
    Objective("accuracy_drop", "accuracy_drop", "minimize", "accuracy drop vs dense (points)", "points"),
    Objective("energy", "energy_j", "minimize", "energy (J)", "J"),
    Objective("latency", "latency_s", "minimize", "latency (s)", "s"),
    Objective("area", "area_mm2", "minimize", "area (mm²)", "mm²"),
    Objective("power", "power_mw", "minimize", "on-chip power (mW)", "mW"),
    Objective("edp", "edp_js", "minimize", "energy-delay product (J·s)", "J·s"),
    Objective("ttft", "ttft_s", "minimize", "time to first token (s)", "s"),
    Objective("tpot", "tpot_s", "minimize", "time per output token (s)", "s"),
    Objective("query_time", "query_time_s", "minimize", "whole-query time (s)", "s"),
    Objective("query_energy", "query_energy_j", "minimize", "whole-query energy (J)", "J"),
)}


def parse_objectives(raw: Any, where: str = "objectives") -> tuple[str, ...]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise UserError(f"{where}: a non-empty list of {', '.join(OBJECTIVES)}")
    out = []
    for item in raw:
        if not isinstance(item, str) or item not in OBJECTIVES:
            raise UserError(f"{where}: unknown objective {item!r}; use {', '.join(OBJECTIVES)}")
        if item in out:
            raise UserError(f"{where}: '{item}' listed twice")
        out.append(item)
    if "accuracy" in out and "accuracy_drop" in out:
        raise UserError(f"{where}: accuracy and accuracy_drop are the same objective; keep one")
    return tuple(out)


def objective_values(names: tuple[str, ...], metrics: dict[str, float]) -> list[float]:
    return [float(metrics[OBJECTIVES[n].metric]) for n in names]


def directions(names: tuple[str, ...]) -> list[str]:
    return [OBJECTIVES[n].direction for n in names]


def maximized(names: Sequence[str]) -> list[bool]:
    """Per objective: is it maximised (the `maximize` argument of dse/search/front.py)."""
    return [OBJECTIVES[n].maximize for n in names]
