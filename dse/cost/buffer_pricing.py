"""How a chip's buffers are priced (`sram_model`): the memory compiler's macros, CACTI 7, or the
compiler's macros at the paper's design moved by CACTI's size curve.

  compiler  the paper's memory-compiler macros, retiled for other sizes (dse/cost/sram.py): energy
            per access constant in size; Table 3 exactly at the paper's design.
  cacti     CACTI 7 at 28 nm with the Focus simulator's configuration (dse/cost/cacti.py) for every
            buffer, as that simulator hands it to CACTI (the accelerator spec's "cacti" entry: access
            width, readers, copies; dse/data/accelerators/*.json): one SRAM as wide as the access, or,
            where CACTI cannot organise that one, parallel SRAMs of 64-byte blocks (_banked).
  default   the convention's rule.
            focus-paper follows the paper's simulator: compiler macros for Focus at its default
            M tile and accumulators (m_tile 1024, n_scatter 2) and for every other accelerator,
            CACTI for Focus elsewhere; so its sensitivity sweeps reproduce (its m_tile and n_scatter
            sweeps price the default design by CACTI too: reproduce-paper asks for `cacti` there,
            dse/paper.py CACTI_SWEEPS).
            faithful prices each buffer as the compiler's macros at the paper's design times CACTI's
            ratio between the buffer's configuration and the paper's (area, leakage, energy per byte
            read and written, active power): the measured silicon where the paper measured it,
            CACTI's trend elsewhere, continuous in size (no cliff where two models meet) and equal to
            the compiler at the paper's design. CACTI's trend is that of a wide access banked into
            parallel SRAMs of 64-byte blocks, as a designer builds a wide port (a wide array with many
            accumulators reads kilobytes of output per cycle).
The focus-paper convention charges a compiler-built buffer its peak power for the whole run and a
CACTI-priced one its accesses and leakage, as the paper's simulator does (Buffer.per_access).
Every number is a number or an array of design points; CACTI runs once per distinct configuration.
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import lru_cache
from typing import Any

import numpy as np

from dse import xp
from dse.cost.cacti import SramSpec, cacti_sram, check_spec, run_new
from dse.cost.sram import Buffer, compiler_buffer
from dse.choices import SRAM_MODELS
from dse.errors import UserError

RULES = ("compiler", "cacti", "paper", "scaled")  # what prices a chip's buffers, the rule resolved
BANK_BLOCK_BYTES = 64  # the widest block of one banked SRAM: a cache line, CACTI's default block
_ORGANISATION_REFUSED = "no valid data array organizations"  # CACTI's words for a shape it cannot build
DEFAULT_CACTI = {"block_bytes": "64", "readers": "1", "copies": 1}  # a spec's buffer without a "cacti" entry
LABELS = {"compiler": "memory-compiler macros", "cacti": "CACTI 7 (28 nm)",
          "scaled": "memory-compiler macros at the paper's design x CACTI's size curve (64-byte banks)"}


def check_sram_model(value: object) -> str | None:
    if value is not None and value not in SRAM_MODELS:
        raise UserError(f"design: sram_model must be one of {', '.join(SRAM_MODELS)} or null (the convention's "
                        f"rule), got {value!r}")
    return value  # type: ignore[return-value]


def sram_rule(sram_model: str | None, convention: str) -> str:
    """The rule that prices a design's buffers (one of RULES)."""
    if sram_model is not None:
        return sram_model
    return "paper" if convention == "focus-paper" else "scaled"


def cacti_entry(buffer: dict) -> dict:
    """A spec buffer's CACTI configuration: size expressions of its access width and readers, and its
    copies."""
    entry = {**DEFAULT_CACTI, **buffer.get("cacti", {})}
    if set(entry) != set(DEFAULT_CACTI):
        raise UserError(f"buffer '{buffer['name']}': 'cacti' takes {', '.join(DEFAULT_CACTI)}, got {sorted(entry)}")
    return entry


def price_buffers(requests: list[tuple], rule: str, frequency_mhz: Any, on_cacti: Any = True) -> list[Buffer]:
    """A chip's buffers priced by `rule`, one per request (buffer, size, paper_size, access, paper_access):
    the spec's buffer at `size` bytes; access: (block bytes, readers, copies) at the design's knobs,
    paper_access at the paper's (numbers or arrays); under "paper", `on_cacti` says for which design
    points CACTI prices them (a number, or a boolean array). CACTI runs first on every SRAM configuration
    of the chip not priced before, PARALLEL_RUNS at a time (a fresh machine's first designs wait for
    CACTI; one at a time they would wait twice as long)."""
    srams = [_srams_priced(*r, rule, on_cacti) for r in requests]
    _prefetch([key for copies in srams for keys, _ in copies for key in keys])
    return [_price(buffer, size, paper_size, access, copies, rule, frequency_mhz, on_cacti)
            for (buffer, size, paper_size, access, _), copies in zip(requests, srams)]


