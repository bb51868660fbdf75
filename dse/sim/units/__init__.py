"""Each accelerator's cycle rules, one module per accelerator spec "model" (dense, focus, adaptiv,
cmc, ...): a module here that defines `linear` and `attention` (see dense.py) is an accelerator
model; a new accelerator is a new module, no edit elsewhere. Optional: USES_PROFILE (its layers
follow the design's sparsity profile) and layer_busy(T_attn, T_mlp) (per-layer busy cycles)."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from types import ModuleType

_NOT_UNITS = {"base", "published"}


@cache
def units() -> dict[str, ModuleType]:
    """model name -> its module."""
    out = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name in _NOT_UNITS:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "linear") and hasattr(module, "attention"):
            out[info.name] = module
    return out


def unit_models() -> tuple[str, ...]:
    return tuple(sorted(units()))
