"""The area screen: design points whose chip alone breaks the study's area limit.

A design's area is the area of the accelerator it builds, which depends only on the chip
knobs (dse/search/grid.py), not on the workload or the concentration settings. So
`study exhaustive` builds each distinct chip once (dse.evaluate.accelerator_for, as
dse.evaluate.evaluate does) and does not evaluate the points whose chip is over the limit:
they are infeasible whatever else they do. The rest go through the whole model. A chip whose logic
alone (its area without buffers, a lower bound) is over the limit is known to be without pricing its
SRAMs: on a fresh machine those would each cost a CACTI run.
(tests/test_exhaustive.py checks the screen's area against whole-model evaluations.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from dse.errors import UserError
from dse.search.batch import plain_params
from dse.search.evaluation import DesignEvaluator
from dse.search.grid import Grid
from dse.search.studyfile import StudySpec

if TYPE_CHECKING:  # the trial loop imports this module: pandas is imported where tables are built
    import pandas as pd

_AREAS: dict[tuple, float] = {}  # per process: (study fingerprint, chip values) -> mm², or a lower bound over the limit
MAX_CACHED = 200_000  # chips; chunks run in grid order (chips slowest), so older ones rarely recur


def chip_area(point) -> float:
    """The area (mm²) of the accelerator a DesignPoint builds: the chip dse.evaluate.evaluate builds."""
    from dse.llm_run import accelerator_for

    return accelerator_for(point).area_mm2


def logic_area(point) -> float:
    """The area (mm²) of that chip without its buffers: a lower bound that prices no SRAM."""
    from dse.cost.accelerator import logic_area_mm2
    from dse.llm_run import chip_arguments

    chip = chip_arguments(point)
    return logic_area_mm2(chip["name_or_path"], chip["knobs"], chip["frequency_mhz"], chip["levels"],
                          chip["precision"], chip["cores"], chip["weight_buffering"])


def area_against(point, limit: float) -> float:
    """chip_area, or logic_area when that alone is over `limit`: the same verdict against the limit,
    without asking CACTI about the SRAMs of a chip whose logic already breaks it (most of a random
    search's first proposals: on a fresh machine each new SRAM costs a CACTI run). Such a chip is over
    the limit even when its buffers could not be priced (chip_area would raise): it is screened as
    over, not refused."""
    logic = logic_area(point)
    return logic if logic > limit else chip_area(point)


def over_area(spec: StudySpec, grid: Grid, digits: np.ndarray, points: pd.DataFrame) -> np.ndarray:
    """Mask of the points whose chip is over the study's area limit (none when it has no limit)."""
    limit = spec.constraints.area_mm2_max
    if limit is None or not len(points):
        return np.zeros(len(points), dtype=bool)
    chip = [grid.names.index(n) for n in grid.chip_knobs]
    keys, first, inverse = np.unique(digits[:, chip], axis=0, return_index=True, return_inverse=True)
    fingerprint = spec.fingerprint()
    wanted = [((fingerprint, tuple(key)), row) for key, row in zip(keys.tolist(), first)]
    # read into this call's own dict: another thread of a Dask worker may clear the cache meanwhile
    areas = {key: area for key, _ in wanted if (area := _AREAS.get(key)) is not None}
    new = [(key, row) for key, row in wanted if key not in areas]
    if len(_AREAS) + len(new) > MAX_CACHED:
        _AREAS.clear()
    areas.update(_measure_new_chips(spec, points, new))
    # the area constraint's value, as dse.search.constraints computes it: > 0 is infeasible
    over = (np.array([areas[key] for key, _ in wanted]) - limit) / abs(limit) > 0
    return over[inverse.reshape(-1)]


def _measure_new_chips(spec: StudySpec, points: pd.DataFrame, chips: list[tuple[tuple, int]]) -> dict[tuple, float]:
    """The area of each chip (cache key, a point's row that builds it), kept in _AREAS too: its logic area
    when that alone is over the limit (screened, whether or not its buffers could be priced); else its
    whole area, its SRAMs new to the machine sent to CACTI together first (NaN for a chip the model
    refuses: the whole evaluation records why)."""
    from dse.cost.accelerator import prefetch_sram_costs
    from dse.llm_run import chip_arguments

    areas, designs = {}, {}
    # as records, each knob keeps its column's type (a row of mixed columns would make integers floats)
    rows = points.iloc[[row for _, row in chips]].to_dict("records")
    for (cache_key, _), params in zip(chips, map(plain_params, rows)):
        try:
            designs[cache_key] = DesignEvaluator.design_point(spec.space.design_dict(params, spec.accelerator,
                                                                                     spec.convention))
        except UserError:
            areas[cache_key] = float("nan")
    limit = spec.constraints.area_mm2_max
    priced = {}  # the chips whose logic alone is within the limit: their buffers decide
    for cache_key, design in designs.items():
        try:
            logic = logic_area(design)
        except UserError:
            areas[cache_key] = float("nan")
            continue
        if logic > limit:
            areas[cache_key] = logic  # a lower bound, already over: infeasible whatever its buffers
        else:
            priced[cache_key] = design
    prefetch_sram_costs(chip_arguments(design) for design in priced.values())
    for cache_key, design in priced.items():
        try:
            areas[cache_key] = chip_area(design)
        except UserError:
            areas[cache_key] = float("nan")
    _AREAS.update(areas)
    return areas
