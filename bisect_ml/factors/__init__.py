"""Factor type and the catalogue of factors, looked up by dotted name."""

from bisect_ml.factors._explain import CASES, EXPLANATIONS, Explanation
from bisect_ml.factors._factor import FRAMEWORKS, Factor, Value
from bisect_ml.factors._registry import (
    Registry,
    default_assignment,
    explanation,
    registry,
)

__all__ = [
    "CASES",
    "EXPLANATIONS",
    "FRAMEWORKS",
    "Explanation",
    "Factor",
    "Registry",
    "Value",
    "default_assignment",
    "explanation",
    "registry",
]
