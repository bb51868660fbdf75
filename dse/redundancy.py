"""How the similarity knobs change the unique-row fraction, relative to the published setting.

The published profiles fix unique rows at the paper's settings (threshold 0.9 or 0.95,
block 2x2x2, vector 32). A design with other settings scales that fraction by measured
redundancy curves, dse/data/redundancy.csv: unique fraction vs one knob with the others at
their defaults, measured on real video through a real ViT (see its `source` column; the
`focus-dse concentrate --sweep` command regenerates such curves). Between measured points
the fraction is interpolated linearly; knobs with no curve leave the fraction unchanged.
Knob effects multiply (treated as independent).
"""

from __future__ import annotations

import csv
from bisect import bisect_left
from functools import cache

from dse.data_files import DATA_DIR
from dse.workloads.catalog import Workload

DEFAULTS = {"threshold": 0.9, "vector_size": 32.0, "block_volume": 8.0}


@cache
def curves() -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = {}
    with open(DATA_DIR / "redundancy.csv", newline="") as f:
        for r in csv.DictReader(f):
            out.setdefault(r["knob"], []).append((float(r["value"]), float(r["unique_fraction"])))
    return {k: sorted(v) for k, v in out.items()}


def interpolate(points: list[tuple[float, float]], x: float) -> float:
    xs = [p[0] for p in points]
    i = bisect_left(xs, x)
    if i == 0:
        return points[0][1]
    if i == len(points):
        return points[-1][1]
    (x0, y0), (x1, y1) = points[i - 1], points[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def knob_scale(knob: str, value: float, reference: float) -> float:
    points = curves().get(knob)
    if not points or value == reference:
        return 1.0
    return interpolate(points, value) / interpolate(points, reference)


def unique_scale(design, workload: Workload) -> float:
    """Multiplier on the published unique-row fraction for this design's similarity knobs."""
    from dse.published import focus_config

    published = focus_config(workload.name)["threshold"]
    threshold = published if design.threshold is None else design.threshold
    return (knob_scale("threshold", threshold, published)
            * knob_scale("vector_size", design.vector_size, DEFAULTS["vector_size"])
            * knob_scale("block_volume", design.block_volume, DEFAULTS["block_volume"]))
