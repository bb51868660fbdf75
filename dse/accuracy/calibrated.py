"""`calibrated` accuracy: a small model fitted to the Focus paper's published accuracies.

Data (dse/data/reference/focus/accuracy/): accuracy.csv (dense, Focus and baselines on 15
workloads) and the three DSE sweeps of the paper (llava_vid on a Video-MME subset: M tile,
vector size, block size, each around the default 1024 / 32 / 2x2x2).

The model predicts the *relative* drop of a design vs dense, in % of the dense score:

    drop% = base(w) * [ s_sec * S(sec_scale) + (1 - s_sec) * T(tau) * V(vector) * B(block) * M(m_tile) ]

- base(w): Focus's published relative drop on workload w at its default settings, shrunk
  toward its group's mean (video or image workloads) by lambda = tau2 / (tau2 + noise2)
  (empirical Bayes: tau2 = between-workload variance, noise2 = replicate noise of the sweeps,
  which ran the same default design three times). Unknown workloads get the group mean.
- V, B, M: how the vector size, block and M tile scale the similarity part of the drop, from
  curves fitted to the sweeps: vector  acc = A + B / v;  block  acc = a + c_s ln(h w) + c_t (t - 1);
  M tile  acc = a + c log2(m) (untiled = log2 of the sweep workload's 11,648 tokens). The block
  curve at 1x1x1 (no neighbour to match: no similarity concentration) is the sweeps' no-SIC
  accuracy, so the similarity drop at the default is D0 = acc(1x1x1) - acc(2x2x2) and
  B(b) = (acc(1x1x1) - acc(b)) / D0 (0 at 1x1x1, 1 at 2x2x2). The vector and M-tile sweeps ran
  separately (their default rows differ by ~1 point of noise), so each is anchored the same
  way at its own default: V(v) = (acc_v(32) + D0 - acc_v(v)) / D0, likewise M. A curve whose
  leave-one-out error is not below a constant's is not applied (factor 1): the data don't
  resolve it. Ratios, not differences: the sweeps ran on a Video-MME subset whose scale
  differs from the full benchmark's.
- T(tau), the similarity threshold (not covered by the data): measured fidelity when a curve is
  given (option `fidelity_curve`: CSV with `threshold` and `patch_cosine` or `cls_cosine`, as
  `focus-dse concentrate --sweep threshold=...` writes): T = (1 - cos(tau)) / (1 - cos(tau0));
  otherwise the prior T = E(tau) / E(tau0), E = (1 - u(tau)) * sqrt(1 - tau), where u is the
  measured unique-row fraction (dse/data/redundancy.csv) and sqrt(1 - tau) bounds the relative
  error of a sub-vector replaced by one at cosine >= tau. tau0 = the workload's published threshold.
- S(sec_scale), SEC strength (not covered): prior S = (R(s) / R(1))^gamma, R = mean over the
  LLM's layers of -ln(fraction of visual tokens kept) under the workload's SEC schedule with
  every alpha scaled by s (each halving of the kept tokens counts alike); gamma = 2 (pruning
  costs little at first, then more: convex).
- s_sec = 0.5: prior share of Focus's default drop due to SEC (the rest: similarity). The paper
  publishes no accuracy of its ablation to fit it. A design whose `concentration` leaves a level
  off (dse/levels.py) drops that level's share; `none` has no drop.
- precision (design.precision): fp16 is the paper's setting (the columns above). int8 uses the
  published INT8 columns: dense score = INT8_Dense, base(w) = Focus's relative drop INT8_Focus vs
  INT8_Dense, as published (not shrunk: at the default design the prediction is the published
  INT8_Focus score); the knob factors are the fp16 ones. Priors where the paper measured nothing:
  bf16 = fp16 (models like Qwen2 and LLaVA-Video are trained and released in bf16, so it is their
  native precision, no worse than fp16); fp8 = int8 (an 8-bit format with per-tensor scaling, as
  int8; E4M3's floating point keeps outliers that int8 clips, so int8 is the cautious stand-in).
  AdapTiV and CMC below fp16 (no published number): their fp16 score shifted by dense's
  INT8_Dense - Dense (prior: quantisation costs them what it costs the dense model). Workloads
  without INT8 columns (the image ones): prior = the fp16 model with base(w) plus the mean change
  of Focus's relative drop from fp16 to int8 over the workloads that have them, and the fp16 dense
  score (INT8_Dense is within a point of Dense wherever the paper measured both).
The printed summary gives every fitted number with its in-sample and leave-one-out errors.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from dse.accuracy.base import AccuracyResult, dense_accuracy, number_option, published_accuracy
from dse.data_files import REFERENCE_DIR
from dse.errors import UserError
from dse.levels import runs_sec, runs_sic

SWEEP_TOKENS = 11648  # llava_vid/videomme, the workload of the paper's DSE sweeps
DEFAULT = {"m_tile": 1024, "vector_size": 32, "block": (2, 2, 2)}
PRIORS = {"sec_share": 0.5, "sec_gamma": 2.0}
OPTIONS = {"fidelity_curve", "sec_share", "sec_gamma", "fidelity_metric"}
FIDELITY_METRICS = ("patch_cosine", "cls_cosine")
# whose published accuracies a precision uses: measured (fp16, int8) or a prior (bf16, fp8; see above)
PRECISION_DATA = {"fp16": "fp16", "bf16": "fp16", "fp8": "int8", "int8": "int8"}
COLUMNS = {"fp16": ("dense", "focus"), "int8": ("int8_dense", "int8_focus")}


@dataclass(frozen=True)
class CurveFit:
    name: str
    formula: str
    params: dict[str, float]
    rmse: float  # in-sample, points
    loo_rmse: float  # leave-one-out, points
    constant_loo_rmse: float
    used: bool  # False: the constant did as well under LOO; the effect is not applied
    n: int

    def line(self) -> str:
        p = ", ".join(f"{k}={v:.4g}" for k, v in self.params.items())
        verdict = "used" if self.used else "NOT used (a constant predicts as well)"
        return (f"  {self.name:<7} {self.formula:<34} {p}; n={self.n}, rmse {self.rmse:.2f}, "
                f"LOO {self.loo_rmse:.2f} vs constant LOO {self.constant_loo_rmse:.2f} points -> {verdict}")


def _read_sweep(name: str) -> list[dict[str, str]]:
    with open(REFERENCE_DIR / "accuracy" / name, newline="") as f:
        return list(csv.DictReader(f))


def _lstsq(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.linalg.lstsq(X, y, rcond=None)[0]


def _loo(X: np.ndarray, y: np.ndarray) -> float:
    errs = []
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        beta = _lstsq(X[keep], y[keep])
        errs.append(float(X[i] @ beta - y[i]))
    return float(np.sqrt(np.mean(np.square(errs))))


def _fit(name: str, formula: str, names: list[str], X: np.ndarray, y: np.ndarray) -> tuple[CurveFit, np.ndarray]:
    beta = _lstsq(X, y)
    rmse = float(np.sqrt(np.mean(np.square(X @ beta - y))))
    ones = np.ones((len(y), 1))
    loo, const = _loo(X, y), _loo(ones, y)
    return CurveFit(name, formula, dict(zip(names, map(float, beta))), rmse, loo, const, loo < const, len(y)), beta


def _block_features(block: tuple[int, int, int]) -> list[float]:
    t, h, w = block
    return [1.0, math.log(h * w), float(t - 1)]


def _mtile_x(m: int) -> float:
    return math.log2(SWEEP_TOKENS if m <= 0 else min(m, SWEEP_TOKENS))


@dataclass(frozen=True)
class Calibration:
    vector: CurveFit
    block: CurveFit
    mtile: CurveFit
    vector_beta: tuple[float, ...]
    block_beta: tuple[float, ...]
    mtile_beta: tuple[float, ...]
    reference_acc: float  # sweep accuracy at the default design (mean of the three sweeps' default rows)
    noise_sd: float  # points, replicate sd of the default design across the sweeps
    base: dict[str, float]  # workload -> shrunk relative Focus drop (%)
    observed: dict[str, float]  # workload -> published relative Focus drop (%)
    group_mean: dict[str, float]  # "video"/"image" -> mean relative drop (%)
    shrink: dict[str, float]  # group -> lambda
    base_loo_rmse: float  # % of dense: predicting an unseen workload's Focus drop by its group mean
    int8_base: dict[str, float]  # workload -> published relative Focus drop at INT8 (%), vs INT8 dense
    int8_shift: float  # mean of int8_base - observed (% of dense) over those workloads: the prior elsewhere

    # -- sweep effects as changes of relative drop (% of dense) vs the default ----------
    def _acc_vector(self, v: int) -> float:
        a, b = self.vector_beta
        return a + b / v

    def _acc_block(self, block: tuple[int, int, int]) -> float:
        return float(np.dot(self.block_beta, _block_features(block)))

    def _acc_mtile(self, m: int) -> float:
        a, c = self.mtile_beta
        return a + c * _mtile_x(m)

    @property
    def sic_default_points(self) -> float:
        """D0: the sweeps' similarity drop at the default design (block curve, 1x1x1 minus 2x2x2)."""
        if not self.block.used:
            return 0.0
        return self._acc_block((1, 1, 1)) - self._acc_block(DEFAULT["block"])

    def sweep_factor(self, vector: int, block: tuple[int, int, int], m_tile: int) -> float:
        """V * B * M: the similarity drop of these settings relative to the default's (1 at the default)."""
        d0 = self.sic_default_points
        if d0 <= 0:
            return 1.0
        factor = (self._acc_block((1, 1, 1)) - self._acc_block(tuple(block))) / d0
        if self.vector.used:
            factor *= (self._acc_vector(DEFAULT["vector_size"]) + d0 - self._acc_vector(vector)) / d0
        if self.mtile.used:
            factor *= (self._acc_mtile(DEFAULT["m_tile"]) + d0 - self._acc_mtile(m_tile)) / d0
        return max(0.0, factor)


