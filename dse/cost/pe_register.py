"""The price of weight_buffering = double: one more operand register per PE, bounded from the RTL's PE.

dse/data/pe_register.json says how (and from which tables): one PE is the RTL array's area and power
over its PEs; its multiplier and adder (RTL rows, the adder scaled by a Horowitz area ratio) taken
away leave its registers and glue; one register is at most that remainder over the registers a PE
holds. Power: the register's share of the PE's area, times the PE's power. Per PE, at the RTL's clock
and word size; dse/cost/accelerator.py scales it with the PE count, clock and precision.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from dse.cost.precision import op_table
from dse.cost.rtl import rtl_table
from dse.data_files import DATA_DIR
from dse.jsonfile import read_json

PE_REGISTER_FILE = DATA_DIR / "pe_register.json"


@dataclass(frozen=True)
class RegisterCost:
    module: str  # its name in an accelerator's components and breakdown
    area_um2: float  # one register, an upper bound
    power_uw: float  # at the RTL tables' clock
    pe_share: float  # of one PE's area (and power)
    word_bits: int  # the word it holds at this price


@cache
def register_cost() -> RegisterCost:
    spec = read_json(PE_REGISTER_FILE, "PE register")
    pe = spec["pe"]
    area_mm2, power_mw = rtl_table(pe["rtl"])[pe["module"]]
    pe_um2, pe_uw = area_mm2 * 1e6 / pe["pes"], power_mw * 1e3 / pe["pes"]
    remainder = pe_um2
    for part in spec["datapath"]:
        area = rtl_table(part["rtl"])[part["module"]][0] * 1e6
        if "area_ratio" in part:
            r, ops = part["area_ratio"], op_table()
            area *= ops[(r["operation"], r["format"])].area_um2 / ops[(r["operation"], r["over"])].area_um2
        remainder -= area
    register = remainder / spec["registers_per_pe"]
    share = register / pe_um2
    return RegisterCost(spec["module"], register, share * pe_uw, share, spec["word_bits"])
