"""The prefill phase: the LLM on the visual tokens after concentration plus P text tokens.

With P = 0 this is exactly dse.evaluate.evaluate (the Focus paper's scope). Text tokens follow
the visual ones, are never pruned or merged, and attend causally to everything before them:
the workload grows to S + P tokens and, for Focus, every layer's kept tokens and unique rows
grow by P. AdapTiV and CMC apply their published skip fractions to all S + P rows (P << S).
"""

from __future__ import annotations

from dataclasses import replace

from dse.evaluate import DesignPoint, Evaluation, dense_macs, evaluate, profile_for
from dse.profile import LayerProfile, SparsityProfile
from dse.sim.backends import Backend
from dse.workloads.catalog import Workload


def with_prompt(workload: Workload, prompt_tokens: int) -> Workload:
    """The workload the prefill runs: S visual tokens and P text tokens."""
    return replace(workload, tokens=workload.tokens + prompt_tokens) if prompt_tokens else workload


def with_text(profile: SparsityProfile, workload: Workload, text: int) -> SparsityProfile:
    layers = tuple(LayerProfile(lp.layer, lp.tokens_kept + text, {k: v + text for k, v in lp.unique_rows.items()},
                                None if lp.mlp_tokens_kept is None else lp.mlp_tokens_kept + text)
                   for lp in profile.layers)
    return SparsityProfile(layers, profile.tokens + text, profile.settings, profile.source, workload.name,
                           dict(profile.extra))


def run_prefill(design: DesignPoint, workload: Workload, prompt_tokens: int, profile, backend: Backend | str,
                per_layer: bool = False) -> tuple[Evaluation, SparsityProfile | None]:
    """The prefill's Evaluation and the (visual) profile it ran with (None: no concentration)."""
    visual = profile_for(design, workload, profile)
    if not prompt_tokens:
        return evaluate(design, workload, profile, backend, per_layer=per_layer), visual
    whole = with_prompt(workload, prompt_tokens)
    prof = with_text(visual, whole, prompt_tokens) if visual is not None else "published"
    return evaluate(design, whole, prof, backend, per_layer=per_layer), visual


def prefill_macs(ev: Evaluation, workload: Workload, prompt_tokens: int) -> float:
    """MACs the prefill computes: its compute fraction of the dense MACs on S + P tokens."""
    return ev.compute_fraction * dense_macs(with_prompt(workload, prompt_tokens))
