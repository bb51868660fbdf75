"""The Focus paper simulator's buffers priced by CACTI, by its own rule: each buffer is one CACTI
SRAM (the accelerator spec's "cacti" entry: block = access width, readers, copies, at 28 nm); its
energy per byte is CACTI's energy per access / block bytes, its leakage and area CACTI's x copies.
The simulator then charges bytes read and written x energy per byte, plus leakage x run time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dse.cost.accelerator import PAPER_KNOBS, cacti_access, default_buffer_bytes, load_spec
from dse.cost.cacti import SramCost, SramSpec, cacti_srams


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


def paper_buffers(accelerator: str, knobs: Mapping[str, int] = PAPER_KNOBS) -> list[PaperBuffer]:
    """The SRAMs the Focus simulator gives CACTI for this accelerator (focus, dense, adaptiv, cmc) at
    these knobs (rows, cols, m_tile, n_tile, n_scatter): the spec's buffers and their "cacti" entries."""
    spec = load_spec(accelerator)
    sizes = default_buffer_bytes(accelerator, dict(knobs))
    out = []
    for b in spec["buffers"]:
        block, readers, copies = cacti_access(b, dict(knobs))
        out.append(PaperBuffer(b["name"], SramSpec(size_bytes=sizes[b["name"]] // copies, block_bytes=block,
                                                   read_ports=readers - 1), copies))
    return out


def paper_buffer_costs(accelerator: str, knobs: Mapping[str, int] = PAPER_KNOBS) -> list[BufferCost]:
    buffers = paper_buffers(accelerator, knobs)
    return [BufferCost(b, cost) for b, cost in zip(buffers, cacti_srams(b.spec for b in buffers))]
