"""One design point on one workload: cycles, energy, area. The function the search optimises.

Data flow: DesignPoint -> accelerator (data) + SparsityProfile -> per-GEMM cycles and traffic
(dse/sim) -> energy (dse/cost) -> Evaluation. Layers with identical token counts are
evaluated once. Conventions: "focus-paper" reproduces the Focus paper's simulator;
"faithful" fixes its weaknesses (see README: dense SA without Focus's buffers, detection
cycles, attention scatter on kept keys, exact tiles, causal attention per tile, per-unit busy
time and per-access SRAM energy, codec cycles for CMC, no K padding for AdapTiV).
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass, field, fields, replace
from functools import cache
from math import ceil
from typing import Any

from dse.cost.accelerator import Accelerator, build_accelerator, load_spec
from dse.cost.energy import DRAM_PJ_PER_BYTE, energy_breakdown
from dse.cost.precision import check_precision, get_precision
from dse.data_files import REFERENCE_DIR
from dse.errors import UserError
from dse.fits import check_fits
from dse.levels import built_hardware, check_level, profile_at_level, runs_sic
from dse.profile import MLP_GEMMS, SparsityProfile, parse_block
from dse.published import published_profile
from dse.sim import focus_unit as fu
from dse.sim.cores import check_cores, column_shares, combine, head_shares
from dse.sim.backends import Backend, gemm_cycles, get_backend, paper_tile_cycles, series_cycles
from dse.sim.hardware import ArrayConfig
from dse.sim.plan import attention_series, check_convention, linear_tiles
from dse.sim.tiling import paper_tiles
from dse.sim.traffic import WORD_BYTES, kernel_bytes
from dse.workloads.catalog import Workload
from dse.workloads.gemms import linear_gemms


def _positive_number(name: str, value: Any, allow_zero: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        bound = "non-negative" if allow_zero else "positive"
        raise UserError(f"design: {name} must be a finite {bound} number, got {value!r}")


@dataclass(frozen=True)
class DesignPoint:
    """Every knob of a design; the defaults are the Focus paper's design."""

    accelerator: str = "focus"  # dense | focus | adaptiv | cmc | path to a JSON spec
    rows: int = 32
    cols: int = 32
    dataflow: str = "ws"
    frequency_mhz: float = 500.0
    m_tile: int = 1024
    n_tile: int = 96
    vector_size: int = 32
    block: tuple[int, int, int] = (2, 2, 2)
    threshold: float | None = None  # None: the workload's published threshold (0.9; 0.95 for MiniCPM-V)
    sec_scale: float = 1.0
    n_scatter: int = 2
    concentration: str = "sec+sic"  # which concentration levels run: sec+sic | sec | sic | none (dse/levels.py)
    buffer_kb: dict[str, float] = field(default_factory=dict)  # per buffer; {} = what the tiles need
    dram_bandwidth_gbps: float | None = None  # None = unlimited
    dram_pj_per_byte: float = DRAM_PJ_PER_BYTE
    convention: str = "faithful"
    # the whole query (dse/query.py); the defaults are the Focus paper's scope, the prefill alone
    phases: tuple[str, ...] = ("prefill",)  # of encoder, prefill, decode
    prompt_tokens: int = 0  # P text tokens after the visual ones (never pruned or merged)
    output_tokens: int = 0  # G decoded tokens
    batch: int = 1  # sequences decoded together (decode GEMMs have M = batch)
    encoder_threshold: float | None = None  # None: dense encoder; else Focus similarity inside the ViT
    # the datapath and scale-out; the defaults are the Focus RTL: one FP16 array
    precision: str = "fp16"  # fp16 | bf16 | fp8 | int8, weights and activations (dse/cost/precision.py)
    cores: int = 1  # arrays of rows x cols, each with its own Focus unit and buffers, sharing DRAM (dse/sim/cores.py)

    def __post_init__(self) -> None:
        from dse.query import check_query_knobs, parse_phases

        object.__setattr__(self, "phases", parse_phases(self.phases, "design: phases"))
        check_query_knobs(self)
        check_convention(self.convention)
        check_precision(self.precision)
        check_cores(self.cores)
        for name in ("rows", "cols", "m_tile", "n_tile", "vector_size", "n_scatter"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise UserError(f"design: {name} must be a positive integer, got {value!r}")
        _positive_number("frequency_mhz", self.frequency_mhz)
        _positive_number("sec_scale", self.sec_scale)
        if self.dram_bandwidth_gbps is not None:
            _positive_number("dram_bandwidth_gbps", self.dram_bandwidth_gbps)
        _positive_number("dram_pj_per_byte", self.dram_pj_per_byte, allow_zero=True)
        if self.threshold is not None:
            _positive_number("threshold", self.threshold, allow_zero=True)
            if self.threshold > 1:
                raise UserError(f"design: threshold must be in [0, 1], got {self.threshold}")
        if not isinstance(self.block, tuple) or len(self.block) != 3 or any(
                isinstance(b, bool) or not isinstance(b, int) or b <= 0 for b in self.block):
            raise UserError(f"design: block must be three positive integers TxHxW, got {self.block!r}")
        if not isinstance(self.buffer_kb, dict):
            raise UserError(f"design: buffer_kb must map buffer names to kB, got {self.buffer_kb!r}")
        for name, kb in self.buffer_kb.items():
            _positive_number(f"buffer_kb[{name}]", kb)
        model = load_spec(self.accelerator)["model"]
        check_level(self.concentration)
        if self.concentration != "sec+sic" and model != "focus":
            raise UserError(f"design: concentration '{self.concentration}' applies to the Focus accelerator only; "
                            f"{self.accelerator} uses its published sparsity")
        ArrayConfig(self.rows, self.cols, self.dataflow)

    @property
    def knobs(self) -> dict[str, int]:
        return {"rows": self.rows, "cols": self.cols, "m_tile": self.m_tile, "n_tile": self.n_tile,
                "n_scatter": self.n_scatter}

    @property
    def block_volume(self) -> int:
        t, h, w = self.block
        return t * h * w

    @staticmethod
    def buffer_names(accelerator: str) -> list[str]:
        return [b["name"] for b in load_spec(accelerator)["buffers"]]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["block"] = "x".join(str(b) for b in self.block)
        d["phases"] = ",".join(self.phases)
        return d

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "design") -> DesignPoint:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise UserError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(known)}")
        d = dict(raw)
        if isinstance(d.get("block"), str):
            d["block"] = parse_block(d["block"])
        elif isinstance(d.get("block"), list):
            d["block"] = tuple(d["block"])
        try:
            return cls(**d)
        except TypeError as exc:
            raise UserError(f"{where}: {exc}") from None


