"""One trial's work: a design dict -> evaluation on every workload -> metrics, accuracy, constraints.

Metrics over the study's workloads: energy_j, latency_s, dram_bytes, total_cycles and
stall_cycles are summed (one run of the whole set), accuracy, accuracy_drop and
compute_fraction are averaged; area_mm2, power_mw and buffer_kb belong to the design.
edp_js = energy_j * latency_s. ttft_s, tpot_s, query_time_s and query_energy_j (the whole query,
dse/query.py; the prefill's latency and energy when a design's phases are the default) are summed.
total_cycles and stall_cycles are whole cycles, each workload's rounded (CYCLE_KEYS). The model's
cycle counts can be fractional, as in the Focus paper's formulas (a gather tile of block * m_tile *
n_tile / C cycles with n_tile not a multiple of C), and latency_s (like energy_j) is computed from
them unrounded: total_cycles / frequency differs from latency_s by less than half a cycle's time
per workload.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from dse.accuracy import get_provider
from dse.cost.accelerator import default_buffer_bytes
from dse.design import BUFFER_PREFIX, QUERY_DEFAULTS, DesignPoint
from dse.errors import UserError
from dse.levels import unbuilt_buffers
from dse.published import focus_config
from dse.query import QueryBatch, run_query, run_query_batch
from dse.search.constraints import buffer_shortfall
from dse.search.studyfile import StudySpec, resolve_workload_item
from dse.xp import rint

METRIC_KEYS = ("accuracy", "accuracy_drop", "relative_drop_pct", "energy_j", "latency_s", "edp_js", "area_mm2",
               "power_mw", "buffer_kb", "dram_bytes", "total_cycles", "stall_cycles", "compute_fraction",
               "ttft_s", "tpot_s", "query_time_s", "query_energy_j")
QUERY_KEYS = ("ttft_s", "tpot_s", "query_time_s", "query_energy_j")  # the whole query (dse/query.py), summed
CYCLE_KEYS = ("total_cycles", "stall_cycles")  # whole cycles (integers)


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
    def design_point(design: dict[str, Any]) -> DesignPoint:
        """The DesignPoint a trial's design dict describes (sizes of buffers its level leaves off the chip
        dropped: the sampler draws them for every level)."""
        point = DesignPoint.from_dict(design, "trial design")
        unbuilt = unbuilt_buffers(point.accelerator, point.concentration, point.convention)
        if unbuilt & set(point.buffer_kb):
            point = replace(point, buffer_kb={k: v for k, v in point.buffer_kb.items() if k not in unbuilt})
        return point

    def shortfall(self, point: DesignPoint) -> float:
        # only buffers sized by hand can fall short (the others are what the tiles need)
        needed = default_buffer_bytes(point.accelerator, point.knobs, self.spec.convention == "focus-paper") \
            if point.buffer_kb else {}
        return buffer_shortfall(needed, point.buffer_kb)

    def run(self, design: dict[str, Any]) -> Outcome:
        """One trial: the design's Outcome (or the UserError that fails the trial)."""
        outcome = self.run_many([design])[0]
        if isinstance(outcome, UserError):
            raise outcome
        return outcome

    def run_many(self, designs: list[dict[str, Any]]) -> list[Outcome | UserError]:
        """run(design) of each design (a generation of trials at once, on arrays): its Outcome, or the
        UserError that fails it."""
        out: list[Outcome | UserError | None] = [None] * len(designs)
        points, where = [], []
        for i, design in enumerate(designs):
            try:
                points.append(self.design_point(design))
                where.append(i)
            except UserError as exc:
                out[i] = exc
        if points:
            got = trial_numbers(self, points)
            for j, i in enumerate(where):
                if j in got.failed:
                    out[i] = UserError(got.failed[j])
                    continue
                per = {w: _plain(m, j) for w, m in got.per_workload.items()}
                out[i] = Outcome(design=points[j].to_dict(), metrics=_plain(got.metrics, j), per_workload=per,
                                 constraints=[float(c[j]) for c in got.constraints],
                                 accuracy_provider=got.provider[j], profile_source=got.source[j],
                                 buffer_shortfall=float(got.shortfall[j]))
        return out  # type: ignore[return-value]

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
        "total_cycles": rint(ev.total_cycles), "stall_cycles": rint(ev.stall_cycles),
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


