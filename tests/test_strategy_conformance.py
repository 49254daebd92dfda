"""Checks every search strategy must pass, on simulated pairs with a planted truth.

A strategy joins the suite with a class that subclasses `StrategyConformance`
and names it (and, if it needs them, its options). The pairs are synthetic
(`tests/_synthetic.py`): simulated pairs over made-up factors, so a check can
ask for one, two or thirty-two candidates.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from bisect_ml.lab import Arm, Lab, Store
from bisect_ml.scenario import Pair, parse_pair
from bisect_ml.strategies import STRATEGIES, get_strategy
from bisect_ml.verdict import Status, StopReason, Verdict
from tests._helpers import simulated_doc
from tests._synthetic import interaction, main_effect, synthetic_pair

SHIFT = 0.04  # four seed-noise standard deviations


class SpyLab(Lab):
    """A lab that records every (arm, seed) a strategy asks it for."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.asked: list[tuple[Arm, int]] = []

    def measure(self, arms: Iterable[Arm], seeds: Iterable[int]) -> Any:
        arms, seeds = list(arms), list(seeds)
        self.asked += [(arm, seed) for arm in arms for seed in seeds]
        return super().measure(arms, seeds)


class StrategyConformance:
    """The shared checks; subclasses set `strategy` (and `options`)."""

    strategy: ClassVar[str]
    options: ClassVar[dict[str, Any]] = {}

    def run(
        self, pair: Pair, store: str | Path = ":memory:", **options: Any
    ) -> tuple[Verdict, Any, SpyLab]:
        search = get_strategy(self.strategy, **{**self.options, **options})
        lab = SpyLab(pair, Store(store))
        with lab:
            verdict = search.run(lab)
        return verdict, search, lab

    @staticmethod
    def found(verdict: Verdict) -> set[str]:
        return {c.factor for c in verdict.found}

    def test_is_registered_by_its_name(self) -> None:
        assert self.strategy in STRATEGIES
        assert get_strategy(self.strategy, **self.options).name == self.strategy

    def test_finds_a_single_planted_cause(self) -> None:
        pair = synthetic_pair(8, [main_effect("f05", SHIFT)])
        verdict, _, _ = self.run(pair)
        assert verdict.status is Status.EXPLAINED
        assert verdict.stop_reason is StopReason.DECIDED
        assert self.found(verdict) == {"f05"}

    def test_finds_a_planted_cause_among_catalogue_factors(self) -> None:
        kernel = {"init.dense.kernel": "kaiming_uniform_sqrt5"}
        pair = parse_pair(simulated_doc([{"when": kernel, "shift": SHIFT}]))
        verdict, _, _ = self.run(pair)
        assert verdict.status is Status.EXPLAINED
        assert self.found(verdict) == {"init.dense.kernel"}

    @pytest.mark.parametrize("side", ["torch", "keras"])
    def test_finds_both_factors_of_a_pure_interaction(self, side: str) -> None:
        shift = SHIFT if side == "torch" else -SHIFT
        pair = synthetic_pair(8, [interaction(["f01", "f06"], shift, side)])
        verdict, _, _ = self.run(pair)
        assert self.found(verdict) == {"f01", "f06"}

    def test_a_factor_narrowing_the_gap_is_offsetting_not_a_cause(self) -> None:
        # As in the seed article: two causes, and a factor that hides part of
        # the gap (the full swap includes it, so the search must find it).
        effects = [
            main_effect("f00", 0.045),
            main_effect("f03", 0.03),
            main_effect("f02", -0.02),
        ]
        verdict, _, _ = self.run(synthetic_pair(7, effects))
        assert verdict.status is Status.EXPLAINED
        assert self.found(verdict) == {"f00", "f03"}
        assert {c.factor for c in verdict.offsetting} == {"f02"}

    def test_diverged_trials_are_outcomes(self) -> None:
        pair = synthetic_pair(8, [main_effect("f04", SHIFT)], diverge_probability=0.1)
        verdict, _, _ = self.run(pair, seeds=12)
        assert sum(arm.diverged for arm in verdict.arms) > 0
        assert self.found(verdict) == {"f04"}

    def test_a_a_pair_reports_no_gap(self) -> None:
        verdict, search, _ = self.run(synthetic_pair(8))
        assert verdict.status is Status.NO_GAP
        assert verdict.stop_reason is StopReason.NO_GAP
        # The sides only, at the seed cap: "no gap" waits for it.
        assert search.requested == 2 * search.looks[-1]

    def test_handles_one_candidate(self) -> None:
        verdict, _, _ = self.run(synthetic_pair(1, [main_effect("f00", SHIFT)]))
        assert verdict.stop_reason is StopReason.DECIDED
        assert self.found(verdict) == {"f00"}

    def test_handles_two_candidates(self) -> None:
        verdict, _, _ = self.run(synthetic_pair(2, [main_effect("f01", SHIFT)]))
        assert verdict.stop_reason is StopReason.DECIDED
        assert self.found(verdict) == {"f01"}
        assert {c.factor for c in verdict.ruled_out} <= {"f00"}

    def test_handles_more_candidates_than_the_budget(self) -> None:
        # 32 candidates, and a budget of ten arms of ten seeds: not even one
        # direction of OFAT fits.
        pair = synthetic_pair(32, [main_effect("f17", SHIFT)])
        verdict, search, lab = self.run(pair, max_trials=100)
        assert search.requested <= 100
        assert lab.trained + lab.cached <= 100
        assert isinstance(verdict.stop_reason, StopReason)
        if verdict.stop_reason is StopReason.BUDGET_EXHAUSTED:
            assert any("budget" in note for note in verdict.notes)
        else:
            assert self.found(verdict) == {"f17"}

    def test_respects_its_budget(self) -> None:
        pair = synthetic_pair(8, [main_effect("f02", SHIFT)])
        verdict, search, lab = self.run(pair, max_trials=60)
        assert search.requested <= 60
        assert lab.trained <= 60
        assert verdict.stop_reason is StopReason.BUDGET_EXHAUSTED
        # Out of budget before a verdict: undecided, not a residual claim.
        assert verdict.status is Status.INCONCLUSIVE

    def test_stops_with_a_recorded_reason(self) -> None:
        pair = synthetic_pair(8, [main_effect("f03", SHIFT)])
        verdict, _, _ = self.run(pair)
        assert verdict.stop_reason is StopReason.DECIDED
        assert verdict.closure is not None

    def test_never_measures_an_arm_twice(self, tmp_path: Path) -> None:
        pair = synthetic_pair(
            8, [main_effect("f01", SHIFT), interaction(["f03", "f04"], -SHIFT, "keras")]
        )
        store = tmp_path / "s.sqlite"
        first, search, lab = self.run(pair, store, seeds=6)
        assert len(lab.asked) == len(set(lab.asked)), "an (arm, seed) was asked twice"
        assert lab.trained + lab.cached == search.requested
        # The store is the cache across runs: a second run trains nothing.
        second, _, again = self.run(pair, store, seeds=6)
        assert again.trained == 0
        assert self.found(second) == self.found(first)

    def test_is_deterministic(self) -> None:
        pair = synthetic_pair(
            8, [main_effect("f07", SHIFT), interaction(["f02", "f05"], SHIFT, "torch")]
        )
        runs = [self.run(pair) for _ in range(2)]
        (a, sa, _), (b, sb, _) = runs
        assert self.found(a) == self.found(b)
        assert sa.requested == sb.requested
        assert [x.label for x in a.arms] == [x.label for x in b.arms]


