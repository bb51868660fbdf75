"""focus-dse topology: a workload as a SCALE-Sim GEMM topology CSV."""

from __future__ import annotations

import argparse
import sys

from dse.commands.common import add_workload_args, workload_from_args
from dse.scalesim_io import write_topology
from dse.topology import dense_topology


def register(sub) -> None:
    p = sub.add_parser("topology", help="write the workload's GEMMs as a SCALE-Sim topology CSV")
    add_workload_args(p)
    p.add_argument("-o", "--output", help="CSV path (default: print to stdout)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    workload = workload_from_args(args)
    rows = dense_topology(workload)
    if args.output:
        path = write_topology(args.output, rows)
        print(f"wrote {path} ({len(rows)} GEMMs of {workload.name})", file=sys.stderr)
    else:
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as tmp:
            sys.stdout.write(write_topology(Path(tmp) / "t.csv", rows).read_text())
    return 0
