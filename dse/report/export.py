"""Export the best designs: `<out>/<study>/<rank>/` per design, rank 1 = best.

Each folder holds
- scalesim.cfg: the array (rows, cols, dataflow) and SRAM sizes (ifmap = the `input` buffer,
  filter = `wgt`, ofmap = `output`, in kB, rounded up) in SCALE-Sim's own format;
- topology.csv (one per workload when the study has several: topology__<model>__<dataset>.csv)
  and layout.csv: the GEMMs this design really runs (per layer and M tile, M = the unique rows
  its concentration leaves), so `scalesim -c scalesim.cfg -t topology.csv -l layout.csv -i gemm`
  simulates them (cycles of the array only: the concentration unit is not in SCALE-Sim);
- design.json: {"design": DesignPoint dict, "workload": ..., metrics, objectives, provenance};
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


def export_design(trial, spec: StudySpec, folder: Path, rank_no: int) -> dict:
    from dse.evaluate import DesignPoint, evaluate, profile_for
    from dse.scalesim_io import write_config, write_layout, write_topology
    from dse.sim.hardware import ArrayConfig
    from dse.topology import tiled_topology

    ua = trial.user_attrs
    design = DesignPoint.from_dict(ua["design"], f"trial {trial.number} design")
    workloads = [resolve_workload_item(w) for w in spec.workloads]
    folder.mkdir(parents=True, exist_ok=True)
    ev = evaluate(design, workloads[0])
    sizes = ev.breakdown["buffers_kb"]
    sram = {key: max(1, math.ceil(sizes.get(buf, 0) or 0)) for key, buf in SRAM_FOR.items()}
    array = ArrayConfig(design.rows, design.cols, design.dataflow, **sram)
    write_config(folder / "scalesim.cfg", array, run_name=f"{spec.name}_rank{rank_no}")
    topologies = {}
    layer_names: list[str] = []
    for w in workloads:
        rows = tiled_topology(w, profile_for(design, w, "published"), design.m_tile, design.convention)
        name = "topology.csv" if len(workloads) == 1 else f"topology__{_file_tag(w.name)}.csv"
        write_topology(folder / name, rows)
        topologies[w.name] = name
        layer_names.extend(r.layer for r in rows)
    write_layout(folder / "layout.csv", list(dict.fromkeys(layer_names)))
    record = {
        "design": design.to_dict(),
        "workload": workloads[0].name,
        "workloads": [w.name for w in workloads],
        "study": spec.name,
        "trial": trial.number,
        "rank": rank_no,
        "objectives": {o: trial.values[i] for i, o in enumerate(spec.objectives)},
        "metrics": ua.get("metrics", {}),
        "per_workload": ua.get("per_workload", {}),
        "accuracy_provider": ua.get("accuracy_provider", ""),
        "profile": ev.profile_source,
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
                      "area_mm2": rec["metrics"].get("area_mm2"), "accuracy_provider": rec["accuracy_provider"]})
    pd.DataFrame(index).to_csv(base / "index.csv", index=False)
    return folders
