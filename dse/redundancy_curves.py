"""The measured redundancy curves, one file per clip (dse/data/redundancy/, or a user's file beside its
source): unique-row fraction vs threshold, vector size and block, read and checked (every knob, fractions
in [0, 1], monotone where the rule makes them so), and a clip set's aggregate, the mean over its clips
(dse/redundancy.py scales the published profiles by it)."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from dse.data_files import DATA_DIR
from dse.errors import UserError
from dse.profile import parse_block

DEFAULT_VECTOR = 32.0  # the paper's settings, which the published profiles measured
DEFAULT_BLOCK = (2, 2, 2)
CURVES_DIR = DATA_DIR / "redundancy"
KNOBS = ("threshold", "vector_size", "block")
NUMERIC = ("threshold", "vector_size")
ALL_CLIPS = "all"
CLIP_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
SOURCE_FIELDS = ("clip", "package", "file", "licence", "content", "video_frames", "frames", "frame_indices", "sha256",
                 "measured")
CURVES_WHERE = "dse/data/redundancy/"


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
