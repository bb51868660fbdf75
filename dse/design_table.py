"""Tables of design points (`focus-dse simulate --designs FILE`) and of their results: CSV (the csv
module) or Parquet (pyarrow, imported only for a .parquet path).

A designs table has one row per design and one column per knob it sets, named as the DesignPoint
fields (dse/design.py; any subset, in any order) and each buffer size as `buffer_kb.<buffer>`, as in
trials.csv. An empty cell leaves its knob to the defaults (the command's flags, else the design's
default). A file whose structure or values cannot be read (an unknown or repeated column, a row with
more or fewer cells than the header, a number that is not one, text that is not UTF-8) is refused in
one line naming its line (CSV) or row (Parquet); whether a design makes sense is the model's to say.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from dse.design import BUFFER_PREFIX, DesignPoint
from dse.errors import UserError

# the knobs a column may set, and what their cells hold: numbers (int or float) or text (str: names,
# a block TxHxW, phases a,b,c); buffer_kb is set per buffer
KNOB_TYPES: dict[str, type] = {f.name: {"int": int, "float": float}.get(str(f.type).split("|")[0].strip(), str)
                               for f in fields(DesignPoint) if f.name != "buffer_kb"}


def is_parquet(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ".parquet"


@dataclass(frozen=True)
class DesignRows:
    """A designs table as read: its columns, each row's cells as in the file (CSV text, Parquet values;
    None where empty), each row's knobs (typed; `buffer_kb` a dict) and where each row is in the file."""

    path: str
    columns: tuple[str, ...]
    cells: list[tuple[Any, ...]]
    knobs: list[dict[str, Any]]
    where: list[str]  # "FILE line N" (CSV) or "FILE row N" (Parquet)

    def typed(self, i: int) -> list[Any]:
        """Row i's cells as its knobs take them (None where empty): a CSV's text as numbers."""
        knobs = self.knobs[i]
        return [knobs.get("buffer_kb", {}).get(c[len(BUFFER_PREFIX):]) if c.startswith(BUFFER_PREFIX)
                else knobs.get(c) for c in self.columns]


def read_designs(path: str) -> DesignRows:
    """The designs table at `path`, checked (see the module docstring)."""
    if is_parquet(path):
        columns, cells, where = _read_parquet(path)
        header = f"{path}"
    else:
        columns, cells, where = _read_csv(path)
        header = f"{path} line 1"
    _check_columns(columns, header)
    if not cells:
        raise UserError(f"{path}: no designs under the header (one row per design)")
    knobs = [_knobs(columns, row, place) for row, place in zip(cells, where)]
    return DesignRows(path, columns, cells, knobs, where)


def _read_csv(path: str) -> tuple[tuple[str, ...], list[tuple[Any, ...]], list[str]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise UserError(f"{path}: empty file: its first line names the columns (design knobs)")
            columns = tuple(c.strip() for c in header)
            cells, where = [], []
            for record in reader:
                if not record:  # a blank line
                    continue
                line = f"{path} line {reader.line_num}"
                if len(record) != len(columns):
                    raise UserError(f"{line}: {len(record)} cells where the header names {len(columns)} columns")
                cells.append(tuple(c.strip() or None for c in record))
                where.append(line)
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start}): write the table as UTF-8 CSV") from None
    except csv.Error as exc:
        raise UserError(f"{path} line {reader.line_num}: not CSV ({exc})") from None
    return columns, cells, where


def _read_parquet(path: str) -> tuple[tuple[str, ...], list[tuple[Any, ...]], list[str]]:
    import pyarrow
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pyarrow.ArrowException, ValueError) as exc:
        raise UserError(f"{path}: not a Parquet table ({str(exc).splitlines()[0]})") from None
    columns = tuple(table.column_names)
    values = [table.column(c).to_pylist() for c in columns]
    cells = [tuple(None if _missing(v) else v for v in row) for row in zip(*values)]
    return columns, cells, [f"{path} row {i + 1}" for i in range(len(cells))]


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (isinstance(value, str)
                                                                                  and not value.strip())


def _check_columns(columns: tuple[str, ...], where: str) -> None:
    knobs = ", ".join(KNOB_TYPES)
    for i, name in enumerate(columns):
        if name in columns[:i]:
            raise UserError(f"{where}: column '{name}' appears twice")
        if name.startswith(BUFFER_PREFIX) and len(name) > len(BUFFER_PREFIX):
            continue
        if name not in KNOB_TYPES:
            hint = " (a buffer's size is a column buffer_kb.<buffer>)" if name == "buffer_kb" else ""
            raise UserError(f"{where}: unknown column '{name}'{hint}; the columns are design knobs: {knobs}, "
                            f"{BUFFER_PREFIX}<buffer>")


def _knobs(columns: tuple[str, ...], row: tuple[Any, ...], where: str) -> dict[str, Any]:
    """The knobs a row's non-empty cells set, typed as DesignPoint takes them."""
    knobs: dict[str, Any] = {}
    for name, cell in zip(columns, row):
        if cell is None:
            continue
        if name.startswith(BUFFER_PREFIX):
            knobs.setdefault("buffer_kb", {})[name[len(BUFFER_PREFIX):]] = _number(cell, float, name, where)
        elif KNOB_TYPES[name] is str:
            knobs[name] = cell if isinstance(cell, str) else str(cell)
        else:
            knobs[name] = _number(cell, KNOB_TYPES[name], name, where)
    return knobs


def _number(cell: Any, kind: type, column: str, where: str) -> int | float:
    """A cell as the number its knob takes: an integral value of an int knob as int (a Parquet column
    with empty cells holds floats); any other value as given, for the model to judge."""
    if isinstance(cell, bool) or not isinstance(cell, (int, float, str)):
        raise UserError(f"{where}: column {column} wants a number, got {cell!r}")
    if isinstance(cell, str):
        try:
            value: int | float = int(cell)
        except ValueError:
            try:
                value = float(cell)
            except ValueError:
                raise UserError(f"{where}: column {column} wants a number, got {cell!r}") from None
    else:
        value = cell
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    return float(value) if kind is float else value


def write_table(path: str | Path, columns: list[str], rows: list[list[Any]]) -> Path:
    """Rows (lists of cells, None empty) under `columns`, as CSV, or Parquet for a .parquet path;
    overwritten, never appended."""
    path = Path(path)
    if path.parent != Path(""):
        path.parent.mkdir(parents=True, exist_ok=True)
    if is_parquet(path):
        import pyarrow
        import pyarrow.parquet as pq

        pq.write_table(pyarrow.Table.from_pydict({c: [r[i] for r in rows] for i, c in enumerate(columns)}), path)
        return path
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows(rows)
    return path
