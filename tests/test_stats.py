"""Statistics against scipy reference values and known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from bisect_ml.stats import compare, equivalence, holm, ratio_of_gaps


def test_welch_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(0, 1, 12), rng.normal(0.8, 2, 9)
    c = compare(a, b, paired=False)
    ref = stats.ttest_ind(b, a, equal_var=False)
    assert c.test == "Welch t"
    assert c.pvalue == pytest.approx(ref.pvalue)
    assert c.statistic == pytest.approx(ref.statistic)
    assert c.pvalue_rank == pytest.approx(stats.mannwhitneyu(a, b).pvalue)
    assert c.effect == pytest.approx(b.mean() - a.mean())
    low, high = c.confidence_interval()
    assert low < c.effect < high


def test_paired_matches_scipy_and_gains_power(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shared = rng.normal(0, 1, 10)
    a = shared + rng.normal(0, 0.05, 10)
    b = shared + 0.1 + rng.normal(0, 0.05, 10)
    paired, unpaired = compare(a, b, paired=True), compare(a, b, paired=False)
    assert paired.pvalue == pytest.approx(stats.ttest_rel(b, a).pvalue)
    assert paired.pvalue_rank == pytest.approx(stats.wilcoxon(b - a).pvalue)
    assert paired.pvalue < 1e-3 < unpaired.pvalue


def test_one_sided_toward() -> None:
    c = compare([1.0, 1.1, 0.9, 1.05], [2.0, 2.1, 1.9, 2.2], paired=False)
    assert c.pvalue_toward(+1) == pytest.approx(c.pvalue / 2)
    assert c.pvalue_toward(-1) == pytest.approx(1 - c.pvalue / 2)


def test_diverged_trials_rank_worst_and_are_counted() -> None:
    a = [0.1, 0.11, 0.09, 0.1, 0.12]
    b = [0.1, float("nan"), float("nan"), 0.11, 0.1]
    c = compare(a, b, paired=True)
    assert c.test == "Mann-Whitney U" and not c.paired
    assert c.diverged == (0, 2)
    wb = np.where(np.isnan(b), np.inf, b)
    assert c.pvalue == pytest.approx(stats.mannwhitneyu(a, wb).pvalue)


def test_tost_equivalence() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(0, 0.01, 20)
    same = equivalence(a, a + rng.normal(0, 0.01, 20), margin=0.02)
    far = equivalence(a, a + 0.05, margin=0.02)
    assert same.pvalue < 0.05 < far.pvalue
    # The TOST p-value is the larger of the two one-sided Welch p-values.
    b = a + 0.005
    lo = stats.ttest_ind(b + 0.02, a, equal_var=False, alternative="greater").pvalue
    hi = stats.ttest_ind(b - 0.02, a, equal_var=False, alternative="less").pvalue
    assert equivalence(a, b, 0.02).pvalue == pytest.approx(max(lo, hi))


def test_holm_reference_values() -> None:
    # Hand computed: sorted 0.01, 0.03, 0.04, 0.5 -> 4*0.01, 3*0.03, max(.09, 2*.04),
    # max(.09, .5).
    assert holm([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert holm([0.9, 0.9]) == pytest.approx([1.0, 1.0])


def test_ratio_covers_the_truth_most_of_the_time() -> None:
    """Coverage of the share interval on a known truth (share 0.5), 200 repeats."""
    covered = 0
    for rep in range(200):
        rng = np.random.default_rng(rep)
        t = rng.normal(1.0, 0.1, 10)
        k = rng.normal(0.0, 0.1, 10)
        h = t - 0.5 + rng.normal(0, 0.05, 10)
        r = ratio_of_gaps(
            {"T": t, "K": k, "H": h},
            lambda m: np.nanmean(m["T"], -1) - np.nanmean(m["H"], -1),
            lambda m: np.nanmean(m["T"], -1) - np.nanmean(m["K"], -1),
        )
        covered += r.low <= 0.5 <= r.high
    # Percentile bootstrap at n=10 is known to undercover somewhat.
    assert 0.85 <= covered / 200 <= 0.99