def _group(workload_name: str, frames: int) -> str:
    from dse.workloads.catalog import VIDEO_WORKLOADS

    if workload_name in VIDEO_WORKLOADS:
        return "video"
    if workload_name in published_accuracy():
        return "image"
    return "video" if frames > 1 else "image"


@cache
def calibrate() -> Calibration:
    vec = _read_sweep("dse_b_vector_accuracy.csv")
    v = np.array([float(r["vector_size"]) for r in vec])
    y = np.array([float(r["accuracy"]) for r in vec])
    vector, vbeta = _fit("vector", "acc = A + B/v", ["A", "B"], np.column_stack([np.ones_like(v), 1 / v]), y)

    blk = _read_sweep("dse_c_block_accuracy.csv")
    blocks = [tuple(int(x) for x in r["block_size"].split("x")) for r in blk]
    y = np.array([float(r["accuracy"]) for r in blk])
    block, bbeta = _fit("block", "acc = a + c_s ln(hw) + c_t (t-1)", ["a", "c_s", "c_t"],
                        np.array([_block_features(b) for b in blocks]), y)

    mt = _read_sweep("dse_a_m_tile_accuracy.csv")
    m = np.array([_mtile_x(int(r["m_tile_size"])) for r in mt])
    y = np.array([float(r["accuracy"]) for r in mt])
    mtile, mbeta = _fit("m_tile", "acc = a + c log2(m_tile)", ["a", "c"], np.column_stack([np.ones_like(m), m]), y)

    defaults = []
    for rows in (vec, blk, mt):
        for r in rows:
            if int(r["m_tile_size"]) == 1024 and r["block_size"] == "2x2x2" and int(r["vector_size"]) == 32:
                defaults.append(float(r["accuracy"]))
                break
    reference = float(np.mean(defaults))
    noise_sd = float(np.std(defaults, ddof=1))
    noise_rel = 100 * noise_sd / reference

    observed: dict[str, float] = {}
    for name, scores in published_accuracy().items():
        if "dense" in scores and "focus" in scores:
            observed[name] = 100 * (scores["dense"] - scores["focus"]) / scores["dense"]
    groups: dict[str, list[str]] = {}
    for name in observed:
        groups.setdefault(_group(name, 2), []).append(name)
    base, group_mean, shrink, loo = {}, {}, {}, []
    for g, names in groups.items():
        r = np.array([observed[n] for n in names])
        mu = float(r.mean())
        between = max(0.0, float(r.var(ddof=1)) - noise_rel ** 2)
        lam = between / (between + noise_rel ** 2)
        group_mean[g], shrink[g] = mu, lam
        for n in names:
            base[n] = mu + lam * (observed[n] - mu)
            others = [observed[o] for o in names if o != n]
            loo.append(float(np.mean(others)) - observed[n])
    dense8, focus8 = COLUMNS["int8"]
    int8 = {name: 100 * (s[dense8] - s[focus8]) / s[dense8] for name, s in published_accuracy().items()
            if dense8 in s and focus8 in s}
    shift = float(np.mean([int8[n] - observed[n] for n in int8]))
    return Calibration(vector, block, mtile, tuple(vbeta), tuple(bbeta), tuple(mbeta), reference, noise_sd,
                       base, observed, group_mean, shrink, float(np.sqrt(np.mean(np.square(loo)))),
                       int8, shift)


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
        curve = options.get("fidelity_curve")
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
        from dse.redundancy import curves, interpolate

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
        group = _group(workload.name, workload.frames)
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
        from dse.accuracy.base import baseline_accuracy

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
               "prior E = (1 - unique fraction) * sqrt(1 - threshold), unique fraction from dse/data/redundancy.csv")
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
