"""How each of Focus's buffers is priced as its size moves (reproduce-paper's SRAM figure): energy per
byte, leakage and area from 1/8 to 8 times its size at the paper's design, under CACTI and under the
faithful default (the memory compiler's macros at the paper's design times CACTI's ratio), with the
memory compiler's retiled macros beside them (dse/cost/buffer_pricing.py)."""

from __future__ import annotations

from pathlib import Path

from dse.cost.accelerator import PAPER_KNOBS, build_accelerator, default_buffer_bytes

BUFFERS = ("input", "wgt", "concentrate_out", "output", "similarity_table")
FACTORS = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
RULES = {"cacti": "CACTI 7", "scaled": "faithful default", "compiler": "compiler macros"}
FIGURES = (("read_pj_per_byte", "read energy (pJ/byte)"), ("leakage_mw", "leakage (mW)"), ("area_mm2", "area (mm²)"))


def sram_curves() -> list[dict]:
    """One row per buffer, size and pricing rule: what that rule charges the buffer at that size."""
    paper = default_buffer_bytes("focus", PAPER_KNOBS)
    rows = []
    for name in BUFFERS:
        for factor in FACTORS:
            size = int(paper[name] * factor)
            for rule in RULES:
                chip = build_accelerator("focus", PAPER_KNOBS, {name: size}, sram_rule=rule)
                b = next(b for b in chip.buffers if b.name == name)
                rows.append({"buffer": name, "bytes": size, "rule": rule} | {k: getattr(b, k) for k, _ in FIGURES})
    return rows


def plot_sram_curves(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    styles = {"cacti": "-", "scaled": "--", "compiler": ":"}
    fig, axes = plt.subplots(1, 3, figsize=(12.5, 4.2))
    for ax, (key, label) in zip(axes, FIGURES):
        for i, name in enumerate(BUFFERS):
            for rule, style in styles.items():
                sel = [r for r in rows if r["buffer"] == name and r["rule"] == rule]
                ax.plot([r["bytes"] / 1024 for r in sel], [r[key] for r in sel], style, color=f"C{i}",
                        marker="o" if rule == "cacti" else None, markersize=3,
                        label=f"{name}, {RULES[rule]}" if key == FIGURES[0][0] else None)
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis, (lo, hi) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            # plain numbers, not powers of ten: 1, 2, 5 per decade on a short axis, decades on a long one
            axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0) if hi / lo < 1e3 else (1.0,)))
            axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            axis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("buffer size (KB)")
        ax.set_title(label, fontsize=10)
        ax.grid(True, which="both", alpha=0.25)
    fig.legend(loc="lower center", ncol=5, fontsize=7, frameon=False)
    fig.suptitle("Focus's buffers at 1/8x to 8x their size at the paper's design, 28 nm (solid: CACTI 7; dashed: the "
                 "faithful default; dotted: the compiler's macros retiled)", fontsize=10)
    fig.subplots_adjust(left=0.06, right=0.99, top=0.86, bottom=0.33, wspace=0.28)
    fig.savefig(path, dpi=110)
    plt.close(fig)
