"""Optuna design-space exploration studies: study files, search space, objectives, constraints,
storage, claims, workers and the runner. Entry points: load_study, run_study, open_study."""

from dse.search.runner import RunSummary, run_study
from dse.search.storage import StorageRef, parse_storage, resolve_storage
from dse.search.study_store import load_stored_spec, open_study
from dse.search.studyfile import StudySpec, builtin_studies, load_study, parse_study

__all__ = ["RunSummary", "StorageRef", "StudySpec", "builtin_studies", "load_study", "load_stored_spec",
           "open_study", "parse_storage", "parse_study", "resolve_storage", "run_study"]
