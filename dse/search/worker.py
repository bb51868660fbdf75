"""One worker of a study run: ask the local sampler, claim the design, evaluate it, store the outcome,
until the study holds the run's target of finished trials.

A worker keeps an in-memory mirror of the study (every finished trial in the storage, read before
every claim: the journal backend and Optuna's cached RDB storage read only what was added since the
last read), asks the mirror's sampler for a design, claims it in the storage, evaluates it when the
claim stands, and stores its outcome (dse/search/claims.py). So:
- a process killed at any moment leaves finished trials and at most its claims in flight, which the
  next worker to look withdraws: resume simply continues, and no completed trial is lost;
- workers on one storage (local processes, or machines on one PostgreSQL URL, each started with the
  same command) never evaluate a design together and stop at exactly the target.
Samplers see the others' finished trials through the mirror; only trials in flight are not visible.

Streams: each worker's sampler has its own seed, stored with its trials. A worker that finds no one
claiming beside it keeps the seed a lone run has (the study's seed and the trials already stored: a
fresh run with seed S is reproducible, a resumed one never replays its first run); one whose first
claim shows another worker claimed meanwhile reseeds from the study's seed and that claim's number,
so workers started together by one command, or by the same command on several machines, never
propose in lockstep.

Genetic samplers (NSGA-II, NSGA-III) draw every trial of a generation from the same parents, so a
run's only worker (--workers 1) asks for the rest of the current generation at once, claims it,
evaluates what stands on arrays (DesignEvaluator.run_many: DesignEvaluator.run's numbers,
tested equal) and then tells and stores each trial in order: the study is trial for trial the one
written one by one (tested), in a fraction of the time. Other samplers propose one trial at a time.

Skipped proposals (study file: sampler.skip_over_area, sampler.skip_repeats): a design whose chip
alone is over the area limit (infeasible whatever else it does: dse/search/screen.py), or that the
study already holds or has in flight, is refused inside the local sampler, which draws again
(samplers.RefusingSampler: never a trial, never claimed); so with both, every trial is a new design
within the area budget. (The default design is evaluated whatever it is; after MAX_SKIPPED skips in
a row the next proposal is evaluated anyway, with a warning.) Without skip_repeats a sampler may
revisit a finished design, as Optuna's samplers do; a design in flight is never claimed twice.

The grid sampler: the run lists the grid points not yet stored and deals them out to its workers
(worker i gets every workers-th point); a worker whose claim another command's came before jumps to a
random place in its list, so two commands on one grid do not keep meeting.
"""

from __future__ import annotations

import copy
import hashlib
import random
import time
from typing import Any, Callable

import optuna
from optuna.study._tell import _tell_with_warning  # Study.tell without its deep copy (_told)
from optuna.trial import FrozenTrial, TrialState

from dse.errors import UserError, warn
from dse.search.claims import Claim, ClaimBook, Ledger, params_key, worker_identity
from dse.search.evaluation import DesignEvaluator
from dse.search.jobs import WorkerJob, WorkerResult
from dse.search.objectives import directions, objective_values
from dse.search.samplers import NAMED_CONSTRAINTS, RefusingSampler, generation_room, make_sampler
from dse.search.study_store import DEFAULT_ATTR, FINISHED, UID_ATTR, open_study
from dse.search.studyfile import StudySpec

SEED_ATTR = "worker_seed"  # trial attribute: the seed of the sampler that proposed it
MAX_SKIPPED = 1000  # proposals skipped in a row before the next one is evaluated anyway
WAIT_SECONDS = 0.05  # how often a worker at the target looks whether the others' trials in flight landed


def lone_seed(seed: int | None, stored: int) -> int | None:
    """The sampler seed of a worker alone on a study holding `stored` trials."""
    return None if seed is None else (seed * 1_000_003 + stored * 7_919) % (2 ** 31)


def joined_seed(seed: int | None, first_claim: int) -> int | None:
    """The sampler seed of a worker that found others claiming: unique per first claim number."""
    return None if seed is None else int(hashlib.sha256(f"{seed}:{first_claim}".encode()).hexdigest()[:8], 16)


class _Mirror:
    """The study's finished trials, in memory, with the local sampler."""

    def __init__(self, spec: StudySpec, sampler: optuna.samplers.BaseSampler, me: str):
        self.me = me
        self.local = optuna.create_study(directions=directions(spec.objectives), sampler=sampler)
        self.seen: set[int] = set()
        self.has_default = False
        self.done_params: set[str] = set()  # finished or in flight: what skip_repeats and the grid skip
        self.chip_areas: dict[tuple, float] = {}  # chip knobs -> mm², or a lower bound over the limit (skip_over_area)

    def sync(self, ledger: Ledger) -> None:
        for t in ledger.in_flight.values():
            self.done_params.add(params_key(t.params))
            self.has_default |= bool(t.user_attrs.get(DEFAULT_ATTR))
        for t in ledger.trials:
            if t.number in self.seen or t.state not in FINISHED:
                continue
            self.seen.add(t.number)
            self.has_default |= bool(t.user_attrs.get(DEFAULT_ATTR))
            self.done_params.add(params_key(t.params))
            if str(t.user_attrs.get(UID_ATTR, "")).startswith(self.me + ":"):
                continue  # told already
            # what samplers read (params, values, generation and constraints), not the reports' attrs
            self.local.add_trial(optuna.trial.create_trial(state=t.state, values=t.values, params=t.params,
                                                           distributions=t.distributions,
                                                           system_attrs=t.system_attrs))


