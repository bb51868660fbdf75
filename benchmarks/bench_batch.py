"""Batch vs scalar evaluation speed, measured in this run (noisy on a shared machine).

1. The cost model: dse/batch.py evaluate_batch on N random whole-model Focus (faithful) design
   points of llava_vid/videomme (every knob of the quickstart drawn at random, threshold and
   SEC scale continuous: brute force, no two points share a profile), against dse/evaluate.py
   evaluate on the same points one by one.
2. A study's trials: dse/search/batch.py evaluate_chunk on random quickstart points, against
   DesignEvaluator.run (what a trial runs) point by point.
3. The same on the whole query: random video-qa points (encoder, prefill with 64 text tokens,
   2-token decode; dse/query.py run_query_batch inside evaluate_chunk).
A first pass, timed apart, runs CACTI on the SRAM configurations these points need (once per machine,
then cached on disk). Caches that hold per-design results are cleared before each timed run. The batch is timed twice:
on the DesignPoints (as a study hands them over) and from the knob values (building and checking
each DesignPoint included).
"""

from __future__ import annotations

import argparse
import random
import time

import optuna
import pandas as pd

from dse.batch import evaluate_batch
from dse.design import DesignPoint
from dse.errors import UserError
from dse.evaluate import evaluate
from dse.published import published_profile
from dse.search.batch import evaluate_chunk, study_evaluator
from dse.search.studyfile import load_study
from dse.sim.backends import _analytic_cycles
from dse.workloads import resolve_workload


def focus_points(n: int, seed: int) -> list[DesignPoint]:
    return [DesignPoint(**knobs) for knobs in focus_knobs(n, seed)]


def focus_knobs(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [dict(
        accelerator="focus", convention="faithful", rows=rng.choice(range(8, 257, 8)),
        cols=rng.choice(range(8, 257, 8)), dataflow=rng.choice(["ws", "os", "is"]),
        frequency_mhz=float(rng.choice(range(200, 1001, 100))), m_tile=rng.choice([256, 512, 1024, 2048, 4096]),
        n_tile=rng.choice([32, 64, 96, 128, 192, 256]), vector_size=rng.choice([8, 16, 32, 64, 128]),
        block=rng.choice([(1, 1, 1), (2, 1, 1), (1, 2, 2), (2, 2, 2), (3, 2, 2), (2, 3, 3), (3, 3, 3)]),
        threshold=rng.uniform(0.7, 0.99), sec_scale=2 ** rng.uniform(-2, 2), n_scatter=rng.randint(1, 8),
        dram_bandwidth_gbps=64.0) for _ in range(n)]


def refused_or(fn, *args):
    """fn(*args), or the UserError a point the model refuses raises (the batch reports those per point too:
    e.g. a random array whose banked SRAM slice CACTI cannot organise)."""
    try:
        return fn(*args)
    except UserError as exc:
        return exc


def clear_caches() -> None:
    _analytic_cycles.cache_clear()
    published_profile.cache_clear()


def timed(fn) -> float:
    clear_caches()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=4000, help="batch points (default 4000)")
    parser.add_argument("--scalar-points", type=int, default=400, help="scalar points (default 400)")
    args = parser.parse_args()
    w = resolve_workload("llava_vid/videomme")
    knobs = focus_knobs(args.points, seed=0)
    points = [DesignPoint(**k) for k in knobs]
    t_first = timed(lambda: evaluate_batch(points, w))  # imports, one-off tables, CACTI on SRAMs new to this machine
    t_batch = timed(lambda: evaluate_batch(points, w))
    t_built = timed(lambda: evaluate_batch([DesignPoint(**k) for k in knobs], w))
    scalar: list = []
    t_scalar = timed(lambda: scalar.extend(refused_or(evaluate, p, w) for p in points[:args.scalar_points]))
    refused = sum(isinstance(r, UserError) for r in scalar)
    batch_rate, built_rate = len(points) / t_batch, len(points) / t_built
    scalar_rate = args.scalar_points / t_scalar
    print("cost model, whole-model Focus (faithful) on llava_vid/videomme, random points, one core:")
    print(f"  first pass {t_first:.2f} s (imports; CACTI on the SRAM configurations new to this machine, "
          "once per machine)")
    print(f"  batch  {batch_rate:10,.0f} points/s ({len(points)} points in {t_batch:.2f} s)")
    print(f"  batch  {built_rate:10,.0f} points/s from knob values (DesignPoints built and checked: {t_built:.2f} s)")
    print(f"  scalar {scalar_rate:10,.0f} points/s ({args.scalar_points} points in {t_scalar:.2f} s; "
          f"{refused} refused by the model, as the batch refuses them)")
    print(f"  speed-up {batch_rate / scalar_rate:.1f}x (target 10,000 points/s: "
          f"{'met' if min(batch_rate, built_rate) >= 1e4 else 'not met'})")

    for name, title in (("quickstart", "study trials, quickstart (metrics, accuracy, constraints), random points:"),
                        ("video-qa", "whole-query study trials, video-qa (encoder + prefill + decode), random points:")):
        trials(name, title, args.points // 2, args.scalar_points)


def trials(name: str, title: str, n: int, scalar_points: int) -> None:
    """evaluate_chunk on n random points of a study against DesignEvaluator.run point by point."""
    spec = load_study(name)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    rows = []
    for _ in range(n):
        trial = study.ask()
        rows.append(spec.space.suggest(trial))
        study.tell(trial, 0.0)
    evaluator = study_evaluator(spec)
    designs = pd.DataFrame(rows)
    t_chunk = timed(lambda: evaluate_chunk(spec, designs))
    few = rows[:scalar_points]
    t_run = timed(lambda: [refused_or(evaluator.run, spec.space.design_dict(r, spec.accelerator, spec.convention))
                           for r in few])
    chunk_rate, run_rate = len(rows) / t_chunk, len(few) / t_run
    print(title)
    print(f"  evaluate_chunk      {chunk_rate:10,.0f} points/s ({len(rows)} points in {t_chunk:.2f} s)")
    print(f"  DesignEvaluator.run {run_rate:10,.0f} points/s ({len(few)} points in {t_run:.2f} s)")
    print(f"  speed-up {chunk_rate / run_rate:.1f}x")


if __name__ == "__main__":
    main()
