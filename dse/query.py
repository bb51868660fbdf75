"""The whole VLM query: which phases run, in order, and how their costs add up.

A design's `phases` picks a part of PIPELINE (prefill always: the usual keys describe it); the default,
prefill alone with P = 0, is exactly the Focus paper's scope and dse.evaluate.evaluate. With a batch of
B sequences the encoder and prefill run once per sequence (costs x B) and decode runs them together at
M = B. Totals: ttft = encoder + prefill time; tpot = decode time / G; query time = ttft + G tpot; query
energy = the phases' sum; kv_cache_bytes = all layers' KV caches at their peak.
run_query runs one design point; run_query_batch many, on arrays (the same phases: `study exhaustive`
and a study's generations).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from dse import xp
from dse.batch import evaluate_batch
from dse.cost.accelerator import Accelerator
from dse.cost.precision import get_precision
from dse.design import PHASES, DesignColumns, DesignPoint, structure_key
from dse.errors import UserError
from dse.evaluate import Evaluation, evaluate_run
from dse.llm_run import RESULT_KEYS, accelerator_for, design_profiles
from dse.phases import decode, encoder, prefill
from dse.phases.common import DecodeInput, DenseArray, PhaseCost, QueryContext
from dse.phases.decode import peak_kv_cache_bytes
from dse.profile import SparsityProfile
from dse.sim.backends import Backend, get_backend
from dse.workloads.catalog import Workload

# The pipeline, in order (as ZigZag's api.py lists its stages): each phase a module, run(QueryContext).
PIPELINE: dict[str, Callable[[QueryContext], PhaseCost]] = {
    "encoder": encoder.run,  # vision tower + connector, dense on the design's array (dse/phases/encoder.py)
    "prefill": prefill.run,  # the LLM on concentrated visual + P text tokens (dse/llm_run.py)
    "decode": decode.run,  # G tokens at M = batch over each layer's KV cache (dse/phases/decode.py)
}
assert tuple(PIPELINE) == PHASES, "dse/design.py names the phases a design may ask for"
# documented whole-query settings (README "The whole query"): a multiple-choice video QA prompt
# (question + 4 options) answered by one letter and an end token; a caption of a few hundred tokens
VIDEO_QA = {"prompt_tokens": 64, "output_tokens": 2}
CAPTIONING = {"prompt_tokens": 32, "output_tokens": 256}
NO_BANDWIDTH = ("the decode phase needs a finite DRAM bandwidth: give --dram-bandwidth-gbps GBPS "
                "(or dram_bandwidth_gbps in the design)")
MODELLED = ("encoder and decode phases are focus-dse's model, beyond the Focus paper (which counts the prefill "
            "only); both conventions count them with exact tiles")


@dataclass(frozen=True)
class QueryResult:
    design: DesignPoint  # (run_query_batch: the first of the points; the query knobs are all theirs)
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


def kv_cache(visual: SparsityProfile | None, workload: Workload, prompt_tokens: int, n: int | None = None) -> tuple:
    """Per LLM layer, the KV cache decode starts from: the visual tokens the layer kept (every one without
    concentration) + the P text tokens; for n points, int64 arrays."""
    if visual is None:
        per_layer = [workload.tokens + prompt_tokens] * workload.spec.llm.layers
    else:
        per_layer = [xp.floor(lp.tokens_kept) + prompt_tokens for lp in visual.layers]
    if n is None:
        return tuple(per_layer)
    return tuple(np.broadcast_to(np.asarray(c), (n,)).astype(np.int64) for c in per_layer)


def _query(design: DesignPoint | list[DesignPoint], columns: Any, workload: Workload, ev: Evaluation,
           cache: tuple, backend: Backend, accel: Accelerator | None = None) -> QueryResult:
    """The phases of one design point (`columns` the point itself) or of a list of points of one query
    (`columns` their DesignColumns; `ev` and `cache` arrays over them), in pipeline order; `accel`: the
    chip, when the prefill built it already."""
    first = design[0] if isinstance(design, list) else design
    inp = DecodeInput(cache, first.output_tokens if "decode" in first.phases else 0, first.batch,
                      get_precision(first.precision).word_bytes)
    # the paper's scope needs no dense array: nothing else to build
    dense = None if first.paper_scope else DenseArray(columns, accel or accelerator_for(columns), backend)
    q = QueryContext(design, workload, ev, inp, dense)
    phases = {name: PIPELINE[name](q) for name in first.phases}
    return QueryResult(first, ev, phases, peak_kv_cache_bytes(workload.spec.llm, inp))


def run_query(design: DesignPoint, workload: Workload, profile: SparsityProfile | str = "published",
              backend: Backend | str = "analytic", per_layer: bool = False) -> QueryResult:
    if "decode" in design.phases and design.dram_bandwidth_gbps is None:
        raise UserError(NO_BANDWIDTH)
    backend = get_backend(backend) if isinstance(backend, str) else backend
    P = design.prompt_tokens
    ev, run = evaluate_run(design, workload, profile, backend, per_layer, prompt_tokens=P)
    return _query(design, design, workload, ev, kv_cache(run.visual, workload, P), backend, run.accel)


@dataclass(frozen=True)
class QueryBatch:
    """The whole query of some of the points given to run_query_batch."""

    index: np.ndarray  # their positions in the list given
    query: QueryResult  # every number an array over them (design: the first; the query knobs are all theirs)


def run_query_batch(points: list[DesignPoint], workload: Workload) -> tuple[list[QueryBatch], list[str]]:
    """run_query(point, workload) of many points (published profiles, analytic backend) on arrays: the
    prefill by dse/batch.py evaluate_batch, the other phases by the same code as run_query, on arrays of
    the points that share a query (phases, P, G, B) and a structure (dse/design.py structure_key).
    Returns the batches and, per point, "" or what run_query raises for it."""
    errors = [""] * len(points)
    queries: dict[tuple, list[int]] = {}
    for i, p in enumerate(points):
        if "decode" in p.phases and p.dram_bandwidth_gbps is None:
            errors[i] = NO_BANDWIDTH
        else:
            queries.setdefault((p.phases, p.prompt_tokens, p.output_tokens, p.batch), []).append(i)
    out: list[QueryBatch] = []
    backend = get_backend("analytic")
    for (phases, P, _, _), idx in queries.items():
        res = evaluate_batch([points[i] for i in idx], workload, prompt_tokens=P)
        groups: dict[tuple, list[int]] = {}
        for j, i in enumerate(idx):
            if res.errors[j]:
                errors[i] = res.errors[j]
            else:
                groups.setdefault((*structure_key(points[i]), points[i].encoder_threshold is None), []).append(j)
        for js in groups.values():
            pts = [points[idx[j]] for j in js]
            try:  # the group's structure may refuse the query (e.g. no encoder spec)
                columns = DesignColumns.of(pts)
                cache = np.array(kv_cache(design_profiles(columns, workload)[0], workload, P, len(pts)))
                # decode batches: also by which layers share a KV cache
                subsets = _by_layer_pattern(cache) if "decode" in phases else [list(range(len(js)))]
                done = []
                for ks in subsets:
                    sub = [pts[k] for k in ks]
                    ev = _evaluation(res, np.array([js[k] for k in ks]), workload)
                    done.append((ks, _query(sub, DesignColumns.of(sub), workload, ev, tuple(cache[:, ks]), backend)))
            except UserError as exc:
                for j in js:
                    errors[idx[j]] = str(exc)
                continue
            out.extend(QueryBatch(np.array(idx)[[js[k] for k in ks]], query) for ks, query in done)
    return out, errors


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
    v = {k: res.values[k][sel] for k in RESULT_KEYS}
    return Evaluation(workload=workload.name, accelerator="", convention="", profile_source=res.profile_source[sel[0]],
                      breakdown={}, **v)
