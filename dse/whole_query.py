"""The end-to-end picture: Focus vs dense, AdapTiV and CMC on the whole query of the nine video
workloads (encoder + prefill + decode), beside the paper's prefill-only comparison.

Settings are the documented ones (dse/query.py VIDEO_QA, CAPTIONING) on a DRAM interface of a
given bandwidth, under each weight buffering (every accelerator single, as SCALE-Sim's fold, or every
one double, dse/sim/buffering.py); the plot sweeps the answer length G and the bandwidth on
llava_vid/videomme (the tables' bandwidth among them, where it draws the prefill alone). Every number
is computed by focus-dse (encoder and decode are its model, beyond the paper).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from pathlib import Path

from dse.design import DesignPoint
from dse.paper import BASELINES
from dse.design import PHASES
from dse.query import QueryResult, run_query
from dse.sim.hardware import BUFFERINGS
from dse.workloads import resolve_workload
from dse.workloads.catalog import VIDEO_WORKLOADS

ACCELERATORS = ("focus",) + BASELINES
PLOT_TOKENS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
PLOT_BANDWIDTHS = (16.0, 32.0, 64.0, 128.0, 256.0)


def query_design(accelerator: str, convention: str, prompt_tokens: int, output_tokens: int,
                 bandwidth_gbps: float, weight_buffering: str = "single") -> DesignPoint:
    return DesignPoint(accelerator=accelerator, convention=convention, phases=PHASES, prompt_tokens=prompt_tokens,
                       output_tokens=output_tokens, dram_bandwidth_gbps=bandwidth_gbps,
                       weight_buffering=weight_buffering)


@dataclass(frozen=True)
class QueryComparison:
    workload: str
    queries: dict[str, QueryResult]  # per accelerator

    def speedup(self, baseline: str) -> float:
        return self.queries[baseline].query_time_s / self.queries["focus"].query_time_s

    def saving(self, baseline: str) -> float:
        return self.queries[baseline].query_energy_j / self.queries["focus"].query_energy_j

    def prefill_speedup(self, baseline: str) -> float:
        return self.queries[baseline].prefill.total_cycles / self.queries["focus"].prefill.total_cycles

    def decode_memory_stall_share(self) -> float:
        """The largest share of decode cycles any of the accelerators spends waiting for DRAM."""
        return max(q.phases["decode"].memory_stall_cycles / q.phases["decode"].cycles for q in self.queries.values())

    def encoder_share(self, accelerator: str) -> float:
        q = self.queries[accelerator]
        return q.phases["encoder"].time_s / q.ttft_s


def compare(workload: str, convention: str, prompt_tokens: int, output_tokens: int, bandwidth_gbps: float,
            accelerators=ACCELERATORS, weight_buffering: str = "single") -> QueryComparison:
    w = resolve_workload(workload)
    return QueryComparison(workload, {a: run_query(query_design(a, convention, prompt_tokens, output_tokens,
                                                                bandwidth_gbps, weight_buffering), w)
                                      for a in accelerators})


def compare_video(convention: str, prompt_tokens: int, output_tokens: int, bandwidth_gbps: float,
                  weight_buffering: str = "single") -> list[QueryComparison]:
    return [compare(name, convention, prompt_tokens, output_tokens, bandwidth_gbps, weight_buffering=weight_buffering)
            for name in VIDEO_WORKLOADS]


def plot_bandwidths(table_bandwidth_gbps: float) -> tuple[float, ...]:
    """The plot's bandwidths: PLOT_BANDWIDTHS and the tables' own."""
    return tuple(sorted({*PLOT_BANDWIDTHS, float(table_bandwidth_gbps)}))


def speedup_grid(convention: str, prompt_tokens: int, bandwidths: tuple[float, ...] = PLOT_BANDWIDTHS,
                 workload: str = "llava_vid/videomme") -> list[dict]:
    """Focus/dense end-to-end speedup and energy saving for every (weight buffering, G, bandwidth) of the plot."""
    rows = []
    for buffering, bw, G in product(BUFFERINGS, bandwidths, PLOT_TOKENS):
        c = compare(workload, convention, prompt_tokens, G, bw, ("focus", "dense"), buffering)
        rows.append({"workload": workload, "convention": convention, "weight_buffering": buffering,
                     "prompt_tokens": prompt_tokens, "output_tokens": G, "dram_bandwidth_gbps": bw,
                     "speedup": c.speedup("dense"),
                     "energy_saving": c.saving("dense"), "prefill_speedup": c.prefill_speedup("dense"),
                     "decode_memory_stall_share": c.decode_memory_stall_share(),
                     "focus_query_time_s": c.queries["focus"].query_time_s,
                     "dense_query_time_s": c.queries["dense"].query_time_s,
                     "focus_tpot_s": c.queries["focus"].tpot_s, "dense_tpot_s": c.queries["dense"].tpot_s})
    return rows


def plot_grid(rows: list[dict], path: Path, bandwidth_gbps: float) -> None:
    fig = grid_figure(rows, bandwidth_gbps)  # selects the Agg backend before pyplot is imported here
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110)
    plt.close(fig)


def grid_figure(rows: list[dict], bandwidth_gbps: float):
    """One row of panels per weight buffering: speedup and energy saving against G, one line per
    bandwidth; the prefill alone (the paper's scope) drawn at `bandwidth_gbps`, one of the rows' (the
    tables' bandwidth), and labelled with it: the prefill's speedup moves a little with the bandwidth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(BUFFERINGS), 2, figsize=(12, 4.2 * len(BUFFERINGS)), squeeze=False)
    bandwidths = sorted({r["dram_bandwidth_gbps"] for r in rows})
    styles = ("o-", "s--", "^-.", "v:", "D-", "P--")
    tokens = sorted({r["output_tokens"] for r in rows})
    top = max(max(r["prefill_speedup"], r["speedup"]) for r in rows) * 1.08
    for (ax, ax2), buffering in zip(axes, BUFFERINGS):
        mine = [r for r in rows if r["weight_buffering"] == buffering]
        for bw, style in zip(bandwidths, styles):
            sel = [r for r in mine if r["dram_bandwidth_gbps"] == bw]
            xs = [r["output_tokens"] for r in sel]
            ax.plot(xs, [r["speedup"] for r in sel], style, label=f"{bw:g} GB/s", markersize=5, alpha=0.85)
            ax2.plot(xs, [r["energy_saving"] for r in sel], style, label=f"{bw:g} GB/s", markersize=5, alpha=0.85)
        prefill = {r["dram_bandwidth_gbps"]: r["prefill_speedup"] for r in mine}
        level, low, high = prefill[bandwidth_gbps], min(prefill.values()), max(prefill.values())
        label = f"prefill alone at {bandwidth_gbps:g} GB/s ({level:.2f}x)"
        if f"{low:.2f}" != f"{high:.2f}":
            label += f"\n({low:.2f}-{high:.2f}x from {bandwidths[0]:g} to {bandwidths[-1]:g} GB/s)"
        for a in (ax, ax2):
            a.set_xscale("log", base=2)
            a.set_xticks(tokens, [str(g) for g in tokens])
            a.set_xlabel("output tokens G (answer length)")
            a.grid(True, which="both", alpha=0.3)
            a.set_ylim(1.0, top)
        ax.axhline(level, color="grey", ls="--", label=label)
        ax.set_ylabel(f"Focus speedup over dense\n(weight buffering {buffering})")
        ax2.set_ylabel(f"Focus energy saving over dense\n(weight buffering {buffering})")
        ax.legend(title="DRAM bandwidth", fontsize=8, loc="center right")
        longest = [r["speedup"] for r in mine if r["output_tokens"] == tokens[-1]]
        ax2.text(0.03, 0.04, f"spread between the lines at G = {tokens[-1]}: {max(longest) - min(longest):.3f}x\n"
                 + _decode_bound(mine, bandwidths, buffering), transform=ax2.transAxes, fontsize=8, va="bottom")
    r0 = rows[0]
    fig.suptitle(f"{r0['workload']}: encoder + prefill (P = {r0['prompt_tokens']}) + G decode tokens, "
                 f"32x32 WS @ 500 MHz, {r0['convention']} (focus-dse's model, beyond the paper)", fontsize=10)
    fig.tight_layout()
    return fig


def _decode_bound(rows: list[dict], bandwidths: list[float], buffering: str) -> str:
    """What bounds decode at M = 1 at the plotted bandwidths, from the rows' memory stalls."""
    stall = {bw: max(r["decode_memory_stall_share"] for r in rows if r["dram_bandwidth_gbps"] == bw)
             for bw in bandwidths}
    waiting = [bw for bw in bandwidths if stall[bw] > 0]
    free = [bw for bw in bandwidths if not waiting or bw > waiting[-1]]
    lines = []
    if free:
        array = "fold fill/drain" if buffering == "single" else "the weights' shift (R cycles a fold)"
        lines.append(f"decode at M = 1 on this array is bound by\n{array}, not by DRAM, from {free[0]:g} GB/s up")
    lines += [f"at {bw:g} GB/s DRAM stalls {stall[bw]:.0%} of decode" for bw in waiting]
    return "\n".join(lines)
