"""The Focus paper simulator's buffers priced by CACTI, by its own rule: each buffer is one CACTI
SRAM (dse/data/cacti_buffers.json: size, block = access width, read ports, copies, at 28 nm); its
energy per byte is CACTI's energy per access / block bytes, its leakage and area CACTI's x copies.
The simulator then charges bytes read and written x energy per byte, plus leakage x run time."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from dse.cost.accelerator import PAPER_KNOBS, size_expression
from dse.cost.cacti import SramCost, SramSpec, cacti_srams
from dse.data_files import DATA_DIR
from dse.errors import UserError


@dataclass(frozen=True)
class PaperBuffer:
    name: str
    spec: SramSpec  # one copy
    copies: int


@dataclass(frozen=True)
class BufferCost:
    buffer: PaperBuffer
    sram: SramCost  # one copy

    @property
    def read_pj_per_byte(self) -> float:
        return self.sram.read_pj_per_byte

    @property
    def write_pj_per_byte(self) -> float:
        return self.sram.write_pj_per_byte

    @property
    def leakage_mw(self) -> float:
        return self.sram.leakage_mw * self.buffer.copies

    @property
    def area_mm2(self) -> float:
        return self.sram.area_mm2 * self.buffer.copies


@cache
def _table() -> dict:
    return json.loads((DATA_DIR / "cacti_buffers.json").read_text())


def paper_buffers(accelerator: str, knobs: Mapping[str, int] = PAPER_KNOBS) -> list[PaperBuffer]:
    """The SRAMs the Focus simulator gives CACTI for this accelerator (focus, dense, adaptiv, cmc) at
    these knobs (rows, cols, m_tile, n_tile, n_scatter)."""
    table = _table()
    if accelerator not in table["accelerators"]:
        raise UserError(f"no CACTI buffer table for accelerator '{accelerator}'; "
                        f"known: {', '.join(table['accelerators'])}")
    out = []
    for b in table["accelerators"][accelerator]:
        where = f"{accelerator} buffer {b['name']}"
        readers = size_expression(b["readers"], dict(knobs), where)
        spec = SramSpec(size_bytes=size_expression(b["bytes"], dict(knobs), where),
                        block_bytes=size_expression(b["block_bytes"], dict(knobs), where),
                        read_ports=readers - 1, technology_um=table["technology_um"])
        out.append(PaperBuffer(b["name"], spec, b["copies"]))
    return out


def paper_buffer_costs(accelerator: str, knobs: Mapping[str, int] = PAPER_KNOBS) -> list[BufferCost]:
    buffers = paper_buffers(accelerator, knobs)
    return [BufferCost(b, cost) for b, cost in zip(buffers, cacti_srams(b.spec for b in buffers))]
