"""Concentration methods as per-layer policies that the model hooks call.

At the entry of each transformer block a policy says which visual tokens are still computed
(`LayerDecision.active`; the others are frozen and hidden from attention) and, for token-level
methods, one token map for the whole block. At each GEMM input it returns the map to apply
(`Policy.gemm`). Knobs are oriented the same way for every method: a higher value keeps more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from dse.concentration import METHODS
from dse.concentration import algorithms as alg
from dse.errors import UserError


@dataclass(frozen=True)
class LayerDecision:
    active: torch.Tensor  # (N,) bool: tokens computed in this block
    merge: alg.Concentration | None = None  # token-level map shared by every GEMM of the block


class Policy:
    """Dense: every token, every GEMM, nothing removed. Subclasses override what they change."""

    needs_importance = False  # True: the hooks must record attention to rank tokens

    @property
    def acts_at(self) -> frozenset[int]:
        """Layers where the policy must decide (SEC, pruning): running it without them would silently skip the step."""
        return frozenset()

    def start(self) -> None:
        """A new forward pass begins: forget per-pass decisions."""

    def decide(self, layer: int, grid: torch.Tensor, importance: torch.Tensor | None, active: torch.Tensor) -> LayerDecision:
        return LayerDecision(active)

    def gemm(self, layer: int, name: str, grid: torch.Tensor, decision: LayerDecision) -> alg.Concentration:
        return decision.merge or alg.identity(decision.active.numel(), decision.active)

    def describe(self) -> dict:
        return {"method": "dense"}


@dataclass
class FocusPolicy(Policy):
    """SEC (top-alpha by attention at scheduled layers) + SIC (sliding block, sub-vectors) at every GEMM."""

    threshold: float = 0.9
    block: tuple[int, int, int] = (2, 2, 2)
    vector_size: int = 32
    sec: dict[int, float] = field(default_factory=dict)  # layer -> alpha (fraction of all visual tokens)
    m_tile: int | None = 1024

    @property
    def needs_importance(self) -> bool:  # type: ignore[override]
        return bool(self.sec)

    @property
    def acts_at(self) -> frozenset[int]:
        return frozenset(self.sec)

    def decide(self, layer: int, grid: torch.Tensor, importance: torch.Tensor | None, active: torch.Tensor) -> LayerDecision:
        if layer in self.sec:
            if importance is None:
                raise UserError(f"SEC at layer {layer} needs the attention of an earlier layer: schedule SEC from layer 1 on")
            active = alg.sec_keep(importance, self.sec[layer], active)
        return LayerDecision(active)

    def gemm(self, layer: int, name: str, grid: torch.Tensor, decision: LayerDecision) -> alg.Concentration:
        return alg.sic(grid, self.threshold, self.block, self.vector_size, decision.active, self.m_tile)

    def describe(self) -> dict:
        return {"method": "focus", "threshold": self.threshold, "block": list(self.block), "vector_size": self.vector_size,
                "sec": {str(k): v for k, v in self.sec.items()}, "m_tile": self.m_tile}


@dataclass
class AdaptivPolicy(Policy):
    """AdapTiV-like: at every block, merge tokens into a same-frame neighbour with agreeing signs."""

    threshold: float = 0.9

    def decide(self, layer: int, grid: torch.Tensor, importance: torch.Tensor | None, active: torch.Tensor) -> LayerDecision:
        return LayerDecision(active, alg.adaptiv_merge(grid, self.threshold, active))

    def describe(self) -> dict:
        return {"method": "adaptiv", "threshold": self.threshold}


@dataclass
class CMCPolicy(Policy):
    """CMC-like: temporal-difference coding decided once on the first block's input (as CMC reads
    the codec's decisions from the input video), reused by every GEMM of every block."""

    threshold: float = 0.9
    interval: int = 4
    _map: alg.Concentration | None = field(default=None, init=False, repr=False)

    def start(self) -> None:
        self._map = None

    def decide(self, layer: int, grid: torch.Tensor, importance: torch.Tensor | None, active: torch.Tensor) -> LayerDecision:
        if self._map is None:
            self._map = alg.cmc_match(grid, self.threshold, self.interval, active)
        return LayerDecision(active, self._map)

    def describe(self) -> dict:
        return {"method": "cmc", "threshold": self.threshold, "interval": self.interval}


@dataclass
class FrameFusionPolicy(Policy):
    """FrameFusion-like merge-then-prune: tokens similar to the same position in the previous frame
    merge at the first block; at `prune_layer` the least attended remaining tokens are pruned so
    that `keep` of all visual tokens stay computed."""

    threshold: float = 0.9
    keep: float = 0.5
    prune_layer: int = 2
    needs_importance = True
    _map: alg.Concentration | None = field(default=None, init=False, repr=False)

    @property
    def acts_at(self) -> frozenset[int]:
        return frozenset({self.prune_layer})

    def start(self) -> None:
        self._map = None

    def decide(self, layer: int, grid: torch.Tensor, importance: torch.Tensor | None, active: torch.Tensor) -> LayerDecision:
        if self._map is None:
            self._map = alg.framefusion_merge(grid, self.threshold, active)
        merged = self._map
        if layer == self.prune_layer and importance is not None:
            roots = merged.computed()[:, 0]
            budget = math.ceil(self.keep * roots.numel() - 1e-9)
            if int(roots.sum()) > budget:
                kept_roots = alg.sec_keep(importance, self.keep, roots)
                # a merged token lives on through its representative: pruned with it
                active = active & kept_roots[merged.rep[:, 0]]
                self._map = merged = alg.Concentration(merged.rep, active)
        return LayerDecision(active & merged.active, merged)

    def describe(self) -> dict:
        return {"method": "framefusion", "threshold": self.threshold, "keep": self.keep, "prune_layer": self.prune_layer}


@dataclass
class RandomPolicy(Policy):
    """Random dropping at a given budget: `keep` of the visual tokens, chosen uniformly once, computed from the first block on."""

    keep: float = 0.5
    seed: int = 0
    _active: torch.Tensor | None = field(default=None, init=False, repr=False)

    def start(self) -> None:
        self._active = None

    def decide(self, layer: int, grid: torch.Tensor, importance: torch.Tensor | None, active: torch.Tensor) -> LayerDecision:
        if self._active is None:
            generator = torch.Generator().manual_seed(self.seed)
            self._active = alg.random_keep(active.numel(), self.keep, generator).to(active.device) & active
        return LayerDecision(self._active)

    def describe(self) -> dict:
        return {"method": "random", "keep": self.keep, "seed": self.seed}


def make_policy(method: str, knob: float, **options) -> Policy:
    """The policy for `method` with its main knob set: the similarity threshold (the merge threshold
    for framefusion), or the kept fraction for random."""
    if method == "focus":
        return FocusPolicy(threshold=knob, **options)
    if method == "adaptiv":
        return AdaptivPolicy(threshold=knob)
    if method == "cmc":
        return CMCPolicy(threshold=knob, **options)
    if method == "framefusion":
        return FrameFusionPolicy(threshold=knob, **options)
    if method == "random":
        return RandomPolicy(keep=knob, **options)
    raise UserError(f"unknown concentration method '{method}': use one of {', '.join(METHODS)}")
