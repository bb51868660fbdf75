"""focus-dse reproduce-paper: our figures beside the Focus paper's, and its sensitivity sweeps."""

from __future__ import annotations

import argparse
from pathlib import Path

from dse.choices import CONVENTIONS
from dse.csvfile import write_csv
from dse.errors import UserError


def register(sub) -> None:
    p = sub.add_parser("reproduce-paper", help="Table 3, speedups and energy savings vs the paper; its four sweeps")
    p.add_argument("--convention", default="focus-paper", choices=CONVENTIONS)
    p.add_argument("--results-dir", default="results", help="sweeps go to <dir>/paper/ (default results/)")
    p.add_argument("--whole-query", action="store_true",
                   help="instead: Focus vs the baselines on the whole query (encoder + prefill + decode), beside "
                        "the prefill-only figures; table and plot in <dir>/whole_query/")
    p.add_argument("--dram-bandwidth-gbps", type=float,
                   help="DRAM bandwidth of the --whole-query tables (default 64)")
    p.set_defaults(func=run)


def ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:6.3f}"


def run(args: argparse.Namespace) -> int:
    if args.whole_query:
        return run_whole_query(args)
    if args.dram_bandwidth_gbps is not None:
        raise UserError("--dram-bandwidth-gbps sets the --whole-query tables' bandwidth; the paper's tables assume "
                        "an unlimited one, as its simulator does: add --whole-query or drop it")
    from dse.paper import (BASELINES, PAPER_HEADLINE, SWEEPS, ablation, compare_workloads, geomean, paper_comparison,
                           sweep, table3, vector_layer_sweep)
    from dse.sram_curves import plot_sram_curves, sram_curves

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
    print_ablation(ablation(args.convention), out)
    for knob in SWEEPS:
        rows = sweep(knob, convention=args.convention)
        path = write_csv(out / f"sweep_{knob}.csv", rows)
        plot_sweep(rows, knob, out / f"sweep_{knob}.png")
        print(f"\nsweep {knob} -> {path}, {path.with_suffix('.png')}")
        for r in rows:
            theirs, joules = r["paper_total_cycles"], r["paper_energy_j"]
            versus = f"paper {theirs / 5e8:7.2f} s {joules:7.2f} J   ratio {r['total_cycles'] / theirs:5.2f} " \
                     f"{r['energy_j'] / joules:5.2f}" if theirs else ""
            if r["redundancy"] not in ("", "measured"):
                versus += f"  (redundancy {r['redundancy']})"
            print(f"  {knob}={r['value']!s:<6} {r['execution_time_s']:7.2f} s {r['energy_j']:7.2f} J   {versus}   "
                  f"SRAM {', '.join(sorted(set(r['sram_model'])))}")
    print_vector_layer(vector_layer_sweep(args.convention), out)
    curves = sram_curves()
    path = write_csv(out / "sram_curves.csv", curves)
    plot_sram_curves(curves, path.with_suffix(".png"))
    print(f"\nFocus's buffers priced from 1/8 to 8 times their size (CACTI 7, the faithful default, the compiler's "
          f"macros) -> {path}, {path.with_suffix('.png')}")
    return 0


def print_vector_layer(rows: list[dict], out: Path) -> None:
    path = write_csv(out / "sweep_vector_size_layer.csv", rows)
    r0 = rows[0]
    print(f"\nsweep vector_size as the paper ran it: layer {r0['layer']} {r0['gemm']} of {r0['workload']} "
          f"({r0['tokens']} kept tokens; unique rows at vector 32 from the paper's trace, moved by the prefill's "
          f"vector curve; ours, paper, ratio) -> {path}")
    print(f"  {'vector':>6} {'array':>7}{'cycles M':>24}{'vs vector 32':>22}{'array MACs G':>24}{'stall M':>16}")
    for r in rows:
        print(f"  {r['vector_size']:>6} {r['rows']:>3}x{r['cols']:<3}"
              f"   {r['cycles'] / 1e6:6.2f} {r['paper_cycles'] / 1e6:6.2f} {ratio(r['cycles'], r['paper_cycles'])}"
              f"   {r['relative_cycles']:6.3f} {r['paper_relative_cycles']:6.3f} "
              f"{ratio(r['relative_cycles'], r['paper_relative_cycles'])}"
              f"   {r['array_macs'] / 1e9:6.2f} {r['paper_array_macs'] / 1e9:6.2f} "
              f"{ratio(r['array_macs'], r['paper_array_macs'])}"
              f"   {r['stall_cycles'] / 1e6:5.2f} {r['paper_stall_cycles'] / 1e6:5.2f}")
    print(f"  the GEMM dense, on every visual token: {r0['dense_macs'] / 1e9:.1f} G MACs "
          f"(paper {r0['paper_dense_macs'] / 1e9:.1f} G); the paper's array_ops count a MAC as two operations")


