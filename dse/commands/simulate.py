"""focus-dse simulate: a whole model on an accelerator, under a counting convention."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import TYPE_CHECKING

from dse.choices import CONVENTIONS, LEVELS, SRAM_MODELS
from dse.commands.common import add_backend_arg, add_workload_args, array_from_args, emit, workload_from_args
from dse.cost.precision import PRECISIONS
from dse.errors import UserError
from dse.jsonfile import read_json
from dse.sim.hardware import BUFFERINGS

if TYPE_CHECKING:
    from dse.design import DesignPoint
    from dse.workloads import Workload


def register(sub) -> None:
    p = sub.add_parser("simulate", help="cycles, energy and area of a whole VLM workload on an accelerator")
    add_workload_args(p)
    p.add_argument("--topology", help="simulate a SCALE-Sim GEMM topology CSV (rows x repeat) instead of a workload")
    p.add_argument("--design", help="a design-point JSON (as `study export` writes); flags given explicitly override it")
    p.add_argument("--accelerator", help="dense, focus, adaptiv, cmc, or a JSON spec path (default dense)")
    p.add_argument("--convention", choices=CONVENTIONS,
                   help="focus-paper: count as the Focus paper's simulator; faithful (default): our exact model")
    p.add_argument("--profile", default=None,
                   help="'published' (default for focus) or a SparsityProfile JSON (e.g. from focus-dse concentrate)")
    g = p.add_argument_group("design knobs (default: the Focus paper's design)")
    g.add_argument("--rows", type=int)
    g.add_argument("--cols", type=int)
    g.add_argument("--dataflow", type=str.lower)
    g.add_argument("--frequency-mhz", type=float)
    g.add_argument("--m-tile", type=int, help="tokens per on-chip M tile (default 1024)")
    g.add_argument("--n-tile", type=int, help="output columns per N tile (default 96)")
    g.add_argument("--vector-size", type=int, help="sub-vector size for similarity (default 32)")
    g.add_argument("--block", help="similarity block TxHxW (default 2x2x2)")
    g.add_argument("--threshold", type=float, help="similarity threshold (default: the workload's published one)")
    g.add_argument("--sec-scale", type=float, help="multiply every SEC alpha (<1 prunes harder; default 1)")
    g.add_argument("--n-scatter", type=int, help="scatter accumulators (default 2)")
    g.add_argument("--redundancy-clips",
                   help="whose redundancy curves scale threshold and block (and the encoder's vector size): 'all' "
                        "(default, their mean) or clip names joined by commas, from dse/data/redundancy/")
    g.add_argument("--concentration", choices=LEVELS,
                   help="Focus levels that run: sec+sic (default), sec, sic, none; see README (ablation)")
    g.add_argument("--dram-bandwidth-gbps", type=float, help="DRAM bandwidth limit (default: unlimited)")
    g.add_argument("--buffer-kb", action="append", default=[], metavar="NAME=KB",
                   help="resize one buffer, e.g. --buffer-kb output=256 (repeatable)")
    g.add_argument("--precision", choices=PRECISIONS,
                   help="weights and activations: fp16 (default, the Focus RTL), bf16, fp8, int8 (README 'Precision')")
    g.add_argument("--cores", type=int,
                   help="arrays of rows x cols, each with its own Focus unit and buffers, sharing DRAM (default 1)")
    g.add_argument("--sram-model", choices=SRAM_MODELS,
                   help="what prices the buffers: compiler (the paper's memory-compiler macros) or cacti (CACTI 7, "
                        "28 nm); default: the convention's rule (README 'SRAM')")
    g.add_argument("--weight-buffering", choices=BUFFERINGS,
                   help="single (default): SCALE-Sim's serial fold; double: a second register per PE loads the next "
                        "fold's stationary operand while the current fold streams (README 'Weight buffering')")
    q = p.add_argument_group("the whole query (README 'The whole query'; default: the prefill alone, as the paper)")
    q.add_argument("--phases", help="comma-separated, of encoder,prefill,decode (default prefill)")
    q.add_argument("--prompt-tokens", type=int, help="P text prompt tokens after the visual ones (default 0)")
    q.add_argument("--output-tokens", type=int, help="G output tokens the decode phase generates")
    q.add_argument("--batch", type=int, help="sequences decoded together: decode GEMMs have M = batch (default 1)")
    q.add_argument("--encoder-threshold", type=float,
                   help="Focus similarity inside the vision encoder at this threshold (a prediction; default off)")
    add_backend_arg(p)
    p.add_argument("--per-layer", action="store_true", help="add a per-layer, per-GEMM breakdown")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    t = p.add_argument_group("many designs in one call (README 'Commands')")
    t.add_argument("--designs", metavar="FILE",
                   help="a table of designs (.csv, or .parquet): one row per design, a column per knob it sets, "
                        "named as the knobs (buffer sizes as buffer_kb.<buffer>); the flags above are every row's "
                        "defaults, a cell overrides them")
    t.add_argument("-o", "--output", metavar="FILE",
                   help="with --designs: the results (.csv, or .parquet): the input columns, then every scalar "
                        "--json prints, each phase's as phases.<phase>.<key>, and an error column")
    p.set_defaults(func=run)


FLAG_TO_FIELD = {"accelerator": "accelerator", "convention": "convention", "rows": "rows", "cols": "cols",
                 "dataflow": "dataflow", "frequency_mhz": "frequency_mhz", "m_tile": "m_tile", "n_tile": "n_tile",
                 "vector_size": "vector_size", "block": "block", "threshold": "threshold", "sec_scale": "sec_scale",
                 "n_scatter": "n_scatter", "concentration": "concentration", "redundancy_clips": "redundancy_clips",
                 "dram_bandwidth_gbps": "dram_bandwidth_gbps",
                 "phases": "phases", "prompt_tokens": "prompt_tokens", "output_tokens": "output_tokens",
                 "batch": "batch", "encoder_threshold": "encoder_threshold",
                 "precision": "precision", "cores": "cores", "sram_model": "sram_model",
                 "weight_buffering": "weight_buffering"}


FOCUS_KNOBS = ("threshold", "block", "vector_size", "sec_scale", "n_scatter", "redundancy_clips")


def load_design_file(path: str) -> tuple[dict, str | dict | None]:
    """A design-point file: {"design": {...}, "workload": W} or the bare design dict. W is a
    published workload's name or {"model": ..., "frames": ..., "patches": ...} / {"model", "tokens"}."""
    raw = read_json(path, "design")
    if not isinstance(raw, dict):
        raise UserError(f"{path}: a design file is a JSON object")
    if "design" in raw:
        return dict(raw["design"]), raw.get("workload")
    return raw, None


