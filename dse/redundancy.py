"""How the similarity knobs change the unique-row fraction, relative to the published setting.

The published profiles fix unique rows at the paper's settings (threshold 0.9 or 0.95,
block 2x2x2, vector 32). A design with other settings scales that fraction by redundancy
curves: unique fraction vs one knob with the others at their defaults.

- Threshold and block: measured on real video through a real ViT, one curve file per clip in
  dse/data/redundancy/ (`focus-dse concentrate --curves NAME` writes one; sources.csv says where
  each clip came from). A design names its clip set (`redundancy_clips`: "all", the default, or
  names joined by commas); the model uses the *mean over the set's clips* of the unique fraction
  at each measured knob value.
- Vector size, in the LLM prefill: calibrated, not measured here. A ViT 384 wide on 16 frames
  says little of 3584-wide LLM rows (DINOv2 keeps 0.25 of its whole rows vs 0.23 of its
  32-element sub-vectors; the paper's LLM layer 0.82 vs 0.42). The curve is the Focus paper
  simulator's vector sweep (dse/data/paper_vector_sweep.csv): layer 9's o_proj on
  llava_vid/mlvu, traces re-made at each vector size; unique fraction = array MACs / (K N) /
  kept tokens. Every GEMM of every layer takes that one layer's shape (the only one published).
- Vector size, in the vision encoder (`encoder_threshold`): the DINOv2 curves, like its
  threshold and block.
Between measured values a curve is interpolated linearly (clamped beyond the ends, with a
warning); a block that was not measured takes the nearest measured one in (frames, rows x cols).

The ViT is more redundant than the paper's LLM layers (it keeps 23 % of rows at the defaults on a
static-camera clip where the paper's traces keep ~59 %), so ratios of kept fractions would
exaggerate every change. We scale the *removed* share instead: a knob moving the curve's removed
share from 1 - f0 to 1 - f scales the LLM's removed share 1 - x by (1 - f) / (1 - f0). This is
bounded (x stays in [0, 1]), gives "no similarity" exactly where the curve does (block 1x1x1,
threshold 1), and multiplies across knobs (treated as independent).
"""

from __future__ import annotations

import csv
from functools import cache

import numpy as np

from dse.redundancy_curves import ALL_CLIPS, CURVES_WHERE, DEFAULT_BLOCK, DEFAULT_VECTOR, NUMERIC, clip_set, curves
from dse.data_files import DATA_DIR
from dse.errors import warn
from dse.profile import MLP_GEMMS, parse_block
from dse import xp
from dse.workloads.catalog import Workload
from dse.workloads.gemms import Gemm, linear_gemms

PAPER_VECTOR_SWEEP = DATA_DIR / "paper_vector_sweep.csv"
LLM_VECTOR_WHERE = "the Focus paper's vector sweep, dse/data/paper_vector_sweep.csv"


@cache
def paper_vector_sweep() -> tuple[dict, ...]:
    """The Focus paper simulator's vector-size sweep (dse_b_vector_size.csv): one GEMM of one layer."""
    with open(PAPER_VECTOR_SWEEP, newline="") as f:
        return tuple({k: v if k in ("workload", "gemm") else float(v) for k, v in r.items()} for r in csv.DictReader(f))


def measured_gemm(row: dict) -> tuple[Workload, Gemm, int]:
    """The GEMM a row of the paper's vector sweep measured: its workload, shape and kept tokens (the
    layer's SEC schedule, dse/published.py)."""
    from dse.published import focus_config, token_schedule
    from dse.workloads.catalog import resolve_workload

    w = resolve_workload(row["workload"])
    spec, cfg = w.spec.llm, focus_config(w.name)
    attn, mlp = token_schedule(w.tokens, spec.layers, cfg["layers"], cfg["alpha"])[int(row["layer"])]
    g = next(g for g in linear_gemms(spec, 1) if g.name == row["gemm"])
    return w, g, mlp if g.name in MLP_GEMMS else attn


@cache
def llm_vector_curve() -> tuple[tuple[float, float], ...]:
    """Unique fraction vs vector size of the paper's measured LLM layer: its array MACs (ops / 2) over
    the GEMM's K x N, per kept token."""
    out = []
    for r in paper_vector_sweep():
        _, g, kept = measured_gemm(r)
        out.append((r["vector_size"], r["array_ops"] / 2 / (g.K * g.N) / kept))
    return tuple(sorted(out))


def interpolate(points: list[tuple[float, float]], x):
    """The curve at x (a number, or an array of design points): linear between measured points,
    the end values beyond the ends."""
    return xp.interpolate([p[0] for p in points], [p[1] for p in points], x)


def removed_ratio(fraction, reference: float):
    return (1.0 - fraction) / (1.0 - reference)


def _curve_scale(knob: str, points, value, reference: float, where: str):
    """Removed-share multiplier of a knob at `value` (a number or an array of design points) on a curve."""
    if not xp.is_array(value) and value == reference:
        return 1.0
    xs, ys = tuple(p[0] for p in points), tuple(p[1] for p in points)
    lo, hi = xs[0], xs[-1]
    for side, outside in ((lo, value < lo), (hi, value > hi)):
        if xp.somewhere(outside):
            # one line per curve and side, not per value: a study samples many
            shown = value[outside][0] if xp.is_array(value) else value
            warn(f"{knob} {shown:g} is outside its measured redundancy curve ({lo:g}..{hi:g}, {where}): "
                 f"using the unique fraction measured at {side:g}", key=f"redundancy curve {where} {knob} {side}")
    ratio = removed_ratio(xp.interpolate(xs, ys, value), xp.interpolate(xs, ys, reference))
    return xp.where(value == reference, 1.0, ratio) if xp.is_array(value) else ratio


