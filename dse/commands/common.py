"""Arguments several sub-commands share. A command module imports at its top only what building its
parser needs (argparse, dse.choices and light modules), the model where it is used: `focus-dse --help`
and `<command> --help` load no numpy, pandas or optuna (tests/test_cli_imports.py)."""

from __future__ import annotations

import argparse
import json
import sys

from dse.choices import BACKENDS
from dse.sim.hardware import ArrayConfig
from dse.workloads import Workload, resolve_workload


def add_workload_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("workload (a published one by name, or a model and its visual input)")
    g.add_argument("--workload", help="published workload, e.g. llava_vid/videomme (see 'focus-dse workloads')")
    g.add_argument("--model", help="model spec name (e.g. qwen2-7b) or path to a JSON spec")
    g.add_argument("--frames", type=int, help="video frames (custom workload)")
    g.add_argument("--patches", type=int, help="visual tokens per frame (custom workload)")
    g.add_argument("--tokens", type=int, help="visual tokens in all (custom workload, instead of frames x patches)")


def workload_from_args(args: argparse.Namespace) -> Workload:
    return resolve_workload(args.workload, args.model, args.frames, args.patches, args.tokens)


def add_array_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("systolic array")
    g.add_argument("--rows", type=int, default=32, help="array rows R (default 32)")
    g.add_argument("--cols", type=int, default=32, help="array columns C (default 32)")
    g.add_argument("--dataflow", default="ws", help="os, ws or is (default ws)", type=str.lower)


def array_from_args(args: argparse.Namespace, **sram_kb: int) -> ArrayConfig:
    return ArrayConfig(rows=args.rows, cols=args.cols, dataflow=args.dataflow, **sram_kb)


def add_backend_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", default="analytic", choices=BACKENDS,
                   help="analytic closed forms (default) or the real scalesim package")


def emit(result: dict, as_json: bool, render) -> None:
    """Print a result as one JSON object, or as the command's human-readable text."""
    if as_json:
        json.dump(result, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render(result) + "\n")


__all__ = ["add_array_args", "add_backend_arg", "add_workload_args", "array_from_args", "emit",
           "workload_from_args"]
