"""Accuracy providers: calibrated (default), measured, user. Each labels its results.

`get_provider(config)` builds one from a study file's `accuracy:` section.
"""

from __future__ import annotations

from typing import Any

from dse.accuracy.base import AccuracyProvider, AccuracyResult, baseline_accuracy, dense_accuracy
from dse.errors import UserError

PROVIDERS = ("calibrated", "measured", "user")


def _options(provider: str) -> set[str]:
    if provider == "calibrated":
        from dse.accuracy.calibrated import OPTIONS
    elif provider == "measured":
        from dse.accuracy.measured import OPTIONS
    else:
        from dse.accuracy.user import OPTIONS
    return OPTIONS


def check_options(provider: str, options: dict[str, Any], where: str = "accuracy") -> None:
    allowed = _options(provider)
    for key in options:
        if key not in allowed:
            raise UserError(f"{where}: unknown option '{key}' for provider {provider}; allowed: "
                            f"{', '.join(sorted(allowed)) or 'none'}")
    get_provider(provider, options)  # builds it: bad values fail here, at load time


def get_provider(provider: str = "calibrated", options: dict[str, Any] | None = None) -> AccuracyProvider:
    if provider == "calibrated":
        from dse.accuracy.calibrated import CalibratedProvider

        return CalibratedProvider(options)
    if provider == "measured":
        from dse.accuracy.measured import MeasuredProvider

        return MeasuredProvider(options)
    if provider == "user":
        from dse.accuracy.user import UserProvider

        return UserProvider(options)
    raise UserError(f"unknown accuracy provider '{provider}': use one of {', '.join(PROVIDERS)}")


__all__ = ["PROVIDERS", "AccuracyProvider", "AccuracyResult", "baseline_accuracy", "check_options",
           "dense_accuracy", "get_provider"]
