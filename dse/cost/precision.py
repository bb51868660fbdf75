"""Datapath precision: bytes per word and the cost of a MAC relative to the Focus RTL's FP16 MAC.

Data: dse/data/precision/horowitz2014.csv (energy and area of 8/32-bit integer and 16/32-bit
float add and multiply at 45 nm, Horowitz ISSCC 2014) and precisions.csv (per precision: word
width, which multiply and which accumulating add it is built from, and why). The RTL tables
are synthesised at another node, so only ratios are used: a component's power and area are
the RTL's times (multiply + add of this precision) / (multiply + add of fp16), per op.

What scales: the array's PEs and the Focus unit's similarity datapath (cosine similarity,
L2 norm, max, average update: dot products over the sub-vectors) by the MAC ratio; the
scatter accumulators (they add partial sums) by the accumulator-add ratio. The SFUs (softmax
runs in FP16 after dequantisation) and SEC's importance units stay FP16. Buffers keep their
bytes: at 8 bits they hold twice the words (dse/evaluate.py buffer_tiles), and every DRAM and
SRAM byte count takes the word size from here.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache

from dse.data_files import DATA_DIR
from dse.errors import UserError

PRECISION_DIR = DATA_DIR / "precision"
PRECISIONS = ("fp16", "bf16", "fp8", "int8")
RTL_PRECISION = "fp16"
MAC_SCALED = ("array", "detect")  # busy kinds whose components are MAC datapaths
ADD_SCALED = ("scatter",)  # busy kinds whose components are accumulators


@dataclass(frozen=True)
class Op:
    energy_pj: float
    area_um2: float


@dataclass(frozen=True)
class Precision:
    name: str
    word_bits: int
    multiply: str  # the table's multiply row this precision is charged as
    accumulate: str  # the table's add row of its accumulator
    note: str

    @property
    def word_bytes(self) -> int:
        return self.word_bits // 8


@cache
def op_table() -> dict[tuple[str, str], Op]:
    with open(PRECISION_DIR / "horowitz2014.csv", newline="") as f:
        return {(r["operation"], r["format"]): Op(float(r["energy_pj"]), float(r["area_um2"]))
                for r in csv.DictReader(f)}


@cache
def _precisions() -> dict[str, Precision]:
    with open(PRECISION_DIR / "precisions.csv", newline="") as f:
        return {r["precision"]: Precision(r["precision"], int(r["word_bits"]), r["multiply"], r["accumulate"],
                                          r["note"]) for r in csv.DictReader(f)}


def check_precision(name: object) -> str:
    if name not in PRECISIONS:
        raise UserError(f"design: precision must be one of {', '.join(PRECISIONS)}, got {name!r}")
    return name  # type: ignore[return-value]


def get_precision(name: str) -> Precision:
    return _precisions()[check_precision(name)]


def mac(name: str) -> Op:
    """One multiply-accumulate of this precision: its multiply plus its accumulator's add."""
    p, ops = get_precision(name), op_table()
    m, a = ops[("multiply", p.multiply)], ops[("add", p.accumulate)]
    return Op(m.energy_pj + a.energy_pj, m.area_um2 + a.area_um2)


def mac_ratio(name: str) -> Op:
    """(energy, area) of this precision's MAC over the RTL's FP16 MAC."""
    this, rtl = mac(name), mac(RTL_PRECISION)
    return Op(this.energy_pj / rtl.energy_pj, this.area_um2 / rtl.area_um2)


def accumulate_ratio(name: str) -> Op:
    """(energy, area) of this precision's accumulating add over the RTL's FP16 add."""
    ops = op_table()
    this, rtl = ops[("add", get_precision(name).accumulate)], ops[("add", get_precision(RTL_PRECISION).accumulate)]
    return Op(this.energy_pj / rtl.energy_pj, this.area_um2 / rtl.area_um2)


def component_ratio(busy: str, name: str) -> Op:
    """How a component busy with `busy` scales at this precision (1, 1 for what stays FP16)."""
    if name == RTL_PRECISION:
        return Op(1.0, 1.0)
    if busy in MAC_SCALED:
        return mac_ratio(name)
    if busy in ADD_SCALED:
        return accumulate_ratio(name)
    return Op(1.0, 1.0)
