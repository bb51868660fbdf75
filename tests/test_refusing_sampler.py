"""samplers.RefusingSampler: proposals a study skips are drawn again inside the sampler. It must
sample what asking the study again (and telling each refused trial as failed) samples: with the
same seed, the same accepted designs in the same order, without an Optuna trial per refusal."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from dse.search.samplers import RefusingSampler
from dse.search.studyfile import load_study

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _objective(params):
    return [params["rows"] * params["cols"] / (1 + params["threshold"]), params["frequency_mhz"] / params["rows"]]


def _refuse(params, seen):
    return params["rows"] * params["cols"] > 4096 or str(sorted(params.items())) in seen


@pytest.mark.parametrize("make", [lambda seed: optuna.samplers.NSGAIISampler(seed=seed, population_size=8),
                                  lambda seed: optuna.samplers.NSGAIIISampler(seed=seed, population_size=8),
                                  lambda seed: optuna.samplers.RandomSampler(seed=seed)],
                         ids=["nsga2", "nsga3", "random"])
@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")  # NSGA-III
def test_refusing_inside_the_sampler_samples_what_asking_again_samples(make):
    space = load_study("quickstart").space
    accepted: dict[str, list] = {}
    trials: dict[str, int] = {}
    for mode in ("ask again", "refuse inside"):
        seen: set[str] = set()
        sampler = make(3)
        if mode == "refuse inside":
            sampler = RefusingSampler(sampler, space.distributions(), lambda p: _refuse(p, seen), limit=1000)
        study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
        out = []
        while len(out) < 40:
            trial = study.ask()
            params = space.suggest(trial)
            if _refuse(params, seen):
                assert mode == "ask again", params  # the wrapper never lets a refused design through
                study.tell(trial, state=TrialState.FAIL)
                continue
            seen.add(str(sorted(params.items())))
            out.append(params)
            study.tell(trial, _objective(params))
        accepted[mode], trials[mode] = out, len(study.trials)
    assert accepted["refuse inside"] == accepted["ask again"]
    assert trials["refuse inside"] == 40 < trials["ask again"]  # no trial for a refused proposal


def test_space_distributions_are_the_ones_suggest_asks_for():
    space = load_study("quickstart").space
    study = optuna.create_study()
    trial = study.ask()
    space.suggest(trial)
    assert study.trials[0].distributions == space.distributions()


def test_refusing_everything_gives_up_with_one_warning(capsys):
    from dse.errors import reset_warnings

    reset_warnings()
    space = load_study("quickstart").space
    sampler = RefusingSampler(optuna.samplers.RandomSampler(seed=0), space.distributions(), lambda p: True, limit=7)
    study = optuna.create_study(sampler=sampler)
    for _ in range(2):
        space.suggest(study.ask())
    assert capsys.readouterr().err.count("last 7 proposals were all skipped") == 1


def test_the_proposal_after_the_limit_warns_only_when_it_would_be_refused_too(capsys):
    """As asking again did: `limit` refusals in a row, then a proposal that passes is simply taken."""
    from dse.errors import reset_warnings

    reset_warnings()
    space = load_study("quickstart").space
    calls = []
    sampler = RefusingSampler(optuna.samplers.RandomSampler(seed=0), space.distributions(),
                              lambda p: calls.append(p) or len(calls) <= 7, limit=7)
    space.suggest(optuna.create_study(sampler=sampler).ask())
    assert len(calls) == 8 and "proposals were all skipped" not in capsys.readouterr().err


def test_an_enqueued_design_is_given_not_drawn(capsys):
    from dse.errors import reset_warnings

    reset_warnings()
    spec = load_study("quickstart")
    given = spec.space.suggest(optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1)).ask())
    drawn = []
    sampler = RefusingSampler(optuna.samplers.RandomSampler(seed=0), spec.space.distributions(),
                              lambda p: drawn.append(p) or True, limit=3)
    study = optuna.create_study(sampler=sampler)
    study.enqueue_trial(given)
    trial = study.ask()
    assert sampler.sample_relative(study, study.trials[0], spec.space.distributions()) == {}
    assert spec.space.suggest(trial) == given and drawn == []
    assert "proposals were all skipped" not in capsys.readouterr().err