def print_ablation(rows: list[dict], out: Path) -> None:
    from dse.paper import PAPER_SEC_ONLY_M_TILE

    path = write_csv(out / "ablation.csv", rows)
    print(f"\nAblation: Focus at each concentration level, cycles G / energy J (M tile 1024) -> {path}")
    print(f"  {'workload':<26}" + "".join(f"{level:>18}" for level in ("sec+sic", "sec", "sic", "none")))
    for r in rows:
        print(f"  {r['workload']:<26}" + "".join(f" {r[f'{lv}_cycles'] / 1e9:9.2f} {r[f'{lv}_energy_j']:7.1f}"
                                                  for lv in ("sec+sic", "sec", "sic", "none")))
    print(f"\nSEC only at the paper simulator's M tile of {PAPER_SEC_ONLY_M_TILE} beside its SEC-only run "
          "(ours, paper, ratio); away from its default design the paper prices SRAM with CACTI, and so does "
          "focus-paper (README 'SRAM')")
    print(f"  {'workload':<26}{'cycles G':>24}{'energy J':>24}{'energy without SRAM J':>26}{'DRAM GB':>22}")
    for r in rows:
        bare, paper_bare = r["sec512_energy_j"] - r["sec512_sram_j"], r["paper_sec512_energy_j"] - r["paper_sec512_sram_j"]
        cells = [(r["sec512_cycles"] / 1e9, r["paper_sec512_cycles"] / 1e9), (r["sec512_energy_j"], r["paper_sec512_energy_j"]),
                 (bare, paper_bare), (r["sec512_dram_bytes"] / 1e9, r["paper_sec512_dram_bytes"] / 1e9)]
        print(f"  {r['workload']:<26}" + "".join(f"   {o:7.2f} {t:7.2f} {ratio(o, t)}" for o, t in cells))


def plot_sweep(rows: list[dict], knob: str, path: Path) -> None:
    fig = sweep_figure(rows, knob)  # selects the Agg backend before pyplot is imported here
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110)
    plt.close(fig)


