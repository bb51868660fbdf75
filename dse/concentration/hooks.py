"""Run a concentration policy inside the blocks of a Hugging Face transformers model and record
what it leaves, layer by layer, as a SparsityProfile.

Hooks (no edits to the model code) sit where each GEMM reads its activation: the output of the
norm before the QKV projections and before the MLP, and the inputs of the attention output
projection and of the MLP down projection. Each hook replaces the visual rows by their
de-duplicated version (exactly what computing unique rows and scattering gives) and counts the
unique rows. Tokens a policy drops (SEC, pruning) are hidden from attention as keys and frozen:
the block hands them on unchanged, as if they had left the sequence.

Supported blocks: DINOv2 (`Dinov2Layer`: norm1 / attention.o_proj / norm2 / mlp.fc2) and
LLM decoder layers named like Qwen2 / LLaMA (input_layernorm / self_attn.o_proj /
post_attention_layernorm / mlp.down_proj), which covers Qwen2-VL, Qwen2.5-VL and
LLaVA-OneVision language models.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from dse.concentration.algorithms import deduplicate
from dse.concentration.methods import LayerDecision, Policy
from dse.errors import UserError
from dse.profile import LayerProfile

QKV = ("q_proj", "k_proj", "v_proj")


@dataclass(frozen=True)
class VisualLayout:
    """Where the visual tokens sit in a block's (batch, sequence, dim) hidden states.

    LLM layouts read batch element 0 only (one video per prompt, as the Focus reference runs)."""

    frames: int
    height: int
    width: int
    start: int = 0  # index of the first visual token in the sequence
    # ViT style: batch element f is frame f, its sequence is `start` prefix tokens (CLS) + patches
    frame_per_batch: bool = False
    # sequence span of the tokens whose attention ranks the visual ones (CLS, or the text prompt);
    # None: the prefix (ViT) or everything after the visual tokens (LLM)
    queries: tuple[int, int] | None = None

    @property
    def tokens(self) -> int:
        return self.frames * self.height * self.width

    @property
    def _span(self) -> slice:
        per = self.height * self.width if self.frame_per_batch else self.tokens
        return slice(self.start, self.start + per)

    def grid(self, hidden: torch.Tensor) -> torch.Tensor:
        """The visual tokens as (frames, H, W, dim)."""
        rows = hidden[:, self._span] if self.frame_per_batch else hidden[0, self._span]
        return rows.reshape(self.frames, self.height, self.width, hidden.shape[-1])

    def put(self, hidden: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        out = hidden.clone()
        if self.frame_per_batch:
            out[:, self._span] = grid.reshape(self.frames, -1, hidden.shape[-1])
        else:
            out[0, self._span] = grid.reshape(-1, hidden.shape[-1])
        return out

    def importance(self, weights: torch.Tensor) -> torch.Tensor:
        """(N,) attention each visual token receives: max over heads and over the query tokens."""
        seq = weights.shape[-1]
        if self.queries is not None:
            q = slice(*self.queries)
        else:
            q = slice(0, self.start) if self.frame_per_batch else slice(self._span.stop, seq)
        if self.frame_per_batch:
            return weights[:, :, q, self._span].amax(dim=(1, 2)).reshape(-1)
        return weights[0, :, q, self._span].amax(dim=(0, 1))

    def key_keep(self, active: torch.Tensor, batch: int, seq: int) -> torch.Tensor:
        """(batch, 1, 1, seq) bool: which keys may be attended (non-visual tokens always)."""
        keep = torch.ones(batch, seq, dtype=torch.bool, device=active.device)
        if self.frame_per_batch:
            keep[:, self._span] = active.reshape(self.frames, -1)
        else:
            keep[:, self._span] = active
        return keep[:, None, None, :]


@dataclass(frozen=True)
class Tap:
    path: str  # module inside the block
    where: str  # "output": the module's output feeds the GEMMs; "input": the module is the GEMM
    gemms: tuple[str, ...]  # the LLM GEMM names this activation feeds


@dataclass(frozen=True)
class BlockSpec:
    attention: str
    taps: tuple[Tap, ...]


DINOV2_BLOCK = BlockSpec("attention", (
    Tap("norm1", "output", QKV),
    Tap("attention.o_proj", "input", ("o_proj",)),
    Tap("norm2", "output", ("gate_proj", "up_proj")),  # fc1 plays the role of gate/up
    Tap("mlp.fc2", "input", ("down_proj",)),
))
DECODER_BLOCK = BlockSpec("self_attn", (
    Tap("input_layernorm", "output", QKV),
    Tap("self_attn.o_proj", "input", ("o_proj",)),
    Tap("post_attention_layernorm", "output", ("gate_proj", "up_proj")),
    Tap("mlp.down_proj", "input", ("down_proj",)),
))


def _has(module: nn.Module, path: str) -> bool:
    try:
        module.get_submodule(path)
    except AttributeError:
        return False
    return True


def find_blocks(model: nn.Module) -> tuple[nn.ModuleList, BlockSpec]:
    """The first list of transformer blocks whose layout we know (a VLM's vision tower, if it does
    not match, is skipped: for Qwen2-VL this finds the language model's decoder layers)."""
    for module in model.modules():
        if isinstance(module, nn.ModuleList) and len(module) > 0:
            for spec in (DINOV2_BLOCK, DECODER_BLOCK):
                if all(_has(module[0], p) for p in [spec.attention, *(t.path for t in spec.taps)]):
                    return module, spec
    raise UserError(f"{type(model).__name__}: no DINOv2 or Qwen2/LLaMA-style transformer blocks found to hook")


@dataclass
class Recorder:
    """What the hooks saw, per layer: tokens kept and unique rows per GEMM."""

    tokens_kept: dict[int, float] = field(default_factory=dict)
    unique_rows: dict[int, dict[str, float]] = field(default_factory=dict)
    active: torch.Tensor | None = None  # (N,) tokens still computed after the last block

    def layers(self) -> tuple[LayerProfile, ...]:
        return tuple(
            LayerProfile(layer=l, tokens_kept=self.tokens_kept[l], unique_rows=dict(self.unique_rows.get(l, {})))
            for l in sorted(self.tokens_kept)
        )


@dataclass
class _State:
    active: torch.Tensor
    importance: torch.Tensor | None = None
    decision: LayerDecision | None = None
    entry: torch.Tensor | None = None


def _with_key_mask(mask: torch.Tensor | None, keep: torch.Tensor, causal: bool, dtype: torch.dtype) -> torch.Tensor:
    """Combine an attention mask of any of the forms transformers passes (None, bool, additive float) with key dropping."""
    seq = keep.shape[-1]
    if mask is None:  # additive float: the one form both eager and sdpa attention accept
        mask = torch.zeros(1, 1, seq, seq, dtype=dtype, device=keep.device)
        if causal:  # a mask replaces sdpa's implicit causality, so it must carry it
            mask = mask.masked_fill(torch.ones(seq, seq, dtype=torch.bool, device=keep.device).triu(1), torch.finfo(dtype).min)
    if mask.dtype == torch.bool:
        return mask & keep
    return mask.masked_fill(~keep, torch.finfo(mask.dtype).min)


@contextmanager
def concentrating(
    model: nn.Module, layout: VisualLayout, policy: Policy, layers: Collection[int] | None = None
) -> Iterator[Recorder]:
    """Within the block, every forward of `model` runs `policy` in its transformer blocks
    (only in `layers`, default all) and records a per-layer profile in the yielded Recorder."""
    blocks, spec = find_blocks(model)
    layers = set(range(len(blocks))) if layers is None else set(layers)
    if not layers <= set(range(len(blocks))):
        raise UserError(f"layers {sorted(layers - set(range(len(blocks))))} do not exist: the model has {len(blocks)} blocks (0-{len(blocks) - 1})")
    if not policy.acts_at <= layers:
        raise UserError(f"{policy.describe()['method']} acts at layer(s) {sorted(policy.acts_at - layers)}, which are not "
                        f"among the concentrated layers {sorted(layers)}: concentrate those layers too")
    recorder = Recorder()
    state = _State(active=torch.ones(layout.tokens, dtype=torch.bool))
    handles = []
    previous_attn = getattr(model.config, "_attn_implementation", None)
    if policy.needs_importance:
        model.set_attn_implementation("eager")  # the only implementation that returns attention weights

    def enter(layer: int):
        def hook(block, args, kwargs):
            hidden = args[0] if args else kwargs["hidden_states"]
            if layer == 0:  # a new forward pass
                state.active = torch.ones(layout.tokens, dtype=torch.bool, device=hidden.device)
                state.importance = None
                policy.start()
            grid = layout.grid(hidden)
            decision = policy.decide(layer, grid, state.importance, state.active) if layer in layers else LayerDecision(state.active)
            state.active, state.decision, state.entry = decision.active, decision, hidden
            if not bool(decision.active.all()):
                keep = layout.key_keep(decision.active, hidden.shape[0], hidden.shape[1])
                causal = getattr(block.get_submodule(spec.attention), "is_causal", False)
                if len(args) > 1:
                    args = (args[0], _with_key_mask(args[1], keep, causal, hidden.dtype), *args[2:])
                else:
                    kwargs["attention_mask"] = _with_key_mask(kwargs.get("attention_mask"), keep, causal, hidden.dtype)
            return args, kwargs
        return hook

    def leave(layer: int):
        def hook(block, args, kwargs, output):
            out = output[0] if isinstance(output, tuple) else output
            if not bool(state.active.all()):
                frozen = ~state.active.view(layout.frames, layout.height, layout.width, 1)
                out = layout.put(out, torch.where(frozen, layout.grid(state.entry), layout.grid(out)))
            if layer in layers:
                recorder.tokens_kept[layer] = float(state.active.sum())
            recorder.active = state.active
            return (out, *output[1:]) if isinstance(output, tuple) else out
        return hook

    def attention(module, args, output):
        if isinstance(output, tuple) and len(output) > 1 and output[1] is not None:
            state.importance = layout.importance(output[1].detach())

    def concentrate(layer: int, tap: Tap, activation: torch.Tensor) -> torch.Tensor:
        grid = layout.grid(activation)
        conc = policy.gemm(layer, tap.gemms[0], grid, state.decision)
        rows = recorder.unique_rows.setdefault(layer, {})
        for name in tap.gemms:
            rows[name] = conc.unique_rows
        return layout.put(activation, deduplicate(grid.reshape(layout.tokens, -1), conc).view_as(grid))

    def tap_output(layer: int, tap: Tap):
        return lambda module, args, output: concentrate(layer, tap, output)

    def tap_input(layer: int, tap: Tap):
        return lambda module, args: (concentrate(layer, tap, args[0]), *args[1:])

    try:
        for layer, block in enumerate(blocks):
            handles.append(block.register_forward_pre_hook(enter(layer), with_kwargs=True))
            handles.append(block.register_forward_hook(leave(layer), with_kwargs=True))
            if policy.needs_importance:
                handles.append(block.get_submodule(spec.attention).register_forward_hook(attention))
            if layer in layers:
                for tap in spec.taps:
                    module = block.get_submodule(tap.path)
                    if tap.where == "output":
                        handles.append(module.register_forward_hook(tap_output(layer, tap)))
                    else:
                        handles.append(module.register_forward_pre_hook(tap_input(layer, tap)))
        yield recorder
    finally:
        for handle in handles:
            handle.remove()
        if policy.needs_importance and previous_attn is not None:
            model.set_attn_implementation(previous_attn)
