"""Concentration levels: which of Focus's two levels run, and which hardware is on the chip.

`concentration` is one of:
  sec+sic  both levels (the Focus design; the default);
  sec      semantic pruning only: every kept token is its own row (no similarity matching);
  sic      similarity only: every token kept in every layer (no pruning);
  none     neither: the array runs the dense workload.

What runs is exactly what the Focus paper simulator's SEC-only run does (dubcyfor3/Focus,
simulator/core/simulator_comp.py and simulator_mem.py with SEC_only): the same SEC token trace,
unique rows set to the kept tokens, and the concentration unit's scatter and gather still counted.

Hardware (accelerator specs tag components and buffers with the level that needs them):
  focus-paper  the whole Focus chip at every level, every unit charged for the whole run, as the
               paper simulator charges its SEC-only run; scatter and gather run at every level
               that concentrates.
  faithful     `sec` and `sic` are chips built for one level: the other level's units and buffers
               are not built (their area and power go) and, without SIC, scatter, gather and
               detection leave the datapath. `none` is the Focus chip with its unit bypassed: all
               of it stays, idle (area, SRAM leakage); a chip built without it is `--accelerator dense`.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from dse.cost.accelerator import ALL_LEVELS, is_built, load_spec
from dse.choices import LEVELS
from dse.errors import UserError
from dse.profile import LayerProfile, SparsityProfile
from dse import xp


def check_level(value: object) -> str:
    if value not in LEVELS:
        raise UserError(f"concentration must be one of {', '.join(LEVELS)}; got {value!r}")
    return str(value)


def runs_sec(level: str) -> bool:
    return level in ("sec+sic", "sec")


def runs_sic(level: str) -> bool:
    return level in ("sec+sic", "sic")


def built_hardware(level: str, convention: str) -> frozenset[str]:
    """The hardware tags on the chip (untagged hardware is always there)."""
    if convention == "focus-paper" or level in ("sec+sic", "none"):
        return ALL_LEVELS
    return frozenset({level})


def profile_at_level(profile: SparsityProfile, level: str) -> SparsityProfile:
    """The profile with the levels that are off undone: without SIC every kept token is a row;
    without SEC every layer keeps all S tokens and each GEMM keeps its unique-row fraction."""
    if level == "sec+sic":
        return profile
    if level == "none":
        raise ValueError("concentration 'none' runs the dense workload, not a profile")
    layers = []
    for lp in profile.layers:
        if level == "sec":
            layers.append(replace(lp, unique_rows={}))
            continue
        full = float(profile.tokens)
        unique = {g: _at_all_tokens(rows, lp.tokens(g), full) for g, rows in lp.unique_rows.items()}
        layers.append(LayerProfile(lp.layer, full, unique, None))
    settings = profile.settings if level == "sec" else replace(profile.settings, sec_layers=(), sec_alpha=())
    return replace(profile, layers=tuple(layers), settings=settings, extra={**profile.extra, "concentration": level})


def _at_all_tokens(rows, tokens, full: float):
    """A GEMM's unique rows scaled from its kept tokens to all `full` tokens (numbers, or arrays of
    design points)."""
    if xp.is_array(tokens):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(tokens > 0, rows * full / tokens, full)
    return rows * full / tokens if tokens else full


def unbuilt_buffers(accelerator: str, level: str, convention: str) -> set[str]:
    """Buffers of the accelerator spec that a chip at this level does not have."""
    built = built_hardware(level, convention)
    return {b["name"] for b in load_spec(accelerator)["buffers"] if not is_built(b, built)}
