"""`calibrated` accuracy: a small model fitted to the Focus paper's published accuracies.

The model predicts the *relative* drop of a design vs dense, in % of the dense score:

    drop% = base(w) * [ s_sec * S(sec_scale) + (1 - s_sec) * T(tau) * V(vector) * B(block) * M(m_tile) ]

- base(w), V, B, M come from the paper's data (dse/accuracy/calibration.py says how): Focus's
  published drop on workload w at its default settings, shrunk toward its group's mean, and the
  DSE sweeps' curves of vector size, block and M tile, each 1 at the default design.
- T(tau), the similarity threshold (not covered by the data): measured fidelity when a curve is
  given (option `fidelity_curve`: CSV with `threshold` and `patch_cosine` or `cls_cosine`, as
  `focus-dse concentrate --sweep threshold=...` writes): T = (1 - cos(tau)) / (1 - cos(tau0));
  otherwise the prior T = E(tau) / E(tau0), E = (1 - u(tau)) * sqrt(1 - tau), where u is the
  measured unique-row fraction (dse/data/redundancy/, mean of the shipped clips) and sqrt(1 - tau)
  bounds the relative error of a sub-vector replaced by one at cosine >= tau. tau0 = the workload's published threshold.
- S(sec_scale), SEC strength (not covered): prior S = (R(s) / R(1))^gamma, R = mean over the
  LLM's layers of -ln(fraction of visual tokens kept) under the workload's SEC schedule with
  every alpha scaled by s (each halving of the kept tokens counts alike); gamma = 2 (pruning
  costs little at first, then more: convex).
- s_sec = 0.5: prior share of Focus's default drop due to SEC (the rest: similarity). The paper
  publishes no accuracy of its ablation to fit it. A design whose `concentration` leaves a level
  off (dse/levels.py) drops that level's share; `none` has no drop.
- precision (design.precision): fp16 is the paper's setting (accuracy.csv's Dense and Focus
  columns). int8 uses the published INT8 columns: dense score = INT8_Dense, base(w) = Focus's
  relative drop INT8_Focus vs INT8_Dense, as published (not shrunk: at the default design the
  prediction is the published INT8_Focus score); the knob factors are the fp16 ones. Priors where
  the paper measured nothing: bf16 = fp16 (models like Qwen2 and LLaVA-Video are trained and
  released in bf16, so it is their native precision, no worse than fp16); fp8 = int8 (an 8-bit
  format with per-tensor scaling, as int8; E4M3's floating point keeps outliers that int8 clips, so
  int8 is the cautious stand-in).
  AdapTiV and CMC below fp16 (no published number): their fp16 score shifted by dense's
  INT8_Dense - Dense (prior: quantisation costs them what it costs the dense model). Workloads
  without INT8 columns (the image ones): prior = the fp16 model with base(w) plus the mean change
  of Focus's relative drop from fp16 to int8 over the workloads that have them, and the fp16 dense
  score (INT8_Dense is within a point of Dense wherever the paper measured both).
The printed summary (`python -m dse.accuracy.calibrated`) gives every fitted number with its
in-sample and leave-one-out errors.
"""

from __future__ import annotations

import csv
import math
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from dse.accuracy.base import AccuracyResult, baseline_accuracy, dense_accuracy, number_option
from dse.accuracy.calibration import COLUMNS, calibrate, workload_group
from dse.errors import UserError
from dse.levels import runs_sec, runs_sic

PRIORS = {"sec_share": 0.5, "sec_gamma": 2.0}
FIDELITY_METRICS = ("patch_cosine", "cls_cosine")
# whose published accuracies a precision uses: measured (fp16, int8) or a prior (bf16, fp8; see above)
PRECISION_DATA = {"fp16": "fp16", "bf16": "fp16", "fp8": "int8", "int8": "int8"}


# -- knobs the data don't cover ---------------------------------------------------------------
@cache
def _read_fidelity_curve(path: str, metric: str) -> tuple[tuple[float, float], ...]:
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise UserError(f"accuracy.fidelity_curve: cannot read {path}: {exc.strerror or exc}") from None
    try:
        points = sorted({float(r["threshold"]): float(r[metric]) for r in rows}.items())
    except (KeyError, ValueError) as exc:
        raise UserError(f"accuracy.fidelity_curve {path}: needs numeric columns 'threshold' and '{metric}' ({exc})") \
            from None
    if len(points) < 2:
        raise UserError(f"accuracy.fidelity_curve {path}: at least two thresholds")
    return tuple(points)


