"""The search space: one Knob per DesignPoint field (and one per buffer), fixed or searched.

A knob is written in a study file as
- a scalar (`rows: 32`, `dataflow: ws`, `dram_bandwidth_gbps: null`): fixed;
- a list (`dataflow: [ws, os]`, `block: [2x2x2, 1x2x2]`): a categorical choice;
- a mapping: `{low: 8, high: 256, step: 8}`, `{low: 0.5, high: 2.0, log: true}`,
  `{choices: [...]}` or `{value: ...}` (fixed).
Knobs not written take the Focus paper's design (DesignPoint defaults). Buffer sizes are
knobs named `buffer_kb.<buffer>`, written under `buffer_kb:` in the study file; a buffer not
searched is sized to what the tiles need (the accelerator spec's expression).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import optuna

from dse.cost.buffer_pricing import SRAM_MODELS
from dse.cost.precision import PRECISIONS
from dse.design import BUFFER_PREFIX
from dse.errors import UserError
from dse.levels import LEVELS
from dse.profile import parse_block
from dse.sim.hardware import BUFFERINGS


@dataclass(frozen=True)
class KnobType:
    kind: str  # "int", "float", "cat"
    low: float | None = None  # smallest allowed value
    high: float | None = None
    choices: tuple[Any, ...] | None = None  # allowed values of a categorical knob
    nullable: bool = False


KNOB_TYPES: dict[str, KnobType] = {
    "rows": KnobType("int", 1, 4096),  # systolic array rows R
    "cols": KnobType("int", 1, 4096),  # systolic array columns C
    "dataflow": KnobType("cat", choices=("ws", "os", "is")),  # dataflow
    "frequency_mhz": KnobType("float", 1, 10000),  # clock in MHz
    "m_tile": KnobType("int", 1, 1 << 20),  # tokens per on-chip M tile
    "n_tile": KnobType("int", 1, 1 << 20),  # output columns per N tile
    "vector_size": KnobType("int", 1, 1 << 16),  # sub-vector size for similarity
    "block": KnobType("cat"),  # similarity block TxHxW, e.g. 2x2x2
    "threshold": KnobType("float", 0.0, 1.0, nullable=True),  # similarity threshold (null: the published one)
    "sec_scale": KnobType("float", 1e-6, 1e6),  # SEC strength: every alpha times this (<1 prunes harder)
    "n_scatter": KnobType("int", 1, 1024),  # scatter accumulators
    "concentration": KnobType("cat", choices=LEVELS),  # which concentration levels run (dse/levels.py)
    "redundancy_clips": KnobType("cat"),  # 'all' or clip names joined by commas (dse/redundancy_curves.py)
    "dram_bandwidth_gbps": KnobType("float", 1e-6, 1e9, nullable=True),  # DRAM bandwidth (null: unlimited)
    # the whole query (dse/query.py)
    "phases": KnobType("cat"),  # e.g. encoder,prefill,decode (checked by DesignPoint)
    "prompt_tokens": KnobType("int", 0, 1 << 20),  # P text tokens
    "output_tokens": KnobType("int", 0, 1 << 20),  # G output tokens
    "batch": KnobType("int", 1, 1 << 16),  # sequences decoded together
    "encoder_threshold": KnobType("float", 0.0, 1.0, nullable=True),  # Focus inside the ViT (null: off)
    # the datapath and scale-out (dse/cost/precision.py, dse/sim/cores.py)
    "precision": KnobType("cat", choices=PRECISIONS),  # weights and activations: fp16 | bf16 | fp8 | int8
    "cores": KnobType("int", 1, 1024),  # arrays of rows x cols sharing the DRAM bandwidth
    # what prices the buffers (dse/cost/buffer_pricing.py; null: the convention's rule)
    "sram_model": KnobType("cat", choices=SRAM_MODELS, nullable=True),
    # the stationary operand in one register per PE or two (dse/sim/buffering.py, dse/cost/pe_register.py)
    "weight_buffering": KnobType("cat", choices=BUFFERINGS),
}
BUFFER_TYPE = KnobType("int", 1, 1 << 30)  # buffer size in kB


def knob_type(name: str) -> KnobType:
    if name.startswith(BUFFER_PREFIX):
        return BUFFER_TYPE
    return KNOB_TYPES[name]


def canonical_block(value: Any, where: str) -> str:
    """'2x2x2' (or [2, 2, 2]) -> canonical '2x2x2'."""
    return "x".join(str(s) for s in parse_block(value, where))


@dataclass(frozen=True)
class Knob:
    name: str
    kind: str  # "fixed", "int", "float", "cat"
    value: Any = None  # fixed value
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    @property
    def searched(self) -> bool:
        return self.kind != "fixed"

    def grid(self) -> list[Any]:
        """The values a grid search visits."""
        if self.kind == "cat":
            return list(self.choices)
        if self.step is None:
            if self.kind == "int" and not self.log and self.high - self.low <= 64:
                return list(range(int(self.low), int(self.high) + 1))
            raise UserError(f"knob '{self.name}' is a continuous range, not a grid: give it a 'step' or a list of "
                            "values (the grid sampler and `study exhaustive` visit every grid point)")
        n = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
        if self.kind == "int":
            return [int(self.low + i * self.step) for i in range(n)]
        # bit for bit the values Optuna's samplers draw from a stepped range (i * step + low, clipped),
        # so a grid point and a sampled trial of the same design are the same numbers
        return [min(max(i * self.step + self.low, self.low), self.high) for i in range(n)]

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "fixed":
            return {"value": self.value}
        if self.kind == "cat":
            return {"choices": list(self.choices)}
        d: dict[str, Any] = {"low": self.low, "high": self.high}
        if self.step is not None:
            d["step"] = self.step
        if self.log:
            d["log"] = True
        return d


RANGE_KEYS = {"low", "high", "step", "log", "choices", "value"}


def _check_value(name: str, value: Any, where: str) -> Any:
    """One value of a knob, validated and normalised (block -> '2x2x2', ints stay ints)."""
    t = knob_type(name)
    if value is None:
        if t.nullable:
            return None
        raise UserError(f"{where}: knob '{name}' cannot be null")
    if name == "block":
        return canonical_block(value, where)
    if t.kind == "cat":
        v = str(value).lower()
        if t.choices and v not in t.choices:
            raise UserError(f"{where}: '{value}' is not a {name}; use one of {', '.join(t.choices)}")
        return v
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"{where}: knob '{name}' wants a number, got {value!r}")
    if t.kind == "int":
        if isinstance(value, float) and not value.is_integer():
            raise UserError(f"{where}: knob '{name}' is an integer, got {value!r}")
        value = int(value)
    else:
        value = float(value)
    if (t.low is not None and value < t.low) or (t.high is not None and value > t.high):
        raise UserError(f"{where}: {name} = {value} is outside [{t.low:g}, {t.high:g}]")
    return value


def parse_knob(name: str, raw: Any, where: str) -> Knob:
    """A knob from its study-file form (see the module docstring)."""
    t = knob_type(name)
    if isinstance(raw, list):
        raw = {"choices": raw}
    if not isinstance(raw, dict):
        if raw == "auto" and name.startswith(BUFFER_PREFIX):
            return Knob(name, "fixed", None)
        return Knob(name, "fixed", _check_value(name, raw, where))
    unknown = sorted(set(raw) - RANGE_KEYS)
    if unknown:
        raise UserError(f"{where}: unknown key(s) {unknown}; a knob is a value, a list of choices, "
                        "or {low, high, step, log} / {choices} / {value}")
    if "value" in raw:
        if len(raw) > 1:
            raise UserError(f"{where}: 'value' fixes the knob; do not combine it with {sorted(set(raw) - {'value'})}")
        return parse_knob(name, raw["value"], where)
    if "choices" in raw:
        if set(raw) != {"choices"}:
            raise UserError(f"{where}: 'choices' cannot be combined with low/high/step/log")
        choices = raw["choices"]
        if not isinstance(choices, list) or not choices:
            raise UserError(f"{where}: 'choices' must be a non-empty list")
        values = tuple(dict.fromkeys(_check_value(name, c, f"{where}.choices") for c in choices))
        if len(values) == 1:
            return Knob(name, "fixed", values[0])
        if any(v is None for v in values):
            raise UserError(f"{where}: null cannot be one of several choices; fix the knob to null instead")
        return Knob(name, "cat", choices=values)
    if t.kind == "cat":
        raise UserError(f"{where}: knob '{name}' is categorical: give a value or a list of choices")
    missing = sorted({"low", "high"} - set(raw))
    if missing:
        raise UserError(f"{where}: a range needs {' and '.join(missing)}")
    low = _check_value(name, raw["low"], f"{where}.low")
    high = _check_value(name, raw["high"], f"{where}.high")
    if low is None or high is None or low >= high:
        raise UserError(f"{where}: need low < high, got low={raw['low']!r}, high={raw['high']!r}")
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise UserError(f"{where}.log: true or false, got {log!r}")
    step = raw.get("step")
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, (int, float)) or step <= 0:
            raise UserError(f"{where}.step: a positive number, got {step!r}")
        if t.kind == "int" and not float(step).is_integer():
            raise UserError(f"{where}.step: knob '{name}' is an integer, so its step must be one, got {step!r}")
        if log and not (t.kind == "int" and step == 1):
            raise UserError(f"{where}: 'log' and 'step' cannot be combined (Optuna samples a log range continuously)")
        step = int(step) if t.kind == "int" else float(step)
    if log and low <= 0:
        raise UserError(f"{where}: a log range needs low > 0")
    if t.kind == "int" and step and (high - low) % step:
        raise UserError(f"{where}: high - low ({high - low}) is not a multiple of step {step}")
    if t.kind == "float" and step:
        n = (high - low) / step
        if abs(n - round(n)) > 1e-9 * max(1.0, abs(n)):
            raise UserError(f"{where}: high - low ({high - low:g}) is not a multiple of step {step:g}")
    return Knob(name, t.kind, low=low, high=high, step=step, log=log)


@dataclass(frozen=True)
class SearchSpace:
    knobs: dict[str, Knob]

    @property
    def searched(self) -> list[Knob]:
        return [k for k in self.knobs.values() if k.searched]

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Every searched knob's value for this trial (fixed knobs are not Optuna params), each asked
        with its distribution (`distributions`)."""
        out: dict[str, Any] = {}
        for name, d in self._distributions.items():
            if isinstance(d, optuna.distributions.IntDistribution):
                out[name] = trial.suggest_int(name, d.low, d.high, step=d.step, log=d.log)
            elif isinstance(d, optuna.distributions.FloatDistribution):
                out[name] = trial.suggest_float(name, d.low, d.high, step=d.step, log=d.log)
            else:
                out[name] = trial.suggest_categorical(name, d.choices)
        return out

    def distributions(self) -> dict[str, optuna.distributions.BaseDistribution]:
        """The Optuna distribution of every searched knob: the ones `suggest` asks for."""
        return dict(self._distributions)

    @cached_property
    def _distributions(self) -> dict[str, optuna.distributions.BaseDistribution]:
        out: dict[str, optuna.distributions.BaseDistribution] = {}
        for k in self.searched:
            if k.kind == "int":
                out[k.name] = optuna.distributions.IntDistribution(int(k.low), int(k.high), step=int(k.step or 1),
                                                                   log=k.log)
            elif k.kind == "float":
                out[k.name] = optuna.distributions.FloatDistribution(k.low, k.high, step=k.step, log=k.log)
            else:
                out[k.name] = optuna.distributions.CategoricalDistribution(k.choices)
        return out

    def design_dict(self, params: dict[str, Any], accelerator: str, convention: str) -> dict[str, Any]:
        """A DesignPoint dict from the trial's params and the fixed knobs."""
        d: dict[str, Any] = {"accelerator": accelerator, "convention": convention}
        buffers: dict[str, float] = {}
        for k in self.knobs.values():
            value = params[k.name] if k.searched else k.value
            if k.name.startswith(BUFFER_PREFIX):
                if value is not None:
                    buffers[k.name[len(BUFFER_PREFIX):]] = value
            else:
                d[k.name] = value
        d["buffer_kb"] = buffers
        return d

    def grid(self) -> dict[str, list[Any]]:
        return {k.name: k.grid() for k in self.searched}

    def contains(self, design: dict[str, Any]) -> dict[str, Any] | None:
        """The params that reproduce `design` (a DesignPoint dict), or None when it lies outside the space."""
        params: dict[str, Any] = {}
        for k in self.knobs.values():
            if k.name.startswith(BUFFER_PREFIX):
                value = (design.get("buffer_kb") or {}).get(k.name[len(BUFFER_PREFIX):])
            else:
                value = design.get(k.name)
            if k.name == "block" and value is not None:
                value = canonical_block(value, "design")
            if k.kind == "fixed":
                if value != k.value:
                    return None
                continue
            if value is None:
                return None
            if k.kind == "cat":
                if value not in k.choices:
                    return None
            else:
                if not k.low <= value <= k.high:
                    return None
                if k.step and abs((value - k.low) / k.step - round((value - k.low) / k.step)) > 1e-9:
                    return None
                if k.kind == "int":
                    if float(value) != int(value):
                        return None
                    value = int(value)
                elif k.step:  # the grid's own float (0.75 + 5 * 0.03 is 0.8999999999999999, not 0.9)
                    value = k.grid()[round((value - k.low) / k.step)]
            params[k.name] = value
        return params

    def to_dict(self) -> dict[str, Any]:
        """The study-file form (parse_space reads it back)."""
        out: dict[str, Any] = {}
        buffers: dict[str, Any] = {}
        for name, k in sorted(self.knobs.items()):
            if name.startswith(BUFFER_PREFIX):
                auto = k.kind == "fixed" and k.value is None
                buffers[name[len(BUFFER_PREFIX):]] = "auto" if auto else k.to_dict()
            else:
                out[name] = k.to_dict()
        if buffers:
            out["buffer_kb"] = buffers
        return out


def parse_space(raw: Any, buffer_names: list[str], where: str = "space") -> SearchSpace:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise UserError(f"{where}: a mapping of knob -> value / choices / range")
    knobs: dict[str, Knob] = {}
    for name, spec in raw.items():
        if name == "buffer_kb":
            if not isinstance(spec, dict):
                raise UserError(f"{where}.buffer_kb: a mapping of buffer name -> size in kB / choices / range")
            for buf, bspec in spec.items():
                if buf not in buffer_names:
                    raise UserError(f"{where}.buffer_kb.{buf}: no such buffer; this accelerator has "
                                    f"{', '.join(buffer_names)}")
                knobs[BUFFER_PREFIX + buf] = parse_knob(BUFFER_PREFIX + buf, bspec, f"{where}.buffer_kb.{buf}")
            continue
        if name not in KNOB_TYPES:
            import difflib

            close = difflib.get_close_matches(str(name), list(KNOB_TYPES) + ["buffer_kb"], n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise UserError(f"{where}.{name}: unknown knob{hint}; knobs: {', '.join(list(KNOB_TYPES) + ['buffer_kb'])}")
        knobs[name] = parse_knob(name, spec, f"{where}.{name}")
    return SearchSpace(knobs)
