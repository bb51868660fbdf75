"""The study file (YAML or TOML): what to search, for what, under which limits.

```yaml
name: quickstart                    # results/<name>/, the study's name in its storage
description: free text
workloads: [llava_vid/videomme]     # published names, or {model: qwen2-7b, frames: 16, patches: 196}
accelerator: focus                  # dense | focus | adaptiv | cmc | path to an accelerator JSON
convention: faithful                # or focus-paper
space:                              # knobs: see dse/search/space.py; others = the Focus paper's design
  rows: {low: 8, high: 256, step: 8}
  dataflow: [ws, os]
  threshold: {low: 0.7, high: 0.99}
  buffer_kb: {output: {low: 96, high: 1536, log: true}}
objectives: [accuracy, energy, latency]        # see dse/search/objectives.py
constraints: {area_mm2_max: 4.0, accuracy_drop_max: 3.0, buffers_fit: true}
accuracy: {provider: calibrated}               # calibrated | measured | user (dse/accuracy/)
sampler: {name: nsga2, population_size: 32}    # nsga2 | nsga3 | tpe | random | grid
  # and, for every sampler but grid: skip_over_area: true (a proposed design whose chip alone is over
  # area_mm2_max is not evaluated: the sampler draws again), skip_repeats: true (nor one already stored)
seed: 0
trials: 300                                    # the study's target number of finished trials
timeout: null                                  # seconds, per run
storage: null                                  # null: results/<name>/journal.log (journal file)
include_default: true                          # trial 0 = the accelerator's default design, if in the space
```
Every key is checked; an unknown or malformed one is a one-line UserError naming it.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dse.data_files import DATA_DIR
from dse.errors import UserError
from dse.search.constraints import Constraints, parse_constraints
from dse.search.objectives import parse_objectives
from dse.search.space import SearchSpace, parse_space

STUDIES_DIR = DATA_DIR / "studies"
TOP_KEYS = {"name", "description", "workloads", "workload", "accelerator", "convention", "space", "objectives",
            "constraints", "accuracy", "sampler", "seed", "trials", "timeout", "storage", "include_default"}
SAMPLERS = {"nsga2": "NSGA-II", "nsga3": "NSGA-III", "tpe": "TPE", "random": "random", "grid": "grid"}
SAMPLER_ALIASES = {"nsgaii": "nsga2", "nsga-ii": "nsga2", "nsgaiii": "nsga3", "nsga-iii": "nsga3"}
SAMPLER_OPTIONS = {"nsga2": {"population_size", "mutation_prob", "crossover_prob", "swapping_prob"},
                   "nsga3": {"population_size", "mutation_prob", "crossover_prob", "swapping_prob"},
                   "tpe": {"n_startup_trials", "n_ei_candidates", "multivariate", "constant_liar"},
                   "random": set(), "grid": set()}
SKIP_OPTIONS = ("skip_over_area", "skip_repeats")  # the runner's, for every sampler but grid (runner.py)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


@dataclass(frozen=True)
class SamplerConfig:
    name: str = "nsga2"
    options: dict[str, Any] = field(default_factory=dict)  # the Optuna sampler's keyword arguments
    skip_over_area: bool = False  # proposals whose chip is over the area limit: drawn again, not evaluated
    skip_repeats: bool = False  # proposals already in the study: drawn again, not evaluated

    def to_dict(self) -> dict[str, Any]:
        skips = {key: True for key in SKIP_OPTIONS if getattr(self, key)}
        return {"name": self.name, **self.options, **skips}


@dataclass(frozen=True)
class AccuracyConfig:
    provider: str = "calibrated"
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"provider": self.provider, **self.options}


@dataclass(frozen=True)
class StudySpec:
    name: str
    workloads: tuple[Any, ...]  # names or custom dicts, as written
    accelerator: str
    convention: str
    space: SearchSpace
    objectives: tuple[str, ...]
    constraints: Constraints
    accuracy: AccuracyConfig
    sampler: SamplerConfig
    seed: int | None
    trials: int
    timeout: float | None
    storage: str | None
    include_default: bool
    description: str = ""
    source: str = ""  # file it came from

    def identity(self) -> dict[str, Any]:
        """What defines the study's trials: a stored study must match it to be resumed or joined."""
        return {
            "workloads": list(self.workloads),
            "accelerator": self.accelerator,
            "convention": self.convention,
            "space": self.space.to_dict(),
            "objectives": list(self.objectives),
            "constraints": self.constraints.to_dict(),
            "accuracy": self.accuracy.to_dict(),
        }

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.identity(), sort_keys=True, default=str).encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """The study file, normalised (stored in the study so status/plot/export need no file)."""
        return {
            "name": self.name, "description": self.description, **self.identity(),
            "sampler": self.sampler.to_dict(), "seed": self.seed, "trials": self.trials, "timeout": self.timeout,
            "storage": self.storage, "include_default": self.include_default,
        }


