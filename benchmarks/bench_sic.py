"""SIC speed at Focus scale: one layer's activation, 64 frames x 182 tokens (14x13) x 3584 dims
(Qwen2-7B width), random values, block 2x2x2, sub-vectors of 32, M tile 1024.
Target (issue 5): under 200 ms on the 2-core CPU. Two cases: threshold 0.9, where random
sub-vectors (almost) never match, and threshold 0.0, where nearly every sub-vector matches a
neighbour, so pointer chains are long and are followed to their roots. Prints the best and
median of several runs, with torch's default threads and with one thread, and the load
average: other work on the machine slows every figure."""

from __future__ import annotations

import os
import statistics
import time

import torch

from dse.concentration.algorithms import sic


def timed(x: torch.Tensor, threshold: float, repeat: int) -> tuple[list[float], float]:
    """Run times, and the share of (token, sub-vector) pairs that matched another."""
    conc = sic(x, threshold, (2, 2, 2), 32, m_tile=1024)  # warm-up: allocator and kernels
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        sic(x, threshold, (2, 2, 2), 32, m_tile=1024)
        out.append(time.perf_counter() - start)
    return out, 1.0 - float(conc.computed().float().mean())


def main() -> None:
    x = torch.randn(64, 14, 13, 3584, generator=torch.Generator().manual_seed(0))
    threads = torch.get_num_threads()
    for threshold in (0.9, 0.0):
        for n in (threads, 1):
            torch.set_num_threads(n)
            runs, matched = timed(x, threshold, 7)
            print(f"SIC 64x182 tokens x 3584, threshold {threshold} ({matched:.0%} matched), {n} thread(s): "
                  f"best {min(runs) * 1e3:.0f} ms, median {statistics.median(runs) * 1e3:.0f} ms (target < 200 ms)")
    torch.set_num_threads(threads)
    print(f"load average during the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
