"""The whole VLM query: which phases run, in order, and how their costs add up.

PHASES is the pipeline (as ZigZag's api.py lists its stages): encoder -> prefill -> decode.
A design's `phases` picks a subset (prefill always: the usual keys describe it); the default,
prefill alone with P = 0, is exactly the Focus paper's scope and dse.evaluate.evaluate.
With a batch of B sequences the encoder and prefill run once per sequence (costs x B) and
decode runs them together at M = B.
Totals: ttft = encoder + prefill time; tpot = decode time / G; query time = ttft + G tpot;
query energy = the phases' sum; kv_cache_bytes = all layers' KV caches at their peak.
run_query_batch is run_query on arrays of design points (the same phase code; `study exhaustive`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from dse.batch import BATCH_KEYS, design_columns, evaluate_batch, prefill_profile, structure_key
from dse.cost.precision import get_precision
from dse.errors import UserError
from dse.evaluate import DesignPoint, Evaluation, accelerator_for
from dse.phases.common import DenseArray, PhaseCost
from dse.phases.decode import DecodeInput, peak_kv_cache_bytes, run_decode
from dse.phases.encoder import run_encoder
from dse.phases.prefill import prefill_macs, run_prefill
from dse.sim.backends import Backend, get_backend
from dse.workloads.catalog import Workload

PHASES = ("encoder", "prefill", "decode")
# documented whole-query settings (README "The whole query"): a multiple-choice video QA prompt
# (question + 4 options) answered by one letter and an end token; a caption of a few hundred tokens
VIDEO_QA = {"prompt_tokens": 64, "output_tokens": 2}
CAPTIONING = {"prompt_tokens": 32, "output_tokens": 256}
NO_BANDWIDTH = ("the decode phase needs a finite DRAM bandwidth: give --dram-bandwidth-gbps GBPS "
                "(or dram_bandwidth_gbps in the design)")
MODELLED = ("encoder and decode phases are focus-dse's model, beyond the Focus paper (which counts the prefill "
            "only); both conventions count them with exact tiles")


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


def check_query_knobs(design: DesignPoint) -> None:
    for name, low in (("prompt_tokens", 0), ("output_tokens", 0), ("batch", 1)):
        value = getattr(design, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise UserError(f"design: {name} must be an integer >= {low}, got {value!r}")
    t = design.encoder_threshold
    if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 <= t <= 1):
        raise UserError(f"design: encoder_threshold must be in [0, 1] or null (off), got {t!r}")
    if "decode" in design.phases and design.output_tokens < 1:
        raise UserError("the decode phase needs output_tokens >= 1 (--output-tokens G)")
    if design.encoder_threshold is not None and "encoder" not in design.phases:
        raise UserError("encoder_threshold acts in the encoder phase: add encoder to the phases or drop it")


@dataclass(frozen=True)
class QueryResult:
    design: DesignPoint
    prefill: Evaluation  # the usual keys
    phases: dict[str, PhaseCost]
    kv_cache_bytes: float

    @property
    def is_default(self) -> bool:
        d = self.design
        return d.phases == ("prefill",) and not d.prompt_tokens and d.batch == 1

    @property
    def ttft_s(self) -> float:
        return sum(self.phases[p].time_s for p in ("encoder", "prefill") if p in self.phases)

    @property
    def tpot_s(self) -> float:
        return self.phases["decode"].time_s / self.design.output_tokens if "decode" in self.phases else 0.0

    @property
    def query_time_s(self) -> float:
        return self.ttft_s + self.design.output_tokens * self.tpot_s

    @property
    def query_energy_j(self) -> float:
        return sum(p.energy_j for p in self.phases.values())

    def to_dict(self) -> dict[str, Any]:
        d = self.design
        notes = [MODELLED] if set(self.phases) - {"prefill"} else []
        if "encoder" in self.phases and "modelled" in self.phases["encoder"].details:
            notes.append(self.phases["encoder"].details["modelled"])
        return {"phases": {name: p.to_dict() for name, p in self.phases.items()},
                "prompt_tokens": d.prompt_tokens, "output_tokens": d.output_tokens, "batch": d.batch,
                "ttft_s": self.ttft_s, "tpot_s": self.tpot_s, "query_time_s": self.query_time_s,
                "query_energy_j": self.query_energy_j, "kv_cache_bytes": self.kv_cache_bytes, "modelled": notes}


def _times(cost: PhaseCost, n: int) -> PhaseCost:
    if n == 1:
        return cost
    return replace(cost, macs=cost.macs * n, cycles=cost.cycles * n, compute_cycles=cost.compute_cycles * n,
                   memory_stall_cycles=cost.memory_stall_cycles * n, time_s=cost.time_s * n,
                   energy_j=cost.energy_j * n, dram_bytes=cost.dram_bytes * n)


def run_query(design: DesignPoint, workload: Workload, profile="published", backend: Backend | str = "analytic",
              per_layer: bool = False) -> QueryResult:
    if "decode" in design.phases and design.dram_bandwidth_gbps is None:
        raise UserError(NO_BANDWIDTH)
    backend = get_backend(backend) if isinstance(backend, str) else backend
    P, B = design.prompt_tokens, design.batch
    ev, visual = run_prefill(design, workload, P, profile, backend, per_layer)
    spec = workload.spec.llm
    cache = tuple(int(visual.layers[layer].tokens_kept) + P if visual is not None else workload.tokens + P
                  for layer in range(spec.layers))
    inp = decode_input(design, cache)
    if design.phases == ("prefill",) and B == 1:  # the paper's scope: nothing else to build
        return QueryResult(design, ev, {"prefill": prefill_cost(ev, workload, P)}, peak_kv_cache_bytes(spec, inp))
    dense = DenseArray(design, accelerator_for(design), backend)
    return QueryResult(design, ev, _phases(design, workload, ev, inp, dense), peak_kv_cache_bytes(spec, inp))


def decode_input(design: DesignPoint, cache: tuple) -> DecodeInput:
    return DecodeInput(cache, design.output_tokens if "decode" in design.phases else 0, design.batch,
                       get_precision(design.precision).word_bytes)


def _phases(design: DesignPoint | list[DesignPoint], workload: Workload, ev: Evaluation, inp: DecodeInput,
            dense: DenseArray) -> dict[str, PhaseCost]:
    """Each phase's cost, in pipeline order: one design point, or a list of points (of one query:
    the same phases, P, G and B) whose numbers `ev`, `inp` and `dense` hold as arrays."""
    first = design[0] if isinstance(design, list) else design
    P, B = first.prompt_tokens, first.batch
    phases: dict[str, PhaseCost] = {}
    for name in first.phases:
        if name == "encoder":
            phases[name] = _times(run_encoder(design, workload, dense), B)
        elif name == "prefill":
            phases[name] = _times(prefill_cost(ev, workload, P), B)
        else:
            phases[name] = run_decode(workload.spec.llm, inp, dense)
    return phases


@dataclass(frozen=True)
class QueryBatch:
    """The whole query of some of the points given to run_query_batch."""

    index: np.ndarray  # their positions in the list given
    query: QueryResult  # every number an array over them (design: the first; the query knobs are all theirs)


def run_query_batch(points: list[DesignPoint], workload: Workload) -> tuple[list[QueryBatch], list[str]]:
    """run_query(point, workload) of many points (published profiles, analytic backend) on arrays:
    the prefill by dse/batch.py evaluate_batch, the encoder and decode by the same phase code as
    run_query, run on arrays of the points that share a query (phases, P, G, B) and a structure
    (accelerator, convention, dataflow, cores, columns with several cores, level, precision).
    Returns the batches and, per point, "" or what run_query raises for it."""
    errors = [""] * len(points)
    queries: dict[tuple, list[int]] = {}
    for i, p in enumerate(points):
        if "decode" in p.phases and p.dram_bandwidth_gbps is None:
            errors[i] = NO_BANDWIDTH
        else:
            queries.setdefault((p.phases, p.prompt_tokens, p.output_tokens, p.batch), []).append(i)
    out: list[QueryBatch] = []
    for (phases, P, _, B), idx in queries.items():
        res = evaluate_batch([points[i] for i in idx], workload, prompt_tokens=P)
        dense = phases != ("prefill",) or B > 1  # the paper's scope (run_query's shortcut) builds no array
        groups: dict[tuple, list[int]] = {}
        for j, i in enumerate(idx):
            if res.errors[j]:
                errors[i] = res.errors[j]
                continue
            p = points[i]
            groups.setdefault((*structure_key(p), p.encoder_threshold is None), []).append(j)
        for js in groups.values():
            pts = [points[idx[j]] for j in js]
            try:  # the group's structure may refuse the query (e.g. no encoder spec)
                cache = np.array(_kv_cache(design_columns(pts), workload, P, len(pts)))  # layer x point
                # decode batches: also by which layers share a KV cache
                subsets = _by_layer_pattern(cache) if "decode" in phases else [list(range(len(js)))]
                queries_of = [(ks, _query_arrays([pts[k] for k in ks], workload,
                                                 _evaluation(res, np.array([js[k] for k in ks]), workload),
                                                 cache[:, ks], dense)) for ks in subsets]
            except UserError as exc:
                for j in js:
                    errors[idx[j]] = str(exc)
                continue
            out.extend(QueryBatch(np.array(idx)[[js[k] for k in ks]], query) for ks, query in queries_of)
    return out, errors


def _kv_cache(d, workload: Workload, P: int, n: int) -> tuple:
    """Per layer, the KV cache each of n points enters decode with: the prefill profile's kept visual
    tokens + the P text tokens (every token without concentration)."""
    prefill = prefill_profile(d, workload, P)
    if prefill is None:
        return (np.full(n, workload.tokens + P, dtype=np.int64),) * workload.spec.llm.layers
    return tuple(np.floor(np.broadcast_to(np.asarray(lp.tokens_kept, dtype=float), (n,))).astype(np.int64)
                 for lp in prefill.layers)


def _by_layer_pattern(cache: np.ndarray) -> list[list[int]]:
    """The points (columns of a layer x point KV-cache table) by which decode layers share a cache
    (per layer, the first with its cache). Decode sums layers with equal caches once
    (dse/phases/decode.py), so points batched together must share the pattern to be summed in
    run_query's order, to the last bit."""
    first = np.tile(np.arange(len(cache))[:, None], (1, cache.shape[1]))
    for layer in range(len(cache) - 1, -1, -1):  # the lowest index last: it wins
        first[cache == cache[layer]] = layer
    out: dict[bytes, list[int]] = {}
    for k, column in enumerate(first.T.astype(np.int16)):
        out.setdefault(column.tobytes(), []).append(k)
    return list(out.values())