QUERY_DEFAULTS = {f.name: f.default for f in fields(DesignPoint)
                  if f.name in ("phases", "prompt_tokens", "output_tokens", "batch", "encoder_threshold")}


@dataclass(frozen=True)
class Evaluation:
    workload: str
    accelerator: str
    convention: str
    profile_source: str
    total_cycles: float
    compute_cycles: float
    stall_cycles: float  # concentration-unit stalls + memory stalls
    memory_stall_cycles: float
    execution_time_s: float
    energy_j: float
    area_mm2: float
    onchip_power_mw: float
    buffer_kb: float
    dram_bytes: float
    compute_fraction: float  # MACs computed / dense MACs
    breakdown: dict[str, Any]
    per_layer: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["total_cycles"] = round(self.total_cycles)
        # bytes per compute cycle: what the array needs to stay compute-bound (the paper's figure)
        d["dram_bandwidth_bytes_per_cycle"] = self.dram_bytes / self.compute_cycles if self.compute_cycles else 0.0
        d["achieved_dram_bytes_per_cycle"] = self.dram_bytes / self.total_cycles if self.total_cycles else 0.0
        d["achieved_dram_gbps"] = self.dram_bytes / self.execution_time_s / 1e9 if self.execution_time_s else 0.0
        if not self.per_layer:
            d.pop("per_layer")
        return d


