"""The Optuna sampler a study file names (a registry: name -> factory), the wrapper that draws the
proposals a study skips again inside the sampler, and how much of a genetic sampler's generation may
be asked before any of it is told."""

from __future__ import annotations

from typing import Any, Callable

import optuna
from optuna._transform import _SearchSpaceTransform
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution
from optuna.samplers import BaseGASampler, BaseSampler, NSGAIIISampler, NSGAIISampler, RandomSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from dse.errors import UserError, warn
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


class RefusingSampler(BaseSampler):
    """`inner`, whose proposals `refuse(params)` turns down are drawn again inside the sampler, so a
    refused design never becomes an Optuna trial. A proposal is what Trial.suggest_* would make of
    it: the inner sampler's relative sample, and every knob it leaves out (or proposes outside its
    distribution) sampled independently. Drawing again until one is accepted samples the same
    distribution as asking the study again and telling each refused trial as failed (a genetic
    sampler's population counts only complete trials), at a fraction of the cost: no trial created,
    no params stored, no tell (the quickstart refuses ~600 proposals on the way to its 600 designs).
    After `limit` refusals in a row the next proposal is returned whatever it is (with a warning when it
    would be refused too); an enqueued trial's knobs are given, so nothing is drawn for it."""

    def __init__(self, inner: BaseSampler, space: dict[str, BaseDistribution],
                 refuse: Callable[[dict[str, Any]], bool], limit: int):
        self.inner, self._space, self._refuse, self._limit = inner, space, refuse, limit
        self._drawer = _random_drawer(inner)
        # knobs drawn together -> their search-space transform (at most 2^knobs sets: 173 after 2,000
        # NSGA-II trials of the quickstart, 363 of full_space)
        self._transforms: dict[tuple[str, ...], _SearchSpaceTransform] = {}
        self._inner_space: tuple[int, dict[str, BaseDistribution]] | None = None  # (complete trials, space)

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return dict(self._space)  # every knob: a proposal is checked whole

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        if trial.system_attrs.get("fixed_params"):  # an enqueued design (the default, a grid point): given
            return {}
        inner_space = self._inner_search_space(study, trial)
        for _ in range(self._limit):
            params = self._propose(study, trial, inner_space, search_space)
            if not self._refuse(params):
                return params
        params = self._propose(study, trial, inner_space, search_space)
        if self._refuse(params):
            warn(f"the sampler's last {self._limit} proposals were all skipped (over the area limit or already "
                 "in the study): the next one is evaluated anyway", key="max-skipped")
        return params

    def _inner_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        """The inner sampler's relative search space. NSGA-II's and NSGA-III's is the intersection of the
        complete trials' (IntersectionSearchSpace), which Optuna deep-copies at every call (a tenth of a
        quickstart proposal's time): it is asked again only when more trials are complete. A trial never
        leaves that state nor changes its knobs, so the same count is the same trials."""
        if type(self.inner) not in (NSGAIISampler, NSGAIIISampler):
            return self.inner.infer_relative_search_space(study, trial)
        complete = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
        if self._inner_space is None or self._inner_space[0] != complete:
            self._inner_space = (complete, self.inner.infer_relative_search_space(study, trial))
        return self._inner_space[1]

    def _propose(self, study: Study, trial: FrozenTrial, inner_space: dict[str, BaseDistribution],
                 search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        relative = self.inner.sample_relative(study, trial, inner_space)
        left_out = [name for name, dist in search_space.items()  # what Trial would sample independently
                    if name not in relative or not dist._contains(dist.to_internal_repr(relative[name]))]
        drawn = self._independent(study, trial, left_out, search_space)
        params: dict[str, Any] = {}
        for name, dist in search_space.items():
            value = drawn[name] if name in drawn else relative[name]
            # the types suggest_int / suggest_float return: a design's key is the same either way
            params[name] = int(value) if isinstance(dist, IntDistribution) else \
                float(value) if isinstance(dist, FloatDistribution) else value
        return params

    def _independent(self, study: Study, trial: FrozenTrial, names: list[str],
                     search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        """The inner sampler's sample_independent of each knob in `names`, in turn. Where that is
        RandomSampler's (random, NSGA-II, NSGA-III), one draw of them all instead: RandomSampler builds a
        knob's transform anew and draws its uniforms in a call of its own each time (a third of a
        proposal's time); the same uniforms, in the same order, from one call are the same values
        (tests/test_refusing_sampler.py compares whole studies against plain Optuna)."""
        if not names:
            return {}
        if self._drawer is None:
            return {name: self.inner.sample_independent(study, trial, name, search_space[name]) for name in names}
        key = tuple(names)
        trans = self._transforms.get(key)
        if trans is None:
            trans = self._transforms[key] = _SearchSpaceTransform({name: search_space[name] for name in names})
        bounds = trans.bounds
        return trans.untransform(self._drawer._rng.rng.uniform(bounds[:, 0], bounds[:, 1]))

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self.inner.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self.inner.before_trial(study, trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Any) -> None:
        self.inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.inner.reseed_rng()


def _random_drawer(inner: BaseSampler) -> RandomSampler | None:
    """The RandomSampler whose sample_independent is `inner`'s: inner itself, or the one NSGA-II and
    NSGA-III hand every knob they leave out to (the first generation, mutations); None for others."""
    if type(inner) is RandomSampler:
        return inner
    drawer = getattr(inner, "_random_sampler", None)
    if type(inner) in (NSGAIISampler, NSGAIIISampler) and type(drawer) is RandomSampler:
        return drawer
    return None


def generation_room(local: optuna.Study, trial: optuna.Trial, default_attr: str) -> int:
    """How many trials, this one included, the sampler's current generation still takes: a genetic
    sampler draws a generation's trials from the same parents, so they may all be asked before any
    is told, as they would be one by one; 1 for other samplers (each proposal waits for the last
    result) and for the queued default design."""
    sampler = local.sampler.inner if isinstance(local.sampler, RefusingSampler) else local.sampler
    if not isinstance(sampler, BaseGASampler) or trial.user_attrs.get(default_attr):
        return 1
    generation = sampler.get_trial_generation(local, local.get_trials(deepcopy=False)[trial.number])
    return max(1, sampler.population_size - len(sampler.get_population(local, generation)))
