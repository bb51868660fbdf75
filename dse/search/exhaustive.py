"""Every point of a study's grid: the exact Pareto front of its space (`focus-dse study exhaustive`).

The grid (dse/search/grid.py) is cut into chunks of consecutive points. A chunk screens out
the points whose chip is over the area limit (dse/search/screen.py), evaluates the rest
(dse/search/batch.py: the numbers of a study trial), keeps the feasible ones (every
constraint <= 0) and returns their non-dominated subset with its counts. The exact front is
the non-dominated subset of the union of the chunks' fronts (a point dominated within its
chunk is dominated in the grid).

Resumable: each finished chunk is written whole (temporary file, then rename) to
`<folder>/chunks/<index>.json` by this process; a run skips the chunks already there, so a
killed run loses at most the chunks in flight. `chunks/manifest.json` records what they are
chunks of (the study's definition, the grid, the chunk size and the model's code) and the wall
time of every run; chunks of anything else are discarded, with a warning.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from functools import cache, partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dse.errors import UserError, warn
from dse.search.batch import constraint_columns, evaluate_chunk, plain_params
from dse.search.evaluation import METRIC_KEYS, DesignEvaluator, design_columns
from dse.search.front import nondominated
from dse.search.grid import Grid
from dse.search import objectives
from dse.search.objectives import OBJECTIVES
from dse.search.screen import over_area
from dse.search.studyfile import StudySpec

CHUNK_POINTS = 20_000  # ~1 min of one process on the scalar path when nothing is screened out
CHUNKS_DIR = "chunks"
MANIFEST = "manifest.json"


PRESENTATION = ("commands", "report")  # dse/ folders that never change a number of a chunk


@cache
def code_version() -> str:
    """A hash of the dse package's files (code and data) but its presentation: which model evaluated a chunk."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                       and p.relative_to(root).parts[0] not in PRESENTATION):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def objective_metrics(spec: StudySpec) -> list[str]:
    return [OBJECTIVES[o].metric for o in spec.objectives]


def maximized(spec: StudySpec) -> list[bool]:
    return objectives.maximized(spec.objectives)


@dataclass(frozen=True)
class ChunkResult:
    index: int
    points: int
    screened: int  # over the area limit: infeasible without evaluation
    evaluated: int
    feasible: int
    failed: int  # refused by the model (a failed trial in a study)
    seconds: float
    code: str  # code_version() of the process that evaluated it
    front: pd.DataFrame  # the chunk's feasible non-dominated points: `point`, knobs, metrics, constraints

    def to_json(self) -> str:
        d = {k: v for k, v in asdict(self).items() if k != "front"}
        d["front"] = {"columns": list(self.front.columns), "rows": self.front.astype(object).values.tolist()}
        return json.dumps(d)

    @classmethod
    def from_json(cls, text: str) -> ChunkResult:
        d = json.loads(text)
        raw = d.pop("front")
        return cls(front=pd.DataFrame(raw["rows"], columns=raw["columns"]), **d)


def run_chunk(spec: StudySpec, grid: Grid, size: int, index: int) -> ChunkResult:
    """Chunk `index` (points index*size ... (index+1)*size - 1 of the grid)."""
    start_time = time.perf_counter()
    start, stop = index * size, min((index + 1) * size, grid.size)
    digits = grid.digits(start, stop)
    points = grid.frame(digits)
    points.insert(0, "point", np.arange(start, stop, dtype=np.int64))
    over = over_area(spec, grid, digits, points)
    rows = evaluate_chunk(spec, points[~over].reset_index(drop=True))
    ok = rows[rows["feasible"]]
    front = ok[nondominated(ok[objective_metrics(spec)].to_numpy(float), maximized(spec))]
    columns = ["point", *grid.names, *METRIC_KEYS, *constraint_columns(spec)]
    return ChunkResult(index, stop - start, int(over.sum()), len(rows), len(ok), int((rows["error"] != "").sum()),
                       time.perf_counter() - start_time, code_version(), front[columns].reset_index(drop=True))


