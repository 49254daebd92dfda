"""One factor at a time: the baseline every other strategy is measured against."""

from __future__ import annotations

from bisect_ml.stats import holm
from bisect_ml.strategies._base import Strategy

__all__ = ["OneFactorAtATime"]


class OneFactorAtATime(Strategy):
    """Swap each differing factor alone, in both directions.

    Costs ``2 * len(candidates)`` hybrid arms (plus the sides and the closure
    arms) times the seeds. A factor is a cause when its swap moves its side
    toward the other side significantly, after Holm's correction across the
    factors. Factors that matter only together show up as a closure interaction,
    not as causes; the ``ddmin`` strategy (TODO(#5)) names them.
    """

    name = "ofat"

    def explore(self, candidates: list[str]) -> list[str]:
        arms = [self.single(fw, f) for f in candidates for fw in ("torch", "keras")]
        self.measure([self.side("torch"), self.side("keras"), *arms])
        tests = [self.test_factor(f) for f in candidates]
        adjusted = holm([t.pvalue for t in tests])
        return [
            t.factor for t, p in zip(tests, adjusted, strict=True) if p < self.alpha
        ]
