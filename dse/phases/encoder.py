"""The vision encoder phase: patch embedding, every tower layer (attention windowed where the
model windows), and the connector (projector, merger or resampler), for every frame.

What runs per frame comes from the VLM spec (dse/workloads/models.py EncoderSpec):
- LLaVA (connector "mlp"): each frame is one (image/patch)^2 crop (729 patches at 384 px);
  the projector runs on every patch, the pooling after it has no GEMM.
- MiniCPM-V ("resampler"): each frame is floor(LLM tokens per frame / queries) slices of
  (image/patch)^2 patches; per slice, 64 learned queries cross-attend to the slice's patches.
- Qwen2.5-VL ("merger"): frames go in groups of temporal_patch; a group has
  merge^2 x (LLM tokens per frame) patches; windowed layers attend within windows of
  window^2 patches, the listed full-attention layers over the whole group.
The weight GEMMs see every frame's patches stacked along M (tiled by m_tile), attention runs
per frame (per window). `encoder_threshold` (None: off) lets the Focus unit concentrate the
tower's weight GEMMs at that similarity threshold, with unique rows predicted from the
redundancy measured on a real ViT (dse/data/redundancy/) - beyond the paper, a prediction.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

import numpy as np

from dse.errors import UserError
from dse.design import DesignPoint
from dse.levels import runs_sic
from dse.phases.common import DenseArray, PhaseCost, QueryContext, phase_cost
from dse.sim.units.base import Tally
from dse.workloads.catalog import Workload
from dse.workloads.gemms import linear_gemms
from dse.workloads.models import EncoderSpec, ModelSpec, TransformerSpec


@dataclass(frozen=True)
class EncoderInput:
    crops: int  # frames, slices or frame groups the tower runs on
    tokens: int  # patches per crop


def encoder_input(vlm: ModelSpec, workload: Workload) -> EncoderInput:
    enc, tower = vlm.encoder, vlm.vision
    if enc is None or tower is None:
        raise UserError(f"model '{vlm.name}' has no vision encoder spec: the encoder phase needs a VLM spec "
                        "(e.g. llava-video-7b, minicpm-v-2.6, qwen2.5-vl-7b)")
    frames = max(1, workload.frames)
    per_frame = workload.patches or workload.tokens // frames
    if enc.connector == "merger":
        return EncoderInput(ceil(frames / enc.temporal_patch), per_frame * enc.merge ** 2)
    side = tower.image // tower.patch
    slices = max(1, per_frame // enc.queries) if enc.connector == "resampler" else 1
    return EncoderInput(frames * slices, side * side)


def unique_share(design: DesignPoint) -> float:
    """Unique rows / rows the Focus unit leaves in a ViT at the design's encoder_threshold, vector
    size and block: the curves measured on DINOv2 for its clip set (dse/redundancy.py)."""
    from dse.redundancy import vit_unique_fraction

    return vit_unique_fraction(design.encoder_threshold, design.vector_size, tuple(design.block),
                               design.redundancy_clips)


def attention_layers(enc: EncoderSpec) -> tuple[int, int]:
    """(full-attention layers, windowed layers) among the layers that run."""
    if not enc.window:
        return enc.layers_run, 0
    full = sum(1 for layer in enc.full_attention_layers if layer < enc.layers_run)
    return full, enc.layers_run - full


def run(q: QueryContext) -> PhaseCost:
    """The encoder of every sequence of the batch."""
    return run_encoder(q.design, q.workload, q.dense).repeated(q.first.batch)


def run_encoder(design: DesignPoint | list[DesignPoint], workload: Workload, dense: DenseArray) -> PhaseCost:
    """The encoder of one design point, or of a list of them that `dense` holds as arrays."""
    vlm = workload.vlm_spec
    enc, tower = vlm.encoder, vlm.vision
    inp = encoder_input(vlm, workload)
    assert enc is not None and tower is not None
    share = _unique_shares(design, dense.shape.model)
    tally = Tally()
    rows = inp.crops * inp.tokens  # every crop's patches stacked along M
    dense.linear(tally, "patch_embed", rows, 3 * enc.temporal_patch * tower.patch ** 2, tower.hidden)
    for g in linear_gemms(tower, 1):
        unique = None if share is None else rows * share
        dense.linear(tally, g.name, rows, g.K, g.N, repeat=enc.layers_run, unique=unique,
                     detect=g.name not in ("k_proj", "v_proj", "up_proj"))  # they share q's / gate's input
    full, windowed = attention_layers(enc)
    _attention(dense, tally, tower, inp.tokens, inp.tokens, full * inp.crops)
    if windowed:
        w = enc.window ** 2
        n_full, rest = divmod(inp.tokens, w)
        _attention(dense, tally, tower, w, w, windowed * inp.crops * n_full)
        if rest:
            _attention(dense, tally, tower, rest, rest, windowed * inp.crops)
    _connector(dense, tally, enc, tower, inp, rows)
    details = {"crops": inp.crops, "patches_per_crop": inp.tokens, "layers_run": enc.layers_run}
    if share is not None:
        details["unique_fraction"] = share
        details["modelled"] = ("encoder_threshold: similarity concentration inside the vision encoder, predicted from "
                               "redundancy measured on a DINOv2 ViT (dse/data/redundancy/); beyond the Focus paper")
    return phase_cost("encoder", tally, dense, details)


def _unique_shares(design: DesignPoint | list[DesignPoint], model: str):
    """unique_share of the point (an array over a list of points; they share accelerator and
    concentration); None when encoder_threshold is off (for every point of a list)."""
    first = design[0] if isinstance(design, list) else design
    if first.encoder_threshold is None:
        return None
    if model != "focus":
        raise UserError(f"encoder_threshold needs the Focus concentration unit; {first.accelerator} has none "
                        "(drop it or use --accelerator focus)")
    if not runs_sic(first.concentration):  # the similarity hardware is off or not built
        raise UserError(f"encoder_threshold needs similarity concentration; concentration "
                        f"'{first.concentration}' runs none (drop it or use sec+sic or sic)")
    if isinstance(design, list):
        return np.array([unique_share(p) for p in design])
    return unique_share(design)


def _attention(dense: DenseArray, tally: Tally, tower: TransformerSpec, queries: int, keys: int,
               count: int) -> None:
    if count and queries:
        dense.attention(tally, queries, keys, tower.head_dim, count * tower.heads)


def _connector(dense: DenseArray, tally: Tally, enc: EncoderSpec, tower: TransformerSpec, inp: EncoderInput,
               rows: int) -> None:
    if enc.connector == "mlp":
        k = tower.hidden
        for i, n in enumerate(enc.dims):
            dense.linear(tally, f"projector_{i}", rows, k, n)
            k = n
    elif enc.connector == "merger":
        m = rows // enc.merge ** 2
        k = tower.hidden * enc.merge ** 2
        for i, n in enumerate(enc.dims):
            dense.linear(tally, f"merger_{i}", m, k, n)
            k = n
    else:  # one cross-attention layer per slice: learned queries attend to the slice's patches
        e, q = enc.dims[0], enc.queries
        dense.linear(tally, "resampler_kv", rows, tower.hidden, e)
        dense.linear(tally, "resampler_k", rows, e, e)
        dense.linear(tally, "resampler_v", rows, e, e)
        for name in ("resampler_q", "resampler_out", "resampler_proj"):
            dense.linear(tally, name, q * inp.crops, e, e)
        dense.attention(tally, q, inp.tokens, enc.head_dim, inp.crops * (e // enc.head_dim))
