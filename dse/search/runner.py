"""Running a study: each worker asks its sampler locally and writes every finished trial whole.

A worker keeps an in-memory mirror of the study (every finished trial in the storage, synced
before every trial: both the journal backend and Optuna's cached RDB storage read only the
trials added since the last read, so a sync costs one small read), asks the mirror's sampler
for a design, evaluates it, and writes the finished trial — params, objective values, constraints,
metrics, design — to the storage in one `add_trial` transaction. So:
- a process killed at any moment leaves only finished trials behind (nothing RUNNING, no
  trial half-written): resume simply continues, and no completed trial is lost;
- workers on one storage (local processes, or other machines on the same PostgreSQL URL)
  never share or duplicate a trial: the storage numbers trials as they arrive;
- one storage transaction per trial instead of one per parameter and attribute is what makes
  SQLite fast enough (benchmarks/bench_study.py).
Samplers see the others' trials through the sync; only the trials other workers have in
flight (at most one each, or one generation) are not visible.

Genetic samplers (NSGA-II, NSGA-III) draw every trial of a generation from the same parents, so
a run's only worker (the default: --workers 1) asks for the rest of the current generation at
once, evaluates it on arrays (dse/search/batch.py run_designs: DesignEvaluator.run's numbers,
tested equal) and then tells and writes each trial in order: the study is trial for trial the one written one by one (tested),
in a fraction of the time (the study's search space is static, so a generation's trials are drawn
from the same space whenever they are asked). Other samplers propose one trial at a time.

`--trials N` is the study's target number of finished (complete or failed) trials: a run
does N minus those already stored, split exactly across its local workers (so one command
ends at exactly N); each worker also checks the storage before every trial and stops when it
holds N (other commands or machines contributing; with a generation in flight, before writing
each of its trials), so commands started separately overshoot N by at most (workers - 1)
trials, those being written when N was reached.

Skipped proposals (study file: sampler.skip_over_area, sampler.skip_repeats): a design the
sampler proposes whose chip alone is over the area limit (infeasible whatever else it does:
dse/search/screen.py), or that the study already holds, is told to the local sampler as failed,
never evaluated nor stored, and the sampler is asked again; so with both, every trial is a
new design within the area budget. (The default design is evaluated whatever it is; after
MAX_SKIPPED skips in a row the next proposal is evaluated anyway, with a warning.)

The grid sampler: the run lists the grid points not yet stored and deals them out to its
workers (worker i gets every workers-th point), so no point is evaluated twice by one command;
the default design is not queued under grid (it would take a grid slot).
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable

import optuna
from optuna.samplers import BaseGASampler
from optuna.trial import FrozenTrial, TrialState

from dse.errors import UserError, warn
from dse.search.jobs import WorkerJob, WorkerResult
from dse.search.objectives import directions, objective_values
from dse.search.storage import StorageRef, open_storage
from dse.search.studyfile import SamplerConfig, StudySpec

META_ATTR = "focus_dse"
UID_ATTR = "worker_trial"  # "<host>:<pid>:<start>:<seq>", unique per written trial
DEFAULT_ATTR = "default_design"
TARGET_ATTR = "focus_dse_target"
FINISHED = (TrialState.COMPLETE, TrialState.FAIL)
MAX_SKIPPED = 1000  # proposals skipped in a row before the next one is evaluated anyway

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _constraints_from_attrs(trial: FrozenTrial) -> list[float]:
    return list(trial.user_attrs.get("constraint_values") or [])


# Optuna >= 5 records named constraints on the trial (Trial.set_constraint) and every sampler
# reads them; older versions take a constraints_func per sampler.
NAMED_CONSTRAINTS = hasattr(optuna.Trial, "set_constraint")


def make_sampler(cfg: SamplerConfig, spec: StudySpec, seed: int | None) -> optuna.samplers.BaseSampler:
    opts = dict(cfg.options)
    constrained = bool(spec.constraints.names()) and not NAMED_CONSTRAINTS
    cf = {"constraints_func": _constraints_from_attrs} if constrained else {}
    if cfg.name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, **opts, **cf)
    if cfg.name == "nsga3":
        return optuna.samplers.NSGAIIISampler(seed=seed, **opts, **cf)
    if cfg.name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, **opts, **cf)
    if cfg.name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if cfg.name == "grid":  # the run deals the grid points out and enqueues them (run_study)
        return optuna.samplers.RandomSampler(seed=seed)
    raise UserError(f"unknown sampler {cfg.name}")


# -- the study in its storage ----------------------------------------------------------------------
def open_study(spec: StudySpec, ref: StorageRef, create: bool) -> optuna.Study:
    """The study named spec.name in the storage; created (with the spec stored) when `create`.
    A stored study made from a different search space / objectives / constraints is an error."""
    storage = open_storage(ref, create_dirs=create)
    try:
        study = optuna.load_study(study_name=spec.name, storage=storage)
    except KeyError:
        if not create:
            raise UserError(f"no study '{spec.name}' in {ref.display}: run `focus-dse study run` first") from None
        study = optuna.create_study(study_name=spec.name, storage=storage, directions=directions(spec.objectives),
                                    load_if_exists=True)
        if META_ATTR not in study.user_attrs:
            # uid: tells this study from one re-created later under the same name and storage (exports)
            study.set_user_attr(META_ATTR, {"spec": spec.to_dict(), "fingerprint": spec.fingerprint(),
                                            "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                            "uid": uuid.uuid4().hex})
    meta = _stored_meta(study, wait=create)
    if not meta:
        raise UserError(f"study '{spec.name}' in {ref.display} was not made by focus-dse (no '{META_ATTR}' attribute)")
    if meta.get("fingerprint") != spec.fingerprint():
        raise UserError(f"study '{spec.name}' in {ref.display} was created with a different space, objectives, "
                        "constraints, workloads or accuracy provider: rename the study or use another storage")
    return study


def _stored_meta(study: optuna.Study, wait: bool, seconds: float = 5.0) -> dict | None:
    """The study's focus-dse attribute. Another command may have created the study a moment ago and
    not yet stored it (creating and tagging are two writes), so a joining run waits a little."""
    deadline = time.monotonic() + (seconds if wait else 0.0)
    while True:
        meta = study.user_attrs.get(META_ATTR)  # read from the storage each time
        if meta or time.monotonic() >= deadline:
            return meta
        time.sleep(0.05)


def load_stored_spec(name: str, ref: StorageRef) -> StudySpec:
    """The spec a stored study was created with (status/plot/export need no study file)."""
    from dse.search.studyfile import parse_study

    storage = open_storage(ref, create_dirs=False)
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        raise UserError(f"no study '{name}' in {ref.display} (studies there: {', '.join(names) or 'none'})") from None
    meta = study.user_attrs.get(META_ATTR)
    if not meta:
        raise UserError(f"study '{name}' in {ref.display} was not made by focus-dse")
    raw = {k: v for k, v in meta["spec"].items() if v is not None or k in ("seed", "timeout", "storage")}
    return parse_study(raw, f"study '{name}' stored in {ref.display}")


def finished_count(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


# -- one worker --------------------------------------------------------------------------------------
def _effective_seed(seed: int | None, index: int, already: int) -> int | None:
    """Distinct per worker and per resume (a resumed random sampler must not replay its first run)."""
    if seed is None:
        return None
    return (seed * 1_000_003 + already * 7_919 + index * 104_729) % (2 ** 31)


class _Mirror:
    """The study's finished trials, in memory, with the local sampler."""

    def __init__(self, study: optuna.Study, spec: StudySpec, sampler: optuna.samplers.BaseSampler, me: str):
        self.study = study
        self.me = me
        self.local = optuna.create_study(directions=directions(spec.objectives), sampler=sampler)
        self.seen: set[int] = set()
        self.finished = 0
        self.has_default = False
        self.done_params: set[str] = set()
        self.chip_areas: dict[tuple, float] = {}  # chip knobs -> mm² (sampler.skip_over_area)

    def sync(self) -> int:
        trials = self.study.get_trials(deepcopy=False, states=FINISHED)
        self.finished = len(trials)
        for t in trials:
            if t.number in self.seen:
                continue
            self.seen.add(t.number)
            if t.user_attrs.get(DEFAULT_ATTR):
                self.has_default = True
            self.done_params.add(params_key(t.params))
            if str(t.user_attrs.get(UID_ATTR, "")).startswith(self.me + ":"):
                continue
            # what samplers read (params, values, generation and constraints), not the reports' attrs
            self.local.add_trial(optuna.trial.create_trial(state=t.state, values=t.values, params=t.params,
                                                           distributions=t.distributions,
                                                           system_attrs=t.system_attrs))
        return self.finished


