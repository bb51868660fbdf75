"""focus-dse simulate: a whole model on an accelerator, under a counting convention."""

from __future__ import annotations

import argparse

from dse.commands.common import add_array_args, add_backend_arg, add_workload_args, array_from_args, emit, \
    workload_from_args
from dse.scalesim_io import read_topology
from dse.sim.backends import gemm_cycles, get_backend
from dse.sim.model import model_layers
from dse.sim.plan import CONVENTIONS, check_convention


def register(sub) -> None:
    p = sub.add_parser("simulate", help="cycles (and later energy) of a whole VLM workload on an accelerator")
    add_workload_args(p)
    p.add_argument("--topology", help="simulate a SCALE-Sim GEMM topology CSV (rows x repeat) instead of a workload")
    p.add_argument("--accelerator", default="dense", help="dense (systolic array)")
    p.add_argument("--convention", default="faithful", choices=CONVENTIONS,
                   help="focus-paper: count as the Focus paper's simulator; faithful (default): our exact model")
    add_array_args(p)
    add_backend_arg(p)
    p.add_argument("--frequency-mhz", type=float, default=500.0, help="clock (default 500 MHz)")
    p.add_argument("--m-tile", type=int, default=1024, help="tokens per on-chip M tile (default 1024)")
    p.add_argument("--per-layer", action="store_true", help="add a per-layer, per-GEMM breakdown")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.topology:
        return run_topology(args)
    workload = workload_from_args(args)
    check_convention(args.convention)
    if args.frequency_mhz <= 0:
        from dse.errors import UserError

        raise UserError(f"--frequency-mhz must be positive, got {args.frequency_mhz}")
    array = array_from_args(args)
    layers = model_layers(workload, array, args.convention, get_backend(args.backend), args.m_tile)
    total = sum(layer.total for layer in layers)
    result = {
        "workload": workload.name,
        "model": workload.model,
        "tokens": workload.tokens,
        "accelerator": args.accelerator,
        "convention": args.convention,
        "backend": args.backend,
        "rows": array.rows, "cols": array.cols, "dataflow": array.dataflow,
        "frequency_mhz": args.frequency_mhz,
        "m_tile": args.m_tile,
        "total_cycles": round(total),
        "execution_time_s": total / (args.frequency_mhz * 1e6),
    }
    if args.per_layer:
        result["per_layer"] = [
            {"layer": layer.layer, "tokens": layer.tokens, "cycles": round(layer.total),
             "gemms": {k: round(v) for k, v in layer.gemm_cycles.items()}}
            for layer in layers
        ]
    emit(result, args.json, render)
    return 0


def run_topology(args: argparse.Namespace) -> int:
    """Each row's GEMM, whole, times its repeat count (no tiling, no convention)."""
    rows = read_topology(args.topology)
    array = array_from_args(args)
    backend = get_backend(args.backend)
    cycles = {r.layer: r.repeat * gemm_cycles(r.M, r.K, r.N, array, backend) for r in rows}
    total = sum(cycles.values())
    result = {"topology": args.topology, "backend": args.backend, "rows": array.rows, "cols": array.cols,
              "dataflow": array.dataflow, "frequency_mhz": args.frequency_mhz, "total_cycles": round(total),
              "execution_time_s": total / (args.frequency_mhz * 1e6)}
    if args.per_layer:
        result["per_layer"] = [{"layer": k, "cycles": round(v)} for k, v in cycles.items()]
    emit(result, args.json, lambda r: "\n".join(f"{k:>18}: {v}" for k, v in r.items() if k != "per_layer"))
    return 0


def render(r: dict) -> str:
    lines = [f"{r['workload']} ({r['tokens']} visual tokens, {r['model']}) on {r['accelerator']} "
             f"{r['rows']}x{r['cols']} {r['dataflow'].upper()} @ {r['frequency_mhz']:g} MHz",
             f"convention {r['convention']}, backend {r['backend']}",
             f"total cycles     {r['total_cycles']:,}",
             f"execution time   {r['execution_time_s']:.3f} s"]
    for layer in r.get("per_layer", []):
        lines.append(f"  layer {layer['layer']:>2}  {layer['tokens']:>6} tokens  {layer['cycles']:>16,} cycles")
    return "\n".join(lines)
