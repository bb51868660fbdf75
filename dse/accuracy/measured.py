"""`measured` accuracy: fidelity of real activations under concentration, mapped to accuracy drop.

Two sources of fidelity (cosine of the final CLS / mean-patch embedding to the dense run):
- live (default): the concentration algorithms (dse.concentration) run inside DINOv2 ViT-S/14
  (dse.vision) on a real clip for each design's (threshold, block, vector size); options
  `video` (default: the shipped clip), `frames` (default 8), `threshold_step` (default 0.01:
  thresholds are rounded to it so designs share measurements; each costs seconds on a CPU),
  `cache` (a JSON file keeping measurements across runs and workers);
- files: option `profiles` (a file, directory or glob of SparsityProfile JSONs written by
  `focus-dse concentrate`, each with `settings` and `fidelity`): the loss is interpolated over
  the threshold among the profiles with the design's block and vector size (nearest vector
  size, then block, when none match).

Mapping: a design's fidelity loss L = 1 - fidelity (metric `patch_cosine` by default).
Relative drop (% of dense):

    drop% = base(w) * [ s_sec * S(sec_scale) + (1 - s_sec) * L(design) / L(default) ]

with base(w), S and s_sec as in the calibrated model (dse/accuracy/calibrated.py): the
measured loss replaces the calibrated model's threshold/vector/block terms; the default is
the workload's published threshold at block 2x2x2, vector 32.
"""

from __future__ import annotations

import glob
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from dse.accuracy.base import AccuracyResult
from dse.jsonfile import read_json
from dse.errors import UserError, warn
from dse.levels import runs_sec, runs_sic


@cache
def _load(pattern: str, metric: str) -> tuple[tuple[int, str, float, float, str], ...]:
    """(vector, block, threshold, fidelity loss, file) per profile."""
    path = Path(pattern).expanduser()
    files = sorted(path.glob("*.json")) if path.is_dir() else [Path(p) for p in sorted(glob.glob(str(path)))]
    if not files:
        raise UserError(f"accuracy.profiles: no profile JSON at {pattern} (write some with `focus-dse concentrate`)")
    out = []
    for f in files:
        raw = read_json(f, "concentration profile")
        try:
            s = raw.get("settings") or {}
            block = "x".join(str(int(b)) for b in (s.get("block") or (2, 2, 2)))
            fidelity = float(raw["fidelity"][metric])
            threshold = s.get("threshold")
            out.append((int(s.get("vector_size", 32)), block, float(1.0 if threshold is None else threshold),
                        1.0 - fidelity, str(f)))
        except (AttributeError, ValueError, KeyError, TypeError) as exc:
            raise UserError(f"accuracy.profiles: {f} is not a concentration profile with fidelity.{metric} "
                            f"({exc!r})") from None
    return tuple(out)


class MeasuredProvider:
    name = "measured"
    OPTIONS = frozenset({"profiles", "metric", "sec_share", "sec_gamma", "video", "frames", "threshold_step", "cache"})

    def __init__(self, options: dict[str, Any] | None = None):
        from dse.accuracy.calibrated import CalibratedProvider

        options = dict(options or {})
        self.metric = options.get("metric", "patch_cosine")
        if self.metric not in ("patch_cosine", "cls_cosine"):
            raise UserError(f"accuracy.metric: patch_cosine or cls_cosine, got {self.metric!r}")
        self.calibrated = CalibratedProvider({k: v for k, v in options.items() if k in ("sec_share", "sec_gamma")})
        self.pattern = str(options["profiles"]) if options.get("profiles") else None
        if self.pattern:
            if any(k in options for k in ("video", "frames", "threshold_step", "cache")):
                raise UserError("accuracy: 'profiles' (files) and video/frames/threshold_step/cache (live) exclude "
                                "each other")
            self.points = _load(self.pattern, self.metric)
            self.live = None
        else:
            self.points = ()
            self.live = _Live(options)

    @property
    def cheap(self) -> bool:
        return self.live is None  # live: seconds of ViT inference per new setting; files: interpolation

    @property
    def label(self) -> str:
        if self.live:
            return f"measured (live: DINOv2 ViT-S/14 on {self.live.video_name}, {self.metric}, mapped to drop)"
        return f"measured ({self.metric} of {len(self.points)} concentration profiles, mapped to drop)"

    def loss(self, threshold: float, vector: int, block: str) -> float:
        if self.live:
            return self.live.loss(threshold, vector, block, self.metric)
        return self._file_loss(threshold, vector, block)

    def _file_loss(self, threshold: float, vector: int, block: str) -> float:
        vectors = sorted({p[0] for p in self.points}, key=lambda v: (abs(np.log2(v) - np.log2(vector)), v))
        pts = [p for p in self.points if p[0] == vectors[0]]
        blocks = sorted({p[1] for p in pts}, key=lambda b: (b != block, b))
        pts = sorted((p[2], p[3]) for p in pts if p[1] == blocks[0])
        xs, ys = zip(*pts)
        return float(np.interp(threshold, xs, ys))

    def predict(self, design, workload) -> AccuracyResult:
        from dse.published import focus_config

        result = self.calibrated.predict(design, workload)
        if "relative_drop_pct" not in result.details:  # dense or a published baseline
            return result
        cal = self.calibrated
        base = result.details["base_pct"]
        tau0 = focus_config(workload.name)["threshold"]
        tau = tau0 if design.threshold is None else design.threshold
        block = "x".join(str(b) for b in design.block)
        l0 = self.loss(tau0, 32, "2x2x2")
        ratio = self.loss(tau, design.vector_size, block) / l0 if l0 > 0 else 1.0
        S = cal.sec_factor(workload, design.sec_scale)
        rel = base * (cal.sec_share * S * runs_sec(design.concentration)
                      + (1 - cal.sec_share) * ratio * runs_sic(design.concentration))
        scale = result.dense  # the published dense score at the design's precision (calibrated.py), or 100
        acc = scale * (1 - rel / 100)
        return AccuracyResult(acc, scale - acc, scale, self.label,
                              {"relative_drop_pct": rel, "base_pct": base, "sec_factor": S, "fidelity_loss_ratio": ratio})

    def summary(self) -> str:
        if self.live:
            return (f"accuracy provider: {self.label}\n  video {self.live.video_name}, {self.live.frames} frames, "
                    f"thresholds rounded to {self.live.step}; cache {self.live.cache_path or 'in memory'}\n"
                    "  drop% = base(w) * [s_sec * S(sec_scale) + (1 - s_sec) * L(design) / L(default)], "
                    "L = 1 - fidelity (see dse/accuracy/measured.py)")
        lines = [f"accuracy provider: {self.label}", f"profiles: {self.pattern}"]
        for v, b, t, loss, f in sorted(self.points):
            lines.append(f"  vector {v:>4}  block {b}  threshold {t:.3f}  1-{self.metric} = {loss:.4f}  ({Path(f).name})")
        return "\n".join(lines)