def params_key(params: dict[str, Any]) -> str:
    return json.dumps({k: params[k] for k in sorted(params)}, default=str)


def skipped(mirror: _Mirror, spec: StudySpec, params: dict[str, Any]) -> bool:
    """Whether the study's sampler settings skip this proposal: already stored, or a chip over the area limit."""
    if spec.sampler.skip_repeats and params_key(params) in mirror.done_params:
        return True
    if spec.sampler.skip_over_area:
        from dse.search.grid import CHIP_FREE

        chip = tuple(sorted((k, v) for k, v in params.items() if k not in CHIP_FREE))  # what the area depends on
        area = mirror.chip_areas.get(chip)
        if area is None:
            area = _chip_area(spec, params)
            if area == area:  # a design refused for another reason says nothing of its chip: not cached
                mirror.chip_areas[chip] = area
        return area > spec.constraints.area_mm2_max  # NaN (no chip) is not skipped
    return False


def _chip_area(spec: StudySpec, params: dict[str, Any]) -> float:
    from dse.search.evaluation import DesignEvaluator
    from dse.search.screen import chip_area

    design = spec.space.design_dict(params, spec.accelerator, spec.convention)
    try:
        return chip_area(DesignEvaluator.design_point(design))
    except UserError:  # a design the model refuses: its evaluation records why
        return float("nan")


