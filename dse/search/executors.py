"""Where `study exhaustive` evaluates its chunks: this process, local processes, or a Dask cluster.

Each runs `run_chunk(spec, grid, index, size)` (dse/search/exhaustive.py) for every chunk
index given and hands each ChunkResult, as it arrives, to `done` in this process (which
stores it): the workers need nothing but focus-dse, never the results folder.
- local (`--workers N`): a pool of N processes (forked when that is safe, see
  dse/search/workers.py); Ctrl-C stops them at once, chunks in flight are lost (a resumed run
  evaluates them again);
- Dask (`--scheduler ADDRESS`): the chunks are submitted to the scheduler of a running
  dask.distributed cluster, a few per worker thread at a time; the cluster's workers must have the
  same focus-dse installed (each chunk says which code evaluated it; the caller checks).
"""

from __future__ import annotations

import signal
from itertools import islice
from typing import Callable, Iterable

from dse.errors import UserError, warn

IN_FLIGHT_PER_THREAD = 2  # Dask: chunks queued per worker thread (keeps every thread busy)
CONNECT_SECONDS = 10
POLL_SECONDS = 1.0  # Dask: how often the run looks at its chunks and the scheduler's workers
NO_WORKERS_SECONDS = 30.0  # Dask: how long the scheduler may have no worker before the run says so


def run_inline(indices: Iterable[int], task: Callable, done: Callable, started: Callable) -> None:
    started()
    for i in indices:
        done(task(i))


_TASK: Callable | None = None


def _pool_init(task: Callable) -> None:
    global _TASK
    _TASK = task


def _pool_run(index: int):
    return _TASK(index)


def run_local(indices: Iterable[int], task: Callable, done: Callable, started: Callable, workers: int) -> None:
    """`task` must be picklable (a functools.partial of a module-level function). `started` runs once the
    workers are (forked before it may start a thread, e.g. a progress bar's)."""
    from dse.search.workers import process_context

    ctx = process_context()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited: Ctrl-C goes to this process only
    try:
        pool = ctx.Pool(workers, initializer=_pool_init, initargs=(task,))
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        started()
        for result in pool.imap_unordered(_pool_run, list(indices), chunksize=1):
            done(result)
        pool.close()
    finally:
        pool.terminate()
        pool.join()


def run_dask(indices: Iterable[int], task: Callable, done: Callable, started: Callable, address: str) -> None:
    try:
        from distributed import Client, wait
    except ImportError:
        raise UserError("--scheduler needs dask.distributed: pip install distributed") from None
    try:
        client = Client(address, timeout=CONNECT_SECONDS)
    except (OSError, TimeoutError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"cannot reach the Dask scheduler at {address}: {first}") from None
    try:
        threads = sum(client.nthreads().values())
        if not threads:
            raise UserError(f"the Dask scheduler at {address} has no workers: start some with "
                            f"`dask worker {address} --nthreads 1`")
        started()
        todo = iter(indices)
        pending = {client.submit(task, i, pure=False) for i in islice(todo, threads * IN_FLIGHT_PER_THREAD)}
        without_workers = 0.0  # seconds the scheduler has had no worker while chunks wait
        while pending:
            try:
                finished, pending = wait(pending, timeout=POLL_SECONDS, return_when="FIRST_COMPLETED")
            except TimeoutError:  # distributed's wait raises when nothing finished in time
                finished = set()
            for future in finished:
                done(future.result())  # a chunk's error (e.g. a UserError) is raised here
                following = next(todo, None)
                if following is not None:
                    pending.add(client.submit(task, following, pure=False))
            without_workers = 0.0 if finished or client.nthreads() else without_workers + POLL_SECONDS
            if without_workers >= NO_WORKERS_SECONDS:
                warn(f"the Dask scheduler at {address} has had no workers for {without_workers:.0f} s; "
                     f"{len(pending)} chunks wait, every finished one is stored: start workers (`dask worker "
                     f"{address} --nthreads 1`) or stop with Ctrl-C (the same command resumes)",
                     key=f"dask-no-workers-{address}")
    finally:
        client.close()