def prefetch_buffers(chips: list[tuple[list[tuple], str, Any]]) -> None:
    """CACTI, PARALLEL_RUNS at a time, on the SRAM configurations not priced yet of these chips' buffers:
    per chip, (its requests as price_buffers takes them, rule, on_cacti)."""
    _prefetch([key for requests, rule, on_cacti in chips for r in requests
               for keys, _ in _srams_priced(*r, rule, on_cacti) for key in keys])


def _price(buffer: dict, size: Any, paper_size: int, access: tuple, srams: list[tuple], rule: str,
           frequency_mhz: Any, on_cacti: Any) -> Buffer:
    """One buffer priced by `rule`, from CACTI's figures of its SRAM copies (_srams_priced)."""
    if not srams:
        return compiler_buffer(buffer["name"], paper_size, buffer["macros"], size, frequency_mhz)
    costs = _cacti(*srams[0])
    copies = access[2]
    if rule in ("cacti", "paper"):
        cacti = _cacti_buffer(buffer["name"], size, costs, copies, frequency_mhz)
        if rule == "cacti":
            return cacti
        return _where(on_cacti, cacti, compiler_buffer(buffer["name"], paper_size, buffer["macros"], size,
                                                       frequency_mhz))
    default = _paper_compiler(buffer["name"], paper_size, tuple(map(tuple, buffer["macros"])), frequency_mhz) \
        if not xp.is_array(frequency_mhz) else \
        compiler_buffer(buffer["name"], paper_size, buffer["macros"], paper_size, frequency_mhz)
    return _scaled(default, size, costs, _cacti(*srams[1]), frequency_mhz)


