"""`study exhaustive` throughput: local processes against a Dask cluster on the same grid.

    .venv/bin/python benchmarks/bench_exhaustive.py [--study quickstart] [--rows-step 48] [--workers 2]

The study's grid (default: the quickstart's, with rows and cols in steps of --rows-step
instead of 16 so that each run takes a minute or two; 0 keeps the study's grid) is enumerated
twice from scratch in temporary folders, back to back: by --workers local processes, then by a
dask.distributed LocalCluster of --workers single-threaded worker processes (started before the
clock starts, as a running cluster would be). Printed: wall time, points/s and whole-model
evaluations/s of each, the Dask/local time ratio, and whether the two exact fronts are equal.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from dse.search.exhaustive import enumerate_grid, exact_front
from dse.search.space import parse_knob
from dse.search.studyfile import load_study


def timed(spec, folder: Path, **how):
    start = time.perf_counter()
    run = enumerate_grid(spec, folder, progress=False, **how)
    return run, time.perf_counter() - start


def main() -> None:
    import logging

    from distributed import LocalCluster

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", default="quickstart")
    ap.add_argument("--rows-step", type=int, default=48, help="rows/cols step (0: the study's own grid)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    spec = load_study(args.study)
    if args.rows_step:
        knobs = dict(spec.space.knobs)
        for name in ("rows", "cols"):
            knobs[name] = parse_knob(name, {"low": 16, "high": 16 + 5 * args.rows_step, "step": args.rows_step}, name)
        spec = replace(spec, space=replace(spec.space, knobs=knobs))
    with tempfile.TemporaryDirectory() as tmp:
        local, local_s = timed(spec, Path(tmp) / "local", workers=args.workers)
        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                          silence_logs=logging.ERROR) as cluster:
            dask, dask_s = timed(spec, Path(tmp) / "dask", scheduler=cluster.scheduler_address)
    points = local.total("points")
    print(f"{spec.name}: {points:,} grid points, {local.total('evaluated'):,} evaluated by the whole model")
    for name, run, seconds in (("local", local, local_s), ("dask", dask, dask_s)):
        print(f"  {name:5s} {args.workers} workers: {seconds:7.1f} s, {points / seconds:8,.0f} points/s, "
              f"{run.total('evaluated') / seconds:6,.0f} evaluations/s")
    same = exact_front(local).equals(exact_front(dask))
    print(f"dask / local wall time: {dask_s / local_s:.3f}; exact fronts equal: {same}")


if __name__ == "__main__":
    main()
