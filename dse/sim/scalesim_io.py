"""Files in SCALE-Sim's own formats: .cfg, GEMM topology CSV, layout CSV.

SCALE-Sim 3.0.0 quirks handled here: every CSV row needs a trailing comma (its reader drops
the last field); a layout file is mandatory even when no custom layout is used; GEMM
topology rows are "name, M, N, K, sparsity" with A = M x K (ifmap) and B = K x N (filter).
Columns after the sparsity ratio are ignored by scalesim, so the repeat count travels in
the same file.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from dse.errors import UserError
from dse.sim.hardware import ArrayConfig

TOPOLOGY_HEADER = ["Layer", "M", "N", "K", "Sparsity", "Repeat"]
LAYOUT_HEADER = [
    "Layer name", "IFMAP Height Intraline Factor", "IFMAP Width Intraline Factor",
    "Filter Height Intraline Factor", "Filter Width Intraline Factor", "Channel Intraline Factor",
    "Num Filter Intraline Factor", "IFMAP Height Intraline Order", "IFMAP Width Intraline Order",
    "Channel Intraline Order", "IFMAP Height Interline Order", "IFMAP Width Interline Order",
    "Channel Interline Order", "Num Filter Intraline Order", "Channel Intraline Order",
    "Filter Height Intraline Order", "Filter Width Intraline Order", "Num Filter Interline Order",
    "Channel Interline Order", "Filter Height Interline Order", "Filter Width Interline Order",
]


@dataclass(frozen=True)
class TopologyRow:
    layer: str
    M: int
    N: int
    K: int
    repeat: float = 1


def write_topology(path: str | Path, rows: list[TopologyRow]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [", ".join(TOPOLOGY_HEADER) + ","]
    for r in rows:
        repeat = int(r.repeat) if float(r.repeat).is_integer() else r.repeat
        lines.append(f"{r.layer}, {r.M}, {r.N}, {r.K}, 1:1, {repeat},")
    path.write_text("\n".join(lines) + "\n")
    return path


def read_topology(path: str | Path) -> list[TopologyRow]:
    """Our topology CSVs (and plain scalesim GEMM ones, repeat 1)."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except OSError as exc:
        raise UserError(f"cannot read topology {path}: {exc.strerror}") from None
    out = []
    for i, row in enumerate(rows[1:], start=2):
        fields = [x.strip() for x in row if x.strip()]
        if not fields:
            continue
        try:
            M, N, K = (int(x) for x in fields[1:4])
            repeat = float(fields[5]) if len(fields) > 5 else 1.0
        except (ValueError, IndexError):
            raise UserError(f"{path}:{i}: expected 'name, M, N, K, [sparsity, repeat],' got {','.join(row)!r}") from None
        if min(M, N, K) <= 0:
            raise UserError(f"{path}:{i}: M, N and K must be positive")
        out.append(TopologyRow(fields[0], M, N, K, repeat))
    if not out:
        raise UserError(f"{path}: no GEMM rows; a SCALE-Sim GEMM topology has a header and rows 'name, M, N, K,'")
    return out


def write_layout(path: str | Path, layer_names: list[str]) -> Path:
    """A default (non-custom) layout row per layer: scalesim insists on the file."""
    path = Path(path)
    lines = [",".join(LAYOUT_HEADER) + ","]
    for name in layer_names:
        lines.append(",".join([name] + ["1"] * 6 + ["0"] * 14) + ",")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_config(
    path: str | Path,
    array: ArrayConfig,
    run_name: str = "focus_dse",
    bandwidth_words: int | None = None,
) -> Path:
    """A scalesim .cfg. bandwidth_words=None: CALC mode (no stalls); else USER mode at that
    DRAM bandwidth in words/cycle for every operand. No [network_presets] section: scalesim
    3.0.0 then looks up TopologyCsvLoc in the wrong section and crashes; pass the topology
    with -t instead."""
    bw = bandwidth_words or 10
    text = f"""[general]
run_name = {run_name}

[architecture_presets]
ArrayHeight:    {array.rows}
ArrayWidth:     {array.cols}
IfmapSramSzkB:  {array.ifmap_sram_kb}
FilterSramSzkB: {array.filter_sram_kb}
OfmapSramSzkB:  {array.ofmap_sram_kb}
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : {bw}
Dataflow : {array.dataflow}
MemoryBanks:   1
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: {bw}
IfmapSRAMBankNum: 1
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: {bw}
FilterSRAMBankNum: 1
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: {"USER" if bandwidth_words else "CALC"}
UseRamulatorTrace: False
"""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
