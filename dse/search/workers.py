"""N local worker processes on one study (`--workers N`).

Each worker runs the runner's run_worker (passed in: this module does not import the runner)
on its exact share of the remaining trials, with its own storage connection (it never touches the parent's). Workers are forked when the
platform has fork and the parent has no other thread yet (start-up in milliseconds, imports
and caches shared); otherwise (or once torch is loaded) they are spawned as fresh interpreters
(~0.5 s each). The
parent only watches the storage to drive the progress bar.
Ctrl-C: workers start with SIGINT ignored (so a Ctrl-C to the process group cannot hit one
mid-start-up or mid-write); the parent catches it and sets a shared stop event, each worker
finishes its current trial (milliseconds), stores it whole, and exits; the parent waits.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
from multiprocessing.connection import wait
import signal
import sys
from typing import Callable

from dse.errors import UserError
from dse.search.jobs import WorkerJob, WorkerResult

POLL_SECONDS = 0.5
EXIT_INTERRUPTED = 130


def _worker_main(work: Callable[..., WorkerResult], job: WorkerJob, queue, stop) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        result = work(job, stop=stop.is_set)
    except UserError as exc:
        print(f"focus-dse: error: worker {job.index}: {exc}", file=sys.stderr)
        queue.put((job.index, None))
        sys.exit(2)
    except KeyboardInterrupt:
        result = WorkerResult(interrupted=True, reason="interrupted")
    queue.put((job.index, result))
    sys.exit(EXIT_INTERRUPTED if result.interrupted else 0)


def process_context():
    """fork when it is safe (no other thread, no torch), else spawn."""
    import threading

    # torch's thread pools are not fork-safe once used: a parent that loaded it spawns instead
    if "fork" in mp.get_all_start_methods() and threading.active_count() == 1 and "torch" not in sys.modules:
        return mp.get_context("fork")
    return mp.get_context("spawn")


def run_processes(jobs: list[WorkerJob], work: Callable[..., WorkerResult], finished: Callable[[], int],
                  make_bar) -> list[WorkerResult]:
    """Run `work(job, stop=...)` (dse/search/worker.py run_worker) for each job in its own process;
    `finished()` counts the study's finished trials for the progress bar."""
    ctx = process_context()
    queue = ctx.Queue()
    stop = ctx.Event()
    procs = [ctx.Process(target=_worker_main, args=(work, job, queue, stop), name=f"focus-dse-worker-{job.index}")
             for job in jobs]
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited: workers ignore Ctrl-C from birth
    if ctx.get_start_method() == "fork":
        # the parent's objects go to the permanent GC generation: forked workers then neither
        # rescan them at every full collection nor copy their pages by touching their GC headers
        gc.collect()
        gc.freeze()
    try:
        for p in procs:
            p.start()
    finally:
        signal.signal(signal.SIGINT, previous)
        if ctx.get_start_method() == "fork":
            gc.unfreeze()
    bar = make_bar()
    results: dict[int, WorkerResult | None] = {}
    interrupted = False
    try:
        while len(results) < len(procs):
            while not queue.empty():
                index, result = queue.get()
                results[index] = result
            if all(not p.is_alive() for p in procs):
                while not queue.empty():
                    index, result = queue.get()
                    results[index] = result
                break
            if bar is not None:
                bar.n = finished()
                bar.refresh()
            # wake as soon as a worker exits (or after POLL_SECONDS to refresh the bar)
            wait([p.sentinel for p in procs if p.is_alive()], timeout=POLL_SECONDS)
    except KeyboardInterrupt:
        interrupted = True
        stop.set()
    for p in procs:
        p.join(timeout=30)
        if p.is_alive():
            p.terminate()
            p.join()
    while not queue.empty():
        index, result = queue.get()
        results[index] = result
    if bar is not None:
        bar.n = finished()
        bar.refresh()
        bar.close()
    failed = [p for p in procs if p.exitcode not in (0, EXIT_INTERRUPTED) and not interrupted]
    if failed:
        raise UserError(f"{len(failed)} worker(s) failed (exit codes {[p.exitcode for p in failed]}); "
                        "see their messages above")
    out = [r if r is not None else WorkerResult(reason="failed") for r in results.values()]
    if interrupted:
        out.append(WorkerResult(interrupted=True, reason="interrupted"))
    return out