def _evaluation(res, sel: np.ndarray, workload: Workload) -> Evaluation:
    """The prefill's numbers (dse/batch.py BatchResult) of the points at `sel`, as an Evaluation of arrays
    (they share an accelerator and a concentration level, hence their profile's source)."""
    v = {k: res.values[k][sel] for k in BATCH_KEYS}
    return Evaluation(workload=workload.name, accelerator="", convention="", profile_source=res.profile_source[sel[0]],
                      breakdown={}, **v)


def _query_arrays(points: list[DesignPoint], workload: Workload, ev: Evaluation, cache: np.ndarray,
                  dense_phases: bool) -> QueryResult:
    """The points' whole query; `cache`: their KV cache per layer (layer x point)."""
    d0, P = points[0], points[0].prompt_tokens
    spec = workload.spec.llm
    inp = decode_input(d0, tuple(cache))
    if not dense_phases:
        return QueryResult(d0, ev, {"prefill": prefill_cost(ev, workload, P)}, peak_kv_cache_bytes(spec, inp))
    d = design_columns(points)
    dense = DenseArray(d, accelerator_for(d), get_backend("analytic"))
    return QueryResult(d0, ev, _phases(points, workload, ev, inp, dense), peak_kv_cache_bytes(spec, inp))


def prefill_cost(ev: Evaluation, workload: Workload, P: int) -> PhaseCost:
    """The prefill phase of an Evaluation (whose numbers may be arrays of design points, dse/batch.py)."""
    return PhaseCost("prefill", prefill_macs(ev, workload, P), ev.total_cycles, ev.compute_cycles,
                     ev.memory_stall_cycles, ev.execution_time_s, ev.energy_j, ev.dram_bytes,
                     {"tokens": workload.tokens + P})
