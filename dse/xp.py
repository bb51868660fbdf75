"""Arithmetic that works on one design (Python numbers) and on many (numpy arrays, one element per
design point), so the cost model is written once and run both ways (dse/batch.py).

On Python numbers each helper is exactly the builtin the scalar model always used (math.ceil,
max, min, a conditional expression); on arrays it is the numpy ufunc that computes the same IEEE
double (float64 + - * / and ceil are exact roundings, so both ways agree bit for bit while the
integers involved stay below 2**53).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from typing import Any, Sequence

import numpy as np

_SCALARS = (int, float)


def is_array(*values: Any) -> bool:
    for v in values:  # a plain loop: this runs on the scalar path's every formula
        if isinstance(v, np.ndarray):
            return True
    return False


def ceil(x: Any) -> Any:
    return np.ceil(x) if isinstance(x, np.ndarray) else math.ceil(x)


def floor(x: Any) -> Any:
    """int(x) of a non-negative number."""
    return np.floor(x) if isinstance(x, np.ndarray) else int(x)


def rint(x: Any) -> Any:
    """round(x): to the nearest integer, halves to even (numpy rounds the same way)."""
    return np.rint(x) if isinstance(x, np.ndarray) else round(x)


def maximum(a: Any, b: Any) -> Any:
    return np.maximum(a, b) if is_array(a, b) else max(a, b)


def minimum(a: Any, b: Any) -> Any:
    return np.minimum(a, b) if is_array(a, b) else min(a, b)


def where(cond: Any, a: Any, b: Any) -> Any:
    """a where cond holds, else b (both already computed)."""
    if isinstance(cond, np.ndarray):
        return np.where(cond, a, b)
    return a if cond else b


def as_float(x: Any) -> Any:
    """float(x), elementwise on arrays."""
    return np.asarray(x, dtype=float) if isinstance(x, np.ndarray) else float(x)


def holds(cond: Any) -> bool:
    """Whether a condition holds (on arrays: for every design point)."""
    return bool(cond.all()) if isinstance(cond, np.ndarray) else bool(cond)


def somewhere(cond: Any) -> bool:
    """Whether a condition holds (on arrays: for at least one design point)."""
    return bool(cond.any()) if isinstance(cond, np.ndarray) else bool(cond)


def interpolate(xs: Sequence[float], ys: Sequence[float], x: Any) -> Any:
    """Linear interpolation of the points (xs increasing) at x, the end values beyond the ends:
    y0 + (y1 - y0) * (x - x0) / (x1 - x0), in that order on numbers and arrays alike."""
    if not isinstance(x, np.ndarray):  # bisect: a scalar model asks for single values, numpy costs more
        i = bisect_left(xs, x)
        if i == 0 or i == len(xs):
            return float(ys[0] if i == 0 else ys[-1])
        return float(ys[i - 1] + (ys[i] - ys[i - 1]) * (x - xs[i - 1]) / (xs[i] - xs[i - 1]))
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    if len(xs) == 1:
        return np.full(x.shape, ys[0])
    i = np.searchsorted(xs, x, side="left")
    j = np.clip(i, 1, len(xs) - 1)
    x0, y0, x1, y1 = xs[j - 1], ys[j - 1], xs[j], ys[j]
    inside = y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return np.where(i == 0, ys[0], np.where(i == len(xs), ys[-1], inside))


def floor_sum(n: Any, m: Any, a: Any, b: Any) -> Any:
    """sum(floor((a*i + b) / m) for i in range(n)) for a, b >= 0, m > 0, in O(log) steps
    (the Euclid-like reduction of the AtCoder Library's floor_sum), elementwise on arrays."""
    if not is_array(n, m, a, b):
        return _floor_sum(n, m, a, b)
    n, m, a, b = (np.broadcast_to(np.asarray(v, dtype=np.int64), np.broadcast(n, m, a, b).shape).copy()
                  for v in (n, m, a, b))
    total = np.zeros(n.shape, dtype=np.int64)
    live = n > 0
    while live.any():
        q = np.where(live, a // m, 0)
        total += (n - 1) * n // 2 * q
        a = np.where(live, a % m, a)
        q = np.where(live, b // m, 0)
        total += n * q
        b = np.where(live, b % m, b)
        y_max = a * n + b
        live &= y_max >= m
        n, b = np.where(live, y_max // m, 0), np.where(live, y_max % m, b)
        m, a = np.where(live, a, m), np.where(live, m, a)
        live &= n > 0
    return total


def _floor_sum(n: int, m: int, a: int, b: int) -> int:
    total = 0
    while n > 0:
        if a >= m:
            total += (n - 1) * n // 2 * (a // m)
            a %= m
        if b >= m:
            total += n * (b // m)
            b %= m
        y_max = a * n + b
        if y_max < m:
            break
        n, b = divmod(y_max, m)
        m, a = a, m
    return total
