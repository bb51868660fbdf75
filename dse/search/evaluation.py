"""One trial's work: a design dict -> evaluation on every workload -> metrics, accuracy, constraints.

Metrics over the study's workloads: energy_j, latency_s, dram_bytes, total_cycles and
stall_cycles are summed (one run of the whole set), accuracy, accuracy_drop and
compute_fraction are averaged; area_mm2, power_mw and buffer_kb belong to the design.
edp_js = energy_j * latency_s. ttft_s, tpot_s, query_time_s and query_energy_j (the whole query,
dse/query.py; the prefill's latency and energy when a design's phases are the default) are summed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from dse.accuracy import get_provider
from dse.errors import UserError
from dse.levels import unbuilt_buffers
from dse.search.constraints import buffer_shortfall
from dse.search.studyfile import StudySpec, resolve_workload_item
from dse.sim.xp import rint

METRIC_KEYS = ("accuracy", "accuracy_drop", "relative_drop_pct", "energy_j", "latency_s", "edp_js", "area_mm2",
               "power_mw", "buffer_kb", "dram_bytes", "total_cycles", "stall_cycles", "compute_fraction",
               "ttft_s", "tpot_s", "query_time_s", "query_energy_j")
QUERY_KEYS = ("ttft_s", "tpot_s", "query_time_s", "query_energy_j")  # the whole query (dse/query.py), summed


@dataclass(frozen=True)
class Outcome:
    design: dict[str, Any]
    metrics: dict[str, float]
    per_workload: dict[str, dict[str, float]]
    constraints: list[float]
    accuracy_provider: str
    profile_source: str
    buffer_shortfall: float = -1.0

    @property
    def feasible(self) -> bool:
        return all(c <= 0 for c in self.constraints)


class DesignEvaluator:
    """Evaluates designs of one study (workloads resolved and accuracy provider built once)."""

    def __init__(self, spec: StudySpec):
        self.spec = spec
        self.workloads = [resolve_workload_item(w) for w in spec.workloads]
        self.provider = get_provider(spec.accuracy.provider, spec.accuracy.options)

    def default_design(self, accelerator: str | None = None) -> dict[str, Any]:
        """The accelerator's default (paper) design with threshold (the first workload's published one) and
        buffer sizes (what its tiles need) made explicit, on the study's DRAM bandwidth when the study
        fixes one (the memory system is the environment every design of the study sees)."""
        from dse.evaluate import QUERY_DEFAULTS, DesignPoint
        from dse.published import focus_config

        from dse.cost.accelerator import default_buffer_bytes

        point = DesignPoint(accelerator=accelerator or self.spec.accelerator, convention=self.spec.convention)
        d = point.to_dict()
        d["threshold"] = focus_config(self.workloads[0].name)["threshold"]
        needed = default_buffer_bytes(point.accelerator, point.knobs, self.spec.convention == "focus-paper")
        d["buffer_kb"] = {name: size / 1024 for name, size in needed.items()}  # what the tiles need, explicit
        knob = self.spec.space.knobs.get("dram_bandwidth_gbps")
        if knob is not None and not knob.searched:  # the study's memory system is the environment
            d["dram_bandwidth_gbps"] = knob.value
        for name in QUERY_DEFAULTS:  # so is the query (phases, P, G, batch) the study fixes
            knob = self.spec.space.knobs.get(name)
            if knob is not None and not knob.searched:
                d[name] = knob.value
        return d

    @staticmethod
    def design_point(design: dict[str, Any]):
        """The DesignPoint a trial's design dict describes (sizes of buffers its level leaves off the chip
        dropped: the sampler draws them for every level)."""
        from dse.evaluate import DesignPoint

        point = DesignPoint.from_dict(design, "trial design")
        unbuilt = unbuilt_buffers(point.accelerator, point.concentration, point.convention)
        if unbuilt & set(point.buffer_kb):
            point = replace(point, buffer_kb={k: v for k, v in point.buffer_kb.items() if k not in unbuilt})
        return point

    def shortfall(self, point) -> float:
        from dse.cost.accelerator import default_buffer_bytes

        # only buffers sized by hand can fall short (the others are what the tiles need)
        needed = default_buffer_bytes(point.accelerator, point.knobs, self.spec.convention == "focus-paper") \
            if point.buffer_kb else {}
        return buffer_shortfall(needed, point.buffer_kb)

    def run(self, design: dict[str, Any]) -> Outcome:
        from dse.query import run_query

        point = self.design_point(design)
        per: dict[str, dict[str, float]] = {}
        provider_label, profile_source = "", ""
        for w in self.workloads:
            query = run_query(point, w)
            acc = self.provider.predict(point, w)
            provider_label, profile_source = acc.provider, query.prefill.profile_source
            per[w.name] = workload_metrics(query, acc.accuracy, acc.drop, acc.relative_drop_pct)
        m = aggregate(list(per.values()))
        if m["accuracy_drop"] != m["accuracy_drop"]:  # NaN (e.g. a user provider without a dense score)
            self.check_drop_known()
        shortfall = self.shortfall(point)
        return Outcome(design=point.to_dict(), metrics=m, per_workload=per,
                       constraints=self.spec.constraints.values(m, shortfall), accuracy_provider=provider_label,
                       profile_source=profile_source, buffer_shortfall=shortfall)

    def check_drop_known(self) -> None:
        """An unknown accuracy drop is an error when a constraint or objective needs it."""
        if self.spec.constraints.accuracy_drop_max is not None or "accuracy_drop" in self.spec.objectives:
            raise UserError("accuracy drop unknown (no dense accuracy for this workload): give the user "
                            "provider 'dense_accuracy'")

    def reference_points(self) -> dict[str, dict[str, float]]:
        """Metrics of the reference designs marked on the plots: dense, Focus default, AdapTiV, CMC
        (each at its paper configuration; baselines only where the paper published their sparsity)."""
        out: dict[str, dict[str, float]] = {}
        for name, accel in (("dense", "dense"), ("Focus default", "focus"), ("AdapTiV", "adaptiv"), ("CMC", "cmc")):
            try:
                design = self.default_design(accel) if accel == "focus" else \
                    {**self.default_design(accel), "threshold": None}
                outcome = self.run(design)
            except UserError:
                continue
            out[name] = {**outcome.metrics, "accuracy_provider": outcome.accuracy_provider}  # type: ignore[dict-item]
        return out


def workload_metrics(query, accuracy, drop, relative_drop_pct) -> dict[str, Any]:
    """One workload's metrics of a design (numbers, or arrays of design points: dse/search/batch.py)."""
    ev = query.prefill
    return {
        "energy_j": ev.energy_j, "latency_s": ev.execution_time_s, "dram_bytes": ev.dram_bytes,
        "total_cycles": rint(ev.total_cycles), "stall_cycles": ev.stall_cycles,
        "compute_fraction": ev.compute_fraction, "accuracy": accuracy, "accuracy_drop": drop,
        "relative_drop_pct": relative_drop_pct, "area_mm2": ev.area_mm2,
        "power_mw": ev.onchip_power_mw, "buffer_kb": ev.buffer_kb,
        **{key: getattr(query, key) for key in QUERY_KEYS},
    }


def aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The study's metrics over its workloads (see the module docstring)."""
    n = len(rows)
    m: dict[str, Any] = {}
    for key in ("energy_j", "latency_s", "dram_bytes", "total_cycles", "stall_cycles", *QUERY_KEYS):
        m[key] = sum(r[key] for r in rows)
    for key in ("accuracy", "accuracy_drop", "relative_drop_pct", "compute_fraction"):
        m[key] = sum(r[key] for r in rows) / n
    for key in ("area_mm2", "power_mw", "buffer_kb"):
        m[key] = rows[0][key]
    m["edp_js"] = m["energy_j"] * m["latency_s"]
    return m
