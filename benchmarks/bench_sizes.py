"""Evaluation time against the token count (issue 13): causal attention tiles are summed in closed
form, so a whole model costs the same at 10^4 and 10^18 visual tokens. Prints, per convention and
accelerator, the best-of-5 time of one design point and its ratio to the 11,648-token time."""

from __future__ import annotations

from bench_core import best_of  # this folder: the script's own, first on sys.path
from dse.design import DesignPoint
from dse.evaluate import evaluate
from dse.sim.backends import _analytic_cycles
from dse.workloads import resolve_workload

TOKENS = (11_648, 10**6, 10**9, 10**12, 10**18)


def main() -> None:
    for convention in ("focus-paper", "faithful"):
        for accelerator in ("dense", "focus"):
            design = DesignPoint(accelerator=accelerator, convention=convention)
            times = []
            for tokens in TOKENS:
                workload = resolve_workload(model="qwen2-7b", tokens=tokens)
                times.append(best_of(lambda: (_analytic_cycles.cache_clear(), evaluate(design, workload)), 5))
            cells = "  ".join(f"{t:.0e} tok {s * 1e3:6.2f} ms ({s / times[0]:4.2f}x)" for t, s in zip(TOKENS, times))
            print(f"{accelerator:>5} {convention:<11} {cells}")


if __name__ == "__main__":
    main()
