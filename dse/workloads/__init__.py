"""VLM workloads described as data: model specs, published workloads, GEMM lists."""

from dse.workloads.catalog import Workload, list_workloads, resolve_workload
from dse.workloads.gemms import Gemm, layer_gemms
from dse.workloads.models import ModelSpec, TransformerSpec, list_models, load_model

__all__ = [
    "Gemm",
    "ModelSpec",
    "TransformerSpec",
    "Workload",
    "layer_gemms",
    "list_models",
    "list_workloads",
    "load_model",
    "resolve_workload",
]
