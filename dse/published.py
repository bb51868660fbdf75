"""The `published` SparsityProfile source: the Focus paper's concentration settings and the
effective compute its simulator measured on real traces.

- SEC: focus_configs.csv gives layers l_j and alpha_j; k_j = int(S * alpha_j) tokens survive
  from layer l_j on. Pruning happens after layer l_j's attention, before its MLP, so the
  MLP of l_j already sees k_j tokens.
- SIC: published_profiles.csv gives each workload's effective MACs after concentration. We
  spread the similarity reduction uniformly: every GEMM of every layer keeps the same
  fraction x of its kept tokens as unique rows (and Q^T rows of Q K^T), with x solved so
  the profile's MACs equal the published effective MACs. (The per-GEMM spread of the real
  traces is not published; uniform spreading fixes compute cycles to ~0.2 % but removes
  the scatter stalls of unevenly compressed GEMMs.)
- Workloads without a published row use the default SEC schedule and the geometric mean x
  of the nine video workloads.
"""

from __future__ import annotations

import ast
import csv
from functools import cache, lru_cache
from math import prod

from dse.data_files import REFERENCE_DIR
from dse.errors import UserError, warn
from dse.profile import MLP_GEMMS, ConcentrationSettings, LayerProfile, SparsityProfile
from dse import xp
from dse.workloads.catalog import VIDEO_WORKLOADS, Workload
from dse.workloads.gemms import linear_gemms
from dse.workloads.models import TransformerSpec


@cache
def _focus_configs() -> dict[str, dict]:
    with open(REFERENCE_DIR / "workloads" / "focus_configs.csv", newline="") as f:
        return {
            (f"{r['model']}/{r['dataset']}" if r["dataset"] else r["model"]): {
                "layers": tuple(ast.literal_eval(r["selected_layers"])),
                "alpha": tuple(ast.literal_eval(r["alpha_list"])),
                "threshold": float(r["similarity_threshold"]),
            }
            for r in csv.DictReader(f)
        }


@cache
def _effective_ops() -> dict[str, int]:
    with open(REFERENCE_DIR / "workloads" / "published_profiles.csv", newline="") as f:
        return {f"{r['model']}/{r['dataset']}": int(r["effective_ops"]) for r in csv.DictReader(f)}


def focus_config(workload_name: str) -> dict:
    return _focus_configs().get(workload_name, _focus_configs()["default"])


def token_schedule(tokens: int, num_layers: int, layers: tuple[int, ...], alphas: tuple) -> list[tuple]:
    """(attention tokens, MLP tokens) per layer under an SEC schedule (alphas: numbers, or arrays of
    design points)."""
    # int(S * alpha) of the original tokens, as the paper's simulator (at least one token)
    kept = {layer: xp.maximum(1, xp.floor(tokens * alpha)) for layer, alpha in zip(layers, alphas)}
    out, current = [], tokens
    for layer in range(num_layers):
        attn = current
        current = kept.get(layer, current)
        out.append((attn, current))
    return out


def _attention_macs(spec: TransformerSpec, queries: float, keys: float) -> float:
    return queries * keys * spec.head_dim * spec.heads / 2  # causal half


def solve_unique_fraction(spec: TransformerSpec, schedule: list[tuple[int, int]], effective_macs: float) -> float:
    """x such that the profile's MACs (linear and Q K^T on x*T rows, S V on all T) equal effective_macs."""
    scalable = fixed = 0.0
    for attn, mlp in schedule:
        for g in linear_gemms(spec, 1):
            scalable += (mlp if g.name in MLP_GEMMS else attn) * g.K * g.N
        scalable += _attention_macs(spec, attn, attn)
        fixed += _attention_macs(spec, attn, attn)
    return min(1.0, max(0.0, (effective_macs - fixed) / scalable))


@cache
def _video_mean_fraction() -> float:
    from dse.workloads.catalog import resolve_workload

    xs = [_published_fraction(resolve_workload(name)) for name in VIDEO_WORKLOADS]
    return prod(xs) ** (1 / len(xs))


@cache  # a function of the workload alone, asked for by every design evaluated on it
def _published_fraction(workload: Workload) -> float:
    spec = workload.spec.llm
    cfg = focus_config(workload.name)
    schedule = token_schedule(workload.tokens, spec.layers, cfg["layers"], cfg["alpha"])
    return solve_unique_fraction(spec, schedule, _effective_ops()[workload.name])


@lru_cache(maxsize=4096)
def published_profile(workload: Workload, sec_scale: float = 1.0, removed_scale: float = 1.0) -> SparsityProfile:
    """The published concentration of a workload. sec_scale multiplies every alpha (<1 prunes
    harder); removed_scale multiplies the share of rows similarity removes, 1 - x (how a
    different threshold, block or vector size changes similarity, see dse/redundancy.py).
    Cached: a design's evaluation asks for it twice (the prefill and its profile) and a search
    revisits the same concentration knobs; profiles are frozen and never modified."""
    return scaled_profile(workload, sec_scale, removed_scale)


def scaled_profile(workload: Workload, sec_scale, removed_scale) -> SparsityProfile:
    """published_profile for numbers, or for arrays of design points (dse/batch.py): then every
    count in the profile is an array with one element per point."""
    if not xp.holds(sec_scale > 0) or not xp.holds(removed_scale >= 0):
        raise UserError("SEC scale must be positive and the removed-row scale non-negative")
    spec = workload.spec.llm
    cfg = focus_config(workload.name)
    # once per process: studies search sec_scale up to 4
    if any(xp.somewhere(a * sec_scale > 1.0) for a in cfg["alpha"]):
        warn("sec_scale above 1/alpha of an SEC layer caps that alpha at 1: the layer keeps every token")
    alphas = tuple(xp.minimum(1.0, a * sec_scale) for a in cfg["alpha"])
    layers = tuple(layer for layer in cfg["layers"] if layer < spec.layers)
    alphas = alphas[: len(layers)]
    schedule = token_schedule(workload.tokens, spec.layers, layers, alphas)
    base = _published_fraction(workload) if workload.name in _effective_ops() else _video_mean_fraction()
    x = xp.maximum(0.0, 1.0 - (1.0 - base) * removed_scale)
    names = [g.name for g in linear_gemms(spec, 1)]
    out = []
    rows: dict[tuple[int, int], dict] = {}  # layers between SEC layers share their counts (the same objects)
    for layer, (attn, mlp) in enumerate(schedule):
        key = (id(attn), id(mlp))
        if key not in rows:
            unique = {n: xp.as_float(xp.rint(x * (mlp if n in MLP_GEMMS else attn))) for n in names}
            unique["qk"] = xp.as_float(xp.rint(x * attn))
            rows[key] = unique
        out.append(LayerProfile(layer, xp.as_float(attn), dict(rows[key]), xp.as_float(mlp)))
    settings = ConcentrationSettings(threshold=cfg["threshold"], sec_layers=layers, sec_alpha=alphas)
    return SparsityProfile(tuple(out), workload.tokens, settings, "published", workload.name,
                           {"unique_fraction": x})