def propose(mirror: _Mirror, spec: StudySpec) -> tuple[optuna.Trial, dict[str, Any]]:
    """The sampler's next trial and its params, asked again while it proposes a design that is skipped
    (the skipped trial is told as failed to the local sampler only: never evaluated nor stored)."""
    in_a_row = 0
    while True:
        trial = mirror.local.ask()
        params = spec.space.suggest(trial)
        if trial.user_attrs.get(DEFAULT_ATTR) or not skipped(mirror, spec, params):
            return trial, params
        if in_a_row >= MAX_SKIPPED:
            warn(f"the sampler's last {MAX_SKIPPED} proposals were all skipped (over the area limit or already in "
                 "the study): the next one is evaluated anyway", key="max-skipped")
            return trial, params
        mirror.local.tell(trial, state=TrialState.FAIL)
        in_a_row += 1


def grid_points(spec: StudySpec) -> list[dict[str, Any]]:
    """Every point of the grid, in a fixed order."""
    import itertools

    grid = spec.space.grid()
    names = sorted(grid)
    return [dict(zip(names, values)) for values in itertools.product(*(grid[n] for n in names))]


def run_worker(job: WorkerJob, on_trial: Callable[[FrozenTrial], None] | None = None,
               stop: Callable[[], bool] | None = None) -> WorkerResult:
    """Write up to job.quota trials. Stops early on the target, the timeout, `stop()` turning true
    (checked between trials, or generations when they are evaluated at once) or KeyboardInterrupt;
    a trial is stored whole or not at all (an interrupted generation's unwritten trials are lost)."""
    from dse.search.evaluation import DesignEvaluator

    spec = job.spec
    study = open_study(spec, job.storage, create=False)
    evaluator = DesignEvaluator(spec)
    me = f"{socket.gethostname()}:{os.getpid()}:{time.time_ns()}:{job.index}"
    result = WorkerResult()
    deadline = time.monotonic() + job.timeout if job.timeout else None
    already = finished_count(study)
    mirror = _Mirror(study, spec, make_sampler(spec.sampler, spec, _effective_seed(job.seed, job.index, already)), me)
    mirror.sync()
    points = list(job.points) if job.points is not None else None
    if points is None and job.include_default and job.index == 0 and not mirror.has_default \
            and spec.sampler.name != "grid":
        params = spec.space.contains(evaluator.default_design())
        if params is not None:
            mirror.local.enqueue_trial(params, user_attrs={DEFAULT_ATTR: True})
    space = spec.space
    try:
        while result.written < job.quota:
            if stop is not None and stop():
                result.interrupted = True
                result.reason = "interrupted"
                break
            if deadline and time.monotonic() >= deadline:
                result.reason = "timeout"
                break
            if mirror.sync() >= job.target:  # every trial or generation: others' results and the target
                result.reason = "target reached"
                break
            if points is not None:
                while points and params_key(points[0]) in mirror.done_params:
                    points.pop(0)  # stored meanwhile (another command on the same study)
                if not points:
                    result.reason = "grid done"
                    break
                mirror.local.enqueue_trial(points.pop(0))
            batch = [propose(mirror, spec)]
            if job.generations and points is None:  # the rest of a generation at once (dse/search/batch.py)
                room = min(generation_room(mirror.local, batch[0][0]), job.quota - result.written,
                           job.target - mirror.finished)
                while len(batch) < room:
                    mirror.done_params.add(params_key(batch[-1][1]))  # stored before the next is asked
                    batch.append(propose(mirror, spec))
            designs = [space.design_dict(params, spec.accelerator, spec.convention) for _, params in batch]
            for k, ((trial, _), design, outcome) in enumerate(zip(batch, designs, _outcomes(evaluator, designs))):
                if k and mirror.sync() >= job.target:  # others wrote meanwhile: the rest is not stored
                    break
                frozen = _tell(mirror, spec, trial, design, outcome, f"{me}:{result.written}")
                study.add_trial(frozen)  # the one write: the whole finished trial
                result.written += 1
                result.uids.append(frozen.user_attrs[UID_ATTR])
                if frozen.state == TrialState.COMPLETE:
                    result.complete += 1
                else:
                    result.failed += 1
                if on_trial:
                    on_trial(frozen)
        else:
            result.reason = "quota done"
    except KeyboardInterrupt:
        result.interrupted = True
        result.reason = "interrupted"
    return result


