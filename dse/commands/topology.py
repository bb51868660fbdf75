"""focus-dse topology: a workload as a SCALE-Sim GEMM topology CSV."""

from __future__ import annotations

import argparse
import sys

from dse.commands.common import add_workload_args, workload_from_args


def register(sub) -> None:
    p = sub.add_parser("topology", help="write the workload's GEMMs as a SCALE-Sim topology CSV")
    add_workload_args(p)
    p.add_argument("--profile", help="'published' or a SparsityProfile JSON: write, per layer and M tile, the "
                                      "GEMMs the array really runs (M = unique rows)")
    p.add_argument("--m-tile", type=int, default=1024, help="tokens per M tile when --profile is given (default 1024)")
    p.add_argument("-o", "--output", help="CSV path (default: print to stdout)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dse.profile import load_profile
    from dse.published import published_profile
    from dse.sim.scalesim_io import write_topology
    from dse.topology import dense_topology, tiled_topology

    workload = workload_from_args(args)
    if args.profile:
        profile = published_profile(workload) if args.profile == "published" else load_profile(args.profile)
        rows = tiled_topology(workload, profile, args.m_tile)
    else:
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
