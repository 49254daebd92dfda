"""Search strategies, selected by name and imported on first use.

This folder is installed as the package ``bisect_ml.strategies`` (see the
``package-dir`` mapping in pyproject.toml). `STRATEGIES` maps each name to a
dotted path, so choosing one strategy never imports another's dependencies.
"""

from __future__ import annotations

import importlib
from typing import Any

from bisect_ml._errors import ScenarioError

__all__ = ["STRATEGIES", "get_strategy"]

STRATEGIES = {
    "ofat": "bisect_ml.strategies.ofat:OneFactorAtATime",
    "auto": "bisect_ml.strategies.auto:Auto",
    "bisect": "bisect_ml.strategies.bisect:Bisect",
    "ddmin": "bisect_ml.strategies.ddmin:DeltaDebugging",
    "ablation": "bisect_ml.strategies.ablation:Ablation",
    "screen": "bisect_ml.strategies.screen:Screen",
    "optuna": "bisect_ml.strategies.optuna:OptunaSearch",
}


def get_strategy(name: str, **options: Any) -> Any:
    """Instantiate the strategy registered as ``name`` with ``options``."""
    try:
        target = STRATEGIES[name]
    except KeyError:
        raise ScenarioError(
            f"must be one of {', '.join(map(repr, STRATEGIES))}",
            key="strategy",
            received=name,
        ) from None
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)(**options)
