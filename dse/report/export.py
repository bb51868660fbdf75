"""Export the best designs: `<out>/<study>/<rank>/` per design, rank 1 = best.

Each folder holds
- scalesim.cfg: the array (rows, cols, dataflow) and SRAM sizes (ifmap = the `input` buffer,
  filter = `wgt`, ofmap = `output`, in kB, rounded up) in SCALE-Sim's own format; in USER
  mode at the design's DRAM bandwidth (GB/s * 1e3 / MHz / bytes per word of its precision, per
  cycle, >= 1) when it has one, CALC mode (no stalls) when unlimited. A multi-core design
  (cores > 1) gets one core's config, at its share (1 / cores) of the DRAM bandwidth, and the
  topology of the slowest core's share (scalesim has no multi-core model); design.json's
  scalesim note says so;
- topology.csv (one per workload when the study has several: topology__<model>__<dataset>.csv)
  and layout.csv: the GEMMs this design really runs (per layer and M tile, M = the unique rows
  its concentration leaves), so `scalesim -c scalesim.cfg -t topology.csv -l layout.csv -i gemm`
  simulates them (cycles of the array only: the concentration unit is not in SCALE-Sim);
- design.json: {"design": DesignPoint dict, "workload": the first workload as the study file
  names it (a published name string, or {"model", "frames", "patches"} / {"model", "tokens"}),
  "metrics" (that first workload's, total_cycles an int; "metrics_workload" names it),
  "per_workload", "study_metrics" (over all workloads), objectives, provenance (study, storage,
  trial)};
  `focus-dse simulate --design design.json --json` re-runs it to the same numbers.
Ranking (dse/report/tables.py:rank): successive Pareto fronts of the feasible trials, within a
front by distance to the ideal point in normalised objective space; a design sampled more than
once is exported once. index.csv lists the ranks.

Provenance: `<out>/<study>/source.json` names the storage and the study (its creation time and
the unique id it got when created) the designs came from. An export replaces only files of its own study and storage: when
`<out>/<study>/` holds another's (another results directory, storage, or a study re-created
under the same name), or files without a source.json, they are left alone and this export goes
to `<out>/<study>-<key>/`, key = a hash of storage and study (one warning line says so).
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from dse.errors import UserError
from dse.report.tables import rank
from dse.search.objectives import OBJECTIVES
from dse.search.study_store import META_ATTR, finished_count
from dse.search.storage import StorageRef
from dse.search.studyfile import StudySpec, resolve_workload_item

SOURCE_FILE = "source.json"

SRAM_FOR = {"ifmap_sram_kb": "input", "filter_sram_kb": "wgt", "ofmap_sram_kb": "output"}


def _file_tag(name: str) -> str:
    return name.replace("/", "__").replace(" ", "_")


def buffer_sizes_kb(design) -> dict[str, float]:
    """Each buffer's size in kB: the design's own, else what its tiles need (as the evaluation sizes them)."""
    from dse.cost.accelerator import default_buffer_bytes

    needed = default_buffer_bytes(design.accelerator, design.knobs, design.convention == "focus-paper")
    return {**{name: size / 1024 for name, size in needed.items()}, **design.buffer_kb}


def bandwidth_words(design) -> int | None:
    """One core's DRAM bandwidth (the design's / cores) in SCALE-Sim words (operands of the design's
    precision) per cycle (>= 1); None when unlimited."""
    from dse.cost.precision import get_precision

    if design.dram_bandwidth_gbps is None:
        return None
    word = get_precision(design.precision).word_bytes
    return max(1, round(design.dram_bandwidth_gbps * 1e3 / design.frequency_mhz / word / design.cores))


def _int_cycles(metrics: dict) -> dict:
    """total_cycles as the integer `focus-dse simulate` prints."""
    out = dict(metrics)
    value = out.get("total_cycles")
    if isinstance(value, (int, float)) and math.isfinite(value):
        out["total_cycles"] = round(value)
    return out


def _profile_source(design, workload) -> str:
    from dse.evaluate import visual_profile

    prof = visual_profile(design, workload, "published")
    return "none" if prof is None else prof.source


def export_design(trial, spec: StudySpec, folder: Path, rank_no: int, source: ExportSource) -> dict:
    from dse.design import DesignPoint
    from dse.evaluate import visual_profile
    from dse.sim.scalesim_io import write_config, write_layout, write_topology
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
        rows = tiled_topology(w, visual_profile(design, w, "published"), design.m_tile, design.cores, design.cols)
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
        "storage": source.storage,  # where the trial is stored (source.json beside the rank folders)
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
                     "note": "array cycles only; the concentration unit (detect/scatter/gather) is not in SCALE-Sim"
                     + (f"; ONE core of {design.cores}: the config is one core's (1/{design.cores} of the DRAM "
                        "bandwidth) and the topology the slowest core's share (its columns of each weight GEMM, "
                        "its heads of attention); SCALE-Sim has no multi-core model" if design.cores > 1 else "")
                     + ("; weight_buffering double: SCALE-Sim runs folds one after another (single buffering), "
                        "so its cycles are the single-buffered array's; focus-dse prices double in closed form "
                        "(dse/sim/buffering.py)" if design.weight_buffering == "double" else "")},
        "resimulate": "focus-dse simulate --design design.json --json",
    }
    (folder / "design.json").write_text(json.dumps(record, indent=1, default=float))
    return record


@dataclass(frozen=True)
class ExportSource:
    """The study exported designs come from, and its storage: what source.json records."""
    study: str
    storage: str  # as displayed (password masked)
    storage_id: str  # identifies the storage: a file storage's absolute path, else the masked URL
    study_created: str  # when the study was created there
    study_uid: str  # set at creation: a study re-created under the same name and storage is another

    @classmethod
    def of(cls, study, ref: StorageRef) -> ExportSource:
        meta = study.user_attrs.get(META_ATTR) or {}
        path = ref.path
        storage_id = str(path.expanduser().resolve()) if path is not None else ref.display
        return cls(study.study_name, ref.display, storage_id, str(meta.get("created", "")),
                   str(meta.get("uid") or meta.get("created", "")))  # studies made before uids: the time

    def same_as(self, recorded: dict) -> bool:
        return (recorded.get("study"), recorded.get("storage_id"), recorded.get("study_uid")) == \
            (self.study, self.storage_id, self.study_uid)

    @property
    def key(self) -> str:
        """Names this source's own export folder when <out>/<study>/ is taken."""
        return hashlib.sha256(f"{self.storage_id}\n{self.study}\n{self.study_uid}".encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Export:
    folder: Path  # <out>/<study>/ or <out>/<study>-<key>/
    designs: list[Path]  # the rank folders, best first
    records: list[dict]  # their design.json contents


def _occupant(folder: Path) -> dict | None:
    """What an export folder holds: None when absent or empty, its source.json, or {} for files of
    unknown origin (no or unreadable source.json)."""
    if not folder.exists() or (folder.is_dir() and not any(folder.iterdir())):
        return None
    try:
        recorded = json.loads((folder / SOURCE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return recorded if isinstance(recorded, dict) else {}


def export_folder(out_root: Path, source: ExportSource) -> Path:
    """<out>/<study>/ when it is free or holds this source's exports; else <out>/<study>-<key>/,
    with one warning line: files another study or storage exported are never replaced."""
    preferred = Path(out_root) / source.study
    held = _occupant(preferred)
    if held is None or source.same_as(held):
        return preferred
    own = Path(out_root) / f"{source.study}-{source.key}"
    own_held = _occupant(own)
    if own_held is not None and not source.same_as(own_held):
        raise UserError(f"{own}/ holds files that did not come from study '{source.study}' in {source.storage}: "
                        "move them or give another --out")
    what = (f"the exports of study '{held['study']}' in {held.get('storage')} (created {held.get('study_created')})"
            if held.get("study") else f"files without a {SOURCE_FILE} (an older export?)")
    print(f"note: {preferred}/ holds {what}; left as they are: these designs go to {own}/", file=sys.stderr)
    return own


def export_best(study, df: pd.DataFrame, spec: StudySpec, k: int, out_root: Path, ref: StorageRef) -> Export:
    """The k best designs of `study` (stored in `ref`) under <out_root>/: see the module doc for
    the ranking and for which folder they go to."""
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
    source = ExportSource.of(study, ref)
    base = export_folder(Path(out_root), source)
    if base.exists():  # this source's earlier export: replaced whole
        for child in base.iterdir():
            if child.is_dir() and child.name.isdigit():
                shutil.rmtree(child)
    base.mkdir(parents=True, exist_ok=True)
    (base / SOURCE_FILE).write_text(json.dumps(
        {**asdict(source), "finished_trials": finished_count(study), "designs": len(order),
         "exported": time.strftime("%Y-%m-%dT%H:%M:%S")}, indent=1) + "\n")
    folders, records, index = [], [], []
    for r, number in enumerate(order, start=1):
        folder = base / str(r)
        rec = export_design(trials[number], spec, folder, r, source)
        folders.append(folder)
        records.append(rec)
        index.append({"rank": r, "trial": number, "folder": str(r),
                      **{OBJECTIVES[o].metric: rec["objectives"][o] for o in spec.objectives},
                      "area_mm2": rec["study_metrics"].get("area_mm2"), "accuracy_provider": rec["accuracy_provider"]})
    pd.DataFrame(index).to_csv(base / "index.csv", index=False)
    return Export(base, folders, records)