@dataclass
class _Tally:
    compute: float = 0.0
    stall: float = 0.0
    mem_stall: float = 0.0
    dram: float = 0.0
    macs: float = 0.0
    busy: dict[str, float] = field(default_factory=dict)
    sram: dict[str, float] = field(default_factory=dict)  # bytes accessed per buffer
    gemms: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, cycles: fu.UnitCycles, dram: float, macs: float, bytes_per_cycle: float | None,
            busy: dict[str, float], sram: dict[str, float]) -> None:
        time = cycles.total
        mem = max(0.0, dram / bytes_per_cycle - time) if bytes_per_cycle else 0.0
        self.compute += cycles.compute
        self.stall += cycles.stall
        self.mem_stall += mem
        self.dram += dram
        self.macs += macs
        self.gemms[name] = self.gemms.get(name, 0.0) + time + mem
        for k, v in busy.items():
            self.busy[k] = self.busy.get(k, 0.0) + v
        for k, v in sram.items():
            self.sram[k] = self.sram.get(k, 0.0) + v

    def merge(self, other: _Tally) -> None:
        self.compute += other.compute
        self.stall += other.stall
        self.mem_stall += other.mem_stall
        self.dram += other.dram
        self.macs += other.macs
        for mine, theirs in ((self.busy, other.busy), (self.sram, other.sram), (self.gemms, other.gemms)):
            for k, v in theirs.items():
                mine[k] = mine.get(k, 0.0) + v

    @property
    def total(self) -> float:
        return self.compute + self.stall + self.mem_stall


@cache
def _baseline_sparsity(kind: str) -> dict[str, dict[str, float]]:
    name = "adaptiv_sparsity.csv" if kind == "adaptiv" else "cmc_sparsity.csv"
    with open(REFERENCE_DIR / "accuracy" / name, newline="") as f:
        return {f"{r['Model']}/{r['Dataset']}": {k: float(v) for k, v in r.items() if k not in ("Model", "Dataset")}
                for r in csv.DictReader(f)}


def baseline_sparsity(kind: str, workload: str) -> dict[str, float]:
    table = _baseline_sparsity(kind)
    if workload not in table:
        raise UserError(f"no published {kind} sparsity for '{workload}': {kind} runs on {', '.join(sorted(table))}")
    return table[workload]


