"""SIC speed at Focus scale: one layer's activation, 64 frames x 182 tokens (14x13) x 3584 dims
(Qwen2-7B width), random values, block 2x2x2, sub-vectors of 32, M tile 1024.
Target (issue 5): under 200 ms on the 2-core CPU. Prints the best and median of several runs,
with torch's default threads and with one thread, and the load average: other work on the
machine slows every figure."""

from __future__ import annotations

import os
import statistics
import time

import torch

from dse.concentration.algorithms import sic


def timed(x: torch.Tensor, repeat: int) -> list[float]:
    sic(x, 0.9)  # warm-up: allocator and kernels
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        sic(x, 0.9, (2, 2, 2), 32, m_tile=1024)
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    x = torch.randn(64, 14, 13, 3584, generator=torch.Generator().manual_seed(0))
    threads = torch.get_num_threads()
    for n in (threads, 1):
        torch.set_num_threads(n)
        runs = timed(x, 7)
        print(f"SIC 64x182 tokens x 3584, {n} thread(s): best {min(runs) * 1e3:.0f} ms, "
              f"median {statistics.median(runs) * 1e3:.0f} ms (target < 200 ms)")
    torch.set_num_threads(threads)
    print(f"load average during the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
