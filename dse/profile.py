"""SparsityProfile: what concentration leaves of a workload, layer by layer.

A profile says, per LLM layer, how many visual tokens survive semantic concentration (SEC)
and how many unique rows remain after similarity concentration (SIC) for each GEMM whose
M dimension is the token dimension. "Unique rows" is the Focus definition: unique
(token, sub-vector) pairs divided by sub-vectors per row, i.e. the mean number of rows the
array computes per K-slice. Keys of `unique_rows` are GEMM names (q_proj ... down_proj)
and, for attention, "qk" (the queries of Q K^T; S V runs on every kept token); a missing key means no
similarity reduction for that GEMM. A file's unique rows never exceed the tokens the GEMM sees, and
its `kept_fraction`, if given, is the one its layers imply (it is derived, never an input).

Profiles bound to a workload (`workload` set) carry absolute counts for its token count;
measured profiles (`workload` None, e.g. from a ViT on a real clip) are mapped onto any
workload by fractions: layer l of an L-layer LLM takes measured layer
round(l * (Lm - 1) / (L - 1)), kept tokens = round(fraction * S), unique rows likewise.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dse.errors import UserError
from dse.jsonfile import read_json
from dse import xp

FORMAT = "focus-dse/sparsity-profile/1"


@dataclass(frozen=True)
class ConcentrationSettings:
    threshold: float | None = 0.9
    block: tuple[int, int, int] = (2, 2, 2)  # frames x rows x cols
    vector_size: int = 32
    sec_layers: tuple[int, ...] = ()
    # fraction of the layer-0 visual tokens kept from that layer on (arrays: one per design point, dse/batch.py)
    sec_alpha: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise UserError(f"similarity threshold must be in [0, 1], got {self.threshold}")
        if len(self.block) != 3 or any(int(b) <= 0 for b in self.block):
            raise UserError(f"block must be three positive sizes TxHxW, got {self.block}")
        if self.vector_size <= 0:
            raise UserError(f"vector size must be a positive integer, got {self.vector_size}")
        if len(self.sec_layers) != len(self.sec_alpha):
            raise UserError("SEC layers and alphas must have the same length")
        if any(not xp.holds((0.0 < a) & (a <= 1.0)) for a in self.sec_alpha):
            raise UserError(f"SEC alphas must be in (0, 1], got {list(self.sec_alpha)}")

    @property
    def block_volume(self) -> int:
        t, h, w = self.block
        return t * h * w


MLP_GEMMS = ("gate_proj", "up_proj", "down_proj", "fc1", "fc2")
ROW_KEYS = ("q_proj", "k_proj", "v_proj", "o_proj", *MLP_GEMMS, "qk")  # what `unique_rows` may name


def parse_block(value: Any, where: str = "block") -> tuple[int, int, int]:
    """'2x2x2' or [2, 2, 2] (frames x rows x cols) -> (2, 2, 2)."""
    parts = value if isinstance(value, (list, tuple)) else str(value).lower().split("x")
    try:
        block = tuple(int(p) for p in parts if not isinstance(p, bool))
    except (TypeError, ValueError):
        block = ()
    if len(block) != 3 or len(parts) != 3 or min(block) <= 0:
        raise UserError(f"{where}: a block is TxHxW with three positive integers, e.g. 2x2x2; got {value!r}")
    return block  # type: ignore[return-value]


@dataclass(frozen=True)
class LayerProfile:
    layer: int
    tokens_kept: float  # tokens entering the layer (attention and its projections)
    unique_rows: dict[str, float] = field(default_factory=dict)
    # SEC prunes after a layer's attention, before its MLP: tokens the MLP sees (None: same)
    mlp_tokens_kept: float | None = None

    def tokens(self, gemm: str) -> float:
        if gemm in MLP_GEMMS and self.mlp_tokens_kept is not None:
            return self.mlp_tokens_kept
        return self.tokens_kept

    def rows(self, gemm: str) -> float:
        """Rows the array computes for this GEMM: unique rows if known, else every kept token."""
        return xp.minimum(self.unique_rows.get(gemm, self.tokens(gemm)), self.tokens(gemm))


@dataclass(frozen=True)
class SparsityProfile:
    layers: tuple[LayerProfile, ...]
    tokens: int  # dense visual tokens S the counts refer to
    settings: ConcentrationSettings = ConcentrationSettings()
    source: str = "user"  # "published", "measured", "user", "dense"
    workload: str | None = None  # None: not bound to a workload, mapped by fractions
    extra: dict[str, Any] = field(default_factory=dict)  # fidelity, provenance, ...

    def __post_init__(self) -> None:
        if not self.layers:
            raise UserError("a sparsity profile needs at least one layer")
        if self.tokens <= 0:
            raise UserError(f"profile 'tokens' must be positive, got {self.tokens}")
        numbers = [lp.layer for lp in self.layers]
        if self.workload is not None and numbers != list(range(len(numbers))):
            raise UserError("a profile bound to a workload lists its layers 0, 1, 2, ... in order, one entry each")
        if numbers != sorted(set(numbers)):
            raise UserError("profile layers must be in increasing order, one entry each")
        checked: set[tuple[int, ...]] = set()
        for lp in self.layers:  # counts are numbers, or arrays of design points (dse/batch.py)
            # layers between SEC layers share their count objects (published.py): each checked once
            same = (id(lp.tokens_kept), id(lp.mlp_tokens_kept), *map(id, lp.unique_rows.values()))
            if same in checked:
                continue
            checked.add(same)
            mlp = 0 if lp.mlp_tokens_kept is None else lp.mlp_tokens_kept
            kept = lp.tokens_kept
            if not xp.holds((0 <= kept) & (kept <= self.tokens) & (0 <= mlp) & (mlp <= self.tokens)):
                raise UserError(f"profile layer {lp.layer}: tokens_kept {lp.tokens_kept} outside [0, {self.tokens}]")
            if any(not xp.holds(v >= 0) for v in lp.unique_rows.values()):
                raise UserError(f"profile layer {lp.layer}: negative unique rows")

    @property
    def kept_fraction(self) -> float:
        """Rows computed / dense rows, averaged over layers and GEMMs listed."""
        total = 0.0
        count = 0
        for lp in self.layers:
            names = lp.unique_rows or {"tokens": lp.tokens_kept}
            for name in names:
                total += lp.rows(name) if name != "tokens" else lp.tokens_kept
                count += 1
        return total / (count * self.tokens)

    def for_workload(self, workload_name: str, tokens: int, num_layers: int) -> SparsityProfile:
        """This profile as absolute counts for a workload with S = tokens and num_layers layers."""
        if self.workload is not None:
            if self.workload != workload_name or self.tokens != tokens or len(self.layers) != num_layers:
                raise UserError(
                    f"profile is for workload '{self.workload}' ({self.tokens} tokens, {len(self.layers)} layers), "
                    f"not '{workload_name}' ({tokens} tokens, {num_layers} layers): make a profile for this workload"
                )
            return self
        scale = tokens / self.tokens
        src = self.layers
        mapped = []
        for layer in range(num_layers):
            pick = src[round(layer * (len(src) - 1) / (num_layers - 1))] if num_layers > 1 else src[0]
            mapped.append(
                LayerProfile(
                    layer=layer,
                    tokens_kept=min(tokens, round(pick.tokens_kept * scale)),
                    unique_rows={k: v * scale for k, v in pick.unique_rows.items()},
                    mlp_tokens_kept=None if pick.mlp_tokens_kept is None
                    else min(tokens, round(pick.mlp_tokens_kept * scale)),
                )
            )
        return SparsityProfile(tuple(mapped), tokens, self.settings, self.source, workload_name, dict(self.extra))

    def to_dict(self) -> dict[str, Any]:
        settings = asdict(self.settings)
        return {
            "format": FORMAT,
            "source": self.source,
            "workload": self.workload,
            "tokens": self.tokens,
            "settings": settings,
            "kept_fraction": self.kept_fraction,
            **self.extra,
            "layers": [asdict(lp) for lp in self.layers],
        }

    def save(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))


_CORE_KEYS = {"format", "source", "workload", "tokens", "settings", "kept_fraction", "layers"}


def profile_from_dict(raw: dict[str, Any], where: str = "profile") -> SparsityProfile:
    if not isinstance(raw, dict) or "layers" not in raw or "tokens" not in raw:
        raise UserError(f"{where}: not a sparsity profile (needs 'tokens' and 'layers'; see dse/profile.py)")
    try:
        s = raw.get("settings") or {}
        settings = ConcentrationSettings(
            threshold=s.get("threshold", 0.9),
            block=tuple(int(b) for b in s.get("block", (2, 2, 2))),
            vector_size=int(s.get("vector_size", 32)),
            sec_layers=tuple(int(x) for x in s.get("sec_layers", ())),
            sec_alpha=tuple(float(x) for x in s.get("sec_alpha", ())),
        )
        layers = tuple(
            LayerProfile(
                layer=int(lp["layer"]),
                tokens_kept=float(lp["tokens_kept"]),
                unique_rows={str(k): float(v) for k, v in (lp.get("unique_rows") or {}).items()},
                mlp_tokens_kept=None if lp.get("mlp_tokens_kept") is None else float(lp["mlp_tokens_kept"]),
            )
            for lp in raw["layers"]
        )
        profile = SparsityProfile(
            layers=layers,
            tokens=int(raw["tokens"]),
            settings=settings,
            source=str(raw.get("source", "user")),
            workload=raw.get("workload"),
            extra={k: v for k, v in raw.items() if k not in _CORE_KEYS},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{where}: malformed sparsity profile ({exc!r}); see dse/profile.py for the format") from None
    _check_rows(profile, where)
    if "kept_fraction" in raw:
        _check_kept_fraction(raw["kept_fraction"], profile.kept_fraction, where)
    return profile


def _check_rows(profile: SparsityProfile, where: str) -> None:
    """Unique rows name a GEMM the simulator runs and are at most the tokens that GEMM sees."""
    for lp in profile.layers:
        for name, rows in lp.unique_rows.items():
            if name not in ROW_KEYS:
                raise UserError(f"{where}: layer {lp.layer}: unique_rows key '{name}' is no GEMM the array runs; "
                                f"use {', '.join(ROW_KEYS)}")
            seen = lp.tokens(name)
            if rows > seen:
                raise UserError(f"{where}: layer {lp.layer}: unique_rows[{name}] = {rows:g} exceeds the {seen:g} tokens "
                                f"that GEMM sees: unique rows are in [0, {seen:g}]")


def _check_kept_fraction(given: Any, derived: float, where: str) -> None:
    """kept_fraction is computed from the layers; a file stating another one contradicts itself."""
    ok = isinstance(given, (int, float)) and not isinstance(given, bool)
    if not ok or not 0 <= given <= 1:
        raise UserError(f"{where}: kept_fraction must be a number in [0, 1] (it is derived from the layers: "
                        f"{derived:.6g}), got {given!r}")
    if abs(given - derived) > 1e-6:
        raise UserError(f"{where}: kept_fraction {given:g} disagrees with the layers, which keep {derived:.6g} of "
                        "the rows: kept_fraction is derived from the layers; drop it or fix the layers")


def load_profile(path: str | Path) -> SparsityProfile:
    return profile_from_dict(read_json(path, "profile"), str(path))
