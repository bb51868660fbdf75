"""What a study run hands each worker (WorkerJob) and gets back (WorkerResult): shared by the
runner, which runs a job (dse/search/worker.py run_worker), and the process pool that runs several
(dse/search/workers.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dse.search.storage import StorageRef
from dse.search.studyfile import StudySpec


@dataclass(frozen=True)
class WorkerJob:
    spec: StudySpec
    storage: StorageRef
    target: int  # stop when the storage holds this many finished trials (dse/search/claims.py)
    seed: int | None
    index: int = 0
    timeout: float | None = None
    include_default: bool = True
    points: tuple[dict[str, Any], ...] | None = None  # grid: the exact params this worker evaluates
    # a genetic sampler's generation asked and evaluated at once: when the run has this one worker
    # (several would each fill the same generation before seeing the others' trials)
    generations: bool = False


@dataclass
class WorkerResult:
    written: int = 0
    complete: int = 0
    failed: int = 0
    withdrawn: int = 0  # claims another worker's came before (never evaluated)
    interrupted: bool = False
    reason: str = ""
    first_error: str = ""  # of the first trial that failed
    uids: list[str] = field(default_factory=list)
