"""Knob importances per objective, over the knobs the objective depends on.

PED-ANOVA (Optuna's default importance evaluator) compares, per knob, where the best trials of
an objective lie with where all trials lie. With a few hundred trials a knob the objective
never reads differs a little by chance, so over every knob it gets a share of the importance
(the quickstart's accuracy once gave the array rows 0.22; the accuracy model never reads them).
So, per objective:
1. dependence: each searched knob is changed alone on the first PROBE_DESIGNS completed designs
   (a numeric knob to its lowest and highest value, a categorical one to every other choice),
   and the objectives are re-evaluated; a knob that changes none of an objective's values is
   one its model does not read, its importance is 0 by construction and it is left out of step
   2 (a knob that mattered only where no probe looked would be missed: the report says how the
   dependence was found);
2. importance: PED-ANOVA over the knobs the objective reads, normalised to sum 1 over them.
Probing costs about 70 evaluations, run at once on arrays (DesignEvaluator.run_many: ~0.05 s on
the quickstart, 0.3-0.5 s one by one). With an accuracy provider whose predictions are costly
(measured live, user) nothing is probed: every knob is kept, and the table says so.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dse.errors import UserError
from dse.search.objectives import OBJECTIVES
from dse.search.studyfile import StudySpec

if TYPE_CHECKING:  # the table is built where it is written (a plot process draws from the rows: no pandas there)
    import pandas as pd

PROBE_DESIGNS = 2
COLUMNS = ("objective", "knob", "reads", "importance")
MIN_TRIALS = 3  # PED-ANOVA needs a top quantile distinct from all trials


@dataclass(frozen=True)
class Importances:
    """One row per (objective, knob): `reads` (the objective's model reads the knob) and
    `importance` (PED-ANOVA share among the knobs it reads; 0 where it does not read it)."""
    rows: list[dict[str, Any]]  # COLUMNS
    trials: int  # completed trials the importances are taken over
    method: str  # how `reads` was found

    @property
    def empty(self) -> bool:
        return not self.rows

    @property
    def table(self) -> pd.DataFrame:
        """The rows as a table (columns: COLUMNS)."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=list(COLUMNS))


def probe_values(knob) -> list:
    """The values a knob is set to when probing whether an objective depends on it."""
    if knob.kind == "cat":
        return list(knob.choices)
    low, high = knob.low, knob.high
    return [int(low), int(high)] if knob.kind == "int" else [float(low), float(high)]


def _same(a: float, b: float) -> bool:
    if a != a and b != b:  # both NaN
        return True
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def dependencies(spec: StudySpec, evaluator, params_list: list[dict]) -> dict[str, set[str]]:
    """{objective: the searched knobs that change its value when changed alone on one of the designs}."""
    metrics = {o: OBJECTIVES[o].metric for o in spec.objectives}
    reads: dict[str, set[str]] = {o: set() for o in spec.objectives}
    probes = []  # (design's index, the knob changed or None for the design itself, params)
    for i, params in enumerate(params_list):
        probes.append((i, None, params))
        probes += [(i, knob.name, {**params, knob.name: value}) for knob in spec.space.searched
                   for value in probe_values(knob) if value != params[knob.name]]
    # every probe at once, on arrays (DesignEvaluator.run's numbers); a probe outside what the model
    # accepts (a UserError) tells nothing
    outcomes = evaluator.run_many([spec.space.design_dict(p, spec.accelerator, spec.convention) for _, _, p in probes])
    base = {i: o.metrics for (i, knob, _), o in zip(probes, outcomes) if knob is None and not isinstance(o, UserError)}
    for (i, knob, _), outcome in zip(probes, outcomes):
        if knob is None or i not in base or isinstance(outcome, UserError):
            continue
        for o, key in metrics.items():
            if not _same(outcome.metrics[key], base[i][key]):
                reads[o].add(knob)
    return reads


def importances(study, spec: StudySpec, evaluator) -> Importances:
    """Importances of the searched knobs per objective (see the module's docstring)."""
    from optuna.importance import PedAnovaImportanceEvaluator
    from optuna.trial import TrialState

    complete = sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: t.number)
    knobs = [k.name for k in spec.space.searched]
    if len(complete) < MIN_TRIALS or not knobs:
        return Importances([], len(complete), "")
    if evaluator.provider.cheap:
        reads = dependencies(spec, evaluator, [t.params for t in complete[:PROBE_DESIGNS]])
        method = (f"each knob changed alone on {min(PROBE_DESIGNS, len(complete))} designs (numeric: lowest and "
                  "highest value; categorical: every choice)")
    else:
        reads = {o: set(knobs) for o in spec.objectives}
        method = "not probed (the accuracy provider is costly to call): every knob kept"
    rows = []
    for i, name in enumerate(spec.objectives):
        used = [k for k in knobs if k in reads[name]]
        shares = dict.fromkeys(used, 1.0) if len(used) == 1 else {}
        if len(used) > 1:
            sign = OBJECTIVES[name].sign  # PED-ANOVA: lower is better
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    raw = PedAnovaImportanceEvaluator().evaluate(study, params=used,
                                                                 target=lambda t, i=i, s=sign: s * t.values[i])
            except (RuntimeError, ValueError, ZeroDivisionError):  # too few distinct trials: left out
                continue
            total = sum(raw.values())
            shares = {k: (v / total if total > 0 else 0.0) for k, v in raw.items()}
        rows += [{"objective": name, "knob": k, "reads": k in reads[name], "importance": float(shares.get(k, 0.0))}
                 for k in knobs]
    return Importances(rows, len(complete), method)


