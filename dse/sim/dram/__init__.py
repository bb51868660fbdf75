"""DRAM traffic and bandwidth-limited cycles of one GEMM, as SCALE-Sim 3.0.0's USER bandwidth
mode (``InterfaceBandwidth = USER``) reports them, artefacts included: ``dram_gemm``.

Pure Python (standard library only). Verified exact (cycles, stalls and all DRAM word counts)
against scalesim on 64 grid cases and 9 odd-size runs during development, and on 33 cases in
tests/test_dram_vs_scalesim.py. Cost: loops over fold visits (diagonal-unrolled operands),
operand rows (row-major streamed operands) and ofmap-writing demand lines, roughly
O(compute cycles / 10) Python steps: ~1-100 ms for verification-size GEMMs (scalesim:
0.1-150 s), seconds for 1k-2k GEMMs, far too slow for whole-LLM sweeps (those use the
physical tiling model in dse/sim/traffic.py).

GEMM: A = M x K (ifmap), B = K x N (filter), O = M x N (ofmap).  Dataflows os/ws/is follow
SCALE-Sim's mapping. What scalesim's USER mode really does (checked in its source):
each read SRAM is a circular window over the operand's prefetch order, cut in sets of
ceil(T/100) words; a miss slides the window by the prefetch half, so a backward reference
(every fold change of a diagonal-ordered operand) costs a whole lap of re-fetches;
prefetches run back to back on their own DRAM clock; read stalls are counted twice and then
partly absorbed by early arrivals (net: a few % above the DRAM-bound time, not 2x); per
line the stall is the max over operands; "Total Cycles" = compute + "Stall Cycles".

Modules, in the order a GEMM goes through them:
  diagonal.py      where each element of a diagonal-unrolled operand sits in prefetch order
  read_buffer.py   a read SRAM's geometry and its sliding window
  read_demand.py   the demand lines at which each read window slides
  write_buffer.py  the ofmap demand lines and the write SRAM draining them
  gemm.py          the line loop that turns slides and writes into stalls; dram_gemm
"""
from dse.sim.dram.gemm import dram_gemm

__all__ = ["dram_gemm"]