def sweep_figure(rows: list[dict], knob: str):
    """Two panels over the knob's values: latency bars (compute + stall) with the paper simulator's
    latency marked, and energy below; both axes start at zero (differences at their true scale);
    one legend for every series, under the plot, so that it covers no bar and no marker. Values
    beyond the measured redundancy curve (their unique fraction clamped to the curve's end) are
    hatched bars and hollow energy points, named in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [str(r["value"]) for r in rows]
    compute = [r["compute_cycles"] / 5e8 for r in rows]
    clamped = [r["redundancy"].startswith("clamped") for r in rows]
    hatch = {"hatch": ["//" if c else "" for c in clamped], "edgecolor": ["white" if c else "none" for c in clamped]}
    fig, (ax, low) = plt.subplots(2, 1, figsize=(6.4, 5.6), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    ax.bar(labels, compute, label="compute (latency)", color="tab:blue", **hatch)
    ax.bar(labels, [r["stall_cycles"] / 5e8 for r in rows], bottom=compute, label="stall (latency)",
           color="tab:orange", **hatch)
    paper = [(label, r["paper_total_cycles"] / 5e8) for label, r in zip(labels, rows) if r["paper_total_cycles"]]
    if paper:
        ax.plot(*zip(*paper), "x", color="red", markersize=9, markeredgewidth=2, zorder=4,
                label="paper simulator (latency)")
    ax.set_ylabel("latency at 500 MHz (s)")
    ax.set_ylim(0, max(c + r["stall_cycles"] / 5e8 for c, r in zip(compute, rows)) * 1.12)
    low.plot(labels, [r["energy_j"] for r in rows], "k.-", label="energy")
    paper_j = [(label, r["paper_energy_j"]) for label, r in zip(labels, rows) if r["paper_energy_j"] != ""]
    if paper_j:
        low.plot(*zip(*paper_j), "x", color="red", markersize=7, markeredgewidth=1.5, zorder=4,
                 label="paper simulator (energy)")
    if any(clamped):
        ends = sorted({r["redundancy"].removeprefix("clamped to ") for r, c in zip(rows, clamped) if c})
        low.plot([x for x, c in zip(labels, clamped) if c], [r["energy_j"] for r, c in zip(rows, clamped) if c], "o",
                 mfc="white", mec="black", zorder=3,
                 label=f"hatched, hollow: redundancy not measured,\nthe curve's end ({knob} {' and '.join(ends)}) used")
    low.set_ylabel("energy (J)")
    low.set_ylim(0, max([r["energy_j"] for r in rows] + [j for _, j in paper_j]) * 1.12)
    low.set_xlabel(knob)
    for a in (ax, low):
        a.grid(True, axis="y", alpha=0.3)
    handles = ax.get_legend_handles_labels()[0] + low.get_legend_handles_labels()[0]
    fig.legend(handles, [h.get_label() for h in handles], loc="lower center", ncol=min(len(handles), 3 if any(clamped)
                                                                                         else 4),
               fontsize=8, frameon=False)
    ax.set_title(f"Focus on {rows[0]['workload']} vs {knob}\n{rows[0]['convention']} convention (modelled, focus-dse)",
                 fontsize=10)
    fig.subplots_adjust(left=0.12, right=0.97, top=0.9, bottom=0.2 if any(clamped) else 0.16, hspace=0.08)
    return fig


def run_whole_query(args: argparse.Namespace) -> int:
    from dse.paper import BASELINES, geomean
    from dse.query import CAPTIONING, VIDEO_QA, MODELLED
    from dse.sim.hardware import BUFFERINGS
    from dse.whole_query import ACCELERATORS, compare_video, plot_bandwidths, plot_grid, speedup_grid

    if args.dram_bandwidth_gbps is None:
        args.dram_bandwidth_gbps = 64.0
    if not args.dram_bandwidth_gbps > 0:
        raise UserError(f"--dram-bandwidth-gbps must be a positive number, got {args.dram_bandwidth_gbps}")
    out = Path(args.results_dir) / "whole_query"
    out.mkdir(parents=True, exist_ok=True)
    bw = args.dram_bandwidth_gbps
    print(f"convention: {args.convention}; DRAM {bw:g} GB/s; {MODELLED}; weight buffering single (SCALE-Sim's serial "
          "fold) and double (the next fold's stationary operand loads while the current one streams), on every "
          "accelerator alike")
    rows = []
    for label, setting in (("video QA", VIDEO_QA), ("captioning", CAPTIONING)):
        P, G = setting["prompt_tokens"], setting["output_tokens"]
        print(f"\n{label}: P = {P} prompt tokens, G = {G} output tokens. Focus speedup over the "
              "prefill alone (the paper's scope) -> over the whole query, and energy saving (whole query)")
        by_buffering = {}
        for buffering in BUFFERINGS:
            print(f"  weight buffering {buffering}\n  {'workload':<26}" + "".join(f"{'vs ' + b:>30}" for b in BASELINES)
                  + "   encoder share of TTFT (dense, Focus)")
            comparisons = by_buffering[buffering] = compare_video(args.convention, P, G, bw, buffering)
            for c in comparisons:
                cells = "".join(f"   {c.prefill_speedup(b):5.2f}->{c.speedup(b):5.2f}x {c.saving(b):5.2f}x energy"
                                for b in BASELINES)
                print(f"  {c.workload:<26}{cells}   {100 * c.encoder_share('dense'):4.1f} % "
                      f"{100 * c.encoder_share('focus'):5.1f} %")
                for a, q in c.queries.items():
                    rows.append({"setting": label, "weight_buffering": buffering, "workload": c.workload,
                                 "accelerator": a, "prompt_tokens": P, "output_tokens": G, "dram_bandwidth_gbps": bw,
                                 "ttft_s": q.ttft_s, "tpot_s": q.tpot_s, "query_time_s": q.query_time_s,
                                 "query_energy_j": q.query_energy_j,
                                 **{f"{p}_time_s": ph.time_s for p, ph in q.phases.items()},
                                 **{f"{p}_energy_j": ph.energy_j for p, ph in q.phases.items()}})
            cells = "".join(f"   {geomean(c.prefill_speedup(b) for c in comparisons):5.2f}->"
                            f"{geomean(c.speedup(b) for c in comparisons):5.2f}x "
                            f"{geomean(c.saving(b) for c in comparisons):5.2f}x energy" for b in BASELINES)
            print(f"  {'geomean':<26}{cells}")
        pairs = list(zip(by_buffering["single"], by_buffering["double"]))
        print("  double / single, geomean over the workloads: query time "
              + ", ".join(f"{a} {geomean(d.queries[a].query_time_s / s.queries[a].query_time_s for s, d in pairs):.3f}"
                          for a in ACCELERATORS)
              + "; query energy "
              + ", ".join(f"{a} {geomean(d.queries[a].query_energy_j / s.queries[a].query_energy_j for s, d in pairs):.3f}"
                          for a in ACCELERATORS))
    table = write_csv(out / "whole_query.csv", rows)
    grid = speedup_grid(args.convention, VIDEO_QA["prompt_tokens"], plot_bandwidths(bw))
    write_csv(out / "speedup_vs_tokens.csv", grid)
    plot_grid(grid, out / "speedup_vs_tokens.png", bw)
    for buffering in BUFFERINGS:
        mine = [r for r in grid if r["weight_buffering"] == buffering]
        print(f"\nllava_vid/videomme, Focus vs dense end to end (P = {VIDEO_QA['prompt_tokens']}), weight buffering "
              f"{buffering}:")
        print("  G      " + "".join(f"{r['dram_bandwidth_gbps']:>10g} GB/s" for r in mine if r["output_tokens"] == 1))
        for G in sorted({r["output_tokens"] for r in mine}):
            print(f"  {G:<6} " + "".join(f"{r['speedup']:14.2f}x" for r in mine if r["output_tokens"] == G))
    print(f"\n{table}, {out / 'speedup_vs_tokens.csv'}, {out / 'speedup_vs_tokens.png'}")
    return 0