def _unknown(raw: dict, allowed: set[str], where: str) -> None:
    for key in raw:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise UserError(f"{where}: unknown key '{key}'{hint}; allowed: {', '.join(sorted(allowed))}")


def _int(raw: Any, where: str, low: int = 0) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < low:
        raise UserError(f"{where}: an integer >= {low}, got {raw!r}")
    return raw


def parse_sampler(raw: Any, where: str = "sampler") -> SamplerConfig:
    if raw is None:
        return SamplerConfig()
    if isinstance(raw, str):
        raw = {"name": raw}
    if not isinstance(raw, dict) or "name" not in raw:
        raise UserError(f"{where}: a sampler name ({', '.join(SAMPLERS)}) or {{name: ..., options}}")
    name = SAMPLER_ALIASES.get(str(raw["name"]).lower(), str(raw["name"]).lower())
    if name not in SAMPLERS:
        raise UserError(f"{where}.name: unknown sampler '{raw['name']}'; use one of {', '.join(SAMPLERS)}")
    options = {k: v for k, v in raw.items() if k != "name"}
    _unknown(options, SAMPLER_OPTIONS[name] | (set(SKIP_OPTIONS) if name != "grid" else set()), f"{where} ({name})")
    skips = {key: options.pop(key) for key in SKIP_OPTIONS if key in options}
    for key, value in skips.items():
        if not isinstance(value, bool):
            raise UserError(f"{where}.{key}: true or false, got {value!r}")
    for key, value in options.items():
        w = f"{where}.{key}"
        if key == "population_size":
            _int(value, w, 2)
        elif key == "n_startup_trials":
            _int(value, w, 0)
        elif key == "n_ei_candidates":
            _int(value, w, 1)
        elif key in ("multivariate", "constant_liar"):
            if not isinstance(value, bool):
                raise UserError(f"{w}: true or false, got {value!r}")
        elif key in ("mutation_prob", "crossover_prob", "swapping_prob"):
            if value is None and key == "mutation_prob":
                continue  # Optuna's default, 1 / number of params
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise UserError(f"{w}: a probability in [0, 1], got {value!r}")
    return SamplerConfig(name, options, **skips)


def parse_accuracy(raw: Any, where: str = "accuracy") -> AccuracyConfig:
    from dse.accuracy import PROVIDERS, check_options

    if raw is None:
        return AccuracyConfig()
    if isinstance(raw, str):
        raw = {"provider": raw}
    if not isinstance(raw, dict):
        raise UserError(f"{where}: a provider name ({', '.join(PROVIDERS)}) or {{provider: ..., options}}")
    provider = str(raw.get("provider", "calibrated"))
    if provider not in PROVIDERS:
        raise UserError(f"{where}.provider: unknown provider '{provider}'; use one of {', '.join(PROVIDERS)}")
    options = {k: v for k, v in raw.items() if k != "provider"}
    check_options(provider, options, where)
    return AccuracyConfig(provider, options)


