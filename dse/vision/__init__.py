"""Real vision inputs for measuring concentration: video frames and a pretrained ViT (DINOv2 from ONNX)."""

from dse.vision.dinov2 import load_dinov2, onnx_model_path
from dse.vision.video import SHIPPED_CLIP, Clip, read_frames

__all__ = ["SHIPPED_CLIP", "Clip", "load_dinov2", "onnx_model_path", "read_frames"]
