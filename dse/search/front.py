"""Pareto fronts and hypervolume, from moocore (a maintained C library, exact algorithms).

Values are an (n x k) array of objective values; `maximize` says, per column, which way is
better. A row is on the front when no other row dominates it (as good in every objective,
better in one); rows with equal objective vectors are all kept (each is an optimal design).

The hypervolume of a front is the objective-space volume it dominates up to a reference
point. `reference_point` puts that point just beyond the front's worst value of each objective
(by 10 % of the front's range), so every front design contributes and a ratio of two
hypervolumes at the same reference (a study's front / the exact front) measures how much of
the exact front the study reached.
"""

from __future__ import annotations

import moocore
import numpy as np

MARGIN = 0.1  # of the front's range, beyond its worst value


def nondominated(values: np.ndarray, maximize: list[bool]) -> np.ndarray:
    """Mask of the rows no other row dominates (ties all kept)."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    return moocore.is_nondominated(values, maximise=list(maximize), keep_weakly=True)


def dominating(points: np.ndarray, reference: np.ndarray, maximize: list[bool]) -> np.ndarray:
    """Per row of `points`: does it dominate `reference` (as good in every objective, better in one)?
    Each row and the reference make a set of two; moocore tells per set whether the reference is
    non-dominated (an equal row leaves it so). A row or reference with a NaN dominates nothing."""
    p, ref = np.asarray(points, dtype=float), np.asarray(reference, dtype=float)
    out = np.zeros(len(p), dtype=bool)
    rows = np.flatnonzero(np.isfinite(p).all(axis=1)) if np.isfinite(ref).all() else np.zeros(0, dtype=int)
    if len(rows):
        pairs = np.empty((2 * len(rows), p.shape[1]))
        pairs[0::2], pairs[1::2] = p[rows], ref
        kept = moocore.is_nondominated_within_sets(pairs, np.repeat(np.arange(len(rows)), 2),
                                                   maximise=list(maximize), keep_weakly=True)
        out[rows] = ~kept[1::2]
    return out


def weakly_dominated(points: np.ndarray, front: np.ndarray, maximize: list[bool]) -> np.ndarray:
    """Per row of `points`: is some row of `front` at least as good in every objective?"""
    sign = np.where(maximize, -1.0, 1.0)  # minimise everything
    p, f = np.asarray(points, float) * sign, np.asarray(front, float) * sign
    out = np.zeros(len(p), dtype=bool)
    for start in range(0, len(p), 256):  # (256 x front x k) booleans at a time
        block = p[start:start + 256]
        out[start:start + 256] = (f[None, :, :] <= block[:, None, :]).all(axis=2).any(axis=1)
    return out


def reference_point(front: np.ndarray, maximize: list[bool]) -> np.ndarray:
    """The front's worst value of each objective, pushed out by MARGIN of its range (of its magnitude,
    or 1, when the range is zero)."""
    front = np.asarray(front, dtype=float)
    lo, hi = front.min(axis=0), front.max(axis=0)
    span = hi - lo
    span = np.where(span > 0, span, np.where(np.abs(hi) > 0, np.abs(hi), 1.0))
    return np.where(maximize, lo - MARGIN * span, hi + MARGIN * span)


def hypervolume(values: np.ndarray, maximize: list[bool], reference: np.ndarray) -> float:
    """Volume dominated by `values` up to `reference` (points beyond the reference add nothing)."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return 0.0
    sign = np.where(maximize, -1.0, 1.0)
    inside = (values * sign < np.asarray(reference) * sign).all(axis=1)
    if not inside.any():
        return 0.0
    return float(moocore.hypervolume(values[inside], ref=reference, maximise=list(maximize)))
