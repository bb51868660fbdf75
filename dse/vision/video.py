"""Read a video as a handful of uniformly sampled, ViT-ready frames (PyAV decoder).

VLMs sample a fixed number of frames uniformly over the whole clip and resize each to the
vision encoder's square input; we do the same so the measured redundancy is the redundancy
those models see.
"""

from __future__ import annotations

from collections.abc import Iterator
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


def _decoded(path: Path) -> Iterator:
    """The decoded frames of the first video stream, in decoder format (nothing converted)."""
    import av  # imported here: only this command needs the decoder

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise UserError(f"{path} has no video stream: give --video a video file (e.g. .mp4, .avi)")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            yield from container.decode(stream)
    except av.FFmpegError as exc:
        raise UserError(f"cannot decode video {path} ({exc.__class__.__name__}): give --video a readable video file") from None


def _vit_input(frame, size: int) -> torch.Tensor:
    """One decoded frame as a (3, size, size) ImageNet-normalised tensor."""
    rgb = torch.from_numpy(frame.to_ndarray(format="rgb24")).permute(2, 0, 1).float() / 255.0
    rgb = torch.nn.functional.interpolate(rgb[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0]
    return (rgb - torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) / torch.tensor(IMAGENET_STD).view(3, 1, 1)


def read_frames(path: str | Path | None, frames: int, size: int = 224, min_frames: int = 1) -> Clip:
    """`frames` frames sampled uniformly over the clip (all of them if it has fewer), resized to size×size.

    Two decoding passes: the first only counts frames (container frame counts are often missing
    or wrong), the second converts just the sampled frames, so memory does not grow with the
    length or resolution of the video.
    """
    path = Path(path) if path is not None else SHIPPED_CLIP
    if path.is_dir():
        raise UserError(f"--video {path} is a directory: give a video file inside it (e.g. {path / 'clip.mp4'})")
    if not path.is_file():
        raise UserError(f"video not found: {path} (give --video an existing file, or omit it to use the shipped clip)")
    if path.stat().st_size == 0:
        raise UserError(f"video {path} is empty (0 bytes): give --video a real video file")
    total = sum(1 for _ in _decoded(path))
    if not total:
        raise UserError(f"video {path} has no decodable frames: give --video a non-empty video")
    count = min(frames, total)
    if count < min_frames:
        raise UserError(
            f"{count} frame(s) available from {path} but the block spans {min_frames} frames: "
            f"use --frames >= {min_frames} on a longer clip, or a block with fewer frames"
        )
    # VLM-style uniform sampling: first and last frame included, evenly spaced in between
    indices = tuple(int(round(i)) for i in np.linspace(0, total - 1, count))
    pixels = torch.empty(count, 3, size, size)
    slot = 0
    for index, frame in enumerate(_decoded(path)):
        if index == indices[slot]:
            pixels[slot] = _vit_input(frame, size)
            slot += 1
            if slot == count:
                break
    if slot < count:
        raise UserError(f"video {path} decoded {total} frames, then fewer: is it still being written? give a finished file")
    return Clip(pixels=pixels, path=str(path), frame_indices=indices, total_frames=total)