def _interp(points, x: float) -> float:
    xs, ys = zip(*points)
    return float(np.interp(x, xs, ys))


@lru_cache(maxsize=4096)  # a function of the workload and one knob, asked for by every design a study evaluates
def sec_removed(workload, sec_scale: float) -> float:
    """Pruning strength: mean over the LLM's layers of -ln(fraction of visual tokens kept), every
    SEC alpha times sec_scale (halving the tokens kept costs the same at any depth)."""
    from dse.published import focus_config

    cfg = focus_config(workload.name)
    layers = workload.spec.llm.layers
    kept, current = [], 1.0
    schedule = dict(zip(cfg["layers"], cfg["alpha"]))
    for layer in range(layers):
        if layer in schedule:
            current = min(1.0, schedule[layer] * sec_scale)
        kept.append(current)
    return sum(-math.log(k) for k in kept) / layers


class CalibratedProvider:
    name = "calibrated"
    cheap = True
    OPTIONS = frozenset({"fidelity_curve", "sec_share", "sec_gamma", "fidelity_metric"})

    def __init__(self, options: dict[str, Any] | None = None):
        options = dict(options or {})
        self.sec_share = number_option(options, "sec_share", PRIORS["sec_share"], 0.0, 1.0)
        self.sec_gamma = number_option(options, "sec_gamma", PRIORS["sec_gamma"], 0.0, low_open=True)
        self.metric = options.get("fidelity_metric", "patch_cosine")
        if self.metric not in FIDELITY_METRICS:
            raise UserError(f"accuracy.fidelity_metric: one of {', '.join(FIDELITY_METRICS)}, got {self.metric!r}")
        curve = options.get("fidelity_curve")
        if curve is not None and not isinstance(curve, str):
            raise UserError(f"accuracy.fidelity_curve: a CSV file path, got {curve!r}")
        self.curve_path = str(Path(curve).expanduser()) if curve else None
        self.curve = _read_fidelity_curve(self.curve_path, self.metric) if self.curve_path else None
        self.cal = calibrate()

    @property
    def label(self) -> str:
        tau = "measured fidelity" if self.curve else "prior"
        return f"calibrated (fit to Focus paper accuracies; threshold: {tau}; SEC: prior)"

    def threshold_factor(self, tau: float, tau0: float) -> float:
        if tau == tau0:
            return 1.0
        if self.curve:
            loss0 = 1 - _interp(self.curve, tau0)
            return (1 - _interp(self.curve, tau)) / loss0 if loss0 > 0 else 1.0
        from dse.redundancy_curves import curves
        from dse.redundancy import interpolate

        points = curves().get("threshold")
        if not points:
            return 1.0

        def e(t: float) -> float:
            return (1 - interpolate(points, t)) * math.sqrt(max(0.0, 1 - t))

        return e(tau) / e(tau0) if e(tau0) > 0 else 1.0

    def sec_factor(self, workload, sec_scale: float) -> float:
        r1 = sec_removed(workload, 1.0)
        return (sec_removed(workload, sec_scale) / r1) ** self.sec_gamma if r1 > 0 else 1.0

    def relative_drop(self, design, workload) -> tuple[float, dict[str, float]]:
        from dse.published import focus_config

        cal = self.cal
        group = workload_group(workload.name, workload.frames)
        base = cal.base.get(workload.name, cal.group_mean[group])
        if PRECISION_DATA[design.precision] == "int8":
            base = cal.int8_base[workload.name] if workload.name in cal.int8_base else base + cal.int8_shift
        tau0 = focus_config(workload.name)["threshold"]
        tau = tau0 if design.threshold is None else design.threshold
        T = self.threshold_factor(tau, tau0)
        S = self.sec_factor(workload, design.sec_scale)
        sweep = cal.sweep_factor(design.vector_size, tuple(design.block), design.m_tile)
        # a level that is off (design.concentration) adds no drop
        sic = base * (1 - self.sec_share) * T * sweep * runs_sic(design.concentration)
        sec = base * self.sec_share * S * runs_sec(design.concentration)
        return sec + sic, {"base_pct": base, "sec_factor": S, "threshold_factor": T, "sweep_factor": sweep,
                           "sec_pct": sec, "sic_pct": sic}

    def predict(self, design, workload) -> AccuracyResult:
        model = _accelerator_model(design.accelerator)
        data = PRECISION_DATA[design.precision]
        if data == "int8" and workload.name not in self.cal.int8_base:
            source = {"precision_data": "prior: fp16 model + mean fp16 -> int8 change (no INT8 column here)"}
        else:
            source = {"precision_data": f"published {data.upper()} columns" if data == design.precision
                      else f"prior: {data}'s published columns"}
        dense = baseline_accuracy(COLUMNS[data][0], workload.name)
        if dense is None:  # no INT8 column for this workload: prior = the fp16 dense score
            dense = dense_accuracy(workload.name)
        scale = dense if dense is not None else 100.0
        if model == "dense":
            return AccuracyResult(scale, 0.0, scale, self.label, {"note": "dense: no concentration", **source})
        if model in ("adaptiv", "cmc"):
            acc, fp16_dense = baseline_accuracy(model, workload.name), dense_accuracy(workload.name)
            if acc is None or dense is None or fp16_dense is None:
                raise UserError(f"no published {model} accuracy for '{workload.name}': the calibrated model "
                                "covers Focus designs; baselines only where the paper measured them")
            if data != "fp16":  # prior: quantisation costs the baseline what it costs dense
                acc += dense - fp16_dense
                source["precision_data"] = f"prior: fp16 {model} score + (INT8_Dense - Dense)"
            return AccuracyResult(acc, dense - acc, dense, f"published ({model}, Focus paper)", source)
        rel, details = self.relative_drop(design, workload)
        acc = float(scale * (1 - rel / 100))
        return AccuracyResult(acc, scale - acc, scale, self.label,
                              {"relative_drop_pct": float(rel), **{k: float(v) for k, v in details.items()},
                               **source})

    def summary(self) -> str:
        cal = self.cal
        lines = [f"accuracy provider: {self.label}",
                 "fit to the Focus paper's DSE sweeps (llava_vid, Video-MME subset; accuracy in points):",
                 cal.vector.line(), cal.block.line(), cal.mtile.line(),
                 f"  similarity drop at the default on the sweeps: D0 = acc(1x1x1) - acc(2x2x2) = "
                 f"{cal.sic_default_points:.2f} points (anchors the vector/block/M-tile factors)",
                 f"  noise floor: the default design appears in all three sweeps at "
                 f"{cal.reference_acc:.2f} ± {cal.noise_sd:.2f} points (sd of replicates)",
                 "Focus default drop vs dense, % of dense score (accuracy.csv):"]
        for g in sorted(cal.group_mean):
            lines.append(f"  {g}: mean {cal.group_mean[g]:.2f} %, shrinkage lambda {cal.shrink[g]:.2f} "
                         f"(between-workload variance vs replicate noise)")
        lines.append(f"  cross-validated (leave one workload out, group mean): rmse {cal.base_loo_rmse:.2f} % of dense")
        in_sample = np.sqrt(np.mean([(cal.base[n] - cal.observed[n]) ** 2 for n in cal.observed]))
        lines.append(f"  in-sample (shrunk estimates vs published): rmse {in_sample:.2f} % of dense")
        tau = (f"measured fidelity curve {self.curve_path} ({self.metric})" if self.curve else
               "prior E = (1 - unique fraction) * sqrt(1 - threshold), unique fraction from dse/data/redundancy/ "
               "(mean of the shipped clips)")
        lines.append(f"threshold (not in the data): {tau}")
        lines.append("precision: fp16 and int8 from the published columns (int8: INT8_Dense, INT8_Focus as published); "
                     "bf16 prior = fp16's, fp8 prior = int8's")
        lines.append(f"SEC strength (not in the data): prior (ratio of mean -ln(kept fraction))^{self.sec_gamma:g}; "
                     f"SEC share of the default drop {self.sec_share:g} (prior)")
        return "\n".join(lines)


@cache
def _accelerator_model(accelerator: str) -> str:
    from dse.cost.accelerator import load_spec

    return load_spec(accelerator)["model"]


if __name__ == "__main__":  # python -m dse.accuracy.calibrated: print the fit
    print(CalibratedProvider().summary())
