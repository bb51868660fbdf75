"""The prefill phase: the LLM on the visual tokens after concentration plus P text tokens (dse/llm_run.py).

With P = 0 this is exactly dse.evaluate.evaluate (the Focus paper's scope). Text tokens follow the
visual ones, are never pruned or merged, and attend causally to everything before them: the workload
grows to S + P tokens and, for Focus, every layer's kept tokens and unique rows grow by P. AdapTiV and
CMC apply their published skip fractions to all S + P rows (P << S). With a batch of B sequences the
prefill runs once per sequence.
"""

from __future__ import annotations

from dse.evaluate import Evaluation
from dse.llm_run import dense_macs, with_prompt
from dse.phases.common import PhaseCost, QueryContext
from dse.workloads.catalog import Workload


def run(q: QueryContext) -> PhaseCost:
    return prefill_cost(q.prefill, q.workload, q.first.prompt_tokens).repeated(q.first.batch)


def prefill_cost(ev: Evaluation, workload: Workload, P: int) -> PhaseCost:
    """The prefill phase of an Evaluation (whose numbers may be arrays of design points, dse/batch.py)."""
    return PhaseCost("prefill", prefill_macs(ev, workload, P), ev.total_cycles, ev.compute_cycles,
                     ev.memory_stall_cycles, ev.execution_time_s, ev.energy_j, ev.dram_bytes,
                     {"tokens": workload.tokens + P})


def prefill_macs(ev: Evaluation, workload: Workload, prompt_tokens: int) -> float:
    """MACs the prefill computes: its compute fraction of the dense MACs on S + P tokens."""
    return ev.compute_fraction * dense_macs(with_prompt(workload, prompt_tokens))