def knob_scale(knob: str, value, reference: float, clips: str = ALL_CLIPS):
    """Removed-share multiplier of a ViT curve's knob (threshold, vector_size) at `value`."""
    return _curve_scale(knob, curves(clips)[knob], value, reference, CURVES_WHERE)


def llm_vector_scale(vector_size):
    """Removed-share multiplier of the LLM prefill's vector size (the paper's layer measurement)."""
    return _curve_scale("vector_size", llm_vector_curve(), vector_size, DEFAULT_VECTOR, LLM_VECTOR_WHERE)


def _nearest_block(block: tuple[int, int, int], clips: str = ALL_CLIPS) -> tuple[int, int, int]:
    """The measured block nearest `block` in (frames, rows x cols)."""
    t, h, w = block
    return min(curves(clips).blocks, key=lambda b: (b[0] - t) ** 2 + ((b[1] * b[2] - h * w) / 4) ** 2)


def block_fraction(block: tuple[int, int, int], clips: str = ALL_CLIPS) -> float:
    measured = curves(clips).blocks
    if tuple(block) in measured:
        return measured[tuple(block)]
    t, h, w = block
    nearest = _nearest_block(tuple(block), clips)
    warn(f"block {t}x{h}x{w} has no measured redundancy ({CURVES_WHERE}): using the nearest measured "
         f"block's, {'x'.join(map(str, nearest))}")
    return measured[nearest]


def curve_use(knob: str, value, clips: str = ALL_CLIPS) -> str:
    """How a design's `knob` value reads the redundancy curves of the LLM prefill: "measured",
    "interpolated", "clamped to X" (beyond the curve, X's value is used), "nearest measured X" (a
    block), or "" when the knob has no redundancy curve."""
    if knob == "block":
        block = parse_block(value) if isinstance(value, str) else tuple(value)
        if block in curves(clips).blocks:
            return "measured"
        return f"nearest measured {'x'.join(map(str, _nearest_block(block, clips)))}"
    if knob not in NUMERIC:
        return ""
    xs = [v for v, _ in (llm_vector_curve() if knob == "vector_size" else curves(clips)[knob])]
    if value < xs[0] or value > xs[-1]:
        return f"clamped to {xs[0] if value < xs[0] else xs[-1]:g}"
    return "measured" if float(value) in xs else "interpolated"


def removed_scale(design, workload: Workload) -> float:
    """Multiplier on the share of rows the published profile's similarity removes, for this
    design's threshold, vector size and block."""
    clips = design.redundancy_clips
    return similarity_scale(workload, design.threshold, design.vector_size,
                            block_fraction(tuple(design.block), clips), clips)


def similarity_scale(workload: Workload, threshold, vector_size, block_unique, clips: str = ALL_CLIPS):
    """removed_scale from the knobs' values: numbers, or arrays of design points (dse/batch.py;
    a NaN threshold is the published one); block_unique is the block's measured unique fraction."""
    from dse.published import focus_config

    published = focus_config(workload.name)["threshold"]
    if threshold is None:
        threshold = published
    elif xp.is_array(threshold):
        threshold = np.where(np.isnan(threshold), published, threshold)
    scale = knob_scale("threshold", threshold, published, clips) * llm_vector_scale(vector_size)
    return scale * removed_ratio(block_unique, block_fraction(DEFAULT_BLOCK, clips))


def vit_unique_fraction(threshold: float, vector_size: int, block: tuple[int, int, int],
                        clips: str = ALL_CLIPS) -> float:
    """Unique rows / rows the Focus unit leaves in a ViT: the clip set's threshold curve, scaled by its
    vector and block curves."""
    removed = 1.0 - interpolate(curves(clips)["threshold"], threshold)
    removed *= knob_scale("vector_size", vector_size, DEFAULT_VECTOR, clips)
    removed *= removed_ratio(block_fraction(tuple(block), clips), block_fraction(DEFAULT_BLOCK, clips))
    return min(1.0, max(0.0, 1.0 - removed))


def provenance(clips: str = ALL_CLIPS, encoder: bool = False) -> dict[str, object]:
    """Where each curve a design's profile was scaled by comes from (printed with the results)."""
    names = clip_set(clips)
    measured = (f"measured: DINOv2 ViT-S/14 on real video, mean over {len(names)} clip(s) "
                f"({', '.join(names)}; {CURVES_WHERE})")
    out: dict[str, object] = {
        "redundancy_clips": list(names),
        "threshold": measured,
        "block": measured,
        "vector_size": "calibrated: the Focus paper simulator's vector sweep, llava_vid/mlvu layer 9 o_proj "
                       "(dse/data/paper_vector_sweep.csv), applied to every LLM GEMM as a removed-share ratio",
    }
    if encoder:
        out["encoder"] = f"threshold, vector size and block {measured}"
    return out
