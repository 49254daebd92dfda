"""Statistical tests, intervals and result objects a verdict rests on."""

from bisect_ml.stats._tests import (
    Comparison,
    Equivalence,
    IntervalWarning,
    Ratio,
    compare,
    equivalence,
    holm,
    ratio_of_gaps,
)

__all__ = [
    "Comparison",
    "Equivalence",
    "IntervalWarning",
    "Ratio",
    "compare",
    "equivalence",
    "holm",
    "ratio_of_gaps",
]
