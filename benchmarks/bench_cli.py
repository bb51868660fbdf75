"""The command line's start-up and many designs per call (issue 23), measured in one run.

    .venv/bin/python benchmarks/bench_cli.py [--repeat 5] [--designs 10000]

Each command runs as a fresh process (what a user's shell loop pays), wall time, min over the rounds
(the rounds alternate the commands, so a busy neighbour hits all of them):
- `focus-dse --help` (target <= 0.3 s) and one `focus-dse simulate ... --json` (target <= 0.5 s),
  beside the interpreter's own floor (`python -c pass`) and `python -c "import numpy"`;
- `focus-dse simulate --designs FILE -o OUT` on N random designs of the quickstart's grid
  (target: 10,000 in <= 3 s), and the same N designs' cost model alone in this process
  (dse/batch.py evaluate_batch on the DesignPoints: what the command adds around it).
The load average is printed at the start and at the end.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIMULATE = ["simulate", "--workload", "llava_vid/videomme", "--accelerator", "focus"]
DESIGN_FLAGS = ["--convention", "faithful", "--dram-bandwidth-gbps", "64"]  # the quickstart's fixed knobs


def program() -> list[str]:
    script = Path(sys.executable).with_name("focus-dse")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dse"]


def wall(argv: list[str], cwd: Path) -> float:
    t = time.perf_counter()
    subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def quickstart_designs(n: int, seed: int = 0) -> tuple[list[str], list[list]]:
    """n random points of the quickstart study's grid, as a designs table (columns named as its knobs)."""
    from dse.search.grid import Grid
    from dse.search.studyfile import load_study

    grid = Grid.of(load_study("quickstart").space)
    names = [n for n in grid.names if len(grid.values[grid.names.index(n)]) > 1]
    rng = random.Random(seed)
    return names, [[rng.choice(grid.values[grid.names.index(c)]) for c in names] for _ in range(n)]


def model_alone(columns: list[str], rows: list[list]) -> float:
    """Seconds of evaluate_batch on the table's DesignPoints (built beforehand), in this process."""
    from dse.batch import evaluate_batch
    from dse.design import DesignPoint
    from dse.workloads import resolve_workload

    points = [DesignPoint.from_dict({"accelerator": "focus", "convention": "faithful", "dram_bandwidth_gbps": 64.0,
                                     **dict(zip(columns, row))}) for row in rows]
    workload = resolve_workload("llava_vid/videomme")
    t = time.perf_counter()
    evaluate_batch(points, workload)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="rounds (default 5)")
    ap.add_argument("--designs", type=int, default=10_000, help="rows of the designs table (default 10000)")
    args = ap.parse_args()
    focus_dse = program()
    load_start = os.getloadavg()
    print(f"{os.cpu_count()} cores, load average {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}; "
          f"{' '.join(focus_dse)}; {args.repeat} rounds, min (and max) wall time of fresh processes")
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        tmp = Path(tmp)
        columns, rows = quickstart_designs(args.designs)
        table = tmp / "designs.csv"
        with open(table, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            writer.writerows(rows)
        out = tmp / "out.csv"
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "python -c 'import numpy'": [sys.executable, "-c", "import numpy"],
            "focus-dse --help": [*focus_dse, "--help"],
            "focus-dse simulate --json (one design)": [*focus_dse, *SIMULATE, "--json"],
            f"focus-dse simulate --designs ({args.designs:,} designs)": [*focus_dse, *SIMULATE, *DESIGN_FLAGS,
                                                                         "--designs", str(table), "-o", str(out)],
        }
        times: dict[str, list[float]] = {k: [] for k in commands}
        alone: list[float] = []
        for _ in range(args.repeat):
            for label, argv in commands.items():
                times[label].append(wall(argv, tmp))
            alone.append(model_alone(columns, rows))
        with open(out, newline="") as f:
            got = list(csv.DictReader(f))
        assert len(got) == args.designs, len(got)
        refused = sum(1 for r in got if r["error"])
        floor = min(times["python -c pass"])
        for label, seconds in times.items():
            print(f"  {label:<44} {min(seconds):6.3f} s (max {max(seconds):.3f}) = {min(seconds) / floor:5.1f}x the "
                  "interpreter's start")
        best = {k: min(v) for k, v in times.items()}
        many = best[f"focus-dse simulate --designs ({args.designs:,} designs)"]
        print(f"  {args.designs:,} designs: {args.designs / many:,.0f} designs/s through the command ({refused} "
              f"refused); the cost model alone (evaluate_batch, in process) {min(alone):.3f} s = "
              f"{min(alone) / many:.0%} of the command")
        for label, target in (("focus-dse --help", 0.3), ("focus-dse simulate --json (one design)", 0.5),
                              (f"focus-dse simulate --designs ({args.designs:,} designs)",
                               3.0 * args.designs / 10_000)):
            print(f"  {label}: {best[label]:.3f} s (target <= {target:g} s) -> "
                  f"{'PASS' if best[label] <= target else 'FAIL'}")
    end = os.getloadavg()
    print(f"load average {end[0]:.2f} {end[1]:.2f} {end[2]:.2f} at the end (other processes share the cores)")


if __name__ == "__main__":
    main()
