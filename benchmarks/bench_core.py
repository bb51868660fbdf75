"""Evaluation speed: one whole-model design point (cycles, Focus unit, energy; analytic backend),
and the analytic/scalesim speed ratio on a GEMM both can run. Prints figures measured in this run."""

from __future__ import annotations

import timeit

from dse.sim import analytic
from dse.design import DesignPoint
from dse.evaluate import evaluate
from dse.sim.backends import _analytic_cycles
from dse.sim.hardware import ArrayConfig
from dse.sim.scalesim_backend import ScaleSimBackend, _run_one
from dse.workloads import resolve_workload


def best_of(fn, repeat: int) -> float:
    """Seconds of the fastest of `repeat` calls (the least disturbed by other work on the machine)."""
    return min(timeit.repeat(fn, repeat=repeat, number=1))


def main() -> None:
    workload = resolve_workload("llava_vid/videomme")
    # the per-shape cache is cleared so every repeat computes from scratch
    for convention in ("focus-paper", "faithful"):
        for accelerator in ("focus", "dense"):
            design = DesignPoint(accelerator=accelerator, convention=convention)
            t = best_of(lambda: (_analytic_cycles.cache_clear(), evaluate(design, workload)), 20)
            print(f"one design point with energy ({accelerator}, {convention}, whole model): {t * 1e3:.2f} ms")

    M = K = N = 256
    array = ArrayConfig(32, 32, "ws")
    t_analytic = best_of(lambda: analytic.gemm_counts(M, K, N, array), 1000)
    t_scalesim = best_of(lambda: (_run_one.cache_clear(), ScaleSimBackend().gemm(M, K, N, array)), 2)
    print(f"GEMM {M}x{K}x{N} on 32x32 WS: analytic {t_analytic * 1e6:.2f} us, scalesim {t_scalesim:.2f} s, "
          f"ratio {t_scalesim / t_analytic:,.0f}x")


if __name__ == "__main__":
    main()
