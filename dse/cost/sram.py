"""SRAM macros from the Focus paper's memory-compiler table (buffer_model_spec.csv), and a chip's
buffer as priced (Buffer: by these macros here, or by CACTI, dse/cost/buffer_pricing.py).

Scaling model for buffer sizes the search picks (memory-compiler macro tiling): a buffer is
built from groups of one macro type, `number` macros wide and `copies` deep (double
buffering, ports). Resized to B bytes, each group keeps its macro and copies and takes
ceil(number * B / B_default) macros, so area, leakage and peak power grow with the macro
count while the energy of one access (one macro active) stays that of the macro. At the
default sizes this is exactly the paper's buffer set (Table 3).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache, cached_property

from dse.data_files import REFERENCE_DIR
from dse.errors import UserError
from dse import xp

ACCESS_MHZ = 500.0  # the paper's peak power is read + write current at 500 MHz


@dataclass(frozen=True)
class Macro:
    name: str  # "<words>x<bits>"
    area_mm2: float
    read_ua_per_mhz: float
    write_ua_per_mhz: float
    leakage_ua: float
    voltage: float

    @cached_property  # read for every buffer of every design priced
    def word_bytes(self) -> float:
        return int(self.name.split("x")[1]) / 8

    @cached_property
    def bytes(self) -> int:
        return int(int(self.name.split("x")[0]) * self.word_bytes)

    @property
    def leakage_mw(self) -> float:
        return self.leakage_ua * self.voltage / 1000

    def peak_mw(self, frequency_mhz: float = ACCESS_MHZ) -> float:
        """Leakage plus a read-or-write every cycle (the paper's compiler-mode power, at 500 MHz)."""
        active = (self.read_ua_per_mhz + self.write_ua_per_mhz) / 2 * frequency_mhz * self.voltage / 1000
        return self.leakage_mw + active

    @property
    def read_pj(self) -> float:
        """uA/MHz x V = pJ per access of one macro word."""
        return self.read_ua_per_mhz * self.voltage

    @property
    def write_pj(self) -> float:
        return self.write_ua_per_mhz * self.voltage


@cache
def macros() -> dict[str, Macro]:
    with open(REFERENCE_DIR / "hardware" / "buffer_model_spec.csv", newline="") as f:
        return {
            r["Model"]: Macro(r["Model"], float(r["Area(mm2)"]), float(r["Readc(uA/MHz)"]),
                              float(r["Writec(uA/MHz)"]), float(r["Leakage(uA)"]), float(r["Voltage(V)"]))
            for r in csv.DictReader(f)
        }


@dataclass(frozen=True)
class Buffer:
    """One buffer of a chip as priced (dse/cost/buffer_pricing.py): numbers, or arrays of design points
    (dse/batch.py). `per_access` says how the focus-paper convention charges its energy: the paper's
    simulator charges a compiler-built buffer its peak power for the whole run (False) and a CACTI-priced
    one its accesses and leakage (True); faithful always charges accesses and leakage."""

    name: str
    bytes: int
    area_mm2: float
    leakage_mw: float
    peak_mw: float  # leakage plus a read-or-write every cycle at the chip's clock
    read_pj_per_byte: float
    write_pj_per_byte: float
    priced_by: str  # which SRAM model priced it (one design; a group's model name on arrays)
    per_access: bool = False


def compiler_buffer(name: str, default_bytes: int, groups: list, new_bytes: int | None = None,
                    frequency_mhz: float = ACCESS_MHZ) -> Buffer:
    """The buffer at the default size, or retiled from the same macros for new_bytes (module docstring)."""
    for m, _, _ in groups:
        if m not in macros():
            raise UserError(f"buffer '{name}': unknown SRAM macro '{m}'; known: {', '.join(macros())}")
    if new_bytes is None:
        new_bytes = default_bytes
    if not xp.holds(new_bytes > 0):
        raise UserError(f"buffer '{name}' size must be positive, got {new_bytes} bytes")
    scale = new_bytes / default_bytes  # 1.0 at the default size: the paper's macros exactly
    tiled = tuple((macros()[m], xp.maximum(1, xp.ceil(int(n) * scale)), int(c)) for m, n, c in groups)
    return Buffer(name, new_bytes,
                  area_mm2=sum(m.area_mm2 * n * c for m, n, c in tiled),
                  leakage_mw=sum(m.leakage_mw * n * c for m, n, c in tiled),
                  peak_mw=sum(m.peak_mw(frequency_mhz) * n * c for m, n, c in tiled),
                  read_pj_per_byte=_per_byte(tiled, "read_pj"), write_pj_per_byte=_per_byte(tiled, "write_pj"),
                  priced_by="compiler")


def _per_byte(tiled: tuple[tuple[Macro, int, int], ...], attr: str) -> float:
    """Energy per byte accessed (pJ/B), averaged over the macro groups by capacity."""
    weighted = total = 0.0
    for macro, n, c in tiled:
        weighted += getattr(macro, attr) / macro.word_bytes * macro.bytes * n * c
        total += macro.bytes * n * c
    return weighted / total
