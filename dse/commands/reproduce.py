"""focus-dse reproduce-paper: our figures beside the Focus paper's, and its sensitivity sweeps."""

from __future__ import annotations

import argparse
from pathlib import Path

from dse.csvfile import write_csv
from dse.paper import (BASELINES, PAPER_HEADLINE, SWEEPS, compare_workloads, geomean, paper_comparison, sweep,
                       table3)
from dse.sim.plan import CONVENTIONS


def register(sub) -> None:
    p = sub.add_parser("reproduce-paper", help="Table 3, speedups and energy savings vs the paper; its four sweeps")
    p.add_argument("--convention", default="focus-paper", choices=CONVENTIONS)
    p.add_argument("--results-dir", default="results", help="sweeps go to <dir>/paper/ (default results/)")
    p.set_defaults(func=run)


def ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:6.3f}"


def run(args: argparse.Namespace) -> int:
    out = Path(args.results_dir) / "paper"
    out.mkdir(parents=True, exist_ok=True)  # fail on a bad folder before the work, not after
    print(f"convention: {args.convention} (ours / paper = ratio)\n")
    print("Table 3            area mm2                 on-chip power mW           buffer KB")
    for r in table3(args.convention):
        print(f"  {r['accelerator']:<9} {r['area_mm2']:7.3f} {r['paper_area_mm2']:7.3f} {ratio(r['area_mm2'], r['paper_area_mm2'])}"
              f"   {r['onchip_power_mw']:8.1f} {r['paper_onchip_power_mw']:8.1f} "
              f"{ratio(r['onchip_power_mw'], r['paper_onchip_power_mw'])}"
              f"   {r['buffer_kb']:6.0f} {r['paper_buffer_kb']:6.0f} {ratio(r['buffer_kb'], r['paper_buffer_kb'])}")
    ours = compare_workloads(args.convention)
    theirs = [paper_comparison(c.workload) for c in ours]
    print("\nFocus speedup / energy saving per workload (ours, paper, ratio)")
    print(f"  {'workload':<26}" + "".join(f"{'vs ' + b + ' speedup':>27}{'vs ' + b + ' energy':>27}" for b in BASELINES))
    for o, t in zip(ours, theirs):
        cells = ""
        for b in BASELINES:
            cells += f"   {o.speedup(b):6.2f} {t.speedup(b):6.2f} {ratio(o.speedup(b), t.speedup(b))}"
            cells += f"   {o.saving(b):6.2f} {t.saving(b):6.2f} {ratio(o.saving(b), t.saving(b))}"
        print(f"  {o.workload:<26}{cells}")
    cells = ""
    for b in BASELINES:
        s, e = geomean(c.speedup(b) for c in ours), geomean(c.saving(b) for c in ours)
        ps, pe = PAPER_HEADLINE[b]
        cells += f"   {s:6.2f} {ps:6.2f} {ratio(s, ps)}   {e:6.2f} {pe:6.2f} {ratio(e, pe)}"
    print(f"  {'geomean (paper headline)':<26}{cells}")
    first = ours[0]
    print(f"\n{first.workload}: Focus {first.cycles['focus'] / 5e8:.2f} s (paper {theirs[0].cycles['focus'] / 5e8:.2f}), "
          f"{first.energy_j['focus']:.2f} J (paper {theirs[0].energy_j['focus']:.2f}); "
          f"dense {first.energy_j['dense']:.2f} J (paper {theirs[0].energy_j['dense']:.2f})")
    for knob in SWEEPS:
        rows = sweep(knob, convention=args.convention)
        path = write_csv(out / f"sweep_{knob}.csv", rows)
        plot_sweep(rows, knob, out / f"sweep_{knob}.png")
        print(f"\nsweep {knob} -> {path}, {path.with_suffix('.png')}")
        for r in rows:
            theirs = r["paper_total_cycles"]
            versus = f"paper {theirs / 5e8:7.2f} s  ratio {r['total_cycles'] / theirs:5.2f}" if theirs else ""
            print(f"  {knob}={r['value']!s:<6} {r['execution_time_s']:7.2f} s {r['energy_j']:7.2f} J   {versus}")
    return 0


def plot_sweep(rows: list[dict], knob: str, path: Path) -> None:
    fig = sweep_figure(rows, knob)  # selects the Agg backend before pyplot is imported here
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110)
    plt.close(fig)


def sweep_figure(rows: list[dict], knob: str):
    """Two panels over the knob's values: latency bars (compute + stall) with the paper simulator's
    latency marked, and energy below; both axes start at zero (differences at their true scale);
    one legend for every series, under the plot, so that it covers no bar and no marker."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [str(r["value"]) for r in rows]
    compute = [r["compute_cycles"] / 5e8 for r in rows]
    fig, (ax, low) = plt.subplots(2, 1, figsize=(6.4, 5.6), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    ax.bar(labels, compute, label="compute (latency)", color="tab:blue")
    ax.bar(labels, [r["stall_cycles"] / 5e8 for r in rows], bottom=compute, label="stall (latency)",
           color="tab:orange")
    paper = [(label, r["paper_total_cycles"] / 5e8) for label, r in zip(labels, rows) if r["paper_total_cycles"]]
    if paper:
        ax.plot(*zip(*paper), "x", color="red", markersize=9, markeredgewidth=2, zorder=4,
                label="paper simulator (latency)")
    ax.set_ylabel("latency at 500 MHz (s)")
    ax.set_ylim(0, max(c + r["stall_cycles"] / 5e8 for c, r in zip(compute, rows)) * 1.12)
    low.plot(labels, [r["energy_j"] for r in rows], "k.-", label="energy")
    low.set_ylabel("energy (J)")
    low.set_ylim(0, max(r["energy_j"] for r in rows) * 1.12)
    low.set_xlabel(knob)
    for a in (ax, low):
        a.grid(True, axis="y", alpha=0.3)
    handles = ax.get_legend_handles_labels()[0] + low.get_legend_handles_labels()[0]
    fig.legend(handles, [h.get_label() for h in handles], loc="lower center", ncol=4, fontsize=8, frameon=False)
    ax.set_title(f"Focus on llava_vid/videomme vs {knob} (modelled, focus-dse)", fontsize=10)
    fig.subplots_adjust(left=0.12, right=0.97, top=0.93, bottom=0.16, hspace=0.08)
    return fig
