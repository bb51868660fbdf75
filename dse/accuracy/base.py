"""What every accuracy provider returns, and the published accuracies they build on."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol

from dse.data_files import REFERENCE_DIR

# accuracy.csv column -> accelerator / method name used in focus-dse
METHOD_COLUMNS = {"dense": "Dense", "focus": "Focus", "adaptiv": "Adaptiv", "cmc": "CMC", "framefusion": "FF"}


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
