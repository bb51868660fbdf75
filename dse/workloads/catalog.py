"""Workloads: a model spec plus a visual input (frames x patches per frame, or tokens).

Every row of the Focus paper's meta_data.csv is addressable as '<model>/<dataset>', e.g.
'llava_vid/videomme' (64 frames x 182 patches = 11,648 visual tokens). The Focus evaluation
runs every published workload on a Qwen2-7B backbone, so they all use the 'qwen2-7b' spec.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache

from dse.data_files import REFERENCE_DIR
from dse.errors import UserError
from dse.workloads.models import ModelSpec, load_model

PUBLISHED_BACKBONE = "qwen2-7b"
# the whole VLM each published model name stands for (its vision encoder for the whole query;
# the prefill keeps running on PUBLISHED_BACKBONE, as the Focus evaluation does)
PUBLISHED_VLMS = {"llava_vid": "llava-video-7b", "llava_onevision": "llava-onevision-7b",
                  "minicpm_v": "minicpm-v-2.6", "qwen2_5_vl": "qwen2.5-vl-7b"}
VIDEO_WORKLOADS = tuple(
    f"{m}/{d}" for m in ("llava_vid", "llava_onevision", "minicpm_v") for d in ("videomme", "mlvu", "mvbench")
)


@dataclass(frozen=True)
class Workload:
    name: str
    model: str  # model spec name or path
    tokens: int  # visual tokens S fed to the LLM
    frames: int = 1
    patches: int = 0  # patches (tokens) per frame; 0 when only the token count is known
    vlm: str = ""  # the whole VLM's spec (vision encoder + LLM); "" = `model` if it has an encoder

    @property
    def spec(self) -> ModelSpec:
        return load_model(self.model)

    @property
    def vlm_spec(self) -> ModelSpec:
        return load_model(self.vlm or self.model)

    @property
    def published(self) -> bool:
        return self.name in _published()


@cache
def _published() -> dict[str, Workload]:
    out: dict[str, Workload] = {}
    with open(REFERENCE_DIR / "accuracy" / "meta_data.csv", newline="") as f:
        for row in csv.DictReader(f):
            name = f"{row['Model']}/{row['Dataset']}"
            out[name] = Workload(
                name=name,
                model=PUBLISHED_BACKBONE,
                tokens=int(row["Sequence length"]),
                frames=int(row["Num frames"]),
                patches=int(row["Num patches"]),
                vlm=PUBLISHED_VLMS[row["Model"]],
            )
    return out


def list_workloads() -> list[str]:
    return sorted(_published())


# Costs are closed forms in the token count, but energy and time are floats: S^2 attention terms
# must stay far from float overflow (~1e308), and 10^18 tokens is far beyond any VLM.
MAX_TOKENS = 10**18


def _shown(value: int) -> str:
    return str(value) if abs(value) < 10**21 else f"a {len(str(abs(value)))}-digit number"


def custom_workload(model: str, frames: int | None, patches: int | None, tokens: int | None) -> Workload:
    load_model(model)  # fail early on an unknown model
    if tokens is None:
        if frames is None or patches is None:
            raise UserError("a custom workload needs --frames and --patches, or --tokens")
        for value, flag in ((frames, "--frames"), (patches, "--patches")):
            if not 0 < value <= MAX_TOKENS:
                raise UserError(f"{flag} must be an integer in 1..10^18, got {_shown(value)}")
        tokens = frames * patches
        if tokens > MAX_TOKENS:
            raise UserError(f"--frames x --patches = {tokens:.3g} visual tokens: at most 10^18")
    elif not 0 < tokens <= MAX_TOKENS:
        raise UserError(f"--tokens must be an integer in 1..10^18, got {_shown(tokens)}")
    elif patches is not None and tokens != (frames or 1) * patches:
        raise UserError(f"--tokens {tokens} is not --frames x --patches = {(frames or 1) * patches}: give --tokens "
                        "(with --frames, patches per frame follow) or --frames and --patches")
    frames = frames or 1
    patches = patches or (tokens // frames if tokens % frames == 0 else 0)
    return Workload(name=f"{model}-{frames}x{patches}" if patches else f"{model}-{tokens}tok",
                    model=model, tokens=tokens, frames=frames, patches=patches)


def resolve_workload(
    name: str | None = None,
    model: str | None = None,
    frames: int | None = None,
    patches: int | None = None,
    tokens: int | None = None,
) -> Workload:
    """A published workload by name, or a custom one from a model and its visual input."""
    if name:
        if model is not None:
            raise UserError("give either --workload or --model (with --frames/--patches or --tokens), not both")
        given = [flag for flag, v in (("--frames", frames), ("--patches", patches), ("--tokens", tokens)) if v is not None]
        if given:
            raise UserError(f"{', '.join(given)} describe a custom workload; --workload {name} has its own "
                            "(see 'focus-dse workloads'): drop them, or use --model M instead of --workload")
        try:
            return _published()[name]
        except KeyError:
            raise UserError(
                f"unknown workload '{name}': use one of {', '.join(list_workloads())}, "
                "or --model M --frames F --patches P"
            ) from None
    if model:
        return custom_workload(model, frames, patches, tokens)
    raise UserError("no workload: give --workload NAME (e.g. llava_vid/videomme) or --model M --frames F --patches P")
