"""What every accuracy provider returns, and the published accuracies they build on."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from functools import cache
from typing import Any, ClassVar, Protocol

from dse.data_files import REFERENCE_DIR

# accuracy.csv column -> accelerator / method name used in focus-dse
METHOD_COLUMNS = {"dense": "Dense", "focus": "Focus", "adaptiv": "Adaptiv", "cmc": "CMC", "framefusion": "FF",
                  "int8_dense": "INT8_Dense", "int8_focus": "INT8_Focus"}


@dataclass(frozen=True)
class AccuracyResult:
    accuracy: float  # benchmark score; for a workload without a published dense score: % of dense
    drop: float  # dense - accuracy, same units
    dense: float  # the dense score the drop is taken from (100 when unknown)
    provider: str  # label written into every output
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def relative_drop_pct(self) -> float:
        return 100.0 * self.drop / self.dense if self.dense else 0.0


class AccuracyProvider(Protocol):
    name: str  # calibrated | measured | user
    cheap: bool  # a prediction costs microseconds: reports may probe it with extra designs
    OPTIONS: ClassVar[frozenset[str]]  # the option names its `accuracy:` section accepts

    @property
    def label(self) -> str: ...

    def predict(self, design, workload) -> AccuracyResult: ...

    def summary(self) -> str: ...


@cache
def published_accuracy() -> dict[str, dict[str, float]]:
    """{workload: {method: score}} from the Focus paper's accuracy.csv (missing cells left out)."""
    out: dict[str, dict[str, float]] = {}
    with open(REFERENCE_DIR / "accuracy" / "accuracy.csv", newline="") as f:
        for row in csv.DictReader(f):
            scores = {}
            for method, column in METHOD_COLUMNS.items():
                value = (row.get(column) or "").strip()
                if value:
                    scores[method] = float(value)
            out[f"{row['Models']}/{row['Dataset']}"] = scores
    return out


def dense_accuracy(workload_name: str) -> float | None:
    return published_accuracy().get(workload_name, {}).get("dense")


def baseline_accuracy(method: str, workload_name: str) -> float | None:
    """The paper's published score of a method (dense, focus, adaptiv, cmc, framefusion) on a workload."""
    return published_accuracy().get(workload_name, {}).get(method)


def number_option(options: dict[str, Any], key: str, default: float, low: float | None = None,
                  high: float | None = None, low_open: bool = False) -> float:
    """A numeric provider option, checked: a number (not a bool) within [low, high] ((low, high] when
    low_open); a UserError naming accuracy.<key> otherwise."""
    from dse.errors import UserError

    value = options.get(key, default)
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        lo = "" if low is None else (f"> {low:g}" if low_open else f">= {low:g}")
        hi = "" if high is None else f"<= {high:g}"
        want = " and ".join(x for x in (lo, hi) if x) or "any"
        raise UserError(f"accuracy.{key}: a number ({want}), got {value!r}")
    return float(value)
