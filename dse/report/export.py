"""Export the best designs: `<out>/<study>/<rank>/` per design, rank 1 = best.

Each folder holds
- scalesim.cfg: the array (rows, cols, dataflow) and SRAM sizes (ifmap = the `input` buffer,
  filter = `wgt`, ofmap = `output`, in kB, rounded up) in SCALE-Sim's own format; in USER
  mode at the design's DRAM bandwidth (GB/s * 1e3 / MHz / 2-byte words per cycle, >= 1) when
  it has one, CALC mode (no stalls) when unlimited;
- topology.csv (one per workload when the study has several: topology__<model>__<dataset>.csv)
  and layout.csv: the GEMMs this design really runs (per layer and M tile, M = the unique rows
  its concentration leaves), so `scalesim -c scalesim.cfg -t topology.csv -l layout.csv -i gemm`
  simulates them (cycles of the array only: the concentration unit is not in SCALE-Sim);
- design.json: {"design": DesignPoint dict, "workload": the first workload as the study file
  names it (a published name string, or {"model", "frames", "patches"} / {"model", "tokens"}),
  "metrics" (that first workload's, total_cycles an int; "metrics_workload" names it),
  "per_workload", "study_metrics" (over all workloads), objectives, provenance};
  `focus-dse simulate --design design.json --json` re-runs it to the same numbers.
Ranking (dse/report/tables.py:rank): successive Pareto fronts of the feasible trials, within a
front by distance to the ideal point in normalised objective space; a design sampled more than
once is exported once. index.csv lists the ranks.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd

from dse.errors import UserError
from dse.report.tables import rank
from dse.search.objectives import OBJECTIVES
from dse.search.studyfile import StudySpec, resolve_workload_item

SRAM_FOR = {"ifmap_sram_kb": "input", "filter_sram_kb": "wgt", "ofmap_sram_kb": "output"}


def _file_tag(name: str) -> str:
    return name.replace("/", "__").replace(" ", "_")


WORD_BYTES = 2  # SCALE-Sim words are the 16-bit operands


def buffer_sizes_kb(design) -> dict[str, float]:
    """Each buffer's size in kB: the design's own, else what its tiles need (as the evaluation sizes them)."""
    from dse.cost.accelerator import default_buffer_bytes

    needed = default_buffer_bytes(design.accelerator, design.knobs, design.convention == "focus-paper")
    return {**{name: size / 1024 for name, size in needed.items()}, **design.buffer_kb}


def bandwidth_words(design) -> int | None:
    """The design's DRAM bandwidth in SCALE-Sim words per cycle (>= 1); None when unlimited."""
    if design.dram_bandwidth_gbps is None:
        return None
    return max(1, round(design.dram_bandwidth_gbps * 1e3 / design.frequency_mhz / WORD_BYTES))


def _int_cycles(metrics: dict) -> dict:
    """total_cycles as the integer `focus-dse simulate` prints."""
    out = dict(metrics)
    value = out.get("total_cycles")
    if isinstance(value, (int, float)) and math.isfinite(value):
        out["total_cycles"] = round(value)
    return out


def _profile_source(design, workload) -> str:
    from dse.evaluate import profile_for

    prof = profile_for(design, workload, "published")
    return "none" if prof is None else prof.source


def export_design(trial, spec: StudySpec, folder: Path, rank_no: int) -> dict:
    from dse.evaluate import DesignPoint, profile_for
    from dse.scalesim_io import write_config, write_layout, write_topology
    from dse.sim.hardware import ArrayConfig
    from dse.topology import tiled_topology

    ua = trial.user_attrs
    design = DesignPoint.from_dict(ua["design"], f"trial {trial.number} design")
    workloads = [resolve_workload_item(w) for w in spec.workloads]
    folder.mkdir(parents=True, exist_ok=True)
    sizes = buffer_sizes_kb(design)
    sram = {key: max(1, math.ceil(sizes.get(buf, 0) or 0)) for key, buf in SRAM_FOR.items()}
    array = ArrayConfig(design.rows, design.cols, design.dataflow, **sram)
    write_config(folder / "scalesim.cfg", array, run_name=f"{spec.name}_rank{rank_no}",
                 bandwidth_words=bandwidth_words(design))
    topologies = {}
    layer_names: list[str] = []
    for w in workloads:
        rows = tiled_topology(w, profile_for(design, w, "published"), design.m_tile)
        name = "topology.csv" if len(workloads) == 1 else f"topology__{_file_tag(w.name)}.csv"
        write_topology(folder / name, rows)
        topologies[w.name] = name
        layer_names.extend(r.layer for r in rows)
    write_layout(folder / "layout.csv", list(dict.fromkeys(layer_names)))
    study_metrics = _int_cycles(ua.get("metrics", {}))
    per_workload = {name: _int_cycles(m) for name, m in (ua.get("per_workload") or {}).items()} \
        or {workloads[0].name: study_metrics}
    first = workloads[0].name
    record = {
        "design": design.to_dict(),
        # a published name, or {"model", "frames", "patches"} / {"model", "tokens"} for a custom workload:
        # what `focus-dse simulate --design` rebuilds the workload from
        "workload": spec.workloads[0],
        "workload_name": first,
        "workloads": [w.name for w in workloads],
        "study": spec.name,
        "trial": trial.number,
        "rank": rank_no,
        "metrics_workload": first,  # the top-level "metrics" are this (the first) workload's, as simulate re-runs
        "metrics": per_workload.get(first, study_metrics),
        "per_workload": per_workload,
        "objectives": {o: trial.values[i] for i, o in enumerate(spec.objectives)},
        "study_metrics": study_metrics,  # over all the study's workloads: what the objectives are taken from
        "accuracy_provider": ua.get("accuracy_provider", ""),
        "profile": ua.get("profile_source") or _profile_source(design, workloads[0]),
        "buffers_kb": sizes,
        "scalesim": {"config": "scalesim.cfg", "topology": topologies, "layout": "layout.csv",
                     "note": "array cycles only; the concentration unit (detect/scatter/gather) is not in SCALE-Sim"},
        "resimulate": "focus-dse simulate --design design.json --json",
    }
    (folder / "design.json").write_text(json.dumps(record, indent=1, default=float))
    return record


def export_best(study, df: pd.DataFrame, spec: StudySpec, k: int, out_root: Path) -> list[Path]:
    if k < 1:
        raise UserError(f"--best must be >= 1, got {k}")
    order, seen = [], set()
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    for number in rank(df, spec):  # the same design sampled twice is exported once
        key = json.dumps(trials[number].user_attrs.get("design"), sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            order.append(number)
        if len(order) == k:
            break
    if not order:
        raise UserError(f"study '{spec.name}' has no feasible completed trial to export")
    base = Path(out_root) / spec.name
    if base.exists():
        for child in base.iterdir():
            if child.is_dir() and child.name.isdigit():
                shutil.rmtree(child)
    folders, index = [], []
    for r, number in enumerate(order, start=1):
        folder = base / str(r)
        rec = export_design(trials[number], spec, folder, r)
        folders.append(folder)
        index.append({"rank": r, "trial": number, "folder": str(r),
                      **{OBJECTIVES[o].metric: rec["objectives"][o] for o in spec.objectives},
                      "area_mm2": rec["study_metrics"].get("area_mm2"), "accuracy_provider": rec["accuracy_provider"]})
    pd.DataFrame(index).to_csv(base / "index.csv", index=False)
    return folders