def skipped(mirror: _Mirror, spec: StudySpec, params: dict[str, Any]) -> bool:
    """Whether the study's sampler settings skip this proposal: already stored or in flight, or a chip
    over the area limit."""
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
    from dse.search.screen import area_against

    design = spec.space.design_dict(params, spec.accelerator, spec.convention)
    try:
        return area_against(DesignEvaluator.design_point(design), spec.constraints.area_mm2_max)
    except UserError:  # a design the model refuses: its evaluation records why
        return float("nan")


def propose(mirror: _Mirror, spec: StudySpec) -> tuple[optuna.Trial, dict[str, Any]]:
    """The sampler's next trial and its params (a design the study skips is drawn again inside the
    sampler: samplers.RefusingSampler)."""
    trial = mirror.local.ask()
    return trial, spec.space.suggest(trial)


class _Worker:
    """The state of one run_worker call."""

    def __init__(self, job: WorkerJob, result: WorkerResult, study: optuna.Study | None = None):
        self.job, self.spec, self.result = job, job.spec, result
        self.evaluator = DesignEvaluator(self.spec)
        self.me = worker_identity(job.index)
        self.book = ClaimBook(study if study is not None else open_study(self.spec, job.storage, create=False), self.me)
        ledger = self.book.refresh()
        self.start = len(ledger.trials)
        self.seed = lone_seed(job.seed, self.start)
        self.mirror = _Mirror(self.spec, self.sampler(self.seed), self.me)
        self.mirror.sync(ledger)
        self.claims = 0  # claims made: each stored trial's sequence number
        self.open: list[Claim] = []  # claimed, not yet finished nor withdrawn

    def sampler(self, seed: int | None) -> optuna.samplers.BaseSampler:
        """The study's sampler with this seed; what the study skips is refused inside it."""
        sampler = make_sampler(self.spec.sampler, self.spec, seed)
        if self.spec.sampler.skip_over_area or self.spec.sampler.skip_repeats:
            sampler = RefusingSampler(sampler, self.spec.space.distributions(),
                                      lambda params: skipped(self.mirror, self.spec, params), MAX_SKIPPED)
        return sampler

    def claim(self, trial: optuna.Trial, params: dict[str, Any], design: dict[str, Any]) -> Claim:
        unique = bool(self.spec.sampler.skip_repeats or self.job.points is not None
                      or trial.user_attrs.get(DEFAULT_ATTR))
        attrs = {**trial.user_attrs, "design": design, UID_ATTR: f"{self.me}:{self.claims}", SEED_ATTR: self.seed}
        frozen = self.mirror.local.get_trials(deepcopy=False)[trial.number]  # the sampler's system attrs so far
        claim = self.book.claim(params, frozen.distributions, frozen.system_attrs, attrs, unique)
        if self.claims == 0 and claim.number != self.start:  # others claim too: a stream of our own
            self.seed = joined_seed(self.job.seed, claim.number)
            self.mirror.local.sampler = self.sampler(self.seed)
        self.claims += 1
        self.open.append(claim)
        return claim

    def withdraw_open(self, reason: str) -> None:
        for claim in self.open:
            self.book.withdraw(claim, reason)
        self.open.clear()


def run_worker(job: WorkerJob, on_trial: Callable[[FrozenTrial], None] | None = None,
               stop: Callable[[], bool] | None = None, study: optuna.Study | None = None) -> WorkerResult:
    """Claim, evaluate and store trials until the study holds job.target finished ones. Stops early on
    the timeout, `stop()` turning true (checked between trials, or generations when they are evaluated
    at once) or KeyboardInterrupt; its claims in flight are then withdrawn. `study`: the caller's own
    study object on job.storage (a worker in the caller's process), whose storage then needs no
    reading anew afterwards; by default the worker opens its own."""
    result = WorkerResult()
    w = _Worker(job, result, study)
    spec, mirror, book = w.spec, w.mirror, w.book
    deadline = time.monotonic() + job.timeout if job.timeout else None
    points = list(job.points) if job.points is not None else None
    if points is None and job.include_default and job.index == 0 and not mirror.has_default \
            and spec.sampler.name != "grid":
        params = spec.space.contains(w.evaluator.default_design())
        if params is not None:
            mirror.local.enqueue_trial(params, user_attrs={DEFAULT_ATTR: True})
    with book.heartbeat():
        try:
            while True:
                if stop is not None and stop():
                    result.interrupted, result.reason = True, "interrupted"
                    break
                if deadline and time.monotonic() >= deadline:
                    result.reason = "timeout"
                    break
                ledger = book.refresh()
                mirror.sync(ledger)
                if ledger.finished >= job.target:
                    result.reason = "target reached"
                    break
                if ledger.counted >= job.target:  # the rest is in flight on other workers: wait for it
                    time.sleep(WAIT_SECONDS)
                    continue
                if points is not None:
                    while points and params_key(points[0]) in mirror.done_params:
                        points.pop(0)  # stored or claimed meanwhile (another command on the same study)
                    if not points:
                        result.reason = "grid done"
                        break
                    mirror.local.enqueue_trial(points.pop(0))
                batch = [propose(mirror, spec)]
                if job.generations and points is None:  # the rest of a generation at once (dse/search/batch.py)
                    room = min(generation_room(mirror.local, batch[0][0], DEFAULT_ATTR),
                               job.target - ledger.counted)
                    while len(batch) < room:
                        mirror.done_params.add(params_key(batch[-1][1]))  # claimed before the next is asked
                        batch.append(propose(mirror, spec))
                withdrawn = result.withdrawn
                _claim_evaluate_store(w, batch, on_trial)
                if points and result.withdrawn > withdrawn:  # another command deals the same grid: go elsewhere
                    cut = random.randrange(len(points))
                    points = points[cut:] + points[:cut]
        except KeyboardInterrupt:
            result.interrupted, result.reason = True, "interrupted"
        finally:
            w.withdraw_open("its worker stopped before evaluating it")
    return result