def generation_room(local: optuna.Study, trial: optuna.Trial) -> int:
    """How many trials, this one included, the sampler's current generation still takes: a genetic
    sampler draws a generation's trials from the same parents, so they may all be asked before any
    is told, as they would be one by one; 1 for other samplers (each proposal waits for the last
    result) and for the queued default design."""
    sampler = local.sampler
    if not isinstance(sampler, BaseGASampler) or trial.user_attrs.get(DEFAULT_ATTR):
        return 1
    generation = sampler.get_trial_generation(local, local.get_trials(deepcopy=False)[trial.number])
    return max(1, sampler.population_size - len(sampler.get_population(local, generation)))


def _outcomes(evaluator, designs: list[dict[str, Any]]) -> list[Any]:
    """DesignEvaluator.run of each design (its Outcome, or the UserError it raises); a generation
    on arrays, a single design by run() itself (cheaper for one)."""
    if len(designs) > 1:
        from dse.search.batch import run_designs

        return run_designs(evaluator, designs)
    try:
        return [evaluator.run(designs[0])]
    except UserError as exc:
        return [exc]


def _tell(mirror: _Mirror, spec: StudySpec, trial: optuna.Trial, design: dict[str, Any], outcome: Any,
          uid: str) -> FrozenTrial:
    """Tell the local sampler a trial's outcome; the finished trial with the report's attributes."""
    # the report's attributes go on the stored copy only: the local study's tell() deep-copies
    # its trial, and samplers never read them
    attrs: dict[str, Any] = {"design": design, UID_ATTR: uid}
    if isinstance(outcome, UserError):
        attrs["error"] = str(outcome)
        frozen = mirror.local.tell(trial, state=TrialState.FAIL)
    else:
        attrs.update(design=outcome.design, metrics=outcome.metrics, constraint_values=outcome.constraints,
                     feasible=outcome.feasible, accuracy_provider=outcome.accuracy_provider,
                     profile_source=outcome.profile_source)
        if len(outcome.per_workload) > 1:
            attrs["per_workload"] = outcome.per_workload
        if NAMED_CONSTRAINTS:
            for name, value in zip(spec.constraints.names(), outcome.constraints):
                trial.set_constraint(name, value)
        else:  # the samplers' constraints_func reads it from the local trial
            trial.set_user_attr("constraint_values", outcome.constraints)
        frozen = mirror.local.tell(trial, objective_values(spec.objectives, outcome.metrics))
    frozen.user_attrs = {**frozen.user_attrs, **attrs}
    return frozen