def parse_workloads(raw: dict, where: str) -> tuple[Any, ...]:
    from dse.workloads import resolve_workload

    if "workload" in raw and "workloads" in raw:
        raise UserError(f"{where}: give 'workloads' (a list) or 'workload', not both")
    items = raw.get("workloads", raw.get("workload"))
    if items is None:
        raise UserError(f"{where}: 'workloads' is required, e.g. workloads: [llava_vid/videomme]")
    if not isinstance(items, list):
        items = [items]
    if not items:
        raise UserError(f"{where}.workloads: at least one workload")
    out = []
    for i, item in enumerate(items):
        w = f"{where}.workloads[{i}]"
        if isinstance(item, str):
            resolve_workload(item)
        elif isinstance(item, dict):
            _unknown(item, {"model", "frames", "patches", "tokens"}, w)
            if not isinstance(item.get("model"), str):
                raise UserError(f"{w}.model: a model name, e.g. qwen2-7b, got {item.get('model')!r}")
            for key in ("frames", "patches", "tokens"):
                if key in item and item[key] is not None:
                    _int(item[key], f"{w}.{key}", 1)
            resolve_workload(None, item.get("model"), item.get("frames"), item.get("patches"), item.get("tokens"))
        else:
            raise UserError(f"{w}: a workload name or {{model, frames, patches}} / {{model, tokens}}")
        out.append(item)
    names = [resolve_workload_item(x).name for x in out]
    if len(set(names)) != len(names):
        raise UserError(f"{where}.workloads: listed twice: {sorted({n for n in names if names.count(n) > 1})}")
    return tuple(out)


def check_space_fits(space: SearchSpace, workloads: tuple[Any, ...], accelerator: str, where: str) -> None:
    """Every block and the longest vector the space can choose fit every workload: refused before the
    first trial, not halfway through the study (dse/fits.py)."""
    from dse.cost.accelerator import load_spec
    from dse.design import DesignPoint
    from dse.fits import check_fits
    from dse.profile import parse_block

    if load_spec(accelerator)["model"] != "focus":
        return

    def values(name: str, default: Any) -> list[Any]:
        knob = space.knobs.get(name)
        if knob is None:
            return [default]
        if knob.kind == "fixed":
            return [knob.value]
        return list(knob.choices) if knob.kind == "cat" else [knob.high]

    blocks = [parse_block(b) for b in values("block", DesignPoint.block)]
    vector = max(values("vector_size", DesignPoint.vector_size))
    for item in workloads:
        w = resolve_workload_item(item)
        for block in blocks:
            try:
                check_fits(block, int(vector), w)
            except UserError as exc:
                raise UserError(f"{where}: {exc}") from None


def resolve_workload_item(item: Any):
    from dse.workloads import resolve_workload

    if isinstance(item, str):
        return resolve_workload(item)
    return resolve_workload(None, item.get("model"), item.get("frames"), item.get("patches"), item.get("tokens"))


def _refuse_non_finite(raw: Any, where: str, path: str = "") -> None:
    """NaN or infinity anywhere in the file (YAML's .nan, .inf) means nothing a study can use: refused
    before anything is created or stored."""
    if isinstance(raw, float) and not math.isfinite(raw):
        raise UserError(f"{where}: {path.lstrip('.')} is {raw}: give a finite number (null for no limit)")
    if isinstance(raw, dict):
        for key, value in raw.items():
            _refuse_non_finite(value, where, f"{path}.{key}")
    elif isinstance(raw, list):
        for i, value in enumerate(raw):
            _refuse_non_finite(value, where, f"{path}[{i}]")


