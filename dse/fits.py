"""Does a design's concentration window fit the workload it runs on? Refuse knobs that mean nothing.

The similarity unit compares a token with neighbours inside a TxHxW window of frames x patch rows x
patch columns, on sub-vectors of `vector_size` elements of a row. A window larger than the
workload's frame grid, or a sub-vector longer than every row, names neighbours or elements that do
not exist; the cost model would still charge them (a 99x99x99 block costs ~10^6 comparisons per token).
"""

from __future__ import annotations

from functools import lru_cache
from math import isqrt
from typing import Any

from dse.cost.accelerator import load_spec
from dse.errors import UserError
from dse.workloads.catalog import Workload
from dse.workloads.gemms import linear_gemms


def patch_grid(workload: Workload) -> int:
    """Side of the square patch grid of one frame (LLaVA-Video's 182 tokens: 13x13 plus a row token each)."""
    per_frame = workload.patches or workload.tokens // max(1, workload.frames)
    return max(1, isqrt(per_frame))


def check_fits(block: tuple[int, int, int], vector_size: int, workload: Workload) -> None:
    t, h, w = block
    grid = patch_grid(workload)
    # the default 2x2x2 window always runs (on a single image, or a --tokens workload whose grid is
    # unknown, it finds fewer neighbours); larger windows must fit the frames and the patch grid
    frames, side = max(workload.frames, 2), max(grid, 2)
    if t > frames or h > side or w > side:
        raise UserError(f"block {t}x{h}x{w} does not fit {workload.name} ({workload.frames} frames of a {grid}x{grid} "
                        f"patch grid): use T <= {frames}, H <= {side}, W <= {side}")
    # a sub-vector longer than the hidden size still splits the MLP's down_proj rows (the paper sweeps
    # up to 4096 on Qwen2-7B); longer than every row, it names elements that do not exist
    longest = max((g for g in linear_gemms(workload.spec.llm, 1)), key=lambda g: g.K)
    if vector_size > longest.K:
        raise UserError(f"vector size {vector_size} is longer than every row {workload.name}'s GEMMs read (the "
                        f"longest, {longest.name}'s, has {longest.K}): use 1..{longest.K}")


def similarity_window_error(design: Any, workload: Workload) -> str:
    """'' when the design's similarity window fits the workload (or the design runs no similarity),
    else why it does not: the one check evaluate() raises and evaluate_batch() records per point."""
    if design.concentration == "none" or load_spec(design.accelerator)["model"] != "focus":
        return ""
    return _window_error(tuple(design.block), design.vector_size, workload)


@lru_cache(maxsize=1024)  # a study asks for few distinct windows, once per design
def _window_error(block: tuple[int, int, int], vector_size: int, workload: Workload) -> str:
    try:
        check_fits(block, vector_size, workload)
    except UserError as exc:
        return str(exc)
    return ""