# -- a whole run ---------------------------------------------------------------------------------------
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

    @property
    def trials_per_second(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else 0.0


def plan_quotas(remaining: int, workers: int) -> list[int]:
    base, extra = divmod(max(0, remaining), workers)
    return [base + (1 if i < extra else 0) for i in range(workers)]


def run_study(spec: StudySpec, ref: StorageRef, target: int, workers: int = 1, seed: int | None = None,
              timeout: float | None = None, progress: bool = True, create: bool = True) -> RunSummary:
    """Run (or resume) the study until the storage holds `target` finished trials."""
    if workers < 1:
        raise UserError(f"--workers must be >= 1, got {workers}")
    if workers > 1 and ref.kind == "sqlite":
        import sys

        print(f"note: {workers} workers on SQLite ({ref.display}) serialise their writes; a journal file "
              "(--storage PATH.log) or PostgreSQL scales better", file=sys.stderr)
    study = open_study(spec, ref, create=create)
    study.set_user_attr(TARGET_ATTR, target)  # what `study status` reports as the target
    before = finished_count(study)
    shares: list[tuple[dict[str, Any], ...] | None] = [None] * workers
    if spec.sampler.name == "grid":
        done = {params_key(t.params) for t in study.get_trials(deepcopy=False, states=FINISHED)}
        todo = [p for p in grid_points(spec) if params_key(p) not in done][:max(0, target - before)]
        target = before + len(todo)
        shares = [tuple(todo[i::workers]) for i in range(workers)]
        quotas = [len(s) for s in shares]
    else:
        quotas = plan_quotas(target - before, workers)
    start = time.monotonic()
    if sum(quotas) == 0:
        results = [WorkerResult(reason="target already reached")]
    elif workers == 1:
        bar = _progress_bar(spec.name, target, before, progress)
        try:
            job = WorkerJob(spec, ref, quotas[0], target, seed, 0, timeout, spec.include_default, shares[0],
                            generations=True)
            results = [run_worker(job, on_trial=lambda t: bar.update(1) if bar else None)]
        finally:
            if bar:
                bar.close()
    else:
        from dse.search.workers import run_processes

        jobs = [WorkerJob(spec, ref, q, target, seed, i, timeout, spec.include_default, shares[i])
                for i, q in enumerate(quotas) if q > 0]
        # the bar (and its monitor thread) is made after the workers are forked
        results = run_processes(jobs, run_worker, lambda: finished_count(study),
                                lambda: _progress_bar(spec.name, target, before, progress))
    seconds = time.monotonic() - start
    after = finished_count(study)
    return RunSummary(before, after, sum(r.written for r in results), len(quotas), seconds,
                      any(r.interrupted for r in results), [r.reason for r in results], ref.display)


def _progress_bar(name: str, total: int, done: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=done, desc=f"study {name}", unit="trial", dynamic_ncols=True, leave=True)
