"""Where the report's matplotlib figures are drawn: in this process, or in a child process.

Drawing the Pareto figures (PNG + SVG) is the longest part of a report. `study run` starts two
plot processes before its trials: they import matplotlib while the trials run, then draw the
figures (each takes the next one from a shared queue when it is free) while this process writes
the tables, the HTML page and the export. The figures read plain columns (no pandas: its import
would take the plot processes as long as matplotlib's).
The figures are functions of the data sent (the trials table's columns they draw, the reference
points, the importances), never of timing, so the files are the same as when drawn in this process.
The children ignore Ctrl-C (the parent stops them) and are stopped when the run is interrupted;
a parent killed outright (SIGKILL, SIGTERM) cannot stop them, so each child exits by itself as soon
as its parent is gone (`_exit_with_parent`).
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import signal
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable

from dse.errors import UserError

PROCESSES = 2  # the figures are independent: two processes draw them in about half the time
PARENT_POLL_S = 0.2  # how often a child checks that its parent is alive
# Below the parent's priority: a child imports matplotlib while the parent runs the trials, and on
# a machine with fewer free cores than processes it should take only what the trials leave. Drawing
# afterwards loses nothing by it: the parent then only waits for the figures or writes the rest.
CHILD_NICENESS = 10


def _exit_with_parent(parent_pid: int) -> None:
    """End this process (at once, whatever its main thread is doing) when the parent is gone.
    A thread, not a check between jobs: a killed parent can leave a child blocked for ever in the
    middle of a job's message (the rest never comes, and the forked children hold the pipe's write
    end too, so no EOF either), or drawing for seconds. Reading a pipe releases the GIL."""
    def watch() -> None:
        while os.getppid() == parent_pid:  # an orphan is adopted by init or a subreaper
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="focus-dse-parent-watch", daemon=True).start()


def _child_main(jobs, conn, parent_pid: int, prepare: tuple[Callable[..., None], tuple] | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent(parent_pid)
    if hasattr(os, "nice"):  # POSIX
        os.nice(CHILD_NICENESS)
    import matplotlib

    matplotlib.use("Agg")
    importlib.import_module("matplotlib.pyplot")  # what this process does while the trials run

    # what the parent had and matplotlib's modules live as long as this process: the drawing's full
    # collections need not walk them (4% of the figures' time)
    gc.freeze()

    written: list[tuple[int, list[Path]]] = []
    if prepare is not None:  # what drawing will need that the data do not change (pareto.py prepare_figures)
        with contextlib.suppress(Exception):  # only a head start: what it did not prepare, drawing builds
            prepare[0](*prepare[1], waiting=lambda: not jobs.empty())
    while True:
        job = jobs.get()
        if job is None:
            conn.send(("ok", written))
            return
        index, func, args = job
        try:
            written.append((index, func(*args)))
        except (UserError, OSError) as exc:  # a user's problem (bad path, full disk): raised again as is,
            conn.send(("raise", exc))       # one line, as when drawn in one process
            return
        except BaseException:  # noqa: BLE001  (a bug: reported to the parent with its traceback)
            conn.send(("error", traceback.format_exc()))
            return


class Plotter:
    """Runs drawing jobs (functions returning the paths they wrote) inline, or in child processes
    started by `Plotter.start(n)`, which take the jobs from one queue as each becomes free;
    `finish()` returns every path written, in submission order."""

    def __init__(self) -> None:
        self._children: list[tuple[Any, Any]] = []  # (process, result connection)
        self._queue = None  # the jobs, shared by the children
        self._jobs = 0
        self._written: list[tuple[int, list[Path]]] = []

    @classmethod
    def start(cls, processes: int = PROCESSES, prepare: tuple[Callable[..., None], tuple] | None = None) -> "Plotter":
        """`prepare`: (function, args) each process runs once after its imports, before any job, with a
        keyword `waiting` (a callable: whether jobs wait) to stop at: work the jobs will find done (the
        trials leave a plot process idle)."""
        from dse.search.workers import process_context

        plotter = cls()
        ctx = process_context()
        # a queue, whose feeder thread sends the jobs: submit() never waits for a child busy
        # drawing (a trials table is larger than a pipe's buffer)
        plotter._queue = ctx.Queue()
        for i in range(processes):
            parent, child = ctx.Pipe(duplex=False)
            process = ctx.Process(target=_child_main, args=(plotter._queue, child, os.getpid(), prepare),
                                  name=f"focus-dse-plots-{i}", daemon=True)
            process.start()
            child.close()
            plotter._children.append((process, parent))
        return plotter

    def submit(self, func: Callable[..., list[Path]], *args: Any) -> None:
        index, self._jobs = self._jobs, self._jobs + 1
        if self._queue is None:
            self._written.append((index, func(*args)))
        else:
            self._queue.put((index, func, args))

    def finish(self) -> list[Path]:
        errors = []
        for _ in self._children:
            self._queue.put(None)  # one stop per child
        for process, conn in self._children:
            try:
                status, value = conn.recv()
            except EOFError:  # the child died (killed, out of memory) without a word
                status, value = "raise", UserError(f"a plot process ({process.name}) died while drawing the "
                                                   "report's figures: run `focus-dse study plot` again")
            if status == "ok":
                self._written += value
            else:
                errors.append((status, value))
        self._close()
        if errors:
            status, value = errors[0]
            if status == "raise":
                raise value
            raise RuntimeError(f"drawing the report's figures failed in a plot process:\n{value}")
        return [path for _, paths in sorted(self._written, key=lambda item: item[0]) for path in paths]

    def cancel(self) -> None:
        """Stop the children (an interrupted run, or an error before the report)."""
        for process, _ in self._children:
            if process.is_alive():
                process.terminate()
        self._close()

    def _close(self) -> None:
        for process, conn in self._children:
            conn.close()
            process.join(timeout=30)
        self._children = []
        if self._queue is not None:
            self._queue.cancel_join_thread()  # what a stopped child left in the queue is dropped
            self._queue.close()
            self._queue = None
