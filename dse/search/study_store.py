"""A study in its storage: created with its definition stored, or found and checked against it."""

from __future__ import annotations

import time
import uuid

import optuna
from optuna.trial import TrialState

from dse.errors import UserError
from dse.search.objectives import directions
from dse.search.storage import StorageRef, open_storage
from dse.search.studyfile import StudySpec

META_ATTR = "focus_dse"  # study attribute: the spec, its fingerprint, creation time, a uid
TARGET_ATTR = "focus_dse_target"  # study attribute: the last run's target number of finished trials
UID_ATTR = "worker_trial"  # trial attribute: "<worker>:<seq>", unique per stored trial (dse/search/claims.py)
DEFAULT_ATTR = "default_design"  # trial attribute: the accelerator's default design
FINISHED = (TrialState.COMPLETE, TrialState.FAIL)

optuna.logging.set_verbosity(optuna.logging.WARNING)


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
