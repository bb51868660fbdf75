"""Energy of a run, per component (J).

focus-paper (as the paper's simulator): every RTL component and every buffer's peak power
(read/write at 500 MHz, see sram.py) is charged for the whole run; DRAM bytes x pJ/B.
faithful: each component is charged power x its busy time (array: compute cycles; SIC
units: detection; accumulators: scatter; SFUs: softmax; ...); each buffer its leakage for
the whole run plus its accesses x per-access energy; DRAM bytes x pJ/B.
With several cores (accel.cores), busy cycles are summed over the cores (core-cycles) and what
is charged for the whole run (leakage, "always" components, focus-paper peak power) is charged
once per core.
"""

from __future__ import annotations

from dse.cost.accelerator import Accelerator
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
        if per_access:
            pj = (b.read_pj_per_byte + b.write_pj_per_byte) / 2
            leak = b.leakage_mw * 1e-3 * seconds * accel.cores
            out[f"sram:{b.name}"] = leak + sram_bytes.get(b.name, 0.0) * pj * 1e-12
        else:
            out[f"sram:{b.name}"] = b.peak_mw * 1e-3 * seconds * accel.cores
    return out
