"""The GEMMs of one transformer layer on T tokens (A is M x K, B is K x N)."""

from __future__ import annotations

from dataclasses import dataclass

from dse.workloads.models import TransformerSpec


@dataclass(frozen=True)
class Gemm:
    name: str
    M: int
    K: int
    N: int
    count: int = 1  # identical instances (e.g. one per attention head)
    kind: str = "linear"  # "linear", "qk" (Q x K^T) or "sv" (scores x V)

    @property
    def macs(self) -> int:
        return self.M * self.K * self.N * self.count


def linear_gemms(spec: TransformerSpec, tokens: int) -> list[Gemm]:
    h = spec.hidden
    out = [
        Gemm("q_proj", tokens, h, spec.q_dim),
        Gemm("k_proj", tokens, h, spec.kv_dim),
        Gemm("v_proj", tokens, h, spec.kv_dim),
        Gemm("o_proj", tokens, spec.q_dim, h),
    ]
    if spec.mlp == "gated":
        out += [
            Gemm("gate_proj", tokens, h, spec.intermediate),
            Gemm("up_proj", tokens, h, spec.intermediate),
            Gemm("down_proj", tokens, spec.intermediate, h),
        ]
    else:
        out += [Gemm("fc1", tokens, h, spec.intermediate), Gemm("fc2", tokens, spec.intermediate, h)]
    return out


def attention_gemms(spec: TransformerSpec, queries: int, keys: int) -> list[Gemm]:
    """Per query head: scores = Q K^T (queries x head_dim x keys), out = S V (queries x keys x head_dim)."""
    return [
        Gemm("qk", queries, spec.head_dim, keys, count=spec.heads, kind="qk"),
        Gemm("sv", queries, keys, spec.head_dim, count=spec.heads, kind="sv"),
    ]


def layer_gemms(spec: TransformerSpec, tokens: int) -> list[Gemm]:
    """Every GEMM of one layer, full (non-causal) attention shapes."""
    return linear_gemms(spec, tokens) + attention_gemms(spec, tokens, tokens)
