"""What the quickstart's coarse grid costs: its exact front against a long search of the fine space.

    .venv/bin/python benchmarks/bench_grid_cost.py [--exhaustive DIR] [--trials 5000] [--storage URL]

The quickstart's grid (dse/data/studies/quickstart.yaml, 2.2 M points) is a coarsening of
its earlier space (FINE below: rows/cols in steps of 8, clocks in steps of 100 MHz, more tile,
vector, block and scatter choices, continuous threshold and SEC strength; ~2e8 points before
those two). This runs a `study run` of --trials trials (the quickstart's NSGA-II settings) on
that fine space, or reads one from --storage, and compares, at one reference point (the worst
value of each objective over both fronts, pushed out by 10 % of the range):
- the coarse grid's exact front (DIR: `focus-dse study exhaustive quickstart`'s folder),
- the fine search's feasible front,
- their union (the best known front of the fine space).
Printed: the three hypervolumes and coarse / union, fine / union.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from dse.search.exhaustive import maximized, objective_metrics
from dse.search.front import hypervolume, nondominated, reference_point
from dse.search.space import parse_space
from dse.search.storage import StorageRef, parse_storage
from dse.search.studyfile import load_study

FINE = {  # the quickstart's space before it got a grid
    "rows": {"low": 8, "high": 256, "step": 8},
    "cols": {"low": 8, "high": 256, "step": 8},
    "dataflow": ["ws", "os", "is"],
    "frequency_mhz": {"low": 200, "high": 1000, "step": 100},
    "m_tile": [256, 512, 1024, 2048, 4096],
    "n_tile": [32, 64, 96, 128, 192, 256],
    "vector_size": [8, 16, 32, 64, 128],
    "block": ["1x1x1", "2x1x1", "1x2x2", "2x2x2", "3x2x2", "2x3x3", "3x3x3"],
    "threshold": {"low": 0.7, "high": 0.99},
    "sec_scale": {"low": 0.25, "high": 4.0, "log": True},
    "n_scatter": {"low": 1, "high": 8},
    "dram_bandwidth_gbps": 64,
}


def fine_front(trials: int, storage: str | None) -> np.ndarray:
    from dse.design import DesignPoint
    from dse.report.tables import trials_dataframe
    from dse.search.runner import run_study
    from dse.search.study_store import finished_count, open_study

    coarse = load_study("quickstart")
    spec = replace(coarse, space=parse_space(FINE, DesignPoint.buffer_names(coarse.accelerator)))
    with tempfile.TemporaryDirectory() as tmp:
        ref = parse_storage(storage) if storage else StorageRef("journal", str(Path(tmp) / "fine.log"))
        study = open_study(spec, ref, create=True)
        if finished_count(study) < trials:
            print(f"running {trials} trials on the fine space in {ref.display} ...", file=sys.stderr)
            run_study(spec, ref, trials, seed=spec.seed, progress=False)
        df = trials_dataframe(open_study(spec, ref, create=False), spec)
    df = df[df["number"] < trials]
    ok = df[(df["state"] == "COMPLETE") & df["feasible"]]
    values = ok[objective_metrics(spec)].to_numpy(float)
    print(f"fine space: {len(df)} trials, {len(ok)} feasible")
    return values[nondominated(values, maximized(spec))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--exhaustive", default="results/quickstart/exhaustive", help="`study exhaustive` folder")
    ap.add_argument("--trials", type=int, default=5000)
    ap.add_argument("--storage", help="a storage already holding the fine-space study (name quickstart)")
    args = ap.parse_args()
    spec = load_study("quickstart")
    metrics, maximize = objective_metrics(spec), maximized(spec)
    try:
        coarse = pd.read_parquet(Path(args.exhaustive) / "front.parquet")[metrics].to_numpy(float)
    except OSError:
        sys.exit(f"no exact front in {args.exhaustive}: run `focus-dse study exhaustive quickstart` first")
    fine = fine_front(args.trials, args.storage)
    union = np.vstack([coarse, fine])
    union = union[nondominated(union, maximize)]
    reference = reference_point(np.vstack([coarse, fine]), maximize)
    fronts = {"coarse exact": coarse, "fine search": fine, "union": union}
    hv = {name: hypervolume(v, maximize, reference) for name, v in fronts.items()}
    print("reference point: " + ", ".join(f"{o} {v:.4g}" for o, v in zip(spec.objectives, reference)))
    for name, value in hv.items():
        print(f"  {name:13s} front {len(fronts[name]):5d} designs, hypervolume {value:.6g}")
    print(f"coarse exact / union: {hv['coarse exact'] / hv['union']:.4f}; fine search / union: "
          f"{hv['fine search'] / hv['union']:.4f}; coarse exact / fine search: "
          f"{hv['coarse exact'] / hv['fine search']:.4f}")


if __name__ == "__main__":
    main()
