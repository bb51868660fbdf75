"""What a CACTI price costs (issue 21): one CACTI run per SRAM size, against a hit in the disk cache
(a new process's first ask) and in the process's memory. Runs in a temporary cache folder, so every
CACTI run is real; prints best-of times and their ratios, measured in this one run."""

from __future__ import annotations

import os
import tempfile

from bench_core import best_of  # this folder: the script's own, first on sys.path

SIZES_KIB = (16, 256, 4096)


def main() -> None:
    with tempfile.TemporaryDirectory() as cache:
        os.environ["FOCUS_DSE_CACHE_DIR"] = cache
        from dse.cost.cacti import SramSpec, cacti_config, cacti_sram, forget_memory_cache
        from dse.cost.cacti_program import cacti_program

        program = cacti_program()
        print(f"CACTI: {program.how} ({program.home})")
        for kib in SIZES_KIB:
            spec = SramSpec(kib * 1024, 64)
            run = best_of(lambda: program.run(cacti_config(spec)), 3)
            cacti_sram(spec)  # into both caches
            disk = best_of(lambda: (forget_memory_cache(), cacti_sram(spec)), 50)
            memory = best_of(lambda: cacti_sram(spec), 1000)
            print(f"{kib:>5} KiB, 64-byte blocks: CACTI run {run * 1e3:7.1f} ms | disk-cache hit {disk * 1e6:6.1f} us "
                  f"({run / disk:,.0f}x faster) | in-process hit {memory * 1e6:5.2f} us ({disk / memory:,.0f}x faster "
                  "than disk)")


if __name__ == "__main__":
    main()
