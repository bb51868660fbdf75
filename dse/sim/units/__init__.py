"""Each accelerator's cycle rules, one module per accelerator spec "model" (dense, focus, adaptiv, cmc,
...): a module here that defines a UnitModel subclass (dse/sim/units/model.py) is an accelerator model;
a new accelerator is a new module, no edit elsewhere."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from dse.errors import UserError
from dse.sim.units.model import UnitModel

_NOT_UNITS = {"base", "model", "published"}


@cache
def units() -> dict[str, UnitModel]:
    """model name -> its rules (each instantiated here: an incomplete model fails on loading)."""
    for info in pkgutil.iter_modules(__path__):
        if info.name not in _NOT_UNITS:
            importlib.import_module(f"{__name__}.{info.name}")
    return {cls.name: cls() for cls in UnitModel.__subclasses__()}


def unit_models() -> tuple[str, ...]:
    return tuple(sorted(units()))


def check_model(model: str, accelerator: str) -> str:
    """The spec's model, if a cycle model implements it."""
    if model not in units():
        raise UserError(f"accelerator {accelerator}: 'model' must be one of {', '.join(unit_models())} "
                        f"(dse/sim/units/), got {model!r}")
    return model
