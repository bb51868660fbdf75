"""Concentration algorithms as vectorised torch functions on visual tokens shaped (frames, H, W, dim).

Every algorithm returns a `Concentration`: for each (token, sub-vector) the flat index of the
token whose sub-vector stands for it (itself when it is computed), plus which tokens are
active at all (SEC / pruning). That map is all the hardware needs: the array computes the
GEMM on the representative sub-vectors only, *scatters* each partial result to the tokens
that share it, and *gathers* the partial sums per token (`unique_gemm`); the result equals
the dense GEMM on the de-duplicated input (`deduplicate`). Token-level methods (the
AdapTiV-, CMC- and FrameFusion-like baselines) are the special case of one sub-vector per row.

Representative values are the mean of their group, as in the Focus reference algorithm.
Similarity must be strictly above the threshold (as in the reference), so threshold 1.0
disables similarity concentration.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from dse.errors import UserError


@dataclass(frozen=True)
class Concentration:
    rep: torch.Tensor  # (N, S) int64: representative token of each (token, sub-vector)
    active: torch.Tensor  # (N,) bool: tokens that enter the GEMM at all

    @property
    def sub_vectors(self) -> int:
        return self.rep.shape[1]

    def computed(self) -> torch.Tensor:
        """(N, S) bool: the (token, sub-vector) pairs the array actually computes."""
        own = torch.arange(self.rep.shape[0], device=self.rep.device).unsqueeze(1)
        return (self.rep == own) & self.active.unsqueeze(1)

    @property
    def tokens_kept(self) -> int:
        return int(self.active.sum())

    @property
    def unique_rows(self) -> float:
        """Unique (token, sub-vector) pairs ÷ sub-vectors per row: rows computed per K-slice."""
        return float(self.computed().sum()) / self.sub_vectors


def identity(n: int, active: torch.Tensor | None = None, device: torch.device | str = "cpu") -> Concentration:
    """Every active token computes every sub-vector itself."""
    active = torch.ones(n, dtype=torch.bool, device=device) if active is None else active
    return Concentration(torch.arange(n, device=active.device).unsqueeze(1), active)


def check_vector_size(dim: int, vector_size: int) -> int:
    if vector_size <= 0 or dim % vector_size:
        divisors = [v for v in (8, 16, 32, 48, 64, 96, 128) if dim % v == 0]
        raise UserError(f"vector size {vector_size} does not divide the activation width {dim}: use one of {divisors}")
    return dim // vector_size


def check_threshold(threshold: float) -> float:
    if not 0.0 <= threshold <= 1.0:
        raise UserError(f"similarity threshold must be in [0, 1], got {threshold}: pass e.g. --threshold 0.9")
    return threshold


def _follow_chains(pointer: torch.Tensor) -> torch.Tensor:
    """Resolve pointer chains to their roots by pointer jumping (log2 of the longest chain steps).

    Every pointer goes to an earlier token in raster order or to itself, so chains end.
    """
    while True:
        jumped = pointer.gather(0, pointer)
        if torch.equal(jumped, pointer):
            return pointer
        pointer = jumped


def _groups(active: torch.Tensor, m_tile: int | None) -> torch.Tensor | None:
    """Per token, the GEMM M tile it is computed in (tiles count active tokens in raster order); -1 when inactive.

    None when every token is active in a single tile, so the caller can skip the masking.
    """
    n = active.numel()
    if bool(active.all()) and (not m_tile or m_tile >= n):
        return None
    rank = torch.cumsum(active.long(), 0) - 1
    tile = rank // m_tile if m_tile else torch.zeros_like(rank)
    return torch.where(active, tile, torch.full_like(tile, -1))


def sic(
    x: torch.Tensor,
    threshold: float,
    block: tuple[int, int, int] = (2, 2, 2),
    vector_size: int = 32,
    active: torch.Tensor | None = None,
    m_tile: int | None = 1024,
    chunk_frames: int = 2,
) -> Concentration:
    """Focus similarity concentration (SIC), sliding-window rule, on x (frames, H, W, dim).

    Each token looks back at the positions offset by (frame 0..t-1, row 0..h-1, col 0..w-1)
    minus itself; per sub-vector it takes the most similar candidate (cosine, ties to the
    first offset in frame-row-col order) and, if the cosine is above `threshold`, points to it.
    Chains of pointers end at one representative. Candidates outside the grid, inactive
    (SEC-dropped) or in another M tile are never matched.

    Speed: frames are compared a few at a time, carrying the t-1 previous frames, so the
    working set stays in cache (the whole-tensor version is memory-bound, several times slower
    at Focus scale).
    """
    check_threshold(threshold)
    frames, height, width, dim = x.shape
    subs = check_vector_size(dim, vector_size)
    n = frames * height * width
    active = torch.ones(n, dtype=torch.bool, device=x.device) if active is None else active.reshape(n)
    t, h, w = (min(b, s) for b, s in zip(block, (frames, height, width)))
    offsets = [(dt, dh, dw) for dt in range(t) for dh in range(h) for dw in range(w)][1:]
    if threshold >= 1.0 or not offsets:  # a 1x1x1 block has no neighbour to match
        return identity(n, active)
    patches = height * width
    # Tokens are compared in flat raster order: the candidate at offset (dt, dh, dw) is the token
    # `back` places earlier, so both operands are contiguous slices. Pairs that wrap around a row
    # or frame edge, or reach an inactive token or another M tile, are masked out afterwards.
    back = torch.tensor([dt * patches + dh * width + dw for dt, dh, dw in offsets], device=x.device)
    idx = torch.arange(n, device=x.device)
    frame, row, col = idx // patches, idx % patches // width, idx % width
    shift = torch.tensor(offsets, device=x.device).T.unsqueeze(-1)  # (3, K, 1)
    valid = (frame >= shift[0]) & (row >= shift[1]) & (col >= shift[2])  # (K, N)
    groups = _groups(active, m_tile)
    if groups is not None:
        cand = (idx - back.unsqueeze(1)).clamp_min(0)
        valid &= (groups[cand] == groups) & (groups[cand] >= 0)

    flat = x.reshape(n, subs, vector_size)
    pointer = idx.unsqueeze(1).repeat(1, subs)
    carry = (t - 1) * patches  # the previous t-1 frames, normalised, ride along with each chunk
    window = torch.empty((carry + chunk_frames * patches, subs, vector_size), dtype=torch.float32, device=x.device)
    for start in range(0, n, chunk_frames * patches):
        count = min(chunk_frames * patches, n - start)
        past = min(carry, start)
        chunk = window[past : past + count]
        raw = flat[start : start + count].float()
        torch.div(raw, torch.linalg.vector_norm(raw, dim=-1, keepdim=True).clamp_min_(1e-12), out=chunk)
        best = torch.full((count, subs), -math.inf, device=x.device)
        choice = torch.zeros((count, subs), dtype=torch.long, device=x.device)
        for k, b in enumerate(back.tolist()):
            first = max(0, b - past)  # earlier tokens' candidates left the window: all masked anyway
            if first >= count:
                continue
            sim = torch.linalg.vecdot(chunk[first:], window[past + first - b : past + count - b])
            sim.masked_fill_(~valid[k, start + first : start + count].unsqueeze(-1), -math.inf)
            better = sim > best[first:]  # strict: ties stay with the earlier offset
            best[first:] = torch.maximum(sim, best[first:])
            choice[first:].masked_fill_(better, k)
        own = pointer[start : start + count]
        own.copy_(torch.where(best > threshold, own - back[choice], own))
        if carry:
            keep = min(carry, past + count)
            window[:keep] = window[past + count - keep : past + count].clone()

    return Concentration(_follow_chains(pointer), active)


def deduplicate(x: torch.Tensor, conc: Concentration) -> torch.Tensor:
    """x (..., dim) with each sub-vector replaced by the mean of its group: the GEMM input Focus computes on."""
    n, subs = conc.rep.shape
    flat = x.reshape(n * subs, -1).to(torch.promote_types(x.dtype, torch.float32))  # sums in at least fp32
    group = (conc.rep * subs + torch.arange(subs, device=x.device)).reshape(-1)
    moved = group != torch.arange(n * subs, device=x.device)
    # a root's row starts as its own value and collects its members; only moved rows are added
    sums = flat.clone()
    sums.index_add_(0, group[moved], flat[moved])
    counts = torch.bincount(group, minlength=n * subs).clamp_min(1).unsqueeze(1)
    return (sums / counts)[group].to(x.dtype).reshape(x.shape)


def unique_gemm(x: torch.Tensor, conc: Concentration, weight: torch.Tensor) -> torch.Tensor:
    """x (N, K) @ weight (K, out) computed the Focus way: per K-slice, multiply only the unique
    sub-vectors (group means), scatter each partial product to every token of its group, and
    gather (sum) the partial products per token. Inactive tokens are not computed (zero rows)."""
    n, subs = conc.rep.shape
    size = x.shape[1] // subs
    means = deduplicate(x, conc)
    computed = conc.computed()
    out = torch.zeros(n, weight.shape[1], dtype=torch.result_type(x, weight), device=x.device)
    members = conc.active.nonzero().squeeze(1)
    for v in range(subs):  # K-slices, as the array walks them; tokens are never looped over
        roots = computed[:, v].nonzero().squeeze(1)
        slot = torch.full((n,), -1, dtype=torch.long, device=x.device)
        slot[roots] = torch.arange(roots.numel(), device=x.device)
        partial = means[roots, v * size : (v + 1) * size] @ weight[v * size : (v + 1) * size]  # unique rows only
        out[members] += partial[slot[conc.rep[members, v]]]  # scatter + gather
    return out


def sec_keep(importance: torch.Tensor, alpha: float, active: torch.Tensor | None = None) -> torch.Tensor:
    """Semantic concentration: keep the ceil(alpha * N) most important tokens (N = all visual tokens),
    among those still active. Returns an (N,) bool mask.

    The *published* profiles (dse/published.py) differ on purpose: they follow the paper's
    simulator, which keeps int(alpha * S) of the original S tokens and prunes after layer l's
    attention, before its MLP (that MLP already sees the kept tokens). Here the count is
    exactly ceil(alpha * N), as issue 5 requires, so a budget alpha never keeps fewer than
    alpha of the tokens; and the hooks prune at a block's entry, ranked by the previous
    block's attention, because with the block a black box a token can only leave attention
    (as a masked key) there. So SEC at hook layer l matches the simulator's SEC at layer l-1,
    except that layer l-1's MLP still sees every token; kept counts differ by at most one.
    """
    if not 0.0 < alpha <= 1.0:
        raise UserError(f"SEC alpha must be in (0, 1], got {alpha}")
    scores = importance.reshape(-1).float()
    n = scores.numel()
    # the small slack keeps e.g. 0.3 * 10 from rounding up to 4 through float error
    k = math.ceil(alpha * n - 1e-9)
    if active is not None:
        scores = scores.masked_fill(~active.reshape(-1), -math.inf)
        k = min(k, int(active.sum()))
    keep = torch.zeros(n, dtype=torch.bool, device=scores.device)
    keep[torch.topk(scores, k).indices] = True
    return keep


def random_keep(n: int, fraction: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random dropping at a given budget: exactly ceil(fraction * n) tokens kept, chosen uniformly."""
    keep = torch.zeros(n, dtype=torch.bool)
    keep[torch.randperm(n, generator=generator)[: math.ceil(fraction * n - 1e-9)]] = True
    return keep