def write_importances(imp: Importances, out_dir: Path) -> list[Path]:
    """importances.csv: one row per objective and knob (objective, knob, reads, importance)."""
    if imp.empty:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "importances.csv"
    imp.table.to_csv(path, index=False)
    return [path]


def plot_importances(imp: Importances, out_dir: Path) -> list[Path]:
    """importances.png: a panel per objective with the knobs it reads, by importance; the ones it
    does not read listed under it."""
    if imp.empty:
        return []
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    png_path = out_dir / "importances.png"
    objectives = list(dict.fromkeys(r["objective"] for r in imp.rows))
    n_knobs = len({r["knob"] for r in imp.rows})
    width, height = 3.3 * len(objectives) + 1.0, 0.25 * n_knobs + 2.4
    fig, axes = plt.subplots(1, len(objectives), figsize=(width, height), squeeze=False)
    fig.subplots_adjust(left=1.15 / width, right=1 - 0.25 / width, top=1 - 0.8 / height, bottom=1.2 / height,
                        wspace=0.75)
    for ax, name in zip(axes[0], objectives):
        rows = [r for r in imp.rows if r["objective"] == name]
        used = sorted((r for r in rows if r["reads"]), key=lambda r: -r["importance"])  # stable: ties as listed
        top = [n_knobs - 1 - i for i in range(len(used))]  # most important first, from the top
        ax.barh(top, [r["importance"] for r in used], color="steelblue", height=0.7)
        ax.set_yticks(top, [r["knob"] for r in used])
        ax.set_ylim(-0.6, n_knobs - 0.4)  # the same bar thickness in every panel
        ax.set_xlim(0, 1)
        ax.set_title(f"{name} {OBJECTIVES[name].arrow}", fontsize=10)
        ax.set_xlabel("share of importance", fontsize=8)
        ax.tick_params(labelsize=8)
        unread = ", ".join(r["knob"] for r in rows if not r["reads"]) or "none"
        ax.annotate(textwrap.fill(f"not read (0 by construction): {unread}", 44), (0, 0), xycoords="axes fraction",
                    xytext=(-40, -30), textcoords="offset points", fontsize=7, va="top")
    fig.suptitle(textwrap.fill(f"knob importance per objective: PED-ANOVA (best 10 % vs all of {imp.trials} "
                               "completed trials) over the knobs the objective reads; reads: " + imp.method,
                               int(width * 15)), fontsize=8.5)
    fig.savefig(png_path, dpi=120, pil_kwargs={"compress_level": 1})
    plt.close(fig)
    return [png_path]
