"""Builders for scenario documents used across the tests."""

from __future__ import annotations

import copy
from typing import Any


def scenario_doc(**overrides: Any) -> dict[str, Any]:
    """A valid dense digits scenario as a parsed TOML document."""
    doc: dict[str, Any] = {
        "scenario": {"name": "t"},
        "data": {"dataset": "digits"},
        "model": {
            "layers": [
                {"type": "dense", "units": 16, "activation": "relu"},
                {"type": "dense", "units": 10, "activation": "linear"},
            ]
        },
        "train": {"epochs": 2, "loss": "cross_entropy", "from_logits": True},
        "sides": {"torch": {}, "keras": {}},
    }
    for key, value in overrides.items():
        doc[key] = value
    return copy.deepcopy(doc)


def simulated_doc(
    effects: list[dict[str, Any]],
    *,
    noise: float = 0.01,
    torch: dict[str, Any] | None = None,
    keras: dict[str, Any] | None = None,
    **sim: Any,
) -> dict[str, Any]:
    """A simulated pair with the v1 default differences and planted effects."""
    doc = scenario_doc()
    doc["scenario"]["backend"] = "simulated"
    doc["sides"] = {
        "torch": {"train": {"batch_size": 32}, **(torch or {})},
        "keras": dict(keras or {}),
    }
    doc["simulation"] = {"base": 0.05, "noise": noise, "effects": effects, **sim}
    return doc
