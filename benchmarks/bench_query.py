"""Whole-query evaluation speed: encoder + prefill + 128 decode tokens (Focus, faithful, 64 GB/s) on
llava_vid/videomme, against the prefill alone; and decode cost vs G (closed forms: it must not grow
with one evaluation per token). Prints figures measured in this run (noisy on a shared machine)."""

from __future__ import annotations

import timeit

from dse.design import DesignPoint
from dse.evaluate import evaluate
from dse.design import PHASES
from dse.query import run_query
from dse.sim.backends import _analytic_cycles
from dse.workloads import resolve_workload


def best_of(fn, repeat: int) -> float:
    """Seconds of the fastest of `repeat` calls (the least disturbed by other work on the machine)."""
    return min(timeit.repeat(fn, repeat=repeat, number=1))


def main() -> None:
    w = resolve_workload("llava_vid/videomme")
    budget_ms = 10.0
    prefill = DesignPoint(accelerator="focus", convention="faithful", dram_bandwidth_gbps=64.0)
    t_prefill = best_of(lambda: (_analytic_cycles.cache_clear(), evaluate(prefill, w)), 20)
    times = {}
    for G in (1, 128, 4096):
        design = DesignPoint(accelerator="focus", convention="faithful", phases=PHASES, prompt_tokens=64,
                             output_tokens=G, dram_bandwidth_gbps=64.0)
        times[G] = best_of(lambda: (_analytic_cycles.cache_clear(), run_query(design, w)), 20)
    t = times[128]
    print(f"whole query (encoder + prefill + 128 decode tokens, Focus, faithful): {t * 1e3:.2f} ms "
          f"(budget {budget_ms:g} ms: {'ok' if t * 1e3 < budget_ms else 'OVER'}); prefill alone {t_prefill * 1e3:.2f} ms, "
          f"ratio {t / t_prefill:.2f}x")
    print(f"decode tokens G = 1 / 128 / 4096: {times[1] * 1e3:.2f} / {times[128] * 1e3:.2f} / {times[4096] * 1e3:.2f} ms "
          f"(4096 vs 1: {times[4096] / times[1]:.2f}x)")


if __name__ == "__main__":
    main()