def design_from_args(args: argparse.Namespace) -> tuple[DesignPoint, str | dict | None]:
    from dse.design import DesignPoint

    values, workload = design_values(args)
    return DesignPoint.from_dict(values, args.design or "command line"), workload


def design_values(args: argparse.Namespace) -> tuple[dict, str | dict | None]:
    """The knobs --design and the flags set (flags win; `buffer_kb` always a dict), and the design
    file's workload."""
    values: dict = {"accelerator": "dense"}
    workload = None
    if args.design:
        values, workload = load_design_file(args.design)
    for flag, name in FLAG_TO_FIELD.items():
        if getattr(args, flag) is not None:
            values[name] = getattr(args, flag)
    buffers = values.get("buffer_kb") or {}
    if not isinstance(buffers, dict):
        raise UserError(f"{args.design}: buffer_kb must map buffer names to kB, e.g. {{\"output\": 256}}")
    buffers = dict(buffers)
    for item in args.buffer_kb:
        name, _, kb = item.partition("=")
        try:
            buffers[name] = float(kb)
        except ValueError:
            raise UserError(f"--buffer-kb wants NAME=KB, got {item!r}") from None
    values["buffer_kb"] = buffers
    return values, workload


def workload_of(args: argparse.Namespace, design_workload: str | dict | None) -> Workload:
    """The workload the flags name, else the design file's."""
    if args.workload is None and args.model is None and design_workload:
        if isinstance(design_workload, dict):
            for key in ("model", "frames", "patches", "tokens"):
                setattr(args, key, design_workload.get(key))
        else:
            args.workload = design_workload
    return workload_from_args(args)


def focus_flags(args: argparse.Namespace, knobs: dict | None = None) -> list[str]:
    """The flags given that set the Focus concentration unit (with a designs table's row: or its cells)."""
    return [f"--{f.replace('_', '-')}" for f in FOCUS_KNOBS if getattr(args, f) is not None or f in (knobs or {})]


def focus_knobs_error(given: list[str], accelerator: str) -> str:
    """Why knobs of the Focus concentration unit cannot be given for this accelerator ('' when they can)."""
    from dse.cost.accelerator import load_spec

    if not given or load_spec(accelerator)["model"] == "focus":
        return ""
    return (f"{', '.join(given)} set the Focus concentration unit, which {accelerator} does not have: drop them "
            "or use --accelerator focus")