def parse_study(raw: Any, source: str = "<study>") -> StudySpec:
    from dse.design import DesignPoint
    from dse.sim.plan import CONVENTIONS

    where = source
    if not isinstance(raw, dict):
        raise UserError(f"{where}: a study file is a mapping of keys ({', '.join(sorted(TOP_KEYS))})")
    _unknown(raw, TOP_KEYS, where)
    _refuse_non_finite(raw, where)
    name = raw.get("name")
    if name is None:
        raise UserError(f"{where}: 'name' is required: letters, digits, '_', '-', '.' (it names results/<name>/)")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise UserError(f"{where}: 'name' is {name!r}: use letters, digits, '_', '-', '.' (up to 100, no path "
                        "separators: it names results/<name>/)")
    workloads = parse_workloads(raw, where)
    accelerator = str(raw.get("accelerator", "focus"))
    try:
        buffers = DesignPoint.buffer_names(accelerator)
    except UserError as exc:
        raise UserError(f"{where}.accelerator: {exc}") from None
    convention = raw.get("convention", "faithful")
    if convention not in CONVENTIONS:
        raise UserError(f"{where}.convention: '{convention}' is not one of {', '.join(CONVENTIONS)}")
    space = parse_space(raw.get("space"), buffers, f"{where}: space")
    check_space_fits(space, workloads, accelerator, f"{where}: space")
    objectives = parse_objectives(raw.get("objectives", ["accuracy", "energy", "latency"]), f"{where}: objectives")
    constraints = parse_constraints(raw.get("constraints"), f"{where}: constraints")
    sampler = parse_sampler(raw.get("sampler"), f"{where}: sampler")
    if sampler.name == "grid":
        space.grid()  # every searched knob must have a finite grid
    if sampler.skip_over_area and constraints.area_mm2_max is None:
        raise UserError(f"{where}: sampler.skip_over_area needs an area limit (constraints: area_mm2_max)")
    seed = raw.get("seed")
    if seed is not None:
        seed = _int(seed, f"{where}: seed")
    trials = _int(raw.get("trials", 100), f"{where}: trials", 1)
    timeout = raw.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        raise UserError(f"{where}: timeout: seconds > 0 or null, got {timeout!r}")
    storage = raw.get("storage")
    if storage is not None and not isinstance(storage, str):
        raise UserError(f"{where}: storage: a SQLAlchemy URL, a path ending in .log, or null")
    include_default = raw.get("include_default", True)
    if not isinstance(include_default, bool):
        raise UserError(f"{where}: include_default: true or false")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise UserError(f"{where}: description: text")
    accuracy = parse_accuracy(raw.get("accuracy"), f"{where}: accuracy")
    return StudySpec(name=name, workloads=workloads, accelerator=accelerator, convention=convention, space=space,
                     objectives=objectives, constraints=constraints, accuracy=accuracy, sampler=sampler, seed=seed,
                     trials=trials, timeout=float(timeout) if timeout is not None else None, storage=storage,
                     include_default=include_default, description=description, source=source)


def builtin_studies() -> list[str]:
    return sorted(p.stem for p in STUDIES_DIR.glob("*.yaml"))


def read_study_file(path: Path) -> Any:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read study file {path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError(f"study file {path}: not a text file (not UTF-8)") from None
    if "\x00" in text:
        raise UserError(f"study file {path}: not a text file (binary data)")
    try:
        if path.suffix == ".toml":
            return tomllib.loads(text)
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(f"study file {path}: not valid YAML{at}: {problem}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"study file {path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise UserError(f"study file {path}: not a text file") from None


def locate(study: str) -> Path | None:
    """A study argument as a file: a path, or a built-in name; None when it is neither."""
    path = Path(study)
    if path.suffix in (".yaml", ".yml", ".toml") or path.is_file():
        if not path.is_file():
            raise UserError(f"study file not found: {study}")
        return path
    builtin = STUDIES_DIR / f"{study}.yaml"
    return builtin if builtin.is_file() else None


def load_study(study: str) -> StudySpec:
    """A study file path or a built-in study name (e.g. 'quickstart')."""
    path = locate(study)
    if path is None:
        raise UserError(f"no study '{study}': give a study file (.yaml/.toml) or a built-in name "
                        f"({', '.join(builtin_studies())})")
    return parse_study(read_study_file(path), str(path))