def _srams_priced(buffer: dict, size: Any, paper_size: int, access: tuple, paper_access: tuple, rule: str,
                  on_cacti: Any) -> list[tuple]:
    """The SRAM copies CACTI prices for this buffer under `rule`: none (compiler macros), the buffer's, and
    under "scaled" the paper's buffer's too; each as _distinct gives it."""
    if rule == "compiler" or (rule == "paper" and not xp.somewhere(on_cacti)):
        return []
    banked = rule == "scaled"
    (block, readers, copies), name = access, buffer["name"]
    srams = [_distinct(name, size // copies, block, readers, banked)]
    if rule == "scaled":
        block, readers, copies = paper_access
        srams.append(_distinct(name, paper_size // copies, block, readers, banked))
    return srams


@lru_cache(maxsize=256)  # one design's buffer at the paper's size: the same for every design
def _paper_compiler(name: str, paper_size: int, groups: tuple, frequency_mhz: float) -> Buffer:
    return compiler_buffer(name, paper_size, list(groups), paper_size, frequency_mhz)


def _cacti(keys: list[tuple], index: Any) -> dict[str, Any]:
    """CACTI's figures of one SRAM copy (one key, no index), or of each design point's (its index into
    the distinct keys), each priced already or now. On design points, an SRAM CACTI cannot price gives
    its points NaN figures instead of failing them all: their numbers come out NaN, so dse/batch.py runs
    them alone, where the model says why, and the rest of their group stays on arrays."""
    if index is None:
        return _one_sram(*keys[0])
    figures = [_one_sram_or_nan(*key) for key in keys]
    return {k: np.array([f[k] for f in figures])[index] for k in FIGURES}


def _one_sram_or_nan(*key: Any) -> dict[str, float]:
    try:
        return _one_sram(*key)
    except UserError:
        return dict.fromkeys(FIGURES, math.nan)


def _distinct(name: str, per_copy: Any, block: Any, readers: Any, banked: bool) -> tuple[list[tuple], Any]:
    """The distinct (name, bytes per copy, block, readers, banked) of one SRAM copy, or of an array of them
    with each design point's index into that list (None for one copy)."""
    if not xp.is_array(per_copy, block, readers):
        return [(name, int(per_copy), int(block), int(readers), banked)], None
    n = np.broadcast(per_copy, block, readers).shape
    table = np.stack([np.broadcast_to(np.asarray(v, dtype=np.int64), n) for v in (per_copy, block, readers)], axis=1)
    # a dict, not np.unique(axis=0): a group holds a few dozen points, which it sorts far slower
    first: dict[tuple, int] = {}
    index = np.array([first.setdefault(row, len(first)) for row in map(tuple, table.tolist())], dtype=np.intp)
    return [(name, *row, banked) for row in first], index


def _prefetch(keys: list[tuple]) -> None:
    """CACTI, PARALLEL_RUNS at a time, on the first SRAM of each key not priced yet. A key CACTI cannot be
    asked about (too small, no reader) is left out, so it fails only its own design when priced; what
    CACTI cannot organise is banked then."""
    specs = []
    for key in dict.fromkeys(keys):
        if key in _PRICED:
            continue
        try:
            spec = _first_spec(*key)
            check_spec(spec)
        except UserError:
            continue
        specs.append(spec)
    run_new(specs)


_PRICED: dict[tuple, dict[str, float]] = {}  # a search prices few distinct SRAMs, each many times


def _one_sram(name: str, per_copy: int, block: int, readers: int, banked: bool) -> dict[str, float]:
    """One SRAM's figures: one CACTI SRAM as wide as the access, as the paper's simulator configures it;
    banked (or where CACTI cannot organise that one), parallel SRAMs of BANK_BLOCK_BYTES-wide blocks."""
    key = (name, per_copy, block, readers, banked)
    if key not in _PRICED:
        _PRICED[key] = _priced(*key)
    return _PRICED[key]


def _priced(name: str, per_copy: int, block: int, readers: int, banked: bool) -> dict[str, float]:
    if not banked:
        try:
            return _figures(_first_spec(name, per_copy, block, readers, False))
        except UserError as exc:
            if _ORGANISATION_REFUSED not in str(exc):
                raise
    return _banked(name, per_copy, block, readers)


def _banked(name: str, per_copy: int, block: int, readers: int) -> dict[str, float]:
    """A wide access served by ceil(block / BANK_BLOCK_BYTES) SRAMs side by side, each a slice of every
    block and 1/k of the bytes, as a designer banks a wide port: CACTI's single SRAM routes the whole bus
    through its H-tree (64 KiB at 2 KiB blocks: 43 mm2, against 0.49 mm2 as 32 SRAMs of 64-byte blocks).
    A slice too shallow for CACTI's array organisations is priced at the shallowest depth CACTI builds
    (doubled up to 64 times), as a compiler macro has a least depth."""
    k, spec = _bank_count(block), _first_spec(name, per_copy, block, readers, True)
    for deeper in (1, 2, 4, 8, 16, 32, 64):
        try:
            one = _figures(replace(spec, size_bytes=spec.size_bytes * deeper))
        except UserError as exc:
            if _ORGANISATION_REFUSED not in str(exc) or deeper == 64:
                raise
            continue
        # per byte the same as one slice; area, leakage and the energy of a whole access k slices'
        return {**one, "leakage": one["leakage"] * k, "area": one["area"] * k, "access": one["access"] * k}
    raise AssertionError("unreachable")


def _bank_count(block: int) -> int:
    return -(-block // BANK_BLOCK_BYTES)


def _first_spec(name: str, per_copy: int, block: int, readers: int, banked: bool) -> SramSpec:
    """The SRAM CACTI is asked for first: the whole buffer copy, or one bank's slice of it (at least the
    two blocks CACTI needs)."""
    if not banked:
        return _spec(name, per_copy, block, readers)
    k = _bank_count(block)
    slice_block = -(-block // k)
    return _spec(name, max(-(-per_copy // k), 2 * slice_block), slice_block, readers)


def _spec(name: str, per_copy: int, block: int, readers: int) -> SramSpec:
    if readers < 1:
        raise UserError(f"buffer {name}: CACTI needs at least one reader, got {readers}")
    return SramSpec(size_bytes=int(per_copy), block_bytes=int(block), read_ports=int(readers) - 1)


FIGURES = ("read", "write", "leakage", "area", "access")  # an SRAM's figures (_figures), per byte or access


def _figures(spec: SramSpec) -> dict[str, float]:
    c = cacti_sram(spec)
    return {"read": c.read_pj_per_byte, "write": c.write_pj_per_byte, "leakage": c.leakage_mw,
            "area": c.area_mm2, "access": (c.read_pj_per_access + c.write_pj_per_access) / 2}


def _cacti_buffer(name: str, size: Any, c: dict[str, Any], copies: int, frequency_mhz: Any) -> Buffer:
    leakage = c["leakage"] * copies
    return Buffer(name, size, area_mm2=c["area"] * copies, leakage_mw=leakage,
                  peak_mw=leakage + c["access"] * copies * frequency_mhz * 1e-3,  # pJ x MHz = uW
                  read_pj_per_byte=c["read"], write_pj_per_byte=c["write"], priced_by="cacti", per_access=True)


def _scaled(default: Buffer, size: Any, c: dict[str, Any], paper: dict[str, Any], frequency_mhz: Any) -> Buffer:
    """The compiler's buffer at the paper's design, each figure times CACTI's ratio from there."""
    active = default.peak_mw - default.leakage_mw
    leakage = default.leakage_mw * (c["leakage"] / paper["leakage"])
    return Buffer(default.name, size, area_mm2=default.area_mm2 * (c["area"] / paper["area"]), leakage_mw=leakage,
                  peak_mw=leakage + active * (c["access"] / paper["access"]),
                  read_pj_per_byte=default.read_pj_per_byte * (c["read"] / paper["read"]),
                  write_pj_per_byte=default.write_pj_per_byte * (c["write"] / paper["write"]), priced_by="scaled")


def _where(on: Any, a: Buffer, b: Buffer) -> Buffer:
    """Buffer a where `on` holds, else b."""
    if not xp.is_array(on):
        return a if on else b
    pick = {k: xp.where(on, getattr(a, k), getattr(b, k)) for k in
            ("area_mm2", "leakage_mw", "peak_mw", "read_pj_per_byte", "write_pj_per_byte")}
    return Buffer(a.name, a.bytes, **pick, priced_by="paper", per_access=on)
