"""The backend protocol and the outcome of one trial."""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any, Protocol

from bisect_ml._errors import BackendError

if TYPE_CHECKING:
    from bisect_ml.factors import Value
    from bisect_ml.scenario import Dataset, Spec

__all__ = ["BACKENDS", "Backend", "Outcome", "get_backend", "library_versions"]


@dataclass(frozen=True)
class Outcome:
    """What one trial measured.

    ``metric`` is the primary metric on the test set after the last epoch
    (error rate or MSE); it is ``nan`` when the training diverged.
    ``metric_curve`` and ``loss_curve`` hold the test metric and the mean
    training loss after every epoch.
    """

    metric: float
    diverged: bool = False
    loss_curve: tuple[float, ...] = ()
    metric_curve: tuple[float, ...] = ()
    seconds: float = 0.0
    versions: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": None if math.isnan(self.metric) else self.metric,
            "diverged": self.diverged,
            "loss_curve": [_finite_or_none(v) for v in self.loss_curve],
            "metric_curve": [_finite_or_none(v) for v in self.metric_curve],
            "seconds": self.seconds,
            "versions": dict(self.versions),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Outcome:
        def num(v: float | None) -> float:
            return math.nan if v is None else float(v)

        return cls(
            metric=num(d["metric"]),
            diverged=bool(d["diverged"]),
            loss_curve=tuple(num(v) for v in d.get("loss_curve", ())),
            metric_curve=tuple(num(v) for v in d.get("metric_curve", ())),
            seconds=float(d.get("seconds", 0.0)),
            versions=dict(d.get("versions", {})),
        )


def _finite_or_none(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


class Backend(Protocol):
    """Trains the neutral spec under one complete factor assignment.

    A backend must be deterministic for a given seed on CPU, apply every
    factor of the registry, use its framework's genuine component for each
    value that is that framework's default, and report a diverged training
    (non-finite loss or metric) as an `Outcome` with ``diverged=True``.
    """

    name: str

    def train(
        self, spec: Spec, data: Dataset, assignment: dict[str, Value], seed: int
    ) -> Outcome: ...


#: Backend name -> "module:attribute", imported on first use only.
BACKENDS = {
    "torch": "bisect_ml.backends.torch_backend:TorchBackend",
    "keras": "bisect_ml.backends.keras_backend:KerasBackend",
    "simulated": "bisect_ml.backends.simulated:SimulatedBackend",
}

_PACKAGES = {
    "torch": ("torch", "numpy"),
    "keras": ("keras", "tensorflow-cpu", "numpy"),
    "simulated": ("numpy",),
}


def library_versions(backend: str) -> dict[str, str]:
    """Versions of the libraries ``backend`` trains with, without importing them."""
    versions = {}
    for package in _PACKAGES[backend]:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "missing"
    return versions


def get_backend(name: str) -> Backend:
    """Import and instantiate the backend called ``name``."""
    try:
        target = BACKENDS[name]
    except KeyError:
        raise BackendError(name, f"unknown; known: {', '.join(BACKENDS)}") from None
    module, attr = target.split(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except ImportError as err:
        raise BackendError(name, f"cannot be imported ({err})") from None
    backend: Backend = cls()
    return backend
