"""focus-dse simulate-gemm: one GEMM (A is M x K, B is K x N) on one array, either backend."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from dse.commands.common import add_array_args, add_backend_arg, array_from_args, emit
from dse.sim.backends import get_backend
from dse.sim.hardware import check_gemm_shape


def register(sub) -> None:
    p = sub.add_parser("simulate-gemm", help="cycles and SRAM traffic of one GEMM, as scalesim reports them")
    p.add_argument("--M", type=int, required=True, help="rows of A (tokens)")
    p.add_argument("--K", type=int, required=True, help="columns of A = rows of B")
    p.add_argument("--N", type=int, required=True, help="columns of B")
    add_array_args(p)
    add_backend_arg(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_gemm_shape(args.M, args.K, args.N)
    array = array_from_args(args)
    counts = get_backend(args.backend).gemm(args.M, args.K, args.N, array)
    result = {
        "backend": args.backend,
        "M": args.M, "K": args.K, "N": args.N,
        "rows": array.rows, "cols": array.cols, "dataflow": array.dataflow,
        **asdict(counts),
    }
    emit(result, args.json, lambda r: "\n".join(f"{k:>18}: {v}" for k, v in r.items()))
    return 0
