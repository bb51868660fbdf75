"""focus-dse sweep: array size x DRAM bandwidth, showing where each array becomes memory-bound.

Bandwidth is in GB/s at the design's clock (bytes/cycle = GB/s / GHz), FP16 (2-byte words).
Per GEMM, DRAM transfer and compute overlap; the slower one sets its time (roofline).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dse.choices import CONVENTIONS
from dse.commands.common import add_workload_args, workload_from_args
from dse.csvfile import write_csv
from dse.errors import UserError


def register(sub) -> None:
    p = sub.add_parser("sweep", help="array size x DRAM bandwidth sweep: CSV and roofline plot under results/")
    add_workload_args(p)
    p.add_argument("--array", default="16..256", help="square array sizes: LO..HI (powers of two) or a list 16,32,64")
    p.add_argument("--bandwidth", default="8,16,32,64", help="DRAM bandwidths in GB/s, comma-separated")
    p.add_argument("--accelerator", default="focus")
    p.add_argument("--convention", default="faithful", choices=CONVENTIONS)
    p.add_argument("--frequency-mhz", type=float, default=500.0)
    p.add_argument("--results-dir", default="results")
    p.set_defaults(func=run)


def parse_sizes(text: str) -> list[int]:
    try:
        if ".." in text:
            lo, hi = (int(x) for x in text.split(".."))
            if not 0 < lo <= hi:
                raise ValueError
            sizes = [lo << i for i in range((hi // lo).bit_length())]
            if sizes[-1] != hi:
                raise UserError(f"--array {text}: HI must be LO times a power of two ({lo}..{sizes[-1]} or "
                                f"{lo}..{sizes[-1] * 2}), or give a list of sizes, e.g. {lo},{hi}")
        else:
            sizes = [int(x) for x in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) <= 0:
        raise UserError(f"--array wants LO..HI (0 < LO <= HI, powers of two from LO) or a list of positive sizes, "
                        f"got {text!r}")
    return sizes


def parse_bandwidths(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) <= 0:
        raise UserError(f"--bandwidth wants positive GB/s values, comma-separated, got {text!r}")
    return values


def run(args: argparse.Namespace) -> int:
    from dse.cost.accelerator import load_spec
    from dse.design import DesignPoint
    from dse.evaluate import evaluate

    workload = workload_from_args(args)
    sizes, bandwidths = parse_sizes(args.array), parse_bandwidths(args.bandwidth)
    if load_spec(args.accelerator)["model"] == "adaptiv":
        raise UserError("the AdapTiV-like array has a fixed geometry (64-wide MAC lines); sweep dense, focus or cmc")
    rows = []
    for size in sizes:
        for bw in [None, *bandwidths]:
            design = DesignPoint(accelerator=args.accelerator, rows=size, cols=size, convention=args.convention,
                                 frequency_mhz=args.frequency_mhz, dram_bandwidth_gbps=bw)
            ev = evaluate(design, workload)
            rows.append({
                "array": size, "bandwidth_gbps": bw or "unlimited",
                "bandwidth_bytes_per_cycle": bw * 1e3 / args.frequency_mhz if bw else "",
                "total_cycles": round(ev.total_cycles), "compute_cycles": round(ev.compute_cycles),
                "memory_stall_cycles": round(ev.memory_stall_cycles), "execution_time_s": ev.execution_time_s,
                "dram_bytes": ev.dram_bytes, "needed_bytes_per_cycle": ev.dram_bytes / ev.compute_cycles,
                "achieved_bytes_per_cycle": ev.dram_bytes / ev.total_cycles,
                "memory_bound": ev.memory_stall_cycles > 0.05 * ev.total_cycles,
                "energy_j": ev.energy_j, "area_mm2": ev.area_mm2,
            })
    out = Path(args.results_dir) / "sweep"
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{workload.name.replace('/', '__')}_{args.accelerator}"
    path = write_csv(out / f"{stem}.csv", rows)
    plot(rows, sizes, bandwidths, out / f"{stem}.png", f"{args.accelerator} on {workload.name}")
    for r in rows:
        if r["bandwidth_gbps"] == "unlimited":
            print(f"array {r['array']:>4}x{r['array']:<4} needs {r['needed_bytes_per_cycle']:6.1f} B/cycle "
                  f"({r['needed_bytes_per_cycle'] * args.frequency_mhz / 1e3:6.1f} GB/s) to stay compute-bound")
    print(f"wrote {path} and {path.with_suffix('.png')}", file=sys.stderr)
    return 0


def plot(rows: list[dict], sizes: list[int], bandwidths: list[float], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for bw in [None, *bandwidths]:
        label = "unlimited (compute-bound)" if bw is None else f"{bw:g} GB/s"
        sel = [r for r in rows if r["bandwidth_gbps"] == (bw or "unlimited")]
        ax.plot([r["array"] for r in sel], [r["execution_time_s"] for r in sel], "o-" if bw else "k--", label=label)
        bound = [r for r in sel if r["memory_bound"]]
        ax.scatter([r["array"] for r in bound], [r["execution_time_s"] for r in bound], s=80, facecolors="none",
                   edgecolors="red")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(sizes, [f"{s}x{s}" for s in sizes])
    ax.set_xlabel("array")
    ax.set_ylabel("latency (s)")
    ax.set_title(f"{title}: red rings = memory-bound (>5 % stall)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
