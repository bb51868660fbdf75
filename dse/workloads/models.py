"""Model specs: the layer shapes of a VLM's LLM backbone (and optionally its vision encoder).

Specs are JSON files (dse/data/models/*.json, or any path a user gives), not code, so a
new model is a new file.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cache

from dse.data_files import MODELS_DIR
from dse.errors import UserError
from dse.jsonfile import read_named_spec


@dataclass(frozen=True)
class TransformerSpec:
    """Shapes of one stack of identical transformer blocks."""

    layers: int
    hidden: int
    heads: int
    head_dim: int
    intermediate: int
    kv_heads: int = 0  # 0 means multi-head attention (kv_heads == heads)
    mlp: str = "gated"  # "gated" (gate/up/down, SwiGLU) or "plain" (fc1/fc2)
    patch: int = 0
    image: int = 0
    merge: int = 1

    def __post_init__(self) -> None:
        for name in ("layers", "hidden", "heads", "head_dim", "intermediate"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise UserError(f"model spec: '{name}' must be a positive integer, got {value!r}")
        if self.mlp not in ("gated", "plain"):
            raise UserError(f"model spec: 'mlp' must be 'gated' or 'plain', got {self.mlp!r}")

    @property
    def kv_dim(self) -> int:
        return (self.kv_heads or self.heads) * self.head_dim

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim


@dataclass(frozen=True)
class ModelSpec:
    name: str
    llm: TransformerSpec
    vision: TransformerSpec | None = None
    description: str = ""
    source: str = ""


def _transformer(raw: dict, where: str) -> TransformerSpec:
    known = {f.name for f in fields(TransformerSpec)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise UserError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(known)}")
    try:
        return TransformerSpec(**raw)
    except TypeError as exc:
        raise UserError(f"{where}: {exc}; required: layers, hidden, heads, head_dim, intermediate") from None


def parse_model(raw: dict, where: str) -> ModelSpec:
    if not isinstance(raw, dict) or "llm" not in raw or "name" not in raw:
        raise UserError(f"{where}: a model spec needs 'name' and 'llm' keys")
    unknown = sorted(set(raw) - {"name", "llm", "vision", "description", "source"})
    if unknown:
        raise UserError(f"{where}: unknown key(s) {unknown}")
    return ModelSpec(
        name=raw["name"],
        llm=_transformer(raw["llm"], f"{where} llm"),
        vision=_transformer(raw["vision"], f"{where} vision") if raw.get("vision") else None,
        description=raw.get("description", ""),
        source=raw.get("source", ""),
    )


def list_models() -> list[str]:
    return sorted(p.stem for p in MODELS_DIR.glob("*.json"))


@cache
def load_model(name_or_path: str) -> ModelSpec:
    """A shipped model by name (e.g. 'qwen2-7b') or a user's JSON spec by path."""
    raw, path = read_named_spec(name_or_path, MODELS_DIR, "model")
    return parse_model(raw, str(path))
