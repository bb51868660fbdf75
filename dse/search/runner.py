"""Running a study: its workers (this process, or N local processes) until the storage holds the
target number of finished trials.

`--trials N` is the study's target number of finished (complete or failed) trials. Every worker,
of this command or of any other on the same storage, claims each design before evaluating it and
stops when the study holds N (dse/search/claims.py), so together they end at exactly N, with no
design evaluated twice at once (dse/search/worker.py says how each worker proceeds).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

import optuna

from dse.errors import UserError
from dse.search.claims import params_key
from dse.search.grid import grid_points
from dse.search.jobs import WorkerJob, WorkerResult
from dse.search.storage import StorageRef
from dse.search.study_store import FINISHED, finished_count, open_study
from dse.search.studyfile import StudySpec
from dse.search.worker import run_worker


@dataclass
class RunSummary:
    before: int
    after: int
    written: int
    workers: int
    seconds: float
    interrupted: bool
    reasons: list[str]
    storage: str
    failed: int = 0
    first_error: str = ""

    @property
    def trials_per_second(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else 0.0


def run_study(spec: StudySpec, ref: StorageRef, target: int, workers: int = 1, seed: int | None = None,
              timeout: float | None = None, progress: bool = True, create: bool = True,
              study: optuna.Study | None = None) -> RunSummary:
    """Run (or resume) the study until the storage holds `target` finished trials. `study`: the caller's
    own object of the study on `ref` (already opened), which then sees the run's trials without reading
    the storage anew; by default the run opens one."""
    if workers < 1:
        raise UserError(f"--workers must be >= 1, got {workers}")
    if workers > 1 and ref.kind == "sqlite":
        print(f"note: {workers} workers on SQLite ({ref.display}) serialise their writes; a journal file "
              "(--storage PATH.log) or PostgreSQL scales better", file=sys.stderr)
    study = study if study is not None else open_study(spec, ref, create=create)
    from dse.search.study_store import TARGET_ATTR

    study.set_user_attr(TARGET_ATTR, target)  # what `study status` reports as the target
    before = finished_count(study)
    shares: list[tuple[dict[str, Any], ...] | None] = [None] * workers
    if spec.sampler.name == "grid":
        shares, target = _deal_grid(spec, study, target, before, workers)
    start = time.monotonic()
    if before >= target:
        results = [WorkerResult(reason="target already reached")]
    elif workers == 1:
        bar = _progress_bar(spec.name, target, before, progress)
        try:
            job = WorkerJob(spec, ref, target, seed, 0, timeout, spec.include_default, shares[0], generations=True)
            # the run's own study object: what the worker writes is then read once, by the worker, not
            # again (the whole journal replayed) for the count below and the reports after it
            results = [run_worker(job, on_trial=lambda t: bar.update(1) if bar else None, study=study)]
        finally:
            if bar:
                bar.close()
    else:
        from dse.search.workers import run_processes

        jobs = [WorkerJob(spec, ref, target, seed, i, timeout, spec.include_default, shares[i])
                for i in range(workers) if shares[i] is None or shares[i]]
        # the bar (and its monitor thread) is made after the workers are forked
        results = run_processes(jobs, run_worker, lambda: finished_count(study),
                                lambda: _progress_bar(spec.name, target, before, progress))
    seconds = time.monotonic() - start
    return RunSummary(before, finished_count(study), sum(r.written for r in results), len(results), seconds,
                      any(r.interrupted for r in results), [r.reason for r in results], ref.display,
                      failed=sum(r.failed for r in results),
                      first_error=next((r.first_error for r in results if r.first_error), ""))


def _deal_grid(spec: StudySpec, study, target: int, before: int, workers: int):
    """The grid points not yet stored, up to the target, dealt out: worker i gets every workers-th."""
    done = {params_key(t.params) for t in study.get_trials(deepcopy=False, states=FINISHED)}
    todo = [p for p in grid_points(spec.space) if params_key(p) not in done][:max(0, target - before)]
    return [tuple(todo[i::workers]) for i in range(workers)], before + len(todo)


def _progress_bar(name: str, total: int, done: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from dse.search.progress import StudyBar

    return StudyBar(total=total, initial=done, desc=f"study {name}", unit="trial", dynamic_ncols=True, leave=True)
