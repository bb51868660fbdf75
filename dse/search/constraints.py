"""Constraints, as Optuna's constraints_func wants them: one value per constraint, <= 0 feasible.

Each value is the relative violation (metric - limit) / limit, so constraints of different
units weigh alike in the samplers' constrained domination. `buffers_fit`: every buffer the
study sizes must hold what the chosen tiles need (the accelerator spec's size expression):
value = max over buffers of (needed - given) / needed. Infeasible trials are kept, marked
`feasible = False`, and never on the reported Pareto front.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from dse.errors import UserError

LIMITS = {  # study-file key -> metric it bounds from above
    "area_mm2_max": "area_mm2",
    "power_mw_max": "power_mw",
    "accuracy_drop_max": "accuracy_drop",
    "latency_s_max": "latency_s",
    "energy_j_max": "energy_j",
}


@dataclass(frozen=True)
class Constraints:
    area_mm2_max: float | None = None
    power_mw_max: float | None = None
    accuracy_drop_max: float | None = None
    latency_s_max: float | None = None
    energy_j_max: float | None = None
    buffers_fit: bool = True

    def names(self) -> list[str]:
        out = [k for k in LIMITS if getattr(self, k) is not None]
        if self.buffers_fit:
            out.append("buffers_fit")
        return out

    def values(self, metrics: dict[str, float], buffer_shortfall: float) -> list[float]:
        out = []
        for key, metric in LIMITS.items():
            limit = getattr(self, key)
            if limit is not None:
                out.append((metrics[metric] - limit) / abs(limit) if limit else metrics[metric])
        if self.buffers_fit:
            out.append(buffer_shortfall)
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def buffer_shortfall(needed_bytes: dict[str, int], given_kb: dict[str, float]) -> float:
    """max over the given buffers of (needed - given) / needed; <= 0 when all fit."""
    worst = -1.0
    for name, kb in given_kb.items():
        need = needed_bytes.get(name, 0)
        if need > 0:
            worst = max(worst, (need - kb * 1024) / need)
    return worst


def parse_constraints(raw: Any, where: str = "constraints") -> Constraints:
    if raw is None:
        return Constraints()
    if not isinstance(raw, dict):
        raise UserError(f"{where}: a mapping, e.g. {{area_mm2_max: 4.0, accuracy_drop_max: 2.0, buffers_fit: true}}")
    allowed = set(LIMITS) | {"buffers_fit"}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in allowed:
            raise UserError(f"{where}: unknown constraint '{key}'; use {', '.join(sorted(allowed))}")
        if key == "buffers_fit":
            if not isinstance(value, bool):
                raise UserError(f"{where}.buffers_fit: true or false")
        elif value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise UserError(f"{where}.{key}: a number (or null for none), got {value!r}")
        elif value is not None and key != "accuracy_drop_max" and value <= 0:
            raise UserError(f"{where}.{key}: must be positive, got {value!r}")
        values[key] = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    return Constraints(**values)
