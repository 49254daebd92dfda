"""Seed noise, minimum detectable effects and the seeds a gap would need."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from bisect_ml.stats._tests import Values, _finite

__all__ = ["Noise", "detectable", "noise", "seeds_needed"]

#: Seeds per arm beyond which `seeds_needed` stops looking.
_MAX_SEEDS = 100_000


@dataclass(frozen=True)
class Noise:
    """The seed-to-seed standard deviation of one arm, with its interval.

    ``low`` and ``high`` bound ``sd`` at ``level`` (chi-square interval, exact
    for normal noise); ``n`` is the number of finished trials.
    """

    sd: float
    low: float
    high: float
    n: int
    level: float = 0.95

    def confidence_interval(self) -> tuple[float, float]:
        return self.low, self.high


def noise(values: Values, confidence_level: float = 0.95) -> Noise:
    """Estimate the seed noise of an arm from its finished trials."""
    x = _finite(values)
    n = len(x)
    if n < 2:
        return Noise(math.nan, 0.0, math.inf, n, confidence_level)
    sd = float(x.std(ddof=1))
    tail = (1 - confidence_level) / 2
    hi_q, lo_q = stats.chi2.ppf([1 - tail, tail], n - 1)
    low = sd * math.sqrt((n - 1) / hi_q)
    high = sd * math.sqrt((n - 1) / lo_q) if lo_q > 0 else math.inf
    return Noise(sd, float(low), float(high), n, confidence_level)


def _welch_se_df(sd_a: float, n_a: int, sd_b: float, n_b: int) -> tuple[float, float]:
    va, vb = sd_a**2 / n_a, sd_b**2 / n_b
    se = math.sqrt(va + vb)
    if se == 0:
        return 0.0, float(n_a + n_b - 2)
    df = (va + vb) ** 2 / (va**2 / max(n_a - 1, 1) + vb**2 / max(n_b - 1, 1))
    return se, df


def detectable(
    sd_a: float,
    n_a: int,
    sd_b: float,
    n_b: int,
    *,
    alpha: float = 0.05,
    power: float = 0.9,
) -> float:
    """Smallest difference of means a two-sided Welch test finds with ``power``.

    The usual approximation ``(t(1 - alpha/2) + t(power)) * se`` with Welch's
    degrees of freedom; with an arm's noise unknown it is ``nan``.

    Examples
    --------
    Two arms of unit noise at ten seeds each: a gap of about 1.5 noise standard
    deviations is what ten seeds can see.

    >>> round(detectable(1.0, 10, 1.0, 10), 2)
    1.54
    """
    if not (np.isfinite(sd_a) and np.isfinite(sd_b)) or min(n_a, n_b) < 2:
        return math.nan
    se, df = _welch_se_df(sd_a, n_a, sd_b, n_b)
    q = special.stdtrit(df, 1 - alpha / 2) + special.stdtrit(df, power)
    return float(q * se)


def seeds_needed(
    effect: float,
    sd_a: float,
    sd_b: float,
    *,
    alpha: float = 0.05,
    power: float = 0.9,
) -> int | None:
    """Seeds per arm at which a difference of ``effect`` is `detectable`.

    ``None`` when ``effect`` is zero, the noise is unknown, or more than
    100000 seeds would be needed.
    """
    effect = abs(effect)
    if not (effect > 0 and np.isfinite(sd_a) and np.isfinite(sd_b)):
        return None
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    n = max(2, math.ceil(z * z * (sd_a**2 + sd_b**2) / effect**2))
    if n > _MAX_SEEDS:
        return None
    # The normal guess is a lower bound; Student's t needs a few more.
    while detectable(sd_a, n, sd_b, n, alpha=alpha, power=power) > effect:
        n += 1
    return n
