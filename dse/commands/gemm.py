"""focus-dse simulate-gemm: one GEMM (A is M x K, B is K x N) on one array, either backend.

With --bandwidth (words/cycle) and --sram-kb I,F,O (scalesim's own units, 1-byte words as in
its runs) the DRAM interface limits the run: scalesim's USER bandwidth mode, and an analytic
model that reproduces it (dse/sim/dram/).
"""

from __future__ import annotations

import argparse
from dataclasses import asdict

from dse.commands.common import add_array_args, add_backend_arg, array_from_args, emit
from dse.errors import UserError
from dse.sim.hardware import check_gemm_shape

SCALESIM_WORD_BYTES = 1  # scalesim fixes its word size at one byte
MAX_REPLAYED_CYCLES = 50_000_000  # ~10 s of the line-by-line replay


def register(sub) -> None:
    p = sub.add_parser("simulate-gemm", help="cycles and SRAM traffic of one GEMM, as scalesim reports them")
    p.add_argument("--M", type=int, required=True, help="rows of A (tokens)")
    p.add_argument("--K", type=int, required=True, help="columns of A = rows of B")
    p.add_argument("--N", type=int, required=True, help="columns of B")
    add_array_args(p)
    add_backend_arg(p)
    p.add_argument("--bandwidth", type=int, help="DRAM bandwidth in words/cycle (scalesim USER mode)")
    p.add_argument("--sram-kb", help="ifmap,filter,ofmap SRAM sizes in kB (default 256,256,128)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def parse_sram(text: str | None) -> tuple[int, int, int]:
    if text is None:
        return 256, 256, 128
    try:
        sizes = tuple(int(x) for x in text.split(","))
    except ValueError:
        sizes = ()
    if len(sizes) != 3 or min(sizes) <= 0:
        raise UserError(f"--sram-kb wants three positive kB sizes I,F,O, got {text!r}")
    return sizes  # type: ignore[return-value]


def run(args: argparse.Namespace) -> int:
    from dse.sim.backends import get_backend
    from dse.sim.dram import dram_gemm

    check_gemm_shape(args.M, args.K, args.N)
    sram = parse_sram(args.sram_kb)
    array = array_from_args(args, ifmap_sram_kb=sram[0], filter_sram_kb=sram[1], ofmap_sram_kb=sram[2])
    backend = get_backend(args.backend)
    counts = backend.gemm(args.M, args.K, args.N, array)
    result = {
        "backend": args.backend,
        "M": args.M, "K": args.K, "N": args.N,
        "rows": array.rows, "cols": array.cols, "dataflow": array.dataflow,
        **asdict(counts),
    }
    if args.sram_kb is not None and args.bandwidth is None:
        raise UserError("--sram-kb only changes the numbers in bandwidth mode: add --bandwidth WORDS_PER_CYCLE")
    if args.bandwidth is not None:
        if args.bandwidth <= 0:
            raise UserError(f"--bandwidth must be a positive number of words/cycle, got {args.bandwidth}")
        result.update(sram_kb=list(sram), bandwidth_words_per_cycle=args.bandwidth, word_bytes=SCALESIM_WORD_BYTES)
        if args.backend == "scalesim":
            row = backend.report(args.M, args.K, args.N, array, args.bandwidth)
            result.update(stall_cycles=int(float(row["Stall Cycles"])), total_cycles=int(float(row["Total Cycles"])),
                          ifmap_dram_reads=int(float(row["DRAM IFMAP Reads"])),
                          filter_dram_reads=int(float(row["DRAM Filter Reads"])),
                          ofmap_dram_writes=int(float(row["DRAM OFMAP Writes"])))
            result["compute_cycles"] = result["total_cycles"] - result["stall_cycles"]
        else:
            if counts.compute_cycles > MAX_REPLAYED_CYCLES:
                raise UserError(f"GEMM {args.M}x{args.K}x{args.N} is {counts.compute_cycles:,} cycles: the bandwidth "
                                f"model replays scalesim's buffers line by line (limit {MAX_REPLAYED_CYCLES:,}); "
                                "for whole models use focus-dse simulate --dram-bandwidth-gbps")
            d = dram_gemm(args.M, args.K, args.N, array.rows, array.cols, array.dataflow, sram, args.bandwidth,
                          SCALESIM_WORD_BYTES)
            result.update({k: d[k] for k in ("stall_cycles", "total_cycles", "ifmap_dram_reads", "filter_dram_reads",
                                              "ofmap_dram_writes")})
    emit(result, args.json, lambda r: "\n".join(f"{k:>26}: {v}" for k, v in r.items()))
    return 0