class _Live:
    """Measurements on a real clip through dse.concentration + dse.vision, cached per setting."""

    def __init__(self, options: dict[str, Any]):
        try:
            import dse.concentration.measure  # noqa: F401
            import dse.vision  # noqa: F401
        except ImportError as exc:
            raise UserError(f"accuracy: live 'measured' needs the concentration package and torch ({exc}); "
                            "or give 'profiles' written by `focus-dse concentrate`") from None
        self.video = options.get("video")
        self.video_name = Path(self.video).name if self.video else "the shipped clip"
        self.frames = options.get("frames", 8)
        if isinstance(self.frames, bool) or not isinstance(self.frames, int) or self.frames < 2:
            raise UserError(f"accuracy.frames: an integer >= 2, got {self.frames!r}")
        from dse.accuracy.base import number_option

        self.step = number_option(options, "threshold_step", 0.01, 0.0, 0.5, low_open=True)
        self.cache_path = Path(options["cache"]).expanduser() if options.get("cache") else None
        self._bench = None
        self._cache: dict[str, dict[str, float]] = {}
        if self.cache_path and self.cache_path.is_file():
            try:
                self._cache = read_json(self.cache_path, "accuracy.cache")
            except UserError as exc:
                raise UserError(f"accuracy.cache: {self.cache_path} is not a measurement cache (JSON): {exc}") from None
            if not isinstance(self._cache, dict):
                raise UserError(f"accuracy.cache: {self.cache_path} is not a measurement cache (a JSON object)")

    def _key(self, threshold: float, vector: int, block: str) -> str:
        return f"{self.video_name}|{self.frames}|{round(threshold / self.step) * self.step:.6f}|{vector}|{block}"

    def loss(self, threshold: float, vector: int, block: str, metric: str) -> float:
        key = self._key(threshold, vector, block)
        if key not in self._cache:
            self._cache[key] = self._measure(round(threshold / self.step) * self.step, vector, block)
            if self.cache_path:
                self.cache_path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.cache_path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps(self._cache, indent=0))
                os.replace(tmp, self.cache_path)
        return 1.0 - self._cache[key][metric]

    def _measure(self, threshold: float, vector: int, block: str) -> dict[str, float]:
        from dse.concentration.measure import ViTBench
        from dse.concentration.methods import make_policy
        from dse.vision import load_dinov2, read_frames

        sizes = tuple(int(b) for b in block.split("x"))
        if self._bench is None:
            clip = read_frames(self.video, self.frames, min_frames=max(2, sizes[0]))
            if clip.total_frames < self.frames:
                warn(f"accuracy.frames {self.frames}: {clip.path} has {clip.total_frames} frames; "
                     f"using all {clip.total_frames}")
            self._bench = ViTBench(clip, load_dinov2())
        if self._bench.clip.pixels.shape[0] < sizes[0]:
            raise UserError(f"measured accuracy: block {block} needs {sizes[0]} frames; set accuracy.frames")
        m = self._bench.run(make_policy("focus", min(1.0, max(0.0, threshold)), block=sizes, vector_size=vector))
        return {"cls_cosine": float(m.cls_cosine), "patch_cosine": float(m.patch_cosine),
                "kept_fraction": float(m.kept_fraction)}
