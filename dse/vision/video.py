"""Read a video as a handful of uniformly sampled, ViT-ready frames (PyAV decoder).

VLMs sample a fixed number of frames uniformly over the whole clip and resize each to the
vision encoder's square input; we do the same so the measured redundancy is the redundancy
those models see.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dse.data_files import DATA_DIR
from dse.errors import UserError

SHIPPED_CLIP = DATA_DIR / "clips" / "vtest_2fps.mp4"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Clip:
    pixels: torch.Tensor  # (frames, 3, size, size), ImageNet-normalised float32
    path: str
    frame_indices: tuple[int, ...]  # indices of the sampled frames in the decoded stream
    total_frames: int


def _decode_all(path: Path) -> list[np.ndarray]:
    import av  # imported here: only this command needs the decoder

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise UserError(f"{path} has no video stream: give --video a video file (e.g. .mp4, .avi)")
            return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    except av.FFmpegError as exc:
        raise UserError(f"cannot decode video {path} ({exc.__class__.__name__}): give --video a readable video file") from None


def read_frames(path: str | Path | None, frames: int, size: int = 224, min_frames: int = 1) -> Clip:
    """`frames` frames sampled uniformly over the clip (all of them if it has fewer), resized to size×size.

    Decoding the whole stream is deliberate: container frame counts are often missing or wrong,
    and the clips this is used on are short.
    """
    path = Path(path) if path is not None else SHIPPED_CLIP
    if not path.is_file():
        raise UserError(f"video not found: {path} (give --video an existing file, or omit it to use the shipped clip)")
    if path.stat().st_size == 0:
        raise UserError(f"video {path} is empty (0 bytes): give --video a real video file")
    decoded = _decode_all(path)
    if not decoded:
        raise UserError(f"video {path} has no decodable frames: give --video a non-empty video")
    count = min(frames, len(decoded))
    if count < min_frames:
        raise UserError(
            f"{count} frame(s) available from {path} but the block spans {min_frames} frames: "
            f"use --frames >= {min_frames} on a longer clip, or a block with fewer frames"
        )
    # VLM-style uniform sampling: first and last frame included, evenly spaced in between
    indices = tuple(int(round(i)) for i in np.linspace(0, len(decoded) - 1, count))
    stack = torch.from_numpy(np.stack([decoded[i] for i in indices])).permute(0, 3, 1, 2).float() / 255.0
    stack = torch.nn.functional.interpolate(stack, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return Clip(pixels=((stack - mean) / std).contiguous(), path=str(path), frame_indices=indices, total_frames=len(decoded))