def _claim_evaluate_store(w: _Worker, batch: list[tuple[optuna.Trial, dict[str, Any]]],
                          on_trial: Callable[[FrozenTrial], None] | None) -> None:
    spec, result = w.spec, w.result
    designs = [spec.space.design_dict(params, spec.accelerator, spec.convention) for _, params in batch]
    with w.book.batch():  # the batch's claims in one append (journal)
        claims = [w.claim(trial, params, design) for (trial, params), design in zip(batch, designs)]
    w.book.refresh()
    verdicts = [w.book.verdict(claim, w.job.target) for claim in claims]
    standing = [(trial, design, claim) for (trial, _), design, claim, why in zip(batch, designs, claims, verdicts)
                if not why]
    if len(standing) < len(claims):
        with w.book.batch():  # another worker's claim came first: withdrawn (one append), never evaluated
            for (trial, _), claim, why in zip(batch, claims, verdicts):
                if why:
                    w.book.withdraw(claim, why)
                    w.open.remove(claim)
                    w.mirror.local.tell(trial, state=TrialState.FAIL)
                    result.withdrawn += 1
    outcomes = _outcomes(w.evaluator, [design for _, design, _ in standing])
    told = [(claim, _tell(w.mirror, spec, trial, design, outcome))
            for (trial, design, claim), outcome in zip(standing, outcomes)]
    with w.book.batch():  # their outcomes in one append (journal)
        stored = [w.book.finish(claim, frozen) for claim, frozen in told]
    for (claim, frozen), kept in zip(told, stored):
        w.open.remove(claim)
        if not kept:
            warn(f"trial {claim.number} was withdrawn by another worker while this one evaluated it (its "
                 "heartbeat looked stale): its outcome is not stored", key=f"lost-{claim.number}")
            continue
        result.written += 1
        result.uids.append(claim.user_attrs[UID_ATTR])
        if frozen.state == TrialState.COMPLETE:
            result.complete += 1
        else:
            result.failed += 1
            result.first_error = result.first_error or frozen.user_attrs.get("error", "")
        if on_trial:
            on_trial(frozen)


def _outcomes(evaluator: DesignEvaluator, designs: list[dict[str, Any]]) -> list[Any]:
    """DesignEvaluator.run of each design: its Outcome, or the UserError that fails it (a seam the
    tests watch: how many designs a generation evaluates at once)."""
    return evaluator.run_many(designs)


def _tell(mirror: _Mirror, spec: StudySpec, trial: optuna.Trial, design: dict[str, Any],
          outcome: Any) -> FrozenTrial:
    """Tell the local sampler a trial's outcome; the finished trial with the report's attributes."""
    # the report's attributes go on the stored copy only: the local study's tell() deep-copies
    # its trial, and samplers never read them
    attrs: dict[str, Any] = {"design": design}
    if isinstance(outcome, UserError):
        attrs["error"] = str(outcome)
        frozen = _told(mirror.local, trial, None, TrialState.FAIL)
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
        frozen = _told(mirror.local, trial, objective_values(spec.objectives, outcome.metrics), None)
    frozen.user_attrs = {**frozen.user_attrs, **attrs}
    return frozen


def _told(local: optuna.Study, trial: optuna.Trial, values: list[float] | None, state: TrialState | None
          ) -> FrozenTrial:
    """local.tell(trial, values, state), returning a shallow copy of the finished trial instead of the deep
    copy Study.tell makes (a quarter of a trial's storage time): the caller only replaces its user_attrs,
    and the stored trial is never written to again."""
    _tell_with_warning(study=local, trial=trial, value_or_values=values, state=state)
    return copy.copy(local.get_trials(deepcopy=False)[trial.number])
