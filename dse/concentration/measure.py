"""Measured concentration: a policy run inside DINOv2 on real frames, compared with the dense run.

Fidelity is the cosine similarity to the dense model of (a) the final CLS embedding and (b) the
mean patch embedding, per frame, averaged over frames. For the patch mean only tokens that
survive to the end count (a pruned token has left the sequence, as in the VLM that would
consume them); a frame with none left scores 0. Budget = the profile's kept fraction (rows
computed / dense rows, over the measured layers and GEMMs), so every method is compared at
the compute it actually spends.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from dse.concentration.hooks import VisualLayout, concentrating
from dse.concentration.methods import Policy
from dse.profile import LayerProfile, SparsityProfile
from dse.vision.video import Clip


@dataclass(frozen=True)
class Measurement:
    policy: dict
    layers: tuple[LayerProfile, ...]
    tokens: int
    kept_fraction: float
    cls_cosine: float
    patch_cosine: float
    budget: float | None = None  # the kept fraction match_budget tuned it to; None: not tuned
    budget_met: bool | None = None  # False: the budget was out of reach and this is the closest run

    def profile(self, **kwargs) -> SparsityProfile:
        return SparsityProfile(self.layers, self.tokens, source="measured", workload=None, **kwargs)


class ViTBench:
    """One clip through one ViT: the dense output computed once, then any number of policies."""

    def __init__(self, clip: Clip, model: torch.nn.Module, patch: int = 14) -> None:
        self.clip = clip
        self.model = model
        frames, _, height, width = clip.pixels.shape
        self.layout = VisualLayout(frames, height // patch, width // patch, start=1, frame_per_batch=True)
        with torch.no_grad():
            self.dense = model(pixel_values=clip.pixels).last_hidden_state

    def run(self, policy: Policy, layers: Collection[int] | None = None) -> Measurement:
        with torch.no_grad(), concentrating(self.model, self.layout, policy, layers) as recorder:
            out = self.model(pixel_values=self.clip.pixels).last_hidden_state
        lay = self.layout
        alive = recorder.active.view(lay.frames, -1, 1).to(out.dtype)
        patch_mean = (out[:, 1:] * alive).sum(1) / alive.sum(1).clamp_min(1)
        profile = SparsityProfile(recorder.layers(), lay.tokens, source="measured")
        return Measurement(
            policy=policy.describe(),
            layers=profile.layers,
            tokens=lay.tokens,
            kept_fraction=profile.kept_fraction,
            cls_cosine=float(F.cosine_similarity(out[:, 0], self.dense[:, 0], dim=-1).mean()),
            patch_cosine=float(F.cosine_similarity(patch_mean, self.dense[:, 1:].mean(1), dim=-1).mean()),
        )

    def match_budget(
        self, make: Callable[[float], Policy], budget: float, layers: Collection[int] | None = None,
        steps: int = 10, tolerance: float = 0.01, on_step: Callable[[], None] | None = None,
    ) -> tuple[float, Measurement]:
        """Tune a knob in [0, 1] (higher keeps more, for every method) until the kept fraction is
        within `tolerance` of `budget`; returns the knob and the closest measurement seen, with
        `budget_met` False when even that one is further than `tolerance` from the budget (out of
        the method's reach, e.g. CMC never matches its reference frames, or not found in `steps`).

        Regula falsi (Illinois variant) rather than bisection: on real data the kept fraction
        rises steeply near threshold 1, where plain halving wastes most of its runs.
        """
        seen: list[tuple[float, Measurement]] = []

        def gap(knob: float) -> float:
            m = self.run(make(knob), layers)
            seen.append((knob, m))
            if on_step:
                on_step()
            return m.kept_fraction - budget

        lo, hi = 0.0, 1.0
        f_lo, f_hi = gap(lo), gap(hi)
        side = 0
        for _ in range(steps if f_lo < 0 < f_hi else 0):
            knob = (lo * f_hi - hi * f_lo) / (f_hi - f_lo)
            f = gap(knob)
            if abs(f) <= tolerance:
                break
            if f < 0:
                lo, f_lo = knob, f
                f_hi = f_hi / 2 if side < 0 else f_hi  # Illinois: stop one end from sticking
                side = -1
            else:
                hi, f_hi = knob, f
                f_lo = f_lo / 2 if side > 0 else f_lo
                side = 1
        knob, m = min(seen, key=lambda item: abs(item[1].kept_fraction - budget))
        return knob, replace(m, budget=budget, budget_met=abs(m.kept_fraction - budget) <= tolerance)