def run(args: argparse.Namespace) -> int:
    if args.topology:
        return run_topology(args)
    if args.designs:
        return run_designs(args)
    if args.output:
        raise UserError("-o writes the results of --designs FILE; one design prints them (--json for JSON)")
    from dse.cost.accelerator import load_spec
    from dse.profile import load_profile
    from dse.query import run_query
    from dse.simulation import simulate_result

    design, design_workload = design_from_args(args)
    workload = workload_of(args, design_workload)
    refused = focus_knobs_error(focus_flags(args), design.accelerator)
    if refused:
        raise UserError(refused)
    profile = load_profile(args.profile) if args.profile not in (None, "published") else "published"
    if profile != "published":
        if load_spec(design.accelerator)["model"] != "focus":
            raise UserError(f"--profile applies to the Focus accelerator only; {design.accelerator} uses its "
                            "published sparsity")
        given = [f"--{f.replace('_', '-')}" for f in ("threshold", "block", "vector_size", "sec_scale",
                                                      "redundancy_clips") if getattr(args, f) is not None]
        if given:
            raise UserError(f"{', '.join(given)} cannot change a profile file's measured rows; re-run "
                            "`focus-dse concentrate` with those settings, or drop --profile")
    query = run_query(design, workload, profile, args.backend, per_layer=args.per_layer)
    emit(simulate_result(design, workload, query.prefill, query, args.backend, profile == "published"), args.json,
         render)
    return 0


DESIGNS_CHUNK = 2000  # designs evaluated per batch call (the progress bar's step)


def run_designs(args: argparse.Namespace) -> int:
    """Every design of a table (--designs) on the batch evaluator, one result row each (README 'Commands')."""
    from dse.design import DesignPoint
    from dse.design_table import is_parquet, read_designs, write_table
    from dse.simulation import order_columns

    refused = [flag for flag, given in (("--per-layer", args.per_layer), ("--json", args.json),
                                        ("--backend scalesim", args.backend != "analytic"),
                                        ("--profile", args.profile not in (None, "published"))) if given]
    if refused:
        raise UserError(f"{', '.join(refused)}: --designs runs the batch evaluator (published profiles, the analytic "
                        "backend) and writes a table; drop them, or simulate the designs one by one")
    if not args.output:
        raise UserError("--designs writes a table: give -o FILE.csv (or FILE.parquet)")
    defaults, design_workload = design_values(args)
    workload = workload_of(args, design_workload)
    table = read_designs(args.designs)
    points: dict[int, DesignPoint] = {}
    errors = [""] * len(table.knobs)
    for i, (knobs, where) in enumerate(zip(table.knobs, table.where)):
        values = {**defaults, **knobs, "buffer_kb": {**defaults["buffer_kb"], **knobs.get("buffer_kb", {})}}
        try:
            point = DesignPoint.from_dict(values, where)
            errors[i] = focus_knobs_error(focus_flags(args, knobs), point.accelerator)
        except UserError as exc:
            errors[i] = str(exc)
        if not errors[i]:
            points[i] = point
    results = _simulate_in_chunks(points, workload, errors)
    # a result key that is an input column (accelerator, prompt_tokens, ...) echoes the row's knob: not repeated
    keys = [k for k in order_columns(list(dict.fromkeys(k for row in results.values() for k in row)))
            if k not in table.columns]
    typed = is_parquet(args.output)  # Parquet keeps the input's values typed, CSV their text
    out = [(table.typed(i) if typed else list(cells)) + [results.get(i, {}).get(k) for k in keys] + [errors[i]]
           for i, cells in enumerate(table.cells)]
    path = write_table(args.output, [*table.columns, *keys, "error"], out)
    failed = sum(1 for e in errors if e)
    print(f"wrote {path}: {len(out)} designs on {workload.name}" + (f", {failed} refused (their error column says why)"
                                                                     if failed else ""), file=sys.stderr)
    return 0


def _simulate_in_chunks(points: dict[int, DesignPoint], workload: Workload, errors: list[str]) -> dict[int, dict]:
    """Each point's result row (dse/simulation.py simulate_rows), DESIGNS_CHUNK at a time behind a progress
    bar; a point the model refuses gets its reason in `errors` instead."""
    from dse.simulation import simulate_rows

    order = list(points)
    bar = None
    if len(order) > DESIGNS_CHUNK:
        from tqdm import tqdm

        bar = tqdm(total=len(order), desc="simulate", unit="design", disable=None)  # off when stderr is no terminal
    results: dict[int, dict] = {}
    for start in range(0, len(order), DESIGNS_CHUNK):
        chunk = order[start:start + DESIGNS_CHUNK]
        rows, errs = simulate_rows([points[i] for i in chunk], workload)
        for i, row, message in zip(chunk, rows, errs):
            if row is None:
                errors[i] = message
            else:
                results[i] = row
        if bar:
            bar.update(len(chunk))
    if bar:
        bar.close()
    return results


