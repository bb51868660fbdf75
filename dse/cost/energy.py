"""Energy of a run, per component (J).

focus-paper (as the paper's simulator): every RTL component and every compiler-built buffer's peak
power (read/write at 500 MHz, see sram.py) is charged for the whole run, a CACTI-priced buffer its
accesses x energy per byte and its leakage for the whole run (dse/cost/buffer_pricing.py); DRAM
bytes x pJ/B.
faithful: each component is charged power x its busy time (array: compute cycles; SIC
units: detection; accumulators: scatter; SFUs: softmax; ...); each buffer its leakage for
the whole run plus its accesses x per-access energy; DRAM bytes x pJ/B.
With several cores (accel.cores), busy cycles are summed over the cores (core-cycles) and what
is charged for the whole run (leakage, "always" components, focus-paper peak power) is charged
once per core.
"""

from __future__ import annotations

from dse.cost.accelerator import Accelerator
from dse import xp
from dse.xp import minimum

DRAM_PJ_PER_BYTE = 99.98  # DDR4 (DRAMsim3 DDR4_4Gb_x16_2133), as in the Focus paper


def energy_breakdown(
    accel: Accelerator,
    busy_cycles: dict[str, float],
    sram_bytes: dict[str, float],
    dram_bytes: float,
    total_cycles: float,
    frequency_mhz: float,
    dram_pj_per_byte: float = DRAM_PJ_PER_BYTE,
    per_access: bool = True,
) -> dict[str, float]:
    hz = frequency_mhz * 1e6
    seconds = total_cycles / hz
    run = total_cycles * accel.cores  # core-cycles of the whole run
    out: dict[str, float] = {"dram": dram_bytes * dram_pj_per_byte * 1e-12}
    for c in accel.components:
        busy = run if (not per_access or c.busy == "always") else minimum(busy_cycles.get(c.busy, 0.0), run)
        out[c.module] = out.get(c.module, 0.0) + c.power_mw * c.count * 1e-3 * busy / hz
    for b in accel.buffers:
        accesses = per_access or b.per_access  # focus-paper: peak power for compiler-built buffers only
        if xp.somewhere(accesses):
            leak = b.leakage_mw * 1e-3 * seconds * accel.cores
            total, written = sram_bytes.get(b.name, 0.0), sram_bytes.get(f"write:{b.name}")
            if written is None:  # reads and writes counted together: each byte at their mean
                pj = (b.read_pj_per_byte + b.write_pj_per_byte) / 2
                charged = leak + total * pj * 1e-12
            else:  # the paper's traffic (dse/sim/units/focus.py paper_sram): writes at the write energy
                charged = leak + ((total - written) * b.read_pj_per_byte + written * b.write_pj_per_byte) * 1e-12
        if not xp.holds(accesses):
            peak = b.peak_mw * 1e-3 * seconds * accel.cores
            charged = xp.where(accesses, charged, peak) if xp.somewhere(accesses) else peak
        out[f"sram:{b.name}"] = charged
    return out
