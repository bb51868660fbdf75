"""The calibrated accuracy model: fitted to the paper's data, with its cross-validated error."""

from __future__ import annotations

import math

import pytest

from dse.accuracy import get_provider
from dse.accuracy.base import published_accuracy
from dse.accuracy.calibrated import calibrate
from dse.design import DesignPoint
from dse.workloads import resolve_workload
from dse.workloads.catalog import VIDEO_WORKLOADS

W = resolve_workload("llava_vid/videomme")


@pytest.fixture(scope="module")
def provider():
    return get_provider("calibrated")


def test_fit_and_cross_validation_are_reported(provider):
    cal = calibrate()
    text = provider.summary()
    for word in ("LOO", "cross-validated", "noise floor", "prior", "calibrated"):
        assert word in text
    # the vector and block sweeps are resolved by their curves; the m_tile sweep is not (noise)
    assert cal.vector.used and cal.vector.loo_rmse < cal.vector.constant_loo_rmse
    assert cal.block.used and cal.block.params["c_s"] < 0  # larger spatial blocks cost accuracy
    assert not cal.mtile.used
    assert 0.5 < cal.noise_sd < 2.0
    assert math.isfinite(cal.base_loo_rmse) and cal.base_loo_rmse > 0


def test_default_design_matches_published_focus_on_average(provider):
    predicted, published = [], []
    for name in VIDEO_WORKLOADS:
        w = resolve_workload(name)
        predicted.append(provider.predict(DesignPoint(), w).accuracy)
        published.append(published_accuracy()[name]["focus"])
    mean_error = sum(p - q for p, q in zip(predicted, published)) / len(predicted)
    assert abs(mean_error) < 0.05  # the video group mean is fitted exactly
    worst = max(abs(p - q) for p, q in zip(predicted, published))
    assert worst / 60 * 100 < 3 * calibrate().base_loo_rmse  


def test_dense_and_baselines(provider):
    assert provider.predict(DesignPoint(accelerator="dense"), W).accuracy == published_accuracy()[W.name]["dense"]
    r = provider.predict(DesignPoint(accelerator="adaptiv"), W)
    assert r.accuracy == published_accuracy()[W.name]["adaptiv"] and "published" in r.provider


def test_knobs_move_accuracy_the_expected_way(provider):
    def acc(**kw):
        return provider.predict(DesignPoint(**kw), W).accuracy

    assert acc(threshold=0.7) < acc(threshold=0.9) < acc(threshold=0.99) < acc(threshold=1.0)
    assert acc(sec_scale=0.5) < acc() < acc(sec_scale=2.0)
    assert acc(vector_size=8) < acc(vector_size=32) < acc(vector_size=512)
    assert acc(block=(3, 3, 3)) < acc(block=(2, 2, 2)) < acc(block=(1, 1, 1))
    assert acc(m_tile=256) == acc(m_tile=4096)  # not resolved by the data: no effect
    # no concentration at all (threshold 1, SEC keeping everything) is the dense accuracy
    dense = published_accuracy()[W.name]["dense"]
    assert acc(threshold=1.0, sec_scale=100.0) == pytest.approx(dense)


def test_custom_workload_uses_group_mean(provider):
    w = resolve_workload(None, "qwen2-7b", 16, 196)
    r = provider.predict(DesignPoint(), w)
    assert r.dense == 100.0 and 0 < r.drop < 5


def test_fidelity_curve_option(tmp_path):
    curve = tmp_path / "sweep.csv"
    curve.write_text("threshold,kept_fraction,patch_cosine,cls_cosine\n0.7,0.1,0.90,0.9\n0.9,0.3,0.96,0.95\n"
                     "0.99,0.6,0.995,0.99\n1.0,1.0,1.0,1.0\n")
    p = get_provider("calibrated", {"fidelity_curve": str(curve)})
    assert "measured fidelity" in p.label
    assert p.threshold_factor(0.7, 0.9) == pytest.approx(0.10 / 0.04)
    assert p.threshold_factor(1.0, 0.9) == 0.0


def test_the_sweep_fits_are_the_exact_least_squares_solution_rounded_once():
    """The vector curve acc = A + B/v, fitted by the closed form in rational arithmetic here: the fit
    gives those bits (LAPACK's lstsq missed them by an ulp or more, and by other ulps on other CPUs)."""
    from fractions import Fraction

    from dse.accuracy.calibration import _read_sweep, calibrate

    rows = _read_sweep("dse_b_vector_accuracy.csv")
    x = [Fraction(1 / float(r["vector_size"])) for r in rows]  # the float 1/v the fit sees, exactly
    y = [Fraction(float(r["accuracy"])) for r in rows]
    n, sx, sy = len(x), sum(x), sum(y)
    slope = (n * sum(a * b for a, b in zip(x, y)) - sx * sy) / (n * sum(a * a for a in x) - sx * sx)
    intercept = (sy - slope * sx) / n
    assert calibrate().vector_beta == (float(intercept), float(slope))
