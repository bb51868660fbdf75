"""Many design points of one workload at once: dse/llm_run.py's run on numpy arrays.

evaluate_batch(points, workload) gives, for every point, the numbers evaluate() puts in its Evaluation
(RESULT_KEYS), from the same run: the profile, the chip, the accelerators' rules, the cycle and traffic
formulas and the energy are written once in dse/xp.py arithmetic, which runs on one design's Python
numbers (evaluate) or on arrays with one element per design point (here).

Points are grouped by the knobs that change the model's structure (dse/design.py structure_key):
accelerator, convention, cores (and with several, the array's columns: how a GEMM's columns
split over them), concentration level, precision, which buffers are sized by hand, weight buffering and
the redundancy clip set (whose curves scale similarity). Inside a group every other knob is an array
(DesignColumns), the dataflow too: the few formulas that depend on it run once per dataflow present
(dse/sim/analytic.py per_dataflow), so a generation of a search is one group, not one per dataflow
(a group's numpy calls cost the same for 12 points as for 36). The group's profile and chip are built
once as arrays; a layer is evaluated once per distinct set of token counts in the group. A group the array
path refuses (a size expression or buffer the model rejects for some point) and points with a layer that
keeps no token or whose numbers overflow run alone (evaluate), which says which point is wrong and why.
Only the published profiles and the analytic backend (the study's) are batched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dse.design import DesignColumns, DesignPoint, structure_key
from dse.errors import UserError
from dse.evaluate import evaluate
from dse.fits import similarity_window_error
from dse.llm_run import RESULT_KEYS, run_llm
from dse.sim.backends import AnalyticBackend
from dse.workloads.catalog import Workload


@dataclass(frozen=True)
class BatchResult:
    values: dict[str, np.ndarray]  # each of RESULT_KEYS, one element per point (NaN where it failed)
    errors: list[str]  # "" where the point evaluated, else what evaluate() raises for it
    profile_source: list[str]
    vectorised: np.ndarray  # True where the point went through the array path


def evaluate_batch(points: list[DesignPoint], workload: Workload, prompt_tokens: int = 0) -> BatchResult:
    """What evaluate(point, workload, prompt_tokens=P) gives for each point (published profiles, analytic
    backend)."""
    n = len(points)
    values = {k: np.full(n, np.nan) for k in RESULT_KEYS}
    errors = [similarity_window_error(p, workload) for p in points]  # first, as evaluate() (which error a point reports)
    sources = [""] * n
    vectorised = np.zeros(n, dtype=bool)
    groups: dict[tuple, list[int]] = {}
    for i, p in enumerate(points):
        if not errors[i]:
            groups.setdefault(structure_key(p), []).append(i)
    for idx in groups.values():
        try:
            got, source, alone = _evaluate_group([points[i] for i in idx], workload, prompt_tokens)
        except UserError:  # some point's chip is refused: each point says for itself
            got, source, alone = {}, "", np.ones(len(idx), dtype=bool)
        for j, i in enumerate(idx):
            if not alone[j]:
                vectorised[i] = True
                sources[i] = source
                for k in RESULT_KEYS:
                    values[k][i] = got[k][j]
                continue
            try:  # the batch of one
                ev = evaluate(points[i], workload, prompt_tokens=prompt_tokens)
            except UserError as exc:
                errors[i] = str(exc)
                continue
            sources[i] = ev.profile_source
            for k in RESULT_KEYS:
                values[k][i] = getattr(ev, k)
    return BatchResult(values, errors, sources, vectorised)


def _evaluate_group(points: list[DesignPoint], workload: Workload, prompt_tokens: int):
    """One group of structurally equal points: (numbers per RESULT_KEYS, profile source, which points
    must run alone: a layer without tokens, or numbers that overflow)."""
    n = len(points)
    with np.errstate(all="ignore"):  # empty layers and overflows are redone one by one
        run = run_llm(DesignColumns.of(points), workload, "published", AnalyticBackend(), prompt_tokens)
        got = {k: np.broadcast_to(np.asarray(v, dtype=float), (n,)) for k, v in run.values.items()}
        alone = np.broadcast_to(run.empty | run.overflowed, (n,))
    return got, "none" if run.profile is None else run.profile.source, alone
