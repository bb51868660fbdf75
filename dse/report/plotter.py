"""Where the report's matplotlib figures are drawn: in this process, or in a child process.

Drawing the Pareto figures (PNG + SVG) is the longest part of a report. `study run` starts a
plot process before its trials: the child imports matplotlib while the trials run, then draws
the figures it is sent while this process writes the tables, the HTML page and the export.
The figures are functions of the data sent (the trials table, the reference points, the
importances), never of timing, so the files are the same as when drawn in this process.
The child ignores Ctrl-C (the parent stops it) and is stopped when the run is interrupted.
"""

from __future__ import annotations

import signal
import traceback
from pathlib import Path
from typing import Any, Callable

Job = tuple[Callable[..., list[Path]], tuple[Any, ...]]


def _child_main(conn) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401  (the import is what this process does while the trials run)

    written: list[Path] = []
    while True:
        try:
            job = conn.recv()
        except EOFError:  # the parent went away
            return
        if job is None:
            conn.send(("ok", written))
            return
        func, args = job
        try:
            written += func(*args)
        except BaseException:  # noqa: BLE001  (reported to the parent, which raises it)
            conn.send(("error", traceback.format_exc()))
            return


class Plotter:
    """Runs drawing jobs (functions returning the paths they wrote) inline, or in a child process
    started by `Plotter.start()`; `finish()` returns every path written, in submission order."""

    def __init__(self) -> None:
        self._process = None
        self._conn = None
        self._written: list[Path] = []

    @classmethod
    def start(cls) -> "Plotter":
        from dse.search.workers import process_context

        plotter = cls()
        ctx = process_context()
        parent, child = ctx.Pipe()
        plotter._process = ctx.Process(target=_child_main, args=(child,), name="focus-dse-plots", daemon=True)
        plotter._process.start()
        child.close()
        plotter._conn = parent
        return plotter

    def submit(self, func: Callable[..., list[Path]], *args: Any) -> None:
        if self._conn is None:
            self._written += func(*args)
        else:
            self._conn.send((func, args))

    def finish(self) -> list[Path]:
        if self._conn is not None:
            self._conn.send(None)
            status, value = self._conn.recv()
            self._close()
            if status != "ok":
                raise RuntimeError(f"drawing the report's figures failed in the plot process:\n{value}")
            self._written += value
        return self._written

    def cancel(self) -> None:
        """Stop the child (an interrupted run, or an error before the report)."""
        if self._process is not None and self._process.is_alive():
            self._process.terminate()
        self._close()

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._process is not None:
            self._process.join(timeout=30)
            self._process = None