# what a topology file is simulated with: the array and its clock; every other flag describes a design
TOPOLOGY_FLAGS = ("topology", "rows", "cols", "dataflow", "frequency_mhz", "weight_buffering", "backend", "per_layer",
                  "json", "func", "command", "buffer_kb")


def run_topology(args: argparse.Namespace) -> int:
    """Each row's GEMM, whole, times its repeat count (no tiling, no convention); every row counts,
    whatever its name."""
    ignored = [f"--{k.replace('_', '-')}" for k, v in vars(args).items() if k not in TOPOLOGY_FLAGS and v is not None]
    if args.buffer_kb:
        ignored.append("--buffer-kb")
    if ignored:
        raise UserError(f"{', '.join(sorted(ignored))} mean nothing for --topology, which runs each row's GEMM "
                        "whole on the array: give only --rows, --cols, --dataflow, --frequency-mhz, --weight-buffering, "
                        "--backend")
    from dse.sim.backends import gemm_cycles, get_backend
    from dse.sim.scalesim_io import read_topology

    rows = read_topology(args.topology)
    args.rows, args.cols, args.dataflow = args.rows or 32, args.cols or 32, args.dataflow or "ws"
    frequency = args.frequency_mhz or 500.0
    array = replace(array_from_args(args), buffering=args.weight_buffering or "single")
    backend = get_backend(args.backend)
    cycles = [r.repeat * gemm_cycles(r.M, r.K, r.N, array, backend) for r in rows]
    total = sum(cycles)
    result = {"topology": args.topology, "backend": args.backend, "rows": array.rows, "cols": array.cols,
              "dataflow": array.dataflow, "weight_buffering": array.buffering, "frequency_mhz": frequency,
              "gemm_rows": len(rows),
              "total_cycles": round(total), "execution_time_s": total / (frequency * 1e6)}
    if args.per_layer:
        result["per_layer"] = [{"layer": r.layer, "cycles": round(c)} for r, c in zip(rows, cycles)]
    emit(result, args.json, lambda r: "\n".join(f"{k:>18}: {v}" for k, v in r.items() if k != "per_layer"))
    return 0


def render(r: dict) -> str:
    d = r["design"]
    lines = [
        f"{r['workload']} ({r['tokens']} visual tokens, {r['model']}) on {r['accelerator']} "
        f"{d['rows']}x{d['cols']} {d['dataflow'].upper()} @ {d['frequency_mhz']:g} MHz"
        + (f", {d['precision']}" if d["precision"] != "fp16" else "")
        + (f", {d['cores']} cores" if d["cores"] > 1 else "")
        + (f", {d['weight_buffering']}-buffered" if d["weight_buffering"] != "single" else ""),
        f"convention {r['convention']} ({r['convention_note']}); backend {r['backend']}; "
        f"profile {r['profile_source']}; concentration {d['concentration']}",
        f"total cycles     {r['total_cycles']:,}  (compute {round(r['compute_cycles']):,}, "
        f"stall {round(r['stall_cycles']):,})",
        f"execution time   {r['execution_time_s']:.3f} s",
        f"energy           {r['energy_j']:.3f} J",
        f"area             {r['area_mm2']:.4f} mm2, on-chip power {r['onchip_power_mw']:.1f} mW, "
        f"buffers {r['buffer_kb']:.0f} KB",
        f"DRAM             {r['dram_bytes'] / 1e9:.2f} GB ({r['dram_bandwidth_bytes_per_cycle']:.2f} B/cycle of compute)",
        f"compute kept     {100 * r['compute_fraction']:.1f} % of dense MACs",
    ]
    if "redundancy" in r:
        red = r["redundancy"]
        lines.append(f"redundancy       vector size {red['vector_size']}")
        lines.append(f"                 threshold, block {red['threshold']}")
    for name, ph in r.get("phases", {}).items():
        lines.append(f"  {name:<8} {ph['time_s']:9.4f} s  {ph['energy_j']:8.3f} J  {ph['macs'] / 1e12:8.3f} T MACs  "
                     f"{ph['dram_bytes'] / 1e9:8.2f} GB DRAM")
    if "phases" in r:
        lines.append(f"query            TTFT {r['ttft_s']:.4f} s, TPOT {r['tpot_s'] * 1e3:.2f} ms, "
                     f"{r['query_time_s']:.4f} s and {r['query_energy_j']:.3f} J for P = {r['prompt_tokens']}, "
                     f"G = {r['output_tokens']}; KV cache {r['kv_cache_bytes'] / 1e9:.3f} GB")
    for layer in r.get("per_layer", []):
        lines.append(f"  layer {layer['layer']:>2}  {layer['tokens']:>6} tokens  {layer['cycles']:>16,} cycles")
    return "\n".join(lines)