def _token_pointer(candidates: list[tuple[torch.Tensor, int]], n: int, threshold: float, active: torch.Tensor) -> Concentration:
    """Token-level map from candidate similarities: [(similarity (N,), backward offset)], first wins ties."""
    best = torch.full((n,), -math.inf, device=active.device)
    back = torch.zeros(n, dtype=torch.long, device=active.device)
    for sim, offset in candidates:
        better = sim > best
        best = torch.where(better, sim, best)
        back = torch.where(better, torch.full_like(back, offset), back)
    own = torch.arange(n, device=active.device)
    target = (own - back).clamp_min(0)
    matched = (best > threshold) & active & active[target]
    pointer = torch.where(matched, target, own)
    return Concentration(_follow_chains(pointer).unsqueeze(1), active)


def _neighbour_similarity(
    x: torch.Tensor, shift: tuple[int, int, int], measure: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """measure(token, token shifted back by (dt, dh, dw)) per token; -inf where the neighbour is off the grid."""
    dt, dh, dw = shift
    frames, height, width, _ = x.shape
    out = torch.full((frames, height, width), -math.inf, device=x.device)
    out[dt:, dh:, dw:] = measure(x[dt:, dh:, dw:], x[: frames - dt, : height - dh, : width - dw])
    return out.reshape(-1)


def adaptiv_merge(x: torch.Tensor, threshold: float, active: torch.Tensor | None = None) -> Concentration:
    """AdapTiV-like token merging: a token merges into its upper or left neighbour (same frame)
    when their sign patterns agree: mean(sign(a) * sign(b)) above threshold."""
    check_threshold(threshold)
    frames, height, width, _ = x.shape
    n = frames * height * width
    active = torch.ones(n, dtype=torch.bool, device=x.device) if active is None else active.reshape(n)
    signs = torch.sign(x.float())

    def agree(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a * b).mean(-1)

    up = _neighbour_similarity(signs, (0, 1, 0), agree)
    left = _neighbour_similarity(signs, (0, 0, 1), agree)
    return _token_pointer([(up, width), (left, 1)], n, threshold, active)


def framefusion_merge(x: torch.Tensor, threshold: float, active: torch.Tensor | None = None) -> Concentration:
    """FrameFusion-like merging: a token merges into the same position of the previous frame
    when their cosine similarity is above threshold (chains run back through the frames)."""
    check_threshold(threshold)
    frames, height, width, _ = x.shape
    n = frames * height * width
    active = torch.ones(n, dtype=torch.bool, device=x.device) if active is None else active.reshape(n)

    def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cosine_similarity(a.float(), b.float(), dim=-1)

    prev = _neighbour_similarity(x, (1, 0, 0), cosine)
    return _token_pointer([(prev, height * width)], n, threshold, active)


def cmc_match(x: torch.Tensor, threshold: float, interval: int = 4, active: torch.Tensor | None = None) -> Concentration:
    """CMC-like temporal-difference coding: frames form groups of `interval` with the middle one as
    reference (I) frame; every token of the other (P) frames is matched to its best reference
    token by L1 distance (full motion search) and reuses it when the normalised similarity
    1 - |p - i|_1 / (|p|_1 + |i|_1) is above threshold."""
    check_threshold(threshold)
    frames, height, width, dim = x.shape
    patches = height * width
    n = frames * patches
    active = torch.ones(n, dtype=torch.bool, device=x.device) if active is None else active.reshape(n)
    tokens = x.reshape(frames, patches, dim).float()
    frame = torch.arange(frames, device=x.device)
    start = frame - frame % interval
    ref = torch.minimum(start + interval // 2, torch.full_like(start, frames - 1))
    distance = torch.cdist(tokens, tokens[ref], p=1)  # (frames, patches, patches): all frames at once
    norms = tokens.abs().sum(-1)
    similarity = 1 - distance / (norms.unsqueeze(2) + norms[ref].unsqueeze(1)).clamp_min(1e-12)
    best, where = similarity.max(-1)
    target = (ref.unsqueeze(1) * patches + where).reshape(n)
    is_p = (frame != ref).repeat_interleave(patches)
    matched = (best.reshape(n) > threshold) & is_p & active & active[target]
    own = torch.arange(n, device=x.device)
    # references are never matched themselves, so there are no chains to follow
    return Concentration(torch.where(matched, target, own).unsqueeze(1), active)
