"""How the similarity knobs change the unique-row fraction, relative to the published setting.

The published profiles fix unique rows at the paper's settings (threshold 0.9 or 0.95,
block 2x2x2, vector 32). A design with other settings scales that fraction by redundancy
curves: unique fraction vs one knob with the others at their defaults.

- Threshold and block: measured on real video through a real ViT, one curve file per clip in
  dse/data/redundancy/ (`focus-dse concentrate --curves NAME` writes one; sources.csv says where
  each clip came from). A design names its clip set (`redundancy_clips`: "all", the default, or
  names joined by commas); the model uses the *mean over the set's clips* of the unique fraction
  at each measured knob value.
- Vector size, in the LLM prefill: calibrated, not measured here. A ViT 384 wide on 16 frames
  says little of 3584-wide LLM rows (DINOv2 keeps 0.25 of its whole rows vs 0.23 of its
  32-element sub-vectors; the paper's LLM layer 0.82 vs 0.42). The curve is the Focus paper
  simulator's vector sweep (dse/data/paper_vector_sweep.csv): layer 9's o_proj on
  llava_vid/mlvu, traces re-made at each vector size; unique fraction = array MACs / (K N) /
  kept tokens. Every GEMM of every layer takes that one layer's shape (the only one published).
- Vector size, in the vision encoder (`encoder_threshold`): the DINOv2 curves, like its
  threshold and block.
Between measured values a curve is interpolated linearly (clamped beyond the ends, with a
warning); a block that was not measured takes the nearest measured one in (frames, rows x cols).

The ViT is more redundant than the paper's LLM layers (it keeps 23 % of rows at the defaults on a
static-camera clip where the paper's traces keep ~59 %), so ratios of kept fractions would
exaggerate every change. We scale the *removed* share instead: a knob moving the curve's removed
share from 1 - f0 to 1 - f scales the LLM's removed share 1 - x by (1 - f) / (1 - f0). This is
bounded (x stays in [0, 1]), gives "no similarity" exactly where the curve does (block 1x1x1,
threshold 1), and multiplies across knobs (treated as independent).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from dse.data_files import DATA_DIR
from dse.errors import UserError, warn
from dse.profile import MLP_GEMMS, parse_block
from dse import xp
from dse.workloads.catalog import Workload
from dse.workloads.gemms import Gemm, linear_gemms

DEFAULT_VECTOR = 32.0
DEFAULT_BLOCK = (2, 2, 2)
CURVES_DIR = DATA_DIR / "redundancy"
PAPER_VECTOR_SWEEP = DATA_DIR / "paper_vector_sweep.csv"
KNOBS = ("threshold", "vector_size", "block")
NUMERIC = ("threshold", "vector_size")
ALL_CLIPS = "all"
CLIP_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
SOURCE_FIELDS = ("clip", "package", "file", "licence", "content", "video_frames", "frames", "frame_indices", "sha256",
                 "measured")
CURVES_WHERE = "dse/data/redundancy/"
LLM_VECTOR_WHERE = "the Focus paper's vector sweep, dse/data/paper_vector_sweep.csv"


def check_clip_name(name: str, where: str) -> str:
    if not CLIP_NAME.fullmatch(name) or name == ALL_CLIPS:
        raise UserError(f"{where}: clip name {name!r} must be lower-case letters, digits, '-' or '_' (not 'all')")
    return name


@dataclass(frozen=True)
class ClipCurves:
    """One clip's measured curves: unique fraction (all layers and GEMM inputs) per knob value."""

    name: str
    numeric: dict[str, tuple[tuple[float, float], ...]]  # threshold, vector_size: (value, fraction), sorted
    blocks: dict[tuple[int, int, int], float]
    layers: dict[tuple[str, str], dict[int, float]]  # (knob, value as written) -> fraction per ViT layer
    source: dict[str, str]


