"""How the similarity knobs change the unique-row fraction, relative to the published setting.

The published profiles fix unique rows at the paper's settings (threshold 0.9 or 0.95,
block 2x2x2, vector 32). A design with other settings scales that fraction by measured
redundancy curves, dse/data/redundancy.csv: unique fraction vs one knob with the others at
their defaults, measured on real video through a real ViT (see its `source` column;
`focus-dse concentrate --sweep KNOB=...` regenerates them). Between measured thresholds and
vector sizes the fraction is interpolated linearly (clamped beyond the ends); a block that
was not measured takes the nearest measured one in (frames, rows x cols).

The ViT on a static-camera clip is more redundant than the paper's LLM layers (it keeps
23 % of rows at the defaults where the paper's traces keep ~59 %), so ratios of kept
fractions would exaggerate every change. We scale the *removed* share instead: a knob moving
the measured removed share from 1 - f0 to 1 - f scales the LLM's removed share 1 - x by
(1 - f) / (1 - f0). This is bounded (x stays in [0, 1]), gives "no similarity" exactly
where the measurement does (block 1x1x1, threshold 1), and multiplies across knobs
(treated as independent).
"""

from __future__ import annotations

import csv
from functools import cache

import numpy as np

from dse.data_files import DATA_DIR
from dse.errors import warn
from dse.profile import parse_block
from dse import xp
from dse.workloads.catalog import Workload

DEFAULT_VECTOR = 32.0
DEFAULT_BLOCK = (2, 2, 2)


@cache
def _rows() -> dict[str, list[tuple[str, float]]]:
    out: dict[str, list[tuple[str, float]]] = {}
    with open(DATA_DIR / "redundancy.csv", newline="") as f:
        for r in csv.DictReader(f):
            out.setdefault(r["knob"], []).append((r["value"], float(r["unique_fraction"])))
    return out


@cache
def curves() -> dict[str, list[tuple[float, float]]]:
    """Numeric knobs (threshold, vector_size): sorted (value, unique fraction)."""
    return {k: sorted((float(v), f) for v, f in rows) for k, rows in _rows().items() if k != "block"}


@cache
def _curve_columns(knob: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    points = curves()[knob]
    return tuple(p[0] for p in points), tuple(p[1] for p in points)


@cache
def _measured_blocks() -> dict[tuple[int, int, int], float]:
    return {parse_block(v): f for v, f in _rows().get("block", [])}


def _nearest_block(block: tuple[int, int, int]) -> tuple[int, int, int]:
    """The measured block nearest `block` in (frames, rows x cols)."""
    t, h, w = block
    return min(_measured_blocks(), key=lambda b: (b[0] - t) ** 2 + ((b[1] * b[2] - h * w) / 4) ** 2)


def block_fraction(block: tuple[int, int, int]) -> float | None:
    measured = _measured_blocks()
    if not measured:
        return None
    if tuple(block) in measured:
        return measured[tuple(block)]
    t, h, w = block
    nearest = _nearest_block(block)
    warn(f"block {t}x{h}x{w} has no measured redundancy (dse/data/redundancy.csv): using the nearest measured "
         f"block's, {'x'.join(map(str, nearest))}")
    return measured[nearest]


def curve_use(knob: str, value) -> str:
    """How a design's `knob` value reads the measured redundancy: "measured", "interpolated",
    "clamped to X" (beyond the measured curve, X's value is used), "nearest measured X" (a block),
    or "" when the knob has no redundancy curve."""
    if knob == "block":
        block = parse_block(value) if isinstance(value, str) else tuple(value)
        if not _measured_blocks():
            return ""
        if block in _measured_blocks():
            return "measured"
        return f"nearest measured {'x'.join(map(str, _nearest_block(block)))}"
    if knob not in curves():
        return ""
    xs, _ = _curve_columns(knob)
    if value < xs[0] or value > xs[-1]:
        return f"clamped to {xs[0] if value < xs[0] else xs[-1]:g}"
    return "measured" if float(value) in xs else "interpolated"


def interpolate(points: list[tuple[float, float]], x):
    """The curve at x (a number, or an array of design points): linear between measured points,
    the end values beyond the ends."""
    return xp.interpolate([p[0] for p in points], [p[1] for p in points], x)


def removed_ratio(fraction, reference: float):
    return (1.0 - fraction) / (1.0 - reference)


def knob_scale(knob: str, value, reference: float):
    """Removed-share multiplier of a knob at `value` (a number or an array of design points)."""
    if knob not in curves() or (not xp.is_array(value) and value == reference):
        return 1.0
    xs, ys = _curve_columns(knob)
    lo, hi = xs[0], xs[-1]
    for side, outside in ((lo, value < lo), (hi, value > hi)):
        if xp.somewhere(outside):
            # one line per knob and side, not per value: a study samples many
            shown = value[outside][0] if xp.is_array(value) else value
            warn(f"{knob} {shown:g} is outside its measured redundancy curve ({lo:g}..{hi:g}, "
                 f"dse/data/redundancy.csv): using the unique fraction measured at {side:g}",
                 key=f"redundancy curve {knob} {side}")
    ratio = removed_ratio(xp.interpolate(xs, ys, value), xp.interpolate(xs, ys, reference))
    return xp.where(value == reference, 1.0, ratio) if xp.is_array(value) else ratio


def removed_scale(design, workload: Workload) -> float:
    """Multiplier on the share of rows the published profile's similarity removes, for this
    design's threshold, vector size and block."""
    return similarity_scale(workload, design.threshold, design.vector_size, block_fraction(tuple(design.block)))


def similarity_scale(workload: Workload, threshold, vector_size, block_unique):
    """removed_scale from the knobs' values: numbers, or arrays of design points (dse/batch.py;
    a NaN threshold is the published one); block_unique is the block's measured unique fraction."""
    from dse.published import focus_config

    published = focus_config(workload.name)["threshold"]
    if threshold is None:
        threshold = published
    elif xp.is_array(threshold):
        threshold = np.where(np.isnan(threshold), published, threshold)
    scale = knob_scale("threshold", threshold, published) * knob_scale("vector_size", vector_size, DEFAULT_VECTOR)
    default = block_fraction(DEFAULT_BLOCK)
    if block_unique is not None and default is not None:
        scale *= removed_ratio(block_unique, default)
    return scale