@dataclass
class TrialNumbers:
    """What a trial computes, for many points: arrays with one element per point."""

    metrics: dict[str, np.ndarray]  # over the study's workloads (aggregate)
    per_workload: dict[str, dict[str, np.ndarray]]
    constraints: list[np.ndarray]
    shortfall: np.ndarray
    failed: dict[int, str]  # position -> the first error that fails the point's trial
    provider: list[str]  # the accuracy provider's label and the profile's source (of the last workload)
    source: list[str]


def trial_numbers(evaluator: DesignEvaluator, points: list[DesignPoint]) -> TrialNumbers:
    """A trial's life, for many points at once: per workload the whole query (one point: dse/query.py
    run_query; many: run_query_batch, on arrays), then the accuracy; the metrics over the workloads, the
    buffers' shortfall and the constraint values. A point stops at its first error, in that order."""
    n = len(points)
    failed: dict[int, str] = {}
    per: dict[str, dict[str, np.ndarray]] = {}
    provider, source = [""] * n, [""] * n
    for w in evaluator.workloads:
        if n == 1:  # one design: its numbers, no arrays to build
            try:
                batches, errors = [QueryBatch(np.zeros(1, dtype=int), run_query(points[0], w))], [""]
            except UserError as exc:
                batches, errors = [], [str(exc)]
        else:
            batches, errors = run_query_batch(points, w)
        for j, message in enumerate(errors):
            if message:
                failed.setdefault(j, message)
        acc = np.full((n, 3), np.nan)
        for j, p in enumerate(points):
            if j in failed:  # the trial stops at the query: the provider never sees the design
                continue
            try:
                a = evaluator.provider.predict(p, w)
            except UserError as exc:
                failed.setdefault(j, str(exc))
                continue
            acc[j] = a.accuracy, a.drop, a.relative_drop_pct
            provider[j] = a.provider
        m = {k: np.full(n, np.nan) for k in METRIC_KEYS if k != "edp_js"}  # aggregate derives edp_js
        for b in batches:
            got = workload_metrics(b.query, acc[b.index, 0], acc[b.index, 1], acc[b.index, 2])
            for k, v in got.items():
                m[k][b.index] = v
            for j in b.index:
                source[j] = b.query.prefill.profile_source
        per[w.name] = m
    m = aggregate(list(per.values()))
    m = {k: np.broadcast_to(np.asarray(v, dtype=float), (n,)) for k, v in m.items()}
    unknown = np.isnan(m["accuracy_drop"])
    if unknown.any():
        try:
            evaluator.check_drop_known()
        except UserError as exc:
            for j in np.flatnonzero(unknown):
                failed.setdefault(int(j), str(exc))
    shortfall = np.full(n, np.nan)
    for j, p in enumerate(points):
        if j not in failed:
            try:
                shortfall[j] = evaluator.shortfall(p)
            except UserError as exc:
                failed[j] = str(exc)
    return TrialNumbers(m, per, evaluator.spec.constraints.values(m, shortfall), shortfall, failed, provider, source)


def _plain(metrics: dict[str, np.ndarray], j: int) -> dict[str, Any]:
    """Point j's metrics as a trial stores them (Python numbers; cycles integers)."""
    return {k: int(v[j]) if k in CYCLE_KEYS else float(v[j]) for k, v in metrics.items()}


def design_columns(design: dict[str, Any]) -> dict[str, Any]:
    """A trial's design dict as table columns (trials.csv, the exact front): every field, buffers as
    `buffer_kb.<buffer>`."""
    row: dict[str, Any] = {}
    for key, value in design.items():
        if key == "buffer_kb":
            for buf, kb in (value or {}).items():
                row[BUFFER_PREFIX + buf] = kb
        else:
            row[key] = value
    return row
