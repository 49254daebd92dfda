"""Statistical decisions over per-seed outcomes, built on scipy.stats.

Every function returns a frozen result object holding the raw per-seed values,
so a report can show the evidence and recompute nothing.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from bisect_ml._errors import BisectWarning

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

#: Bootstrap resamples for every interval; fixed, with a fixed generator seed,
#: so a report is reproducible.
N_RESAMPLES = 4999
_BOOT_SEED = 20261204


class IntervalWarning(BisectWarning):
    """A confidence interval could not be computed and was reported as open."""


#: Per-seed values: a sequence or a 1-D array.
Values = Sequence[float] | np.ndarray


def _finite(values: Values) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    return arr[np.isfinite(arr)]


@dataclass(frozen=True)
class Comparison:
    """How arm B's metric differs from arm A's.

    Attributes
    ----------
    a, b
        Per-seed metric values (``nan`` for a diverged trial), seed order.
    effect
        ``mean(b) - mean(a)`` over finite values.
    pvalue
        Two-sided p-value of the test named in ``test``: the paired t-test when
        the arms share seeds and neither diverged, otherwise Welch's t-test, or
        Mann-Whitney U when a trial diverged (diverged trials rank worst).
    pvalue_rank
        The rank test's p-value (Wilcoxon signed-rank when paired, Mann-Whitney U
        otherwise), reported beside the t-test as a check of robustness.
    """

    a: tuple[float, ...]
    b: tuple[float, ...]
    paired: bool
    test: str
    statistic: float
    pvalue: float
    rank_test: str
    pvalue_rank: float
    effect: float
    diverged: tuple[int, int] = (0, 0)
    _ci: tuple[float, float] = field(default=(np.nan, np.nan), repr=False)

    @property
    def n(self) -> tuple[int, int]:
        return len(self.a), len(self.b)

    def confidence_interval(
        self, confidence_level: float = 0.95
    ) -> tuple[float, float]:
        """Bootstrap percentile interval of ``effect``."""
        if confidence_level == 0.95 and not np.isnan(self._ci[0]):
            return self._ci
        return _effect_ci(self.a, self.b, self.paired, confidence_level)

    def pvalue_toward(self, direction: float) -> float:
        """One-sided p-value that B moved from A in the sign of ``direction``."""
        if self.effect * direction > 0:
            return self.pvalue / 2
        return 1 - self.pvalue / 2


def _mean_diff(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.nanmean(b, axis=axis) - np.nanmean(a, axis=axis)


def _bootstrap(
    data: tuple[np.ndarray, ...],
    statistic: Callable[..., np.ndarray],
    paired: bool,
    confidence_level: float,
) -> tuple[float, float]:
    if any(np.isfinite(d).sum() < 2 for d in data):
        warnings.warn(
            "too few finite values for an interval", IntervalWarning, stacklevel=3
        )
        return (-np.inf, np.inf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.bootstrap(
            data,
            statistic,
            paired=paired,
            vectorized=True,
            n_resamples=N_RESAMPLES,
            confidence_level=confidence_level,
            method="percentile",
            rng=np.random.default_rng(_BOOT_SEED),
        )
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (np.isfinite(low) and np.isfinite(high)):
        warnings.warn(
            "the bootstrap interval is not finite", IntervalWarning, stacklevel=3
        )
        return (-np.inf, np.inf)
    return low, high


def _effect_ci(a: Values, b: Values, paired: bool, level: float) -> tuple[float, float]:
    x, y = np.asarray(a, float), np.asarray(b, float)
    if np.isnan(x).any() or np.isnan(y).any():
        # The interval is of the mean over trials that did not diverge.
        x, y, paired = _finite(x), _finite(y), False
    return _bootstrap((x, y), _mean_diff, paired, level)


def compare(a: Values, b: Values, *, paired: bool) -> Comparison:
    """Compare two arms' per-seed metrics.

    Parameters
    ----------
    a, b
        Per-seed values; ``nan`` marks a diverged trial. With ``paired=True`` the
        two must be in the same seed order and of equal length.
    paired
        Whether the arms share seeds and framework (common random numbers), so
        that seed-wise differences cancel the shared noise.

    Notes
    -----
    A pairing is only as good as the shared draws: two arms on different
    frameworks never share initial weights, even at the same seed, so they must
    be compared unpaired.
    """
    x, y = np.asarray(a, float), np.asarray(b, float)
    if paired and len(x) != len(y):
        raise ValueError("paired arms need the same number of seeds")
    div = (int(np.isnan(x).sum()), int(np.isnan(y).sum()))
    fx, fy = _finite(x), _finite(y)
    if len(fx) < 2 or len(fy) < 2:
        raise ValueError("each arm needs at least two finite outcomes to compare")
    effect = float(fy.mean() - fx.mean())

    if any(div):
        # A diverged training is the worst outcome: rank it above every value.
        wx, wy = np.where(np.isnan(x), np.inf, x), np.where(np.isnan(y), np.inf, y)
        mw = stats.mannwhitneyu(wx, wy, alternative="two-sided")
        test, statistic, pvalue = (
            "Mann-Whitney U",
            float(mw.statistic),
            float(mw.pvalue),
        )
        rank_test, p_rank = test, pvalue
        paired = False
    elif paired:
        tt = stats.ttest_rel(y, x)
        test, statistic, pvalue = "paired t", float(tt.statistic), float(tt.pvalue)
        rank_test = "Wilcoxon signed-rank"
        d = y - x
        p_rank = 1.0 if np.allclose(d, 0) else float(stats.wilcoxon(d).pvalue)
    else:
        tt = stats.ttest_ind(y, x, equal_var=False)
        test, statistic, pvalue = "Welch t", float(tt.statistic), float(tt.pvalue)
        rank_test = "Mann-Whitney U"
        p_rank = float(stats.mannwhitneyu(x, y, alternative="two-sided").pvalue)
    if np.isnan(pvalue):
        # Both arms constant: identical means give no evidence of a difference.
        pvalue = 1.0 if effect == 0 else 0.0
    return Comparison(
        a=tuple(map(float, x)),
        b=tuple(map(float, y)),
        paired=paired,
        test=test,
        statistic=statistic,
        pvalue=pvalue,
        rank_test=rank_test,
        pvalue_rank=p_rank,
        effect=effect,
        diverged=div,
        _ci=_effect_ci(x, y, paired, 0.95),
    )


@dataclass(frozen=True)
class Equivalence:
    """Two one-sided tests: is |mean(b) - mean(a)| below ``margin``?"""

    effect: float
    margin: float
    pvalue: float
    n: tuple[int, int]

    @property
    def test(self) -> str:
        return "TOST (Welch)"


def equivalence(a: Values, b: Values, margin: float) -> Equivalence:
    """Welch two one-sided tests of ``|mean(b) - mean(a)| < margin``.

    The p-value is the larger of the two one-sided p-values; below alpha, the
    arms are equivalent within the margin.
    """
    x, y = _finite(a), _finite(b)
    if margin <= 0:
        raise ValueError("the equivalence margin must be positive")
    upper = stats.ttest_ind(y - margin, x, equal_var=False, alternative="less")
    lower = stats.ttest_ind(y + margin, x, equal_var=False, alternative="greater")
    p = max(float(upper.pvalue), float(lower.pvalue))
    if np.isnan(p):
        p = 0.0 if abs(y.mean() - x.mean()) < margin else 1.0
    return Equivalence(float(y.mean() - x.mean()), margin, p, (len(x), len(y)))


@dataclass(frozen=True)
class Ratio:
    """A share of the gap: ``estimate`` with its bootstrap interval."""

    estimate: float
    low: float
    high: float

    def confidence_interval(self) -> tuple[float, float]:
        return self.low, self.high


def ratio_of_gaps(
    arms: dict[str, Values],
    numerator: Callable[[dict[str, np.ndarray]], np.ndarray],
    denominator: Callable[[dict[str, np.ndarray]], np.ndarray],
    confidence_level: float = 0.95,
) -> Ratio:
    """Ratio of two contrasts of arm means, with a seed-block bootstrap interval.

    All arms must hold the same seeds in the same order. The bootstrap resamples
    *seeds*, taking every arm's trial of a drawn seed together, so arms that
    share seeds keep their correlation and arms that do not stay independent.
    The callables receive each arm's values with resamples on the last axis
    (means along it are taken with ``np.nanmean``).
    """
    names = list(arms)
    data = tuple(np.asarray(arms[k], float) for k in names)
    if len({len(d) for d in data}) != 1:
        raise ValueError("all arms need the same seeds")

    def statistic(*cols: np.ndarray, axis: int = -1) -> np.ndarray:
        m = {k: np.moveaxis(c, axis, -1) for k, c in zip(names, cols, strict=True)}
        with np.errstate(divide="ignore", invalid="ignore"):
            return numerator(m) / denominator(m)

    point = float(statistic(*[d[None, :] for d in data])[0])
    low, high = _bootstrap(data, statistic, True, confidence_level)
    return Ratio(point, low, high)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error control)."""
    p = np.asarray(pvalues, dtype=float)
    m = len(p)
    order = np.argsort(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[idx]))
        adjusted[idx] = running
    return adjusted.tolist()
