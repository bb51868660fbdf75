"""Claims: how workers that share nothing but a storage (processes, machines) split a study's trials
exactly and never evaluate a design twice at once.

A worker claims a design before evaluating it: one write stores the trial RUNNING with its params,
design and worker. The storage numbers trials in the order they are stored (the journal in append
order under its lock, an RDB under a lock on the study row), so claims are totally ordered, and a
claim stands when, among the trials numbered below it that count (finished, or claimed by a live
worker):
- fewer than the run's target exist, and
- none is the same design in flight on another worker, nor, where repeats are unwanted
  (skip_repeats, the grid, the default design), the same design at all.
The lowest claim always wins, so no two workers evaluate one design together, and a study ends at
exactly its target. A claim that does not stand is withdrawn: stored PRUNED with the reason, never
evaluated, never counted. A standing claim is finished with its outcome: attributes first, state and
values last, so a claim never looks finished before it holds its results. On the journal a worker's
claims of one generation go out in one append, so do their outcomes, and so does each withdrawal
(ClaimBook.batch, FlockJournalBackend.batch): claims stay totally ordered, and a reader sees a
generation's claims or outcomes whole or not at all.

A worker is live while its heartbeat (a study system attribute rewritten every HEARTBEAT_SECONDS by a
thread) is younger than STALE_SECONDS, or, on its own host, while its process exists. Claims of a
worker that is not (killed, a machine lost) are withdrawn by whichever worker sees them first, and
their designs go back to the search. Hosts' clocks are assumed to agree within a minute (NTP).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import optuna
from optuna.trial import FrozenTrial, TrialState

from dse.search.study_store import FINISHED, UID_ATTR

HEARTBEAT_SECONDS = 15.0
STALE_SECONDS = 120.0
STALE_CHECK_SECONDS = 5.0  # how often a worker looks for the claims of workers that are gone
ALIVE_PREFIX = "focus_dse_alive:"  # study system attribute per worker: its last heartbeat (Unix time)
WITHDRAWN_ATTR = "withdrawn"  # trial attribute of a withdrawn claim: why


def worker_identity(index: int) -> str:
    """Unique per worker process and run: host, pid, start time, index in its command."""
    return f"{socket.gethostname()}:{os.getpid()}:{time.time_ns()}:{index}"


def params_key(params: dict[str, Any]) -> str:
    return json.dumps({k: params[k] for k in sorted(params)}, default=str)


def owner_of(trial: FrozenTrial) -> str:
    return str(trial.user_attrs.get(UID_ATTR, "")).rsplit(":", 1)[0]


@dataclass
class Claim:
    trial_id: int
    number: int
    key: str
    unique: bool  # no repeat of this design wanted at all (not only none in flight)
    user_attrs: dict[str, Any]  # as claimed: finish() writes what changed
    system_attrs: dict[str, Any]


@dataclass
class Ledger:
    """What the storage holds, as the claim rule reads it (refreshed by ClaimBook.refresh)."""

    trials: list[FrozenTrial] = field(default_factory=list)
    finished: int = 0  # COMPLETE and FAIL
    in_flight: dict[int, FrozenTrial] = field(default_factory=dict)  # number -> live RUNNING claim
    not_counted: set[int] = field(default_factory=set)  # numbers withdrawn, or claimed by workers gone
    keys: dict[str, list[int]] = field(default_factory=dict)  # design -> numbers of finished trials

    def counted_below(self, number: int) -> int:
        return number - sum(1 for n in self.not_counted if n < number)

    @property
    def counted(self) -> int:
        return self.finished + len(self.in_flight)


class ClaimBook:
    """One worker's claims in a study's storage, and its reading of everyone else's."""

    def __init__(self, study: optuna.Study, me: str):
        self.study = study
        self.me = me
        # Optuna has no public handle on a study's storage and id; claims need create_new_trial's id
        self.storage = study._storage
        self.study_id = study._study_id
        self.ledger = Ledger()
        self._settled = 0  # trials below this number are finished or withdrawn, and indexed
        self._indexed: set[int] = set()
        self._stale_checked = -float("inf")
        self._host = socket.gethostname()

    # -- reading -----------------------------------------------------------------------------------
    def refresh(self) -> Ledger:
        """Read the storage: finished trials (indexed once), live claims, claims of workers gone
        (withdrawn here)."""
        led = self.ledger
        led.trials = self.study.get_trials(deepcopy=False)
        running = []
        for t in led.trials[self._settled:]:
            if t.state == TrialState.RUNNING:
                running.append(t)
            elif t.number not in self._indexed:
                self._index(t)
        led.in_flight = {t.number: t for t in running}
        if running and time.monotonic() - self._stale_checked >= STALE_CHECK_SECONDS:
            self._withdraw_stale(running)
        while self._settled < len(led.trials) and led.trials[self._settled].state != TrialState.RUNNING:
            self._settled += 1
        return led

    def _index(self, t: FrozenTrial) -> None:
        led = self.ledger
        self._indexed.add(t.number)
        if t.state in FINISHED:
            led.finished += 1
            led.keys.setdefault(params_key(t.params), []).append(t.number)
        else:  # withdrawn (PRUNED) or a state focus-dse never writes: never counted
            led.not_counted.add(t.number)

    def _withdraw_stale(self, running: list[FrozenTrial]) -> None:
        self._stale_checked = time.monotonic()
        beats = self.storage.get_study_system_attrs(self.study_id)
        now = time.time()
        for t in running:
            owner = owner_of(t)
            if owner == self.me or not self._gone(owner, beats.get(ALIVE_PREFIX + owner), now):
                continue
            self._set_withdrawn(t._trial_id, f"its worker {owner} is gone")
            self.ledger.in_flight.pop(t.number, None)
            self.ledger.not_counted.add(t.number)

    def _gone(self, owner: str, beat: Any, now: float) -> bool:
        host, _, rest = owner.partition(":")
        if host == self._host and rest:
            try:
                os.kill(int(rest.split(":")[0]), 0)
            except ProcessLookupError:
                return True
            except (PermissionError, ValueError):
                pass
        return not isinstance(beat, (int, float)) or now - beat > STALE_SECONDS

    # -- writing -----------------------------------------------------------------------------------
    def claim(self, params: dict[str, Any], distributions: dict[str, Any], system_attrs: dict[str, Any],
              user_attrs: dict[str, Any], unique: bool) -> Claim:
        """Store the design as a RUNNING trial (one write); the claim's number orders it."""
        template = optuna.trial.create_trial(state=TrialState.RUNNING, params=params, distributions=distributions,
                                             user_attrs=user_attrs, system_attrs=system_attrs)
        trial_id = self.storage.create_new_trial(self.study_id, template_trial=template)
        number = self.storage.get_trial_number_from_id(trial_id)
        return Claim(trial_id, number, params_key(params), unique, dict(user_attrs), dict(system_attrs))

    def verdict(self, claim: Claim, target: int) -> str:
        """'' when the claim stands (see the module docstring), else why it does not."""
        led = self.ledger
        if led.counted_below(claim.number) >= target:
            return "the study reached its target"
        for n in led.keys.get(claim.key, ()):
            if n < claim.number and claim.unique:
                return f"the same design is trial {n}"
        for n, t in led.in_flight.items():  # this worker's own batch may hold a design twice, as a sampler asked
            if n < claim.number and owner_of(t) != self.me and params_key(t.params) == claim.key:
                return f"the same design is in flight as trial {n}"
        return ""

    def withdraw(self, claim: Claim, reason: str) -> None:
        self._set_withdrawn(claim.trial_id, reason)

    def _set_withdrawn(self, trial_id: int, reason: str) -> None:
        try:
            with self.batch():  # the reason and the state land together
                self.storage.set_trial_user_attr(trial_id, WITHDRAWN_ATTR, reason)
                self.storage.set_trial_state_values(trial_id, TrialState.PRUNED)
        except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError):
            pass  # another worker withdrew it (or it finished) meanwhile

    def finish(self, claim: Claim, done: FrozenTrial) -> bool:
        """Store the outcome of a standing claim: the trial's new attributes (the report's, the
        sampler's), then state and values. False when the claim was withdrawn meanwhile (its worker
        looked gone to another)."""
        writes = [("user", k, v) for k, v in done.user_attrs.items() if claim.user_attrs.get(k) != v]
        writes += [("system", k, v) for k, v in done.system_attrs.items() if claim.system_attrs.get(k) != v]
        try:
            with self.batch():
                for kind, key, value in writes:
                    if kind == "user":
                        self.storage.set_trial_user_attr(claim.trial_id, key, value)
                    else:
                        self.storage.set_trial_system_attr(claim.trial_id, key, value)
                self.storage.set_trial_state_values(claim.trial_id, done.state, done.values)
        except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError):
            return False
        return True

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """The block's writes as one append on the journal (FlockJournalBackend.batch: the file locked for
        the block, its writes seen whole or not at all); an RDB writes them one by one."""
        backend = getattr(self.storage, "_backend", None)  # JournalStorage's
        with backend.batch() if hasattr(backend, "batch") else contextlib.nullcontext():
            yield

    # -- liveness ----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def heartbeat(self) -> Iterator[None]:
        """Keep this worker live for the others while the block runs."""
        key = ALIVE_PREFIX + self.me
        self.storage.set_study_system_attr(self.study_id, key, time.time())
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(HEARTBEAT_SECONDS):
                with contextlib.suppress(Exception):  # a storage hiccup: the next beat tries again
                    self.storage.set_study_system_attr(self.study_id, key, time.time())

        thread = threading.Thread(target=beat, name="focus-dse-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
