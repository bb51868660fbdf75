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
    vocab: int = 0  # LM head columns (0: no LM head, e.g. a vision tower)

    def __post_init__(self) -> None:
        for name in ("layers", "hidden", "heads", "head_dim", "intermediate"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise UserError(f"model spec: '{name}' must be a positive integer, got {value!r}")
        if self.mlp not in ("gated", "plain"):
            raise UserError(f"model spec: 'mlp' must be 'gated' or 'plain', got {self.mlp!r}")
        if isinstance(self.kv_heads, bool) or not isinstance(self.kv_heads, int) or self.kv_heads < 0 \
                or (self.kv_heads and self.heads % self.kv_heads):
            raise UserError(f"model spec: 'kv_heads' must divide heads ({self.heads}) or be 0 (= heads), "
                            f"got {self.kv_heads!r}")

    @property
    def kv_dim(self) -> int:
        return (self.kv_heads or self.heads) * self.head_dim

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim


CONNECTORS = ("mlp", "merger", "resampler")


@dataclass(frozen=True)
class EncoderSpec:
    """How a VLM runs its vision tower (`vision`) on one frame and hands tokens to the LLM.

    layers_run: tower layers that run (LLaVA reads the penultimate layer's output: 26 of 27).
    temporal_patch: frames one patch spans (Qwen2.5-VL: 2, frames go in pairs).
    window: window side in patches for windowed attention (0: full attention in every layer);
    full_attention_layers: the layers that attend globally anyway.
    connector: "mlp" (dims: the projector's output widths, run on every patch), "merger"
    (merge x merge patches concatenated -> dims), "resampler" (queries learned queries attend
    to one slice's patches; dims: [embed width]; heads = embed / head_dim).
    slice_queries: LLM tokens one slice gives (resampler); a frame is cut in
    floor(patches per frame / slice_queries) slices of (image/patch)^2 patches each.
    """

    layers_run: int
    connector: str
    dims: tuple[int, ...]
    temporal_patch: int = 1
    window: int = 0
    full_attention_layers: tuple[int, ...] = ()
    merge: int = 1
    queries: int = 0
    head_dim: int = 128
    source: str = ""

    def __post_init__(self) -> None:
        if self.connector not in CONNECTORS:
            raise UserError(f"model spec: encoder 'connector' must be one of {', '.join(CONNECTORS)}, "
                            f"got {self.connector!r}")
        for name in ("layers_run", "temporal_patch", "merge", "head_dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise UserError(f"model spec: encoder '{name}' must be a positive integer, got {value!r}")
        if not self.dims or any(isinstance(d, bool) or not isinstance(d, int) or d <= 0 for d in self.dims):
            raise UserError(f"model spec: encoder 'dims' must be positive integers, got {list(self.dims)}")
        if self.connector == "resampler" and self.queries <= 0:
            raise UserError("model spec: a resampler encoder needs 'queries' > 0")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    llm: TransformerSpec
    vision: TransformerSpec | None = None
    description: str = ""
    source: str = ""
    encoder: EncoderSpec | None = None


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
    unknown = sorted(set(raw) - {"name", "llm", "vision", "description", "source", "encoder"})
    if unknown:
        raise UserError(f"{where}: unknown key(s) {unknown}")
    if raw.get("encoder") and not raw.get("vision"):
        raise UserError(f"{where}: an 'encoder' needs the 'vision' tower it runs")
    return ModelSpec(
        name=raw["name"],
        llm=_transformer(raw["llm"], f"{where} llm"),
        vision=_transformer(raw["vision"], f"{where} vision") if raw.get("vision") else None,
        description=raw.get("description", ""),
        source=raw.get("source", ""),
        encoder=_encoder(raw["encoder"], f"{where} encoder") if raw.get("encoder") else None,
    )


def _encoder(raw: dict, where: str) -> EncoderSpec:
    known = {f.name for f in fields(EncoderSpec)}
    unknown = sorted(set(raw) - known) if isinstance(raw, dict) else []
    if not isinstance(raw, dict) or unknown:
        raise UserError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(known)}")
    d = dict(raw)
    for key in ("dims", "full_attention_layers"):
        if isinstance(d.get(key), list):
            d[key] = tuple(d[key])
    try:
        return EncoderSpec(**d)
    except TypeError as exc:
        raise UserError(f"{where}: {exc}; required: layers_run, connector, dims") from None


def list_models() -> list[str]:
    return sorted(p.stem for p in MODELS_DIR.glob("*.json"))


@cache
def load_model(name_or_path: str) -> ModelSpec:
    """A shipped model by name (e.g. 'qwen2-7b') or a user's JSON spec by path."""
    raw, path = read_named_spec(name_or_path, MODELS_DIR, "model")
    return parse_model(raw, str(path))