def _fraction(text: str, where: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise UserError(f"{where}: unique fraction {text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise UserError(f"{where}: unique fraction {value:g} is outside [0, 1]")
    return value


def _check_monotone(points: list[tuple[float, float]], knob: str, where: str) -> None:
    """A stricter test never finds more matches: a sub-vector matched at threshold t is matched at
    every lower one, so the threshold curve cannot fall."""
    for (v0, f0), (v1, f1) in zip(points, points[1:]):
        if f1 < f0:
            raise UserError(f"{where}: unique fraction falls from {f0:g} at {knob} {v0:g} to {f1:g} at {v1:g}: "
                            f"a {knob} curve must not decrease")


def _check_blocks(blocks: dict[tuple[int, int, int], float], where: str) -> None:
    """A window inside another finds no more neighbours, so it leaves no fewer unique rows."""
    for small, f_small in blocks.items():
        for big, f_big in blocks.items():
            if small != big and all(s <= b for s, b in zip(small, big)) and f_big > f_small:
                raise UserError(f"{where}: block {'x'.join(map(str, big))} leaves more unique rows ({f_big:g}) than "
                                f"the smaller block {'x'.join(map(str, small))} ({f_small:g})")


def read_curve_file(path: Path, source: dict[str, str]) -> ClipCurves:
    """One clip's curve file, checked: every knob (the defaults among its values), fractions in
    [0, 1], and monotone where the rule makes it so (threshold up, fraction up; a larger block,
    fraction down). The vector curve need not be: a whole row can match at cosine > t while one of
    its sub-vectors does not (bigbuckbunny: 0.311 unique at vector 128, 0.304 at 384)."""
    where = f"redundancy curve {path}"
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            rows = list(reader)
    except OSError as exc:
        raise UserError(f"{where}: cannot read it ({exc.strerror or exc})") from None
    missing = [c for c in ("knob", "value", "unique_fraction") if c not in header]
    if missing:
        raise UserError(f"{where}: no column(s) {', '.join(missing)} "
                        "(header: knob,value,unique_fraction[,unique_L0..])")
    layer_columns = {c: int(c[len("unique_L"):]) for c in header if re.fullmatch(r"unique_L\d+", c)}
    by_knob: dict[str, list[tuple[str, float]]] = {}
    layers: dict[tuple[str, str], dict[int, float]] = {}
    for line, r in enumerate(rows, start=2):
        knob = r["knob"]
        if knob not in KNOBS:
            raise UserError(f"{where}, line {line}: unknown knob {knob!r}: use {', '.join(KNOBS)}")
        by_knob.setdefault(knob, []).append((r["value"], _fraction(r["unique_fraction"], f"{where}, line {line}")))
        layers[(knob, r["value"])] = {i: _fraction(r[c], f"{where}, line {line}") for c, i in layer_columns.items()}
    absent = [k for k in KNOBS if len(by_knob.get(k, ())) < 2]
    if absent:
        raise UserError(f"{where}: knob(s) {', '.join(absent)} missing (each needs at least two measured values)")
    numeric = {}
    for knob in NUMERIC:
        try:
            points = sorted((float(v), f) for v, f in by_knob[knob])
        except ValueError:
            raise UserError(f"{where}: a {knob} value is not a number") from None
        if len({v for v, _ in points}) < len(points):
            raise UserError(f"{where}: a {knob} value is listed twice")
        if knob == "threshold":
            _check_monotone(points, knob, where)
        numeric[knob] = tuple(points)
    blocks: dict[tuple[int, int, int], float] = {}
    for value, f in by_knob["block"]:
        block = parse_block(value, where)
        if block in blocks:
            raise UserError(f"{where}: block {value} is listed twice")
        blocks[block] = f
    _check_blocks(blocks, where)
    if DEFAULT_BLOCK not in blocks or DEFAULT_VECTOR not in dict(numeric["vector_size"]):
        raise UserError(f"{where}: the curves are relative to the defaults: measure block 2x2x2 and vector_size 32")
    return ClipCurves(path.stem, numeric, blocks, layers, source)


@cache
def clip_curves() -> dict[str, ClipCurves]:
    """Every shipped clip's curves, by name: a curve file per row of sources.csv, and no other."""
    where = f"{CURVES_DIR / 'sources.csv'}"
    with open(CURVES_DIR / "sources.csv", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in SOURCE_FIELDS if c not in (reader.fieldnames or [])]
        if missing:
            raise UserError(f"{where}: no column(s) {', '.join(missing)}")
        sources = {}
        for r in reader:
            name = check_clip_name(r["clip"], where)
            if not all(r[c].strip() for c in SOURCE_FIELDS):
                raise UserError(f"{where}: clip {name} leaves a source field empty "
                                f"(each of {', '.join(SOURCE_FIELDS)})")
            sources[name] = r
    files = {p.stem for p in CURVES_DIR.glob("*.csv")} - {"sources"}
    if files != set(sources):
        raise UserError(f"{where}: curve files and sources differ: without a source {sorted(files - set(sources))}, "
                        f"without a curve file {sorted(set(sources) - files)}")
    return {name: read_curve_file(CURVES_DIR / f"{name}.csv", src) for name, src in sorted(sources.items())}


@cache
def user_clip(path: str) -> ClipCurves:
    """A clip's curve file outside the package (`focus-dse concentrate --curves NAME` writes NAME.csv
    and, beside it, NAME.source.csv saying which video it measured)."""
    curve = Path(path).expanduser()
    source = curve.with_name(curve.stem + ".source.csv")
    if not curve.is_file():
        raise UserError(f"redundancy curve {path}: no such file (focus-dse concentrate --curves NAME writes one)")
    if not source.is_file():
        raise UserError(f"redundancy curve {path}: no {source.name} beside it saying which video it measured "
                        "(focus-dse concentrate --curves writes both)")
    with open(source, newline="") as f:
        row = next(csv.DictReader(f), None)
    if not row or not row.get("file"):
        raise UserError(f"{source}: no source row (clip, file, sha256, frames ...): "
                        "re-run focus-dse concentrate --curves")
    return read_curve_file(curve, row)


def clip(entry: str) -> ClipCurves:
    """A shipped clip by name, or a curve file by its path (ending in .csv)."""
    return user_clip(entry) if entry.endswith(".csv") else clip_curves()[entry]


def clip_set(text: str) -> tuple[str, ...]:
    """The clips a `redundancy_clips` value names: 'all' (every shipped clip), or shipped clip names
    and curve-file paths joined by commas."""
    known = clip_curves()
    if text.strip() == ALL_CLIPS:
        return tuple(known)
    names = tuple(sorted({n.strip() for n in text.split(",")} - {""}))
    unknown = [n for n in names if n not in known and not n.endswith(".csv")]
    if unknown or not names:
        raise UserError(f"design: redundancy_clips {text!r}: unknown clip(s) {', '.join(unknown) or '(none named)'}; "
                        f"use 'all', some of {', '.join(known)} ({CURVES_WHERE}) or curve files (.csv)")
    for name in names:
        clip(name)  # a curve file is read (and checked) when a design names it
    return names


def canonical_clips(text: str) -> str:
    """A `redundancy_clips` value as designs store it: 'all', or the names sorted."""
    if not isinstance(text, str):
        raise UserError(f"design: redundancy_clips must be 'all' or clip names or curve files joined by commas, "
                        f"got {text!r}")
    return _canonical_clips(text)


@cache  # asked by every DesignPoint a study builds
def _canonical_clips(text: str) -> str:
    names = clip_set(text)
    return ALL_CLIPS if text.strip() == ALL_CLIPS else ",".join(names)


@dataclass(frozen=True)
class Curves:
    """The aggregate a clip set gives: at each knob value, the mean unique fraction of its clips."""

    clips: tuple[str, ...]
    numeric: dict[str, tuple[tuple[float, float], ...]]
    blocks: dict[tuple[int, int, int], float]

    def __getitem__(self, knob: str) -> list[tuple[float, float]]:
        return list(self.numeric[knob])

    def get(self, knob: str, default=None):
        return list(self.numeric[knob]) if knob in self.numeric else default


@cache
def curves(clips: str = ALL_CLIPS) -> Curves:
    """The ViT curves of a clip set (threshold, vector_size: sorted (value, unique fraction))."""
    names = clip_set(clips)
    members = [clip(n) for n in names]
    first = members[0]
    for c in members[1:]:  # a mean is only defined where every clip was measured
        for knob in NUMERIC:
            if [v for v, _ in c.numeric[knob]] != [v for v, _ in first.numeric[knob]]:
                raise UserError(f"redundancy clips {first.name} and {c.name} measured {knob} at different values: "
                                "re-measure them on one grid (focus-dse concentrate --curves)")
        if set(c.blocks) != set(first.blocks):
            raise UserError(f"redundancy clips {first.name} and {c.name} measured different blocks: "
                            "re-measure them on one grid (focus-dse concentrate --curves)")
    numeric = {knob: tuple((v, float(np.mean([c.numeric[knob][i][1] for c in members])))
                           for i, (v, _) in enumerate(first.numeric[knob])) for knob in NUMERIC}
    blocks = {b: float(np.mean([c.blocks[b] for c in members])) for b in first.blocks}
    return Curves(names, numeric, blocks)


@cache
def paper_vector_sweep() -> tuple[dict, ...]:
    """The Focus paper simulator's vector-size sweep (dse_b_vector_size.csv): one GEMM of one layer."""
    with open(PAPER_VECTOR_SWEEP, newline="") as f:
        return tuple({k: v if k in ("workload", "gemm") else float(v) for k, v in r.items()} for r in csv.DictReader(f))


def measured_gemm(row: dict) -> tuple[Workload, Gemm, int]:
    """The GEMM a row of the paper's vector sweep measured: its workload, shape and kept tokens (the
    layer's SEC schedule, dse/published.py)."""
    from dse.published import focus_config, token_schedule
    from dse.workloads.catalog import resolve_workload

    w = resolve_workload(row["workload"])
    spec, cfg = w.spec.llm, focus_config(w.name)
    attn, mlp = token_schedule(w.tokens, spec.layers, cfg["layers"], cfg["alpha"])[int(row["layer"])]
    g = next(g for g in linear_gemms(spec, 1) if g.name == row["gemm"])
    return w, g, mlp if g.name in MLP_GEMMS else attn


@cache
def llm_vector_curve() -> tuple[tuple[float, float], ...]:
    """Unique fraction vs vector size of the paper's measured LLM layer: its array MACs (ops / 2) over
    the GEMM's K x N, per kept token."""
    out = []
    for r in paper_vector_sweep():
        _, g, kept = measured_gemm(r)
        out.append((r["vector_size"], r["array_ops"] / 2 / (g.K * g.N) / kept))
    return tuple(sorted(out))


def interpolate(points: list[tuple[float, float]], x):
    """The curve at x (a number, or an array of design points): linear between measured points,
    the end values beyond the ends."""
    return xp.interpolate([p[0] for p in points], [p[1] for p in points], x)


def removed_ratio(fraction, reference: float):
    return (1.0 - fraction) / (1.0 - reference)


def _curve_scale(knob: str, points, value, reference: float, where: str):
    """Removed-share multiplier of a knob at `value` (a number or an array of design points) on a curve."""
    if not xp.is_array(value) and value == reference:
        return 1.0
    xs, ys = tuple(p[0] for p in points), tuple(p[1] for p in points)
    lo, hi = xs[0], xs[-1]
    for side, outside in ((lo, value < lo), (hi, value > hi)):
        if xp.somewhere(outside):
            # one line per curve and side, not per value: a study samples many
            shown = value[outside][0] if xp.is_array(value) else value
            warn(f"{knob} {shown:g} is outside its measured redundancy curve ({lo:g}..{hi:g}, {where}): "
                 f"using the unique fraction measured at {side:g}", key=f"redundancy curve {where} {knob} {side}")
    ratio = removed_ratio(xp.interpolate(xs, ys, value), xp.interpolate(xs, ys, reference))
    return xp.where(value == reference, 1.0, ratio) if xp.is_array(value) else ratio


def knob_scale(knob: str, value, reference: float, clips: str = ALL_CLIPS):
    """Removed-share multiplier of a ViT curve's knob (threshold, vector_size) at `value`."""
    return _curve_scale(knob, curves(clips)[knob], value, reference, CURVES_WHERE)


def llm_vector_scale(vector_size):
    """Removed-share multiplier of the LLM prefill's vector size (the paper's layer measurement)."""
    return _curve_scale("vector_size", llm_vector_curve(), vector_size, DEFAULT_VECTOR, LLM_VECTOR_WHERE)


def _nearest_block(block: tuple[int, int, int], clips: str = ALL_CLIPS) -> tuple[int, int, int]:
    """The measured block nearest `block` in (frames, rows x cols)."""
    t, h, w = block
    return min(curves(clips).blocks, key=lambda b: (b[0] - t) ** 2 + ((b[1] * b[2] - h * w) / 4) ** 2)


def block_fraction(block: tuple[int, int, int], clips: str = ALL_CLIPS) -> float:
    measured = curves(clips).blocks
    if tuple(block) in measured:
        return measured[tuple(block)]
    t, h, w = block
    nearest = _nearest_block(tuple(block), clips)
    warn(f"block {t}x{h}x{w} has no measured redundancy ({CURVES_WHERE}): using the nearest measured "
         f"block's, {'x'.join(map(str, nearest))}")
    return measured[nearest]


def curve_use(knob: str, value, clips: str = ALL_CLIPS) -> str:
    """How a design's `knob` value reads the redundancy curves of the LLM prefill: "measured",
    "interpolated", "clamped to X" (beyond the curve, X's value is used), "nearest measured X" (a
    block), or "" when the knob has no redundancy curve."""
    if knob == "block":
        block = parse_block(value) if isinstance(value, str) else tuple(value)
        if block in curves(clips).blocks:
            return "measured"
        return f"nearest measured {'x'.join(map(str, _nearest_block(block, clips)))}"
    if knob not in NUMERIC:
        return ""
    xs = [v for v, _ in (llm_vector_curve() if knob == "vector_size" else curves(clips)[knob])]
    if value < xs[0] or value > xs[-1]:
        return f"clamped to {xs[0] if value < xs[0] else xs[-1]:g}"
    return "measured" if float(value) in xs else "interpolated"


def removed_scale(design, workload: Workload) -> float:
    """Multiplier on the share of rows the published profile's similarity removes, for this
    design's threshold, vector size and block."""
    clips = design.redundancy_clips
    return similarity_scale(workload, design.threshold, design.vector_size,
                            block_fraction(tuple(design.block), clips), clips)


def similarity_scale(workload: Workload, threshold, vector_size, block_unique, clips: str = ALL_CLIPS):
    """removed_scale from the knobs' values: numbers, or arrays of design points (dse/batch.py;
    a NaN threshold is the published one); block_unique is the block's measured unique fraction."""
    from dse.published import focus_config

    published = focus_config(workload.name)["threshold"]
    if threshold is None:
        threshold = published
    elif xp.is_array(threshold):
        threshold = np.where(np.isnan(threshold), published, threshold)
    scale = knob_scale("threshold", threshold, published, clips) * llm_vector_scale(vector_size)
    return scale * removed_ratio(block_unique, block_fraction(DEFAULT_BLOCK, clips))


def vit_unique_fraction(threshold: float, vector_size: int, block: tuple[int, int, int],
                        clips: str = ALL_CLIPS) -> float:
    """Unique rows / rows the Focus unit leaves in a ViT: the clip set's threshold curve, scaled by its
    vector and block curves."""
    removed = 1.0 - interpolate(curves(clips)["threshold"], threshold)
    removed *= knob_scale("vector_size", vector_size, DEFAULT_VECTOR, clips)
    removed *= removed_ratio(block_fraction(tuple(block), clips), block_fraction(DEFAULT_BLOCK, clips))
    return min(1.0, max(0.0, 1.0 - removed))


def provenance(clips: str = ALL_CLIPS, encoder: bool = False) -> dict[str, object]:
    """Where each curve a design's profile was scaled by comes from (printed with the results)."""
    names = clip_set(clips)
    measured = (f"measured: DINOv2 ViT-S/14 on real video, mean over {len(names)} clip(s) "
                f"({', '.join(names)}; {CURVES_WHERE})")
    out: dict[str, object] = {
        "redundancy_clips": list(names),
        "threshold": measured,
        "block": measured,
        "vector_size": "calibrated: the Focus paper simulator's vector sweep, llava_vid/mlvu layer 9 o_proj "
                       "(dse/data/paper_vector_sweep.csv), applied to every LLM GEMM as a removed-share ratio",
    }
    if encoder:
        out["encoder"] = f"threshold, vector size and block {measured}"
    return out
