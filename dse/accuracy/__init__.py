"""Accuracy providers: calibrated (default), measured, user. Each labels its results.

`get_provider(config)` builds one from a study file's `accuracy:` section.
"""

from __future__ import annotations

import importlib
from typing import Any

from dse.accuracy.base import AccuracyProvider, AccuracyResult, baseline_accuracy, dense_accuracy
from dse.errors import UserError

# name -> "module:class", the one list of providers; each module is imported when its provider
# is first asked for (measured pulls the ViT stack), so `import dse.accuracy` stays light
REGISTRY = {
    "calibrated": "dse.accuracy.calibrated:CalibratedProvider",
    "measured": "dse.accuracy.measured:MeasuredProvider",
    "user": "dse.accuracy.user:UserProvider",
}
PROVIDERS = tuple(REGISTRY)


def provider_class(provider: str) -> type[AccuracyProvider]:
    """The class registered under a provider name; a UserError naming the choices otherwise."""
    target = REGISTRY.get(provider)
    if target is None:
        raise UserError(f"unknown accuracy provider '{provider}': use one of {', '.join(PROVIDERS)}")
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def check_options(provider: str, options: dict[str, Any], where: str = "accuracy") -> None:
    allowed = provider_class(provider).OPTIONS
    for key in options:
        if key not in allowed:
            raise UserError(f"{where}: unknown option '{key}' for provider {provider}; allowed: "
                            f"{', '.join(sorted(allowed)) or 'none'}")
    get_provider(provider, options)  # builds it: bad values fail here, at load time


def get_provider(provider: str = "calibrated", options: dict[str, Any] | None = None) -> AccuracyProvider:
    return provider_class(provider)(options)


__all__ = ["PROVIDERS", "REGISTRY", "AccuracyProvider", "AccuracyResult", "baseline_accuracy", "check_options",
           "dense_accuracy", "get_provider", "provider_class"]
