"""focus-dse workloads: the published workloads and the shipped model specs, by name."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from dse.commands.common import emit
from dse.workloads.catalog import list_workloads, resolve_workload
from dse.workloads.models import list_models, load_model


def register(sub) -> None:
    p = sub.add_parser("workloads", help="list the published workloads and the model specs (--workload, --model)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def catalog() -> dict:
    """Every published workload (model, frames, patches, tokens) and every shipped model spec."""
    workloads = []
    for name in list_workloads():
        w = resolve_workload(name)
        workloads.append({"workload": name, "model": w.model, "frames": w.frames, "patches": w.patches,
                          "tokens": w.tokens})
    return {"workloads": workloads, "models": [asdict(load_model(name)) for name in list_models()]}


def _shape(part: dict) -> str:
    """A spec section's numbers as key=value, whatever keys the spec format has."""
    return " ".join(f"{k}={v}" for k, v in part.items() if v not in (None, "", 0))


def render(c: dict) -> str:
    lines = ["published workloads (--workload NAME; the Focus paper runs them on a Qwen2-7B backbone)",
             f"  {'workload':<28}{'model':<12}{'frames':>7}{'patches':>9}{'tokens':>9}"]
    lines += [f"  {w['workload']:<28}{w['model']:<12}{w['frames']:>7}{w['patches']:>9}{w['tokens']:>9,}"
              for w in c["workloads"]]
    lines += ["", "model specs (--model NAME, or --model path/to/spec.json; custom input: --frames F --patches P "
              "or --tokens T)"]
    for m in c["models"]:
        lines.append(f"  {m['name']}: {m.get('description') or ''}".rstrip(": "))
        for key, part in m.items():
            if isinstance(part, dict):
                lines.append(f"    {key:<8} {_shape(part)}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    emit(catalog(), args.json, render)
    return 0