# -- the chunks on disk ---------------------------------------------------------------------------------
class ChunkStore:
    """`<folder>/chunks/`: one file per finished chunk and the manifest."""

    def __init__(self, folder: Path, identity: dict[str, Any]):
        self.dir = Path(folder) / CHUNKS_DIR
        self.identity = identity
        self.runs: list[dict[str, Any]] = []

    def open(self) -> set[int]:
        """The indices of the chunks already done (after discarding another grid's)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        for stale in self.dir.glob("*.tmp"):  # a write cut short by a kill
            stale.unlink()
        manifest = self.dir / MANIFEST
        if manifest.exists():
            try:
                stored = json.loads(manifest.read_text())
            except (OSError, json.JSONDecodeError):
                stored = {}
            if stored.get("identity") == self.identity:
                self.runs = list(stored.get("runs", []))
            else:
                old = list(self.dir.glob("[0-9]*.json"))
                if old:
                    warn(f"{self.dir}: {len(old)} chunks of another grid, study definition or model version: "
                         "discarded, starting over")
                for path in old:
                    path.unlink()
        self._write_manifest()
        return {int(p.stem) for p in self.dir.glob("[0-9]*.json")}

    def start_run(self, workers: int, scheduler: str | None) -> None:
        self.runs.append({"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "seconds": 0.0, "chunks": 0,
                          "workers": workers, "scheduler": scheduler})
        self._run_start = time.monotonic()
        self._write_manifest()

    def add(self, result: ChunkResult) -> None:
        _write_atomic(self.dir / f"{result.index:07d}.json", result.to_json())
        self.runs[-1]["chunks"] += 1
        self.runs[-1]["seconds"] = time.monotonic() - self._run_start
        self._write_manifest()

    def load(self) -> list[ChunkResult]:
        return [ChunkResult.from_json(p.read_text()) for p in sorted(self.dir.glob("[0-9]*.json"))]

    @property
    def seconds(self) -> float:
        return sum(r["seconds"] for r in self.runs)

    def _write_manifest(self) -> None:
        _write_atomic(self.dir / MANIFEST, json.dumps({"identity": self.identity, "runs": self.runs}, indent=1))


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# -- a whole enumeration ------------------------------------------------------------------------------
@dataclass
class Enumeration:
    """What the chunks found, over every run that contributed to them."""
    spec: StudySpec
    grid: Grid
    chunks: list[ChunkResult]
    seconds: float  # wall time of every run, summed
    runs: int
    done_before: int = 0  # chunks found on disk at the start of this run
    interrupted: bool = False
    workers: int = 1
    scheduler: str | None = None
    chunk_points: int = CHUNK_POINTS

    @property
    def complete(self) -> bool:
        return len(self.chunks) == chunk_count(self.grid.size, self.chunk_points)

    def total(self, key: str) -> int:
        return sum(getattr(c, key) for c in self.chunks)


def chunk_count(points: int, size: int) -> int:
    return -(-points // size)


def enumerate_grid(spec: StudySpec, folder: Path, workers: int = 1, scheduler: str | None = None,
                   chunk_points: int = CHUNK_POINTS, progress: bool = True) -> Enumeration:
    """Evaluate every chunk not yet on disk under `folder`; KeyboardInterrupt stops the run (what
    is stored stays) and returns with `interrupted` set."""
    if workers < 1:
        raise UserError(f"--workers must be >= 1, got {workers}")
    grid = Grid.of(spec.space, f"study {spec.name}")
    identity = {"study": spec.name, "fingerprint": spec.fingerprint(), "code": code_version(),
                "grid": grid.to_dict(), "chunk_points": chunk_points}
    store = ChunkStore(folder, identity)
    done = store.open()
    n = chunk_count(grid.size, chunk_points)
    todo = [i for i in range(n) if i not in done]
    interrupted = False
    if todo:
        store.start_run(workers, scheduler)
        local = code_version()
        bar = None

        def started() -> None:
            nonlocal bar
            initial = sum(min(chunk_points, grid.size - i * chunk_points) for i in done)
            bar = _progress(spec.name, grid.size, initial, progress)

        def finished(result: ChunkResult) -> None:
            if result.code != local:
                raise UserError(f"chunk {result.index} was evaluated by another focus-dse (code {result.code}, here "
                                f"{local}): install this version on every Dask worker")
            store.add(result)
            if bar is not None:
                bar.update(result.points)

        task = partial(run_chunk, spec, grid, chunk_points)
        from dse.search import executors

        try:
            if scheduler:
                executors.run_dask(todo, task, finished, started, scheduler)
            elif workers > 1 and len(todo) > 1:
                executors.run_local(todo, task, finished, started, min(workers, len(todo)))
            else:
                executors.run_inline(todo, task, finished, started)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if bar is not None:
                bar.close()
    chunks = store.load()
    return Enumeration(spec, grid, chunks, store.seconds, len(store.runs), len(done), interrupted, workers,
                       scheduler, chunk_points)


def _progress(name: str, total: int, initial: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=f"exhaustive {name}", unit="pt", unit_scale=True,
                dynamic_ncols=True, disable=None)  # None: no bar when stderr is not a terminal


# -- the exact front -----------------------------------------------------------------------------------
def exact_front(run: Enumeration) -> pd.DataFrame:
    """The grid's feasible non-dominated designs, best first objective first: `point` (its number in the
    grid), every metric, the constraint values and every design field, named as in trials.csv."""
    spec = run.spec
    parts = [c.front for c in run.chunks if len(c.front)]
    if not parts:
        return pd.DataFrame(columns=["point", *METRIC_KEYS, *constraint_columns(spec)])
    union = pd.concat(parts, ignore_index=True)
    front = union[nondominated(union[objective_metrics(spec)].to_numpy(float), maximized(spec))]
    designs = []
    for params in front[list(run.grid.names)].to_dict("records"):
        params = plain_params(params)
        design = spec.space.design_dict(params, spec.accelerator, spec.convention)
        designs.append(design_columns(DesignEvaluator.design_point(design).to_dict()))
    out = pd.concat([front[["point", *METRIC_KEYS, *constraint_columns(spec)]].reset_index(drop=True),
                     pd.DataFrame(designs)], axis=1)
    out["total_cycles"] = out["total_cycles"].astype(np.int64)  # a whole number, as in trials.csv
    first = objective_metrics(spec)[0]
    return out.sort_values([first, "point"], ascending=[not maximized(spec)[0], True]).reset_index(drop=True)

