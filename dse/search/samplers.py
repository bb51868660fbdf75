"""The Optuna sampler a study file names (a registry: name -> factory), and how much of a genetic
sampler's generation may be asked before any of it is told."""

from __future__ import annotations

from typing import Any, Callable

import optuna
from optuna.samplers import BaseGASampler, BaseSampler
from optuna.trial import FrozenTrial

from dse.errors import UserError
from dse.search.studyfile import SamplerConfig, StudySpec

# Optuna >= 5 records named constraints on the trial (Trial.set_constraint) and every sampler
# reads them; older versions take a constraints_func per sampler.
NAMED_CONSTRAINTS = hasattr(optuna.Trial, "set_constraint")


def _constraints_from_attrs(trial: FrozenTrial) -> list[float]:
    return list(trial.user_attrs.get("constraint_values") or [])


def _nsga2(options: dict[str, Any], seed: int | None) -> BaseSampler:
    return optuna.samplers.NSGAIISampler(seed=seed, **options)


def _nsga3(options: dict[str, Any], seed: int | None) -> BaseSampler:
    return optuna.samplers.NSGAIIISampler(seed=seed, **options)


def _tpe(options: dict[str, Any], seed: int | None) -> BaseSampler:
    return optuna.samplers.TPESampler(seed=seed, **options)


def _random(options: dict[str, Any], seed: int | None) -> BaseSampler:
    return optuna.samplers.RandomSampler(seed=seed)


# grid: the run deals the grid points out and enqueues them (dse/search/runner.py); the sampler
# itself never proposes
SAMPLERS: dict[str, Callable[[dict[str, Any], int | None], BaseSampler]] = {
    "nsga2": _nsga2, "nsga3": _nsga3, "tpe": _tpe, "random": _random, "grid": _random}
TAKE_CONSTRAINTS_FUNC = ("nsga2", "nsga3", "tpe")


def make_sampler(cfg: SamplerConfig, spec: StudySpec, seed: int | None) -> BaseSampler:
    if cfg.name not in SAMPLERS:
        raise UserError(f"unknown sampler {cfg.name}")
    options = dict(cfg.options)
    if spec.constraints.names() and not NAMED_CONSTRAINTS and cfg.name in TAKE_CONSTRAINTS_FUNC:
        options["constraints_func"] = _constraints_from_attrs
    return SAMPLERS[cfg.name](options, seed)


def generation_room(local: optuna.Study, trial: optuna.Trial, default_attr: str) -> int:
    """How many trials, this one included, the sampler's current generation still takes: a genetic
    sampler draws a generation's trials from the same parents, so they may all be asked before any
    is told, as they would be one by one; 1 for other samplers (each proposal waits for the last
    result) and for the queued default design."""
    sampler = local.sampler
    if not isinstance(sampler, BaseGASampler) or trial.user_attrs.get(default_attr):
        return 1
    generation = sampler.get_trial_generation(local, local.get_trials(deepcopy=False)[trial.number])
    return max(1, sampler.population_size - len(sampler.get_population(local, generation)))