class TestOfat(StrategyConformance):
    strategy = "ofat"


class TestBisect(StrategyConformance):
    strategy = "bisect"


class TestDdmin(StrategyConformance):
    strategy = "ddmin"


class TestAblation(StrategyConformance):
    strategy = "ablation"


class TestScreen(StrategyConformance):
    strategy = "screen"


class TestOptuna(StrategyConformance):
    strategy = "optuna"
    options: ClassVar[dict[str, Any]] = {"seed": 3, "refits": 2}


class TestAuto(StrategyConformance):
    strategy = "auto"


def test_every_registered_strategy_is_in_the_suite() -> None:
    tested = {cls.strategy for cls in StrategyConformance.__subclasses__()}
    assert tested == set(STRATEGIES)


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("ofat", {"seeds": 2}, "`seeds` must be at least 3, got 2"),
        ("bisect", {"seed_step": 0}, "`seed_step` must be at least 1, got 0"),
        ("optuna", {"trials": 1}, "`trials` must be at least 2, got 1"),
        ("optuna", {"refits": 0}, "`refits` must be at least 1, got 0"),
    ],
)
def test_an_option_below_its_least_is_refused(
    name: str, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        get_strategy(name, **options)


def test_a_strategy_s_own_notes_and_methods_reach_the_verdict() -> None:
    from bisect_ml.strategies.ofat import OneFactorAtATime

    class Noting(OneFactorAtATime):
        def explore(self, candidates: list[str]) -> list[str]:
            self.notes.append("searched with a note")
            self.methods.append("search: every factor alone")
            return super().explore(candidates)

    search = Noting()
    with Lab(synthetic_pair(3, [main_effect("f01", SHIFT)]), Store(":memory:")) as lab:
        verdict = search.run(lab)
    assert "searched with a note" in verdict.notes
    assert verdict.tests[-1] == "search: every factor alone"
