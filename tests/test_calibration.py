"""Small calibration run (issue #4): are the verdicts as right as they claim?

`benchmarks/calibration.py` prints the full table (500 repetitions a row);
this runs the same cases with fewer repetitions, on fixed seeds, and asserts
each figure within three binomial standard errors of its goal at that count.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.calibration import (
    ADAPTIVE,
    CASES,
    FIXED,
    Score,
    figures,
    naive_peeking,
    run_case,
)


def _se3(goal: float, n: int) -> float:
    """Three binomial standard errors of a proportion ``goal`` at ``n``."""
    return 3 * math.sqrt(goal * (1 - goal) / n)


def _floor(goal: float, n: int) -> float:
    """The goal less three binomial standard errors at ``n`` repetitions."""
    return goal - _se3(goal, n)


def _figure(case: str, scores: list[Score], name: str) -> float:
    (fig,) = [f for f in figures(CASES[case], scores) if f.name == name]
    return fig.value


@pytest.fixture(scope="module")
def cause_fixed() -> list[Score]:
    return run_case(CASES["cause"], 60, FIXED)


def test_a_a_pairs_report_no_gap() -> None:
    scores = run_case(CASES["aa"], 200, FIXED)
    assert _figure("aa", scores, "no significant gap") >= _floor(0.95, 200)
    coverage = _figure("aa", scores, "gap CI coverage")
    assert abs(coverage - 0.95) <= _se3(0.95, 200)


def test_one_planted_cause_is_found_exactly(cause_fixed: list[Score]) -> None:
    assert _figure("cause", cause_fixed, "found exactly") >= _floor(0.95, 60)


def test_intervals_cover_at_their_level(cause_fixed: list[Score]) -> None:
    # Shares within a repetition share their sides, so the tolerance is that
    # of the 60 repetitions, not of the 720 shares.
    for name in ("gap CI coverage", "share CI coverage"):
        coverage = _figure("cause", cause_fixed, name)
        assert abs(coverage - 0.95) <= _se3(0.95, 60), name


def test_pure_interaction_is_found() -> None:
    scores = run_case(CASES["interaction"], 40, FIXED)
    assert _figure("interaction", scores, "interaction found") >= _floor(0.90, 40)


def test_adaptive_seeds_cost_less_at_equal_accuracy(
    cause_fixed: list[Score],
) -> None:
    adaptive = run_case(CASES["cause"], 60, ADAPTIVE)
    exact = [_figure("cause", s, "found exactly") for s in (cause_fixed, adaptive)]
    assert exact[1] >= exact[0] - 0.05
    trials = [np.mean([s.trials for s in run]) for run in (cause_fixed, adaptive)]
    assert trials[1] <= 0.8 * trials[0]


def test_heavy_tails_and_divergence_still_find_the_cause() -> None:
    scores = run_case(CASES["cause-heavy"], 40, FIXED)
    # Reported, not a goal of the issue: measured 90.6% at 500 repetitions.
    assert _figure("cause-heavy", scores, "found exactly") >= _floor(0.90, 40)


def test_sequential_looks_keep_the_error_that_peeking_loses() -> None:
    naive, design = naive_peeking(1000)
    # Measured at 5000 A/A pairs: naive 8.0%, the design 4.8%.
    assert design.value <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 1000)
    assert naive.value > design.value + 0.01
