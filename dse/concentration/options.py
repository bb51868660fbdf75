"""`focus-dse concentrate`'s options: the parser's arguments and their checks, all made before the
ViT runs (a wrong flag costs a line, not a model load), and the grid `--curves` measures."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from dse.concentration import METHODS
from dse.errors import UserError

VIT_DIM = 384  # DINOv2 ViT-S width; its MLP hidden (1536) is a multiple, so one check covers both
VIT_LAYERS = 12
SWEEP_KNOBS = ("threshold", "vector", "block", "keep", "budget")
# knobs left unset (None) by argparse take these defaults; a knob the user sets must act on the run
DEFAULTS = {"method": "focus", "threshold": 0.9, "block": "2x2x2", "vector": 32, "keep": 0.5, "sec": "", "m_tile": 1024, "seed": 0}
# flags of the documented command line (`concentrate --threshold --block --vector [--method M]`),
# accepted with every method
CONTRACT_KNOBS = ("threshold", "block", "vector")
APPLIES = {"threshold": ("focus", "adaptiv", "cmc", "framefusion"), "block": ("focus",), "vector": ("focus",),
           "sec": ("focus",), "m_tile": ("focus",), "keep": ("framefusion", "random"), "seed": ("random",)}
TUNED = {"focus": "threshold", "adaptiv": "threshold", "cmc": "threshold", "framefusion": "threshold", "random": "keep"}
# what `--curves` measures (the files under dse/data/redundancy/): each knob over these values with
# the others at their defaults, every layer recorded
CURVE_GRID = {"threshold": (0.5, 0.57, 0.64, 0.71, 0.78, 0.85, 0.9, 0.92, 0.99, 1.0),
              "vector": (8, 16, 32, 64, 128, 384),
              "block": ("1x1x1", "1x2x2", "1x3x3", "2x1x1", "2x2x2", "2x3x3", "3x1x1", "3x2x2", "3x3x3")}


def add_concentrate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--video", default=None, help="video file (default: the shipped clip dse/data/clips/vtest_2fps.mp4)")
    parser.add_argument("--frames", type=int, default=16, help="frames sampled uniformly over the video (default 16)")
    parser.add_argument("--method", choices=METHODS, default=None, help="concentration method (default focus)")
    parser.add_argument("--threshold", type=float, default=None, help="similarity threshold in [0, 1] (focus, adaptiv, cmc, framefusion merge; default 0.9)")
    parser.add_argument("--block", default=None, help="focus SIC block TxHxW: frames x rows x cols (default 2x2x2)")
    parser.add_argument("--vector", type=int, default=None, help="focus sub-vector size, must divide 384 (default 32)")
    parser.add_argument("--keep", type=float, default=None, help="kept token fraction for random / framefusion pruning (default 0.5)")
    parser.add_argument("--sec", default=None, help="Focus SEC schedule LAYER:ALPHA,... ranked by CLS attention, e.g. 3:0.5,6:0.3 (default none)")
    parser.add_argument("--m-tile", type=int, default=None, help="focus GEMM M tile in tokens; tokens in different tiles never match (0: untiled; default 1024)")
    parser.add_argument("--layers", default="all", help="ViT layers to concentrate and record: all, 0-5 or 0,3,6 (default all)")
    parser.add_argument("--budget", type=float, default=None, help="tune the method's knob until this fraction of rows is computed (e.g. 0.5)")
    parser.add_argument("--compare", action="store_true", help="run every method at --budget (default 0.5) and write a comparison CSV")
    parser.add_argument("--sweep", default=None, metavar="KNOB=LO:HI:N",
                        help="sweep threshold|vector|block|keep|budget, e.g. threshold=0.5:0.99:8, vector=8,16,32,64, block=1x2x2,2x2x2")
    parser.add_argument("--curves", default=None, metavar="NAME",
                        help="measure the redundancy curves of this clip (threshold, vector and block, per layer) "
                             "into RESULTS/redundancy/NAME.csv and NAME.source.csv, the format of dse/data/redundancy/")
    parser.add_argument("--seed", type=int, default=None, help="seed of the random method (default 0)")
    parser.add_argument("-o", "--output", default=None, help="profile JSON to write (default RESULTS/concentrate-METHOD.json)")
    parser.add_argument("--results-dir", default="results", help="folder for sweeps, comparisons and default outputs (default results/)")


def parse_layers(text: str, count: int) -> list[int]:
    if text == "all":
        return list(range(count))
    layers: set[int] = set()
    try:
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            first, last = int(lo), int(hi or lo)
            if last < first:
                raise UserError(f"--layers '{text}': the range {part} is reversed: write {last}-{first}")
            layers.update(range(first, last + 1))
    except ValueError:
        raise UserError(f"--layers '{text}' is not 'all', a range like 0-5 or a list like 0,3,6") from None
    if not layers or min(layers) < 0 or max(layers) >= count:
        raise UserError(f"--layers '{text}' is outside the ViT's layers 0-{count - 1}")
    return sorted(layers)


def parse_sec(text: str) -> dict[int, float]:
    sec: dict[int, float] = {}
    for part in filter(None, text.split(",")):
        layer_text, _, alpha_text = part.partition(":")
        try:
            layer, alpha = int(layer_text), float(alpha_text)
        except ValueError:
            raise UserError(f"--sec '{text}' is not LAYER:ALPHA,...: use e.g. 3:0.5,6:0.3") from None
        if layer in sec:
            raise UserError(f"--sec '{text}' schedules layer {layer} twice: give each layer one alpha")
        sec[layer] = alpha
        if not 0 < alpha <= 1 or layer < 1:
            raise UserError(f"--sec '{part}': SEC needs a layer >= 1 (it ranks by the previous layer's attention) and alpha in (0, 1]")
    return sec


def parse_sweep(text: str) -> tuple[str, list]:
    from dse.profile import parse_block

    knob, _, values = text.partition("=")
    if knob not in SWEEP_KNOBS or not values:
        raise UserError(f"--sweep '{text}': give KNOB=LO:HI:N or KNOB=V1,V2,... with KNOB one of {', '.join(SWEEP_KNOBS)}")
    try:
        if knob == "block":
            return knob, [parse_block(v, "--sweep block") for v in values.split(",")]
        if ":" in values:
            lo, hi, n = values.split(":")
            count = int(n)
            if count < 1:
                raise ValueError
            points = [round(float(lo) + (float(hi) - float(lo)) * i / max(count - 1, 1), 6) for i in range(count)]
        else:
            points = [float(v) for v in values.split(",")]
    except ValueError:
        raise UserError(f"--sweep '{text}': values must be LO:HI:N (N >= 1) or a comma list of numbers") from None
    if knob == "vector":
        return knob, sorted({int(round(p)) for p in points})
    return knob, points


def check_arguments(args: argparse.Namespace) -> tuple[set[str], tuple[str, list] | None]:
    """Validate every option before the model loads and fill in the defaults. Returns the knobs
    the user set and the parsed sweep. A knob that would not act on the run is an error."""
    from dse.concentration.algorithms import check_threshold, check_vector_size
    from dse.concentration.methods import FrameFusionPolicy
    from dse.profile import parse_block

    given = {k for k in DEFAULTS if getattr(args, k) not in (None, "")}
    for k in DEFAULTS.keys() - given:
        setattr(args, k, DEFAULTS[k])
    check_threshold(args.threshold)
    check_vector_size(VIT_DIM, args.vector)
    block = parse_block(args.block, "--block")
    if args.frames < 1:
        raise UserError(f"--frames must be a positive integer, got {args.frames}")
    if args.frames < block[0]:
        raise UserError(f"--frames {args.frames} is fewer than the block's {block[0]} frames: use --frames >= {block[0]} or a smaller block")
    for name in ("keep", "budget"):
        value = getattr(args, name)
        if value is not None and not 0 < value <= 1:
            raise UserError(f"--{name} must be in (0, 1], got {value}")
    if args.m_tile < 0:
        raise UserError(f"--m-tile must be >= 0 (0: untiled), got {args.m_tile}")
    layers = parse_layers(args.layers, VIT_LAYERS)
    sec = parse_sec(args.sec)
    if any(layer >= VIT_LAYERS for layer in sec):
        raise UserError(f"--sec '{args.sec}': the ViT has layers 0-{VIT_LAYERS - 1}")
    sweep = parse_sweep(args.sweep) if args.sweep else None
    for value in sweep[1] if sweep else ():  # fail before the model loads, not halfway through the sweep
        _check_sweep_value(sweep[0], value, args.frames)

    swept = sweep[0] if sweep else None
    if args.curves is not None:
        _check_curves(args, given, sweep)
    if args.compare:
        for flag, used in (("--method", "method" in given), ("--sweep", sweep), ("-o", args.output)):
            if used:
                raise UserError(f"--compare runs every method into a CSV under --results-dir: drop {flag}")
    if sweep and args.output:
        raise UserError("--sweep writes a CSV and a plot under --results-dir, not a profile: drop -o")
    if swept == "budget" and args.budget is not None:
        raise UserError("--sweep budget=... sets the budget of every run: drop --budget")
    if swept in given:
        raise UserError(f"--sweep {swept}=... sets --{swept} for every run: drop --{swept}")
    methods = METHODS if args.compare else (args.method,)
    budgeted = args.budget is not None or args.compare or swept == "budget"
    for knob in sorted((given - {"method"}) | ({swept} & APPLIES.keys())):
        flag = f"--sweep {knob}" if knob == swept else "--" + knob.replace("_", "-")
        users = [m for m in methods if m in APPLIES[knob]]
        if not users and knob in CONTRACT_KNOBS and knob != swept:
            # the documented command line passes these to every method: say so, don't fail
            print(f"focus-dse: note: {flag} does not apply to --method {args.method}; ignored", file=sys.stderr)
            continue
        if not users:
            raise UserError(f"{flag} does not apply to --method {args.method} (only to {', '.join(APPLIES[knob])}): drop it or change --method")
        if budgeted and all(TUNED[m] == knob for m in users):
            raise UserError(f"{flag} has no effect: the budget tunes the {knob} of {', '.join(users)}: drop {flag} or the budget")
    outside = sorted(set(sec) - set(layers))
    if outside:
        raise UserError(f"--sec layer(s) {', '.join(map(str, outside))} outside --layers {args.layers}: "
                        "add them to --layers or drop them from --sec")
    prune = FrameFusionPolicy.prune_layer
    if "framefusion" in methods and prune not in layers:
        raise UserError(f"framefusion prunes at layer {prune}, outside --layers {args.layers}: include layer {prune} in --layers")
    return given, sweep


def _check_curves(args: argparse.Namespace, given: set[str], sweep) -> None:
    """--curves sweeps threshold, vector and block itself, with Focus and nothing else set."""
    from dse.profile import parse_block

    from dse.redundancy_curves import check_clip_name

    check_clip_name(args.curves, "--curves")
    flags = (("--sweep", sweep), ("--compare", args.compare), ("-o", args.output), ("--budget", args.budget is not None))
    clash = [flag for flag, used in flags if used]
    clash += ["--" + k for k in sorted(given & {"method", "threshold", "vector", "block", "sec"})]
    if clash:
        raise UserError(f"--curves measures Focus over its own grid of threshold, vector and block: "
                        f"drop {', '.join(clash)}")
    for knob, values in CURVE_GRID.items():
        for value in values:
            _check_sweep_value(knob, parse_block(value) if knob == "block" else value, args.frames)


def writable(path: Path, flag: str) -> Path:
    """`path` can be written (checked before the model runs): not a directory, in a folder that exists or can be made."""
    if path.is_dir():
        raise UserError(f"{flag}: {path} is a directory: give a file path, e.g. {path / 'profile.json'}")
    folder = next(p for p in path.parents if p.exists())
    if not folder.is_dir():
        raise UserError(f"{flag}: {folder} is a file, not a folder: choose another location")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as exc:
        raise UserError(f"{flag}: cannot write in {path.parent} ({exc.strerror or exc}): choose a writable location") from None
    if path.exists() and not os.access(path, os.W_OK):
        raise UserError(f"{flag}: {path} is read-only: choose another file or make it writable")
    return path


def _check_sweep_value(knob: str, value, frames: int) -> None:
    from dse.concentration.algorithms import check_threshold, check_vector_size

    if knob == "threshold":
        check_threshold(value)
    elif knob == "vector":
        check_vector_size(VIT_DIM, value)
    elif knob == "block" and frames < value[0]:
        raise UserError(f"--sweep block {value}: --frames {frames} is fewer than the block's {value[0]} frames")
    elif knob in ("keep", "budget") and not 0 < value <= 1:
        raise UserError(f"--sweep {knob}={value}: must be in (0, 1]")
