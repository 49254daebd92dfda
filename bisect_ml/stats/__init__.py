"""Statistical tests, intervals, sequential designs and result objects."""

from bisect_ml.stats._power import Noise, detectable, noise, seeds_needed
from bisect_ml.stats._sequential import GroupSequential, group_sequential, z_from_p
from bisect_ml.stats._tests import (
    Comparison,
    Contrast,
    Equivalence,
    IntervalWarning,
    Ratio,
    compare,
    contrast,
    divergence_pvalue,
    equivalence,
    holm,
    ratio_of_contrasts,
    ratio_of_gaps,
)

__all__ = [
    "Comparison",
    "Contrast",
    "Equivalence",
    "GroupSequential",
    "IntervalWarning",
    "Noise",
    "Ratio",
    "compare",
    "contrast",
    "detectable",
    "divergence_pvalue",
    "equivalence",
    "group_sequential",
    "holm",
    "noise",
    "ratio_of_contrasts",
    "ratio_of_gaps",
    "seeds_needed",
    "z_from_p",
]
