"""A study's whole grid, numbered: point i <-> one value of every searched knob.

Every searched knob must be on a grid (choices, or a range with a step: Knob.grid gives the
exact values Optuna's samplers draw). Point i is decoded in mixed radix, the first knob of
`names` varying slowest. The knobs that build the chip (array, tiles, clock, buffers, ...:
everything but CHIP_FREE) come first, so a chunk of consecutive points holds few distinct
chips and the area screen (dse/search/screen.py) builds each once.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import TYPE_CHECKING, Any

import numpy as np

from dse.errors import UserError
from dse.search.space import SearchSpace

if TYPE_CHECKING:  # the trial loop imports this module: pandas is imported where tables are built
    import pandas as pd

# knobs the accelerator (dse.cost.accelerator.build_accelerator) is never built from: the
# concentration algorithm's settings and curves, the dataflow, the memory system and the query
CHIP_FREE = frozenset({"dataflow", "threshold", "sec_scale", "vector_size", "block", "dram_bandwidth_gbps",
                       "phases", "prompt_tokens", "output_tokens", "batch", "encoder_threshold", "redundancy_clips"})


@dataclass(frozen=True)
class Grid:
    names: tuple[str, ...]  # searched knobs, slowest-varying first
    values: tuple[tuple[Any, ...], ...]

    @classmethod
    def of(cls, space: SearchSpace, where: str = "study") -> Grid:
        knobs = space.searched
        try:
            grids = {k.name: tuple(k.grid()) for k in knobs}
        except UserError as exc:
            raise UserError(f"{where}: {exc}") from None
        chip = sorted(n for n in grids if n not in CHIP_FREE)
        names = tuple(chip + sorted(n for n in grids if n in CHIP_FREE))
        return cls(names, tuple(grids[n] for n in names))

    @property
    def size(self) -> int:
        return prod(len(v) for v in self.values)

    @property
    def chip_knobs(self) -> tuple[str, ...]:
        return tuple(n for n in self.names if n not in CHIP_FREE)

    def digits(self, start: int, stop: int) -> np.ndarray:
        """(stop - start) x len(names): each point's index into each knob's values."""
        index = np.arange(start, stop, dtype=np.int64)
        out = np.empty((len(index), len(self.names)), dtype=np.int64)
        for j in range(len(self.names) - 1, -1, -1):
            n = len(self.values[j])
            out[:, j] = index % n
            index //= n
        return out

    def frame(self, digits: np.ndarray) -> pd.DataFrame:
        """The design points of these digits: one column per searched knob, trials.csv's values."""
        import pandas as pd

        columns = {}
        for j, name in enumerate(self.names):
            column = np.empty(len(self.values[j]), dtype=object)
            column[:] = list(self.values[j])
            taken = column[digits[:, j]]
            kinds = {type(v) for v in self.values[j]}
            columns[name] = taken.astype(float) if kinds == {float} else \
                taken.astype(np.int64) if kinds == {int} else taken
        return pd.DataFrame(columns)

    def to_dict(self) -> dict[str, list[Any]]:
        return {n: list(v) for n, v in zip(self.names, self.values)}


def grid_points(space: SearchSpace) -> list[dict[str, Any]]:
    """Every point of a study's grid as params, in a fixed order (the grid sampler deals them out)."""
    import itertools

    grid = space.grid()
    names = sorted(grid)
    return [dict(zip(names, values)) for values in itertools.product(*(grid[n] for n in names))]
