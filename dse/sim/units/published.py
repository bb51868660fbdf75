"""The baselines' published sparsity (fraction of rows they skip) per workload."""

from __future__ import annotations

import csv
from functools import cache

from dse.data_files import REFERENCE_DIR
from dse.errors import UserError


@cache
def _table(kind: str) -> dict[str, dict[str, float]]:
    name = "adaptiv_sparsity.csv" if kind == "adaptiv" else "cmc_sparsity.csv"
    with open(REFERENCE_DIR / "accuracy" / name, newline="") as f:
        return {f"{r['Model']}/{r['Dataset']}": {k: float(v) for k, v in r.items() if k not in ("Model", "Dataset")}
                for r in csv.DictReader(f)}


def baseline_sparsity(kind: str, workload: str) -> dict[str, float]:
    table = _table(kind)
    if workload not in table:
        raise UserError(f"no published {kind} sparsity for '{workload}': {kind} runs on {', '.join(sorted(table))}")
    return table[workload]
