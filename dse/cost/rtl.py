"""The Focus RTL tables (dse/data/reference/focus/hardware/*_rtl.csv): area (mm²) and power (mW) per
synthesised module, at the tables' 500 MHz synthesis clock."""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

from dse.data_files import REFERENCE_DIR
from dse.errors import UserError

RTL_MHZ = 500.0  # the Focus RTL tables' synthesis clock


@cache
def rtl_table(filename: str) -> dict[str, tuple[float, float]]:
    """Module -> (area mm², power mW) of a shipped table (by file name) or a user's (by path)."""
    path = REFERENCE_DIR / "hardware" / filename
    if not path.is_file():
        path = Path(filename)
    try:
        with open(path, newline="") as f:
            return {r["Module"]: (float(r["Area"]), float(r["Power"])) for r in csv.DictReader(f)}
    except (OSError, KeyError, ValueError) as exc:
        raise UserError(f"cannot read RTL table {filename}: {exc}") from None
