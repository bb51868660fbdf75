"""The contract of an accelerator's cycle model, which dse/llm_run.py runs layer by layer: per weight
GEMM, per layer's attention, and (optionally) per layer. A subclass names the accelerator spec "model"
it implements; the registry (dse/sim/units/__init__.py) instantiates every subclass when it loads them,
so a model missing a rule fails there, not halfway through a study."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from dse.sim.units.base import GemmCost, UnitContext


class UnitModel(ABC):
    name: ClassVar[str]  # the accelerator spec's "model" (dse/data/accelerators/*.json)
    uses_profile: ClassVar[bool] = False  # its layers follow the design's sparsity profile (Focus)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not isinstance(cls.__dict__.get("name"), str):
            raise TypeError(f"{cls.__module__}.{cls.__name__}: a unit model names the spec model it implements "
                            "(name = '...')")

    @abstractmethod
    def linear(self, ctx: UnitContext, name: str, T: Any, U: Any, K: int, N: int) -> GemmCost:
        """A weight GEMM named `name` on T tokens, U of them unique rows (U = T without concentration)."""

    @abstractmethod
    def attention(self, ctx: UnitContext, T: Any, U_q: Any, heads: int) -> GemmCost:
        """Causal attention of `heads` heads over T tokens, U_q unique query rows."""

    def layer_busy(self, T_attn: Any, T_mlp: Any) -> dict[str, Any]:
        """Busy cycles a layer adds beyond its GEMMs (e.g. Focus's SEC top-k where it prunes)."""
        return {}
