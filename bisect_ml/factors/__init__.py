"""Factor type and the catalogue of factors, looked up by dotted name."""

from bisect_ml.factors._factor import FRAMEWORKS, Factor, Value
from bisect_ml.factors._registry import Registry, default_assignment, registry

__all__ = [
    "FRAMEWORKS",
    "Factor",
    "Registry",
    "Value",
    "default_assignment",
    "registry",
]
