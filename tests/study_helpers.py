"""Shared helpers of the study tests: the `focus-dse study` CLI entry and small study files."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml


def study_main(argv: list[str]) -> int:
    """`focus-dse study ARGV` in-process."""
    from dse.cli import main

    return main(["study", *argv])


def study_command() -> list[str]:
    """argv prefix that runs `focus-dse study` in a subprocess."""
    return [sys.executable, "-m", "dse", "study"]


SMALL_SPACE = {
    "rows": {"low": 8, "high": 128, "step": 8},
    "cols": {"low": 8, "high": 128, "step": 8},
    "dataflow": ["ws", "os"],
    "m_tile": [512, 1024, 2048],
    "threshold": {"low": 0.8, "high": 0.99},
    "sec_scale": {"low": 0.5, "high": 2.0, "log": True},
    "dram_bandwidth_gbps": 64,
}


def write_study(folder: Path, name: str = "small", **overrides) -> Path:
    raw = {
        "name": name,
        "workloads": ["llava_vid/mvbench"],
        "accelerator": "focus",
        "space": SMALL_SPACE,
        "objectives": ["accuracy", "energy", "latency"],
        "constraints": {"area_mm2_max": 5.0, "buffers_fit": True},
        "sampler": {"name": "nsga2", "population_size": 10},
        "seed": 1,
        "trials": 30,
    }
    raw.update(overrides)
    path = Path(folder) / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path