def buffer_tiles(design: DesignPoint, accel: Accelerator) -> tuple[int, int]:
    """(M rows, N columns) of the tile the on-chip buffers really hold, for DRAM traffic.

    Buffers are double-buffered (half active, as scalesim models them): input holds
    m x R words, weights R x n, outputs m x n. A buffer smaller than the chosen tiles need
    shrinks the tile (more DRAM re-reads) instead of being silently ignored. Words are the
    design's precision's: at 8 bits a buffer holds twice the words of FP16."""
    word = get_precision(design.precision).word_bytes
    half_words = {b.name: b.bytes // (2 * word) for b in accel.buffers}
    m, n = design.m_tile, design.n_tile
    if "input" in half_words:
        m = max(1, min(m, half_words["input"] // design.rows))
    if "wgt" in half_words:
        n = max(1, min(n, half_words["wgt"] // design.rows))
    if "output" in half_words:
        n = max(1, min(n, half_words["output"] // m))
    return m, n


class _Evaluator:
    def __init__(self, design: DesignPoint, workload: Workload, backend: Backend, accel: Accelerator):
        self.d = design
        self.w = workload
        self.spec = workload.spec.llm
        self.backend = backend
        self.paper = design.convention == "focus-paper"
        self.array = ArrayConfig(design.rows, design.cols, design.dataflow)
        # the paper's simulator ties traffic to m_tile/n_tile whatever the buffers hold
        self.m_buf, self.n_buf = (design.m_tile, design.n_tile) if self.paper else buffer_tiles(design, accel)
        self.bpc = (design.dram_bandwidth_gbps * 1e9 / (design.frequency_mhz * 1e6)
                    if design.dram_bandwidth_gbps else None)
        # which cycle model: dense, focus, adaptiv, cmc; Focus with concentration off runs the dense one
        self.kind = "dense" if design.concentration == "none" else accel.model
        # a faithful chip built without SIC has no scatter, gather or detection in its datapath; the
        # paper's simulator still runs scatter and gather in its SEC-only run
        self.no_sic = not self.paper and not runs_sic(design.concentration)
        # the baselines' published sparsity (fraction of rows they skip) for this workload
        self.adaptiv = baseline_sparsity("adaptiv", workload.name) if self.kind == "adaptiv" else {}
        self.cmc = baseline_sparsity("cmc", workload.name) if self.kind == "cmc" else {}
        self.wb = get_precision(design.precision).word_bytes  # bytes per word, in DRAM and SRAM

    # -- array cycles -----------------------------------------------------------------
    def tiles_paper(self, rows_per_tile: int, tiles: int, K: int, N: int) -> float:
        if rows_per_tile <= 0 or tiles <= 0:
            return 0.0
        return paper_tile_cycles(rows_per_tile, K, N, self.array, self.backend) * tiles

    def tiles_exact(self, tokens: float, unique: float, K: int, N: int) -> float:
        return sum(n * gemm_cycles(m, K, N, self.array, self.backend)
                   for m, n in linear_tiles(int(tokens), unique, self.d.m_tile))

    def dense_linear(self, T: int, K: int, N: int) -> float:
        if self.paper:
            P, rows = paper_tiles(T, self.d.m_tile)
            return self.tiles_paper(rows, P, K, N)
        return self.tiles_exact(T, T, K, N)

    def attention_exact(self, T: int, unique_q: float, heads: int) -> float:
        """Causal attention of `heads` heads on exact tiles (the tiles dse/sim/plan.py plans)."""
        spec = self.spec if heads == self.spec.heads else replace(self.spec, heads=heads)
        return sum(s.count * series_cycles(s.M, s.K, s.N, s.grows, s.step, s.tiles, self.array, self.backend)
                   for s in attention_series(spec, T, unique_q, self.d.m_tile))

    # -- SRAM traffic, as the array's demand (words -> bytes) ----------------------------
    @staticmethod
    def sram_of(M: float, K: int, N: int, dram_in: float, dram_w: float, dram_out: float,
                word_bytes: int = WORD_BYTES) -> dict[str, float]:
        b = word_bytes
        return {"input": b * M * K + dram_in, "wgt": b * K * N + dram_w, "output": b * M * N + dram_out}

    # -- one layer: each GEMM split over the cores (dse/sim/cores.py) ----------------------
    def layer(self, T_attn: int, T_mlp: int, rows_for) -> _Tally:
        tally = _Tally()
        kind, cores = self.kind, self.d.cores
        for g in linear_gemms(self.spec, 1):
            T = T_mlp if g.name in MLP_GEMMS else T_attn
            if T <= 0:
                continue
            U = rows_for(g.name) if kind == "focus" else T
            tally.add(g.name, *combine([(self.linear(g.name, T, U, g.K, n), k)
                                        for n, k in column_shares(g.N, self.d.cols, cores)]))
        T = T_attn
        if T > 0:
            U_q = rows_for("qk") if kind == "focus" else T
            tally.add("attention", *combine([(self.attention(T, U_q, h), k)
                                             for h, k in head_shares(self.spec.heads, cores)]))
        if kind == "focus" and T_mlp < T_attn:
            # SEC top-k on 32 max units over this layer's importance vector
            tally.busy["sec"] = tally.busy.get("sec", 0.0) + ceil(T_attn / 32)
        return tally

    def linear(self, name: str, T: int, U: float, K: int, N: int):
        """One core's share of a weight GEMM: T tokens (U unique rows for Focus), K x N weights."""
        if self.kind == "focus":
            return self.focus_linear(name, T, U, K, N)
        if self.kind == "dense":
            return self.dense_gemm(T, K, N)
        if self.kind == "adaptiv":
            return self.adaptiv_gemm(T, K, N)
        return self.cmc_gemm(T, K, N, name, self.cmc["linear_sparsity"])

    def attention(self, T: int, U_q: float, heads: int):
        """One core's share of a layer's attention: `heads` of its heads."""
        if self.kind == "focus":
            return self.focus_attention(T, U_q, heads)
        if self.kind == "dense":
            return self.dense_attention(T, heads)
        if self.kind == "adaptiv":
            return self.adaptiv_attention(T, heads)
        return self.cmc_attention(T, heads)

    # -- dense -----------------------------------------------------------------------------
    def dense_gemm(self, T: int, K: int, N: int):
        mt, nt, b = self.m_buf, self.n_buf, self.wb
        c = self.dense_linear(T, K, N)
        dram = kernel_bytes(T, K, N, mt, nt, b)
        return fu.UnitCycles(c), dram, T * K * N, self.bpc, {"array": c}, \
            self.sram_of(T, K, N, b * T * K * ceil(N / nt), b * K * N * ceil(T / mt), b * T * N, b)

    def dense_attention(self, T: int, heads: int):
        hd, mt, nt, b = self.spec.head_dim, self.m_buf, self.n_buf, self.wb
        if self.paper:
            P, rows = paper_tiles(T, self.d.m_tile)
            c = self.tiles_paper(rows, P, hd, T) * heads  # (QK + SV) / 2, SV charged as QK
        else:
            c = self.attention_exact(T, T, heads)
        dram = 0.5 * heads * (kernel_bytes(T, hd, T, mt, nt, b) + kernel_bytes(T, T, hd, mt, nt, b))
        macs = T * T * hd * heads  # causal halves of QK and SV
        return fu.UnitCycles(c), dram, macs, self.bpc, {"array": c, "softmax": T * T * heads / 2 / 192}, \
            {"input": b * macs / 32, "output": b * T * T * heads}

    # -- Focus ---------------------------------------------------------------------------
    def focus_linear(self, name: str, T: int, U: float, K: int, N: int):
        d = self.d
        R, C = d.rows, d.cols
        P = ceil(T / d.m_tile)
        block = d.block_volume
        if self.paper:
            compute = self.tiles_paper(int(U // P), P, K, N)
            detect = 0.0
        else:
            compute = self.tiles_exact(T, U, K, N)
            # detection runs once per distinct GEMM input: q/k/v share one, gate/up another
            detect = 0.0 if name in ("k_proj", "v_proj", "up_proj") or self.no_sic else \
                fu.detect_cycles(T, K, d.vector_size, d.block_volume - 1)
        if self.no_sic:  # rows go from the array straight to the output buffer
            scatter = tile = gather = 0.0
        else:
            scatter = fu.scatter_cycles(T, K, N, R, C, d.n_scatter)
            tile = fu.gather_tile(block, d.m_tile, d.n_tile, C)
            gather = fu.gather_cycles(T, N, block, d.m_tile, d.n_tile, C)
        cycles = fu.linear_unit(compute, scatter, gather, detect, tile)
        U_c, b = ceil(U), self.wb
        dram_in = b * U_c * K * ceil(N / self.n_buf)
        dram_w = b * K * N * ceil(T / self.m_buf)
        dram_out = b * U_c * N
        sram = self.sram_of(U, K, N, dram_in, dram_w, dram_out, b)
        # concentrated rows in, scattered partial sums out; detection reads 7 neighbours
        if not self.no_sic:
            sram["concentrate_out"] = 2 * b * T * ceil(K / R) * N
        if detect:
            a = b * (T * N + T * ceil(N / 32))
            sram["layouter"] = 8 * a
            sram["similarity_map"] = b * T * ceil(N / 32)
            sram["similarity_table"] = b * (3 * T * N)
        busy = {"array": compute, "scatter": scatter, "detect": detect}
        return cycles, dram_in + dram_w + dram_out, U * K * N, self.bpc, busy, sram

    def focus_attention(self, T: int, U_q: float, heads: int):
        d, b = self.d, self.wb
        hd, R, C = self.spec.head_dim, d.rows, d.cols
        if self.paper:
            Pq = ceil(U_q / d.m_tile)
            Pk = ceil(T / d.m_tile)
            qk = self.tiles_paper(int(U_q // Pq), Pq, hd, T) if Pq else 0.0
            sv = self.tiles_paper(T // Pk, Pk, hd, T)
            compute = (qk + sv) / 2 * heads
            keys = self.w.tokens  # the paper's simulator scatters over all S keys
            scatter = fu.scatter_cycles(T, hd * heads, keys, R, C, d.n_scatter)
            detect = 0.0
            share = heads / self.spec.heads  # the simulator's per-layer terms, shared out with the heads
            dram = (b * U_q * hd * ceil(T / d.n_tile) * share
                    + 0.5 * heads * kernel_bytes(T, T, hd, self.m_buf, self.n_buf, b)
                    + b * ceil(U_q) * self.w.tokens * share)
        else:
            compute = self.attention_exact(T, U_q, heads)
            if self.no_sic:
                scatter = detect = 0.0
            else:
                scatter = fu.scatter_cycles(T, hd * heads, T, R, C, d.n_scatter) / 2  # causal: kept keys
                detect = fu.detect_cycles(T, hd * heads, d.vector_size, d.block_volume - 1)
            dram = 0.5 * heads * (kernel_bytes(U_q, hd, T, self.m_buf, self.n_buf, b)
                                  + kernel_bytes(T, T, hd, self.m_buf, self.n_buf, b))
        stall = max(0.0, max(scatter, detect) - compute)
        macs = (U_q * T * hd + T * T * hd) * heads / 2
        busy = {"array": compute, "scatter": scatter, "detect": detect, "softmax": T * T * heads / 2 / 192}
        sram = {"input": b * macs / 32, "output": b * T * T * heads}
        if not self.no_sic:
            sram["concentrate_out"] = b * T * T * heads
        return fu.UnitCycles(compute, scatter, 0.0, detect, stall), dram, macs, self.bpc, busy, sram

    # -- AdapTiV: output-stationary MAC lines, 64 wide x 16 lines, K in steps of 256 --------
    def adaptiv_gemm(self, S: int, K: int, N: int):
        s = self.adaptiv["Sparsity"]
        M = S * (1 - s)
        k_steps = ceil(K / 256) if self.paper else K / 256  # the paper pads K=128 to 256
        array = 256 * ceil(N / 16) * ceil(M / 64) * k_steps
        merge = ceil(S * K / 64)
        b = self.wb
        dram = b * S * K + b * M * K * ceil(N / 256) + b * K * N * ceil(M / 256) + b * M * N
        sram = self.sram_of(M, K, N, b * S * K + b * M * K * ceil(N / 256), b * K * N * ceil(M / 256), b * M * N, b)
        return fu.UnitCycles(array + merge), dram, M * K * N, self.bpc, {"array": array, "merge": merge}, sram

    def adaptiv_attention(self, S: int, heads: int):
        hd = self.spec.head_dim
        qk, dram_qk, macs, _, busy, sram = self.adaptiv_gemm(S, hd, S)
        _, dram_sv, _, _, _, _ = self.adaptiv_gemm(S, S, hd)
        c = qk.compute * heads  # QK + SV (charged as QK) halved for causality
        busy = {k: v * heads for k, v in busy.items()}
        busy["softmax"] = S * S * heads / 2 / 192
        return (fu.UnitCycles(c), 0.5 * heads * (dram_qk + dram_sv), macs * heads, self.bpc, busy,
                {k: v * heads for k, v in sram.items()})

    # -- CMC: 32x32 WS + codec, rows skipped per partition of 8 frames -----------------------
    def cmc_gemm(self, S: int, K: int, N: int, name: str, sparsity: float):
        F = self.w.frames
        P = ceil(F / 8)
        rows = int(int(S * (1 - sparsity) + P - 1) // P)
        M = S * (1 - sparsity)
        array = self.tiles_paper(rows, P, K, N) if rows > 0 else 0.0
        codec = 0.0 if self.paper else ceil((F - P) * (self.w.patches or S // max(F, 1)) * K / (256 * 4))
        b = self.wb
        reference = 0 if name in ("k_proj", "v_proj") else b * S * K
        dram = reference + b * M * K * ceil(N / 64) + b * K * N * ceil(M / 768) + b * M * N
        sram = self.sram_of(M, K, N, reference + b * M * K * ceil(N / 64), b * K * N * ceil(M / 768), b * M * N, b)
        return fu.UnitCycles(array + codec), dram, M * K * N, self.bpc, {"array": array, "codec": codec}, sram

    def cmc_attention(self, S: int, heads: int):
        hd = self.spec.head_dim
        qk = self.cmc_gemm(S, hd, S, "qk", self.cmc["query_sparsity"])
        sv = self.cmc_gemm(S, S, hd, "sv", self.cmc["attn_score_sparsity"])
        c = int((qk[0].total + sv[0].total) * heads // 2)
        busy = {k: (qk[4][k] + sv[4][k]) * heads / 2 for k in qk[4]}
        busy["softmax"] = S * S * heads / 2 / 192
        sram = {k: (qk[5][k] + sv[5][k]) * heads / 2 for k in qk[5]}
        return (fu.UnitCycles(c), 0.5 * heads * (qk[1] + sv[1]), (qk[2] + sv[2]) * heads / 2, self.bpc, busy, sram)

    # -- whole model -------------------------------------------------------------------------
    def run(self, profile: SparsityProfile | None, per_layer: bool) -> tuple[_Tally, list[dict]]:
        total, rows, cache = _Tally(), [], {}
        for layer in range(self.spec.layers):
            if profile is not None and self.kind == "focus":
                lp = profile.layers[layer]
                key = (lp.tokens_kept, lp.mlp_tokens_kept, tuple(sorted(lp.unique_rows.items())))
                T_attn, T_mlp, rows_for = int(lp.tokens_kept), int(lp.tokens("down_proj")), lp.rows
            else:
                key, T_attn, T_mlp, rows_for = (), self.w.tokens, self.w.tokens, None
            if key not in cache:
                cache[key] = self.layer(T_attn, T_mlp, rows_for)
            t = cache[key]
            total.merge(t)
            if per_layer:
                rows.append({"layer": layer, "tokens": T_attn, "mlp_tokens": T_mlp, "cycles": round(t.total),
                             "gemms": {k: round(v) for k, v in t.gemms.items()}})
        return total, rows


def profile_for(design: DesignPoint, workload: Workload, profile: SparsityProfile | str | None) -> SparsityProfile | None:
    """The profile a design runs with: a given one, or the published one adjusted to the design's
    threshold, block, vector size and SEC scale (see dse/redundancy.py), at its concentration level."""
    if load_spec(design.accelerator)["model"] != "focus" or design.concentration == "none":
        return None
    check_fits(design.block, design.vector_size, workload)  # before any curve is read for them
    if isinstance(profile, SparsityProfile):
        prof = profile.for_workload(workload.name, workload.tokens, workload.spec.llm.layers)
    else:
        from dse.redundancy import removed_scale

        prof = published_profile(workload, design.sec_scale, removed_scale(design, workload))
    return profile_at_level(prof, design.concentration)


def evaluate(
    design: DesignPoint,
    workload: Workload,
    profile: SparsityProfile | str | None = "published",
    backend: Backend | str = "analytic",
    per_layer: bool = False,
) -> Evaluation:
    backend = get_backend(backend) if isinstance(backend, str) else backend
    prof = profile_for(design, workload, profile)
    accel: Accelerator = build_accelerator(
        design.accelerator, design.knobs,
        {k: round(v * 1024) for k, v in design.buffer_kb.items()},
        paper_buffers=design.convention == "focus-paper",
        frequency_mhz=design.frequency_mhz,
        levels=built_hardware(design.concentration, design.convention),
        precision=design.precision,
        cores=design.cores,
    )
    tally, rows = _Evaluator(design, workload, backend, accel).run(prof, per_layer)
    seconds = tally.total / (design.frequency_mhz * 1e6)
    if not all(map(math.isfinite, (tally.total, seconds, tally.dram, accel.area_mm2, accel.onchip_power_mw))):
        raise UserError(f"{workload.name}: cycles, time, area or power overflow floating point for this design: "
                        "use realistic sizes, clocks and bandwidths")
    energy = energy_breakdown(accel, tally.busy, tally.sram, tally.dram, tally.total, design.frequency_mhz,
                              design.dram_pj_per_byte, per_access=design.convention == "faithful")
    dense_macs = sum(g.macs for g in linear_gemms(workload.spec.llm, workload.tokens)) * workload.spec.llm.layers \
        + workload.tokens ** 2 * workload.spec.llm.head_dim * workload.spec.llm.heads * workload.spec.llm.layers
    return Evaluation(
        workload=workload.name,
        accelerator=accel.name,
        convention=design.convention,
        profile_source="none" if prof is None else prof.source,
        total_cycles=tally.total,
        compute_cycles=tally.compute,
        stall_cycles=tally.stall + tally.mem_stall,
        memory_stall_cycles=tally.mem_stall,
        execution_time_s=seconds,
        energy_j=sum(energy.values()),
        area_mm2=accel.area_mm2,
        onchip_power_mw=accel.onchip_power_mw,
        buffer_kb=accel.buffer_kb,
        dram_bytes=tally.dram,
        compute_fraction=tally.macs / dense_macs,
        breakdown={
            "energy_j": energy,
            "cycles": {k: round(v) for k, v in tally.gemms.items()},
            "busy_cycles": {k: round(v) for k, v in tally.busy.items()},
            # all cores' area (sums to area_mm2); buffer sizes are each core's
            "area_mm2": {c.module: c.area_mm2 * c.count * accel.cores for c in accel.components}
            | {f"buffer:{b.name}": b.area_mm2 * accel.cores for b in accel.buffers},
            "buffers_kb": {b.name: b.bytes / 1024 for b in accel.buffers},
        },
        per_layer=rows,
    )
