"""One factor at a time: the baseline every other strategy is measured against."""

from __future__ import annotations

from bisect_ml.stats import holm
from bisect_ml.strategies._base import Strategy

__all__ = ["OneFactorAtATime"]


class OneFactorAtATime(Strategy):
    """Swap each differing factor alone, in both directions.

    Costs ``2 * len(candidates)`` hybrid arms (plus the sides and the closure
    arms) times the seeds each test takes. A factor is a cause when its swap
    moves a side significantly toward the other side, after Holm's correction
    across the factors over every claim either way (a factor that moves a side
    away is *offsetting*, and is counted in the same family).

    Two factors that matter only together still move one side each when
    swapped alone (with two values a factor has no other way to open a gap),
    so both are named as causes; their non-additivity is reported as a
    pairwise interaction of the causes.
    """

    name = "ofat"

    def explore(self, candidates: list[str]) -> list[str]:
        tests = self.test_factors(candidates)
        adjusted = holm([t.pvalue_any for t in tests])
        return [
            t.factor
            for t, p in zip(tests, adjusted, strict=True)
            if p < self.alpha and t.toward
        ]
