"""The default strategy: its choices, and what it costs against OFAT."""

from __future__ import annotations

import logging

import pytest

from bisect_ml.lab import Lab, Store
from bisect_ml.strategies import get_strategy
from tests._synthetic import main_effect, synthetic_pair


def _requested(name: str, effects: list, n: int) -> tuple[int, object]:
    search = get_strategy(name)
    with Lab(synthetic_pair(n, effects), Store(":memory:")) as lab:
        verdict = search.run(lab)
    return search.requested, verdict


def test_a_single_candidate_is_tested_alone(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="bisect_ml.strategies.auto"):
        requested, _ = _requested("auto", [main_effect("f00", 0.04)], 1)
    assert "testing it alone" in caplog.text
    # The sides and both singles, which are also the closure arms.
    assert requested == 4 * 10


def test_auto_costs_a_fraction_of_ofat_on_many_candidates() -> None:
    effects = [main_effect("f05", 0.04), main_effect("f11", 0.03)]
    auto, _ = _requested("auto", effects, 16)
    ofat, _ = _requested("ofat", effects, 16)
    assert auto <= 0.5 * ofat


def test_issue5_an_offsetting_factor_needs_no_second_search() -> None:
    # The found causes fall short of the full swap by the offsetting factor's
    # share; counted as a mover, it completes the set and nothing is searched
    # again (the seed article's shape: 7 candidates, 2 causes, 1 offsetting).
    effects = [
        main_effect("f00", 0.045),
        main_effect("f03", 0.03),
        main_effect("f02", -0.02),
    ]
    auto, verdict = _requested("auto", effects, 7)
    ofat, _ = _requested("ofat", effects, 7)
    assert {c.factor for c in verdict.offsetting} == {"f02"}  # type: ignore[attr-defined]
    assert auto < ofat
