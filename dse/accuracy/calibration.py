"""The fits behind the `calibrated` accuracy model (dse/accuracy/calibrated.py): curves and
per-workload drops fitted to the Focus paper's published accuracies, with their leave-one-out
errors.

Data (dse/data/reference/focus/accuracy/): accuracy.csv (dense, Focus and baselines on 15
workloads) and the three DSE sweeps of the paper (llava_vid on a Video-MME subset: M tile,
vector size, block size, each around the default 1024 / 32 / 2x2x2).

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
- int8: Focus's relative drop INT8_Focus vs INT8_Dense where the paper published both, and the
  mean change from the fp16 drop over those workloads (the prior elsewhere).
"""

from __future__ import annotations

import csv
import math
import statistics
from dataclasses import dataclass
from fractions import Fraction
from functools import cache

import numpy as np

from dse.accuracy.base import published_accuracy
from dse.data_files import REFERENCE_DIR

SWEEP_TOKENS = 11648  # llava_vid/videomme, the workload of the paper's DSE sweeps
DEFAULT = {"m_tile": 1024, "vector_size": 32, "block": (2, 2, 2)}
# the published (dense, Focus) columns of each precision with data
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
    """The least-squares fit, exactly: the normal equations solved in rational arithmetic, each
    coefficient rounded once. No BLAS or LAPACK: their kernels are chosen per CPU and round the last bits
    differently, and the calibrated accuracies moved with them (lstsq, seen on an AMD EPYC against the
    numbers recorded on another machine). The sweeps are a few points and 1-3 knobs."""
    rows = [[Fraction(v) for v in row] for row in np.asarray(X, dtype=float).tolist()]
    target = [Fraction(v) for v in np.asarray(y, dtype=float).tolist()]
    k = len(rows[0])
    # [X'X | X'y], reduced by Gauss-Jordan elimination (exact: no pivoting for size needed)
    system = [[sum(r[i] * r[j] for r in rows) for j in range(k)] + [sum(r[i] * t for r, t in zip(rows, target))]
              for i in range(k)]
    for col in range(k):
        pivot = next((r for r in range(col, k) if system[r][col] != 0), None)
        if pivot is None:
            raise ValueError("calibration fit: the knob values do not determine the curve (singular)")
        system[col], system[pivot] = system[pivot], system[col]
        head = system[col]
        for r in range(k):
            if r != col and system[r][col] != 0:
                f = system[r][col] / head[col]
                system[r] = [a - f * b for a, b in zip(system[r], head)]
    return np.array([float(system[i][k] / system[i][i]) for i in range(k)])


def _predict(x, beta) -> float:
    """x . beta: the (rounded) products summed exactly, rounded once (np.dot's BLAS kernel rounds per CPU)."""
    return math.fsum(float(a) * float(b) for a, b in zip(x, beta))


def _rms(values: list[float]) -> float:
    return math.sqrt(math.fsum(v * v for v in values) / len(values))


def _loo(X: np.ndarray, y: np.ndarray) -> float:
    errs = []
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        beta = _lstsq(X[keep], y[keep])
        errs.append(_predict(X[i], beta) - float(y[i]))
    return _rms(errs)


def _fit(name: str, formula: str, names: list[str], X: np.ndarray, y: np.ndarray) -> tuple[CurveFit, np.ndarray]:
    beta = _lstsq(X, y)
    rmse = _rms([_predict(x, beta) - float(t) for x, t in zip(X, y)])
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
        return _predict(_block_features(block), self.block_beta)

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


def workload_group(workload_name: str, frames: int) -> str:
    """The group ("video" or "image") whose mean drop a workload's base(w) is shrunk toward."""
    from dse.workloads.catalog import VIDEO_WORKLOADS

    if workload_name in VIDEO_WORKLOADS:
        return "video"
    if workload_name in published_accuracy():
        return "image"
    return "video" if frames > 1 else "image"


@cache
def calibrate() -> Calibration:
    """Every fit, from the shipped data (once per process)."""
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
    # statistics' means and variances are exact sums, rounded once (as _lstsq): the same on every CPU
    reference = statistics.fmean(defaults)
    noise_sd = statistics.stdev(defaults)
    noise_rel = 100 * noise_sd / reference

    observed: dict[str, float] = {}
    for name, scores in published_accuracy().items():
        if "dense" in scores and "focus" in scores:
            observed[name] = 100 * (scores["dense"] - scores["focus"]) / scores["dense"]
    groups: dict[str, list[str]] = {}
    for name in observed:
        groups.setdefault(workload_group(name, 2), []).append(name)
    base, group_mean, shrink, loo = {}, {}, {}, []
    for g, names in groups.items():
        r = [observed[n] for n in names]
        mu = statistics.fmean(r)
        between = max(0.0, statistics.variance(r) - noise_rel ** 2)
        lam = between / (between + noise_rel ** 2)
        group_mean[g], shrink[g] = mu, lam
        for n in names:
            base[n] = mu + lam * (observed[n] - mu)
            others = [observed[o] for o in names if o != n]
            loo.append(statistics.fmean(others) - observed[n])
    dense8, focus8 = COLUMNS["int8"]
    int8 = {name: 100 * (s[dense8] - s[focus8]) / s[dense8] for name, s in published_accuracy().items()
            if dense8 in s and focus8 in s}
    shift = statistics.fmean([int8[n] - observed[n] for n in int8])
    return Calibration(vector, block, mtile, tuple(vbeta), tuple(bbeta), tuple(mbeta), reference, noise_sd,
                       base, observed, group_mean, shrink, _rms(loo),
                       int8, shift)

